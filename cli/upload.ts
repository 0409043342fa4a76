/**
 * `submit --bucket`: puts the manifest into the release bucket, whose "Object Created" event starts
 * the release. Locally that is s3rver (`npm start`, fixed S3RVER credentials); with `--aws` it is
 * the real bucket, with credentials and region from the AWS default chain.
 */
import { parseManifest } from "../contract/manifest";
import { DEFAULT_MANIFEST_RULES } from "../contract/manifest-schema";
import { localS3ClientConfig } from "../contract/local-s3-config";

export const DEFAULT_S3_URL = "http://127.0.0.1:4569";

export interface UploadOptions {
  bucket: string;
  key: string;
  text: string;
  /** Local S3 endpoint; undefined means real S3 (the default chain). */
  endpoint?: string;
  region?: string;
}

export interface Uploaded {
  bucket: string;
  key: string;
  location: string;
  etag?: string;
  versionId?: string;
  endpoint?: string;
}

/**
 * The releaseId of a manifest, checked with the manifest rules minus the deployment's limits (the
 * machine applies its own allow-list and size limit). Throws InvalidManifest listing every problem.
 */
export function manifestReleaseId(text: string): string {
  return parseManifest(text, { ...DEFAULT_MANIFEST_RULES, maxPipelines: 10_000, maxBytes: 10 * 1024 * 1024 })
    .releaseId;
}

export async function uploadManifest(options: UploadOptions): Promise<Uploaded> {
  // Loaded only here: the S3 client is large and only this command needs it.
  const { PutObjectCommand, S3Client } = await import("@aws-sdk/client-s3");
  const client = options.endpoint
    ? new S3Client(localS3ClientConfig(options.endpoint, options.region))
    : new S3Client({ ...(options.region ? { region: options.region } : {}), followRegionRedirects: true });
  try {
    const answer = await client.send(
      new PutObjectCommand({
        Bucket: options.bucket,
        Key: options.key,
        Body: options.text,
        ContentType: "application/json",
      }),
    );
    return {
      bucket: options.bucket,
      key: options.key,
      location: `s3://${options.bucket}/${options.key}`,
      ...(answer.ETag ? { etag: answer.ETag } : {}),
      ...(answer.VersionId ? { versionId: answer.VersionId } : {}),
      ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    };
  } finally {
    client.destroy();
  }
}
