/**
 * CloudTrail's record of an S3 upload as EventBridge delivers it ("AWS API Call via CloudTrail",
 * source aws.s3), shaped as AWS documents the record
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-understanding-s3-entries.html,
 * https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html),
 * for the tests that play CloudTrail's part.
 */
import { randomUUID } from "node:crypto";
import type { UploadRecordedEvent } from "../handlers/release/uploader";

export interface UploadRecordOptions {
  bucket: string;
  key: string;
  /** The stored version (`responseElements.x-amz-version-id`); left out for an unversioned bucket. */
  versionId?: string;
  /** The uploader's principal ARN (`userIdentity.arn`). */
  arn: string;
  /** `userIdentity.sessionContext.sourceIdentity`. */
  sourceIdentity?: string;
  eventName?: string;
  account?: string;
}

export function cloudTrailUpload(options: UploadRecordOptions): UploadRecordedEvent & {
  version: string;
  id: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
} {
  const account = options.account ?? "123456789012";
  const assumed = options.arn.includes(":assumed-role/");
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": "AWS API Call via CloudTrail",
    source: "aws.s3",
    account,
    time: "2026-12-08T10:00:00Z",
    region: "us-east-1",
    resources: [],
    detail: {
      eventName: options.eventName ?? "PutObject",
      ...{ eventSource: "s3.amazonaws.com", eventCategory: "Data" },
      userIdentity: {
        type: assumed ? "AssumedRole" : "IAMUser",
        arn: options.arn,
        ...(assumed
          ? { sessionContext: options.sourceIdentity ? { sourceIdentity: options.sourceIdentity } : {} }
          : {}),
      },
      requestParameters: { bucketName: options.bucket, key: options.key },
      responseElements: options.versionId ? { "x-amz-version-id": options.versionId } : {},
    },
  };
}
