/**
 * How a client reaches the local S3 (s3rver): its fixed credentials and the settings without
 * which it stores uploads corrupted. Kept apart from local/s3.ts so the CLI can use it without
 * loading s3rver.
 */

/** s3rver accepts only these credentials. */
export const S3RVER_CREDENTIALS = { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" };

/**
 * An S3Client configuration for s3rver at `endpoint`. Checksums only where required: with the
 * SDK's default streaming checksums s3rver stores a corrupted object and still answers 200.
 */
export function localS3ClientConfig(endpoint: string, region = "us-east-1") {
  return {
    endpoint,
    region,
    forcePathStyle: true,
    credentials: S3RVER_CREDENTIALS,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  } as const;
}
