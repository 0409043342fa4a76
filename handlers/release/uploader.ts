/**
 * Who uploaded an S3-submitted manifest. S3's "Object Created" event names only the requesting
 * account (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html, `requester`), so
 * four eyes (contract/identity.ts) learns the uploader from CloudTrail's data event of the upload:
 * the stack's trail records writes to the release bucket's objects (infra/audit-trail.ts), and
 * CloudTrail delivers data events a trail records to EventBridge as "AWS API Call via CloudTrail"
 * (https://docs.aws.amazon.com/eventbridge/latest/ref/events-ref-cloudtrail.html,
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html). Its
 * `detail` is the CloudTrail record: `eventName`, `userIdentity` (`arn`, and
 * `sessionContext.sourceIdentity` for a session that carries one), `requestParameters`
 * (`bucketName`, `key`) and `responseElements` (`x-amz-version-id` on a versioned bucket)
 * (https://docs.aws.amazon.com/AmazonS3/latest/userguide/cloudtrail-logging-understanding-s3-entries.html,
 * https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
 *
 * The upload is correlated with its release by bucket, key and version: the release's `source`
 * (`s3://bucket/key?versionId=…`, as LoadManifest writes it). CloudTrail's event may arrive before
 * the release is registered or after; both sides write first and read second, consistently, so
 * one of them always sees the other:
 * - this handler first records the upload apart (a `upload:<digest>` item of the Releases table,
 *   outside every index), then reads the manifest's releaseId and records the uploader on that
 *   release if it was registered from exactly this object version;
 * - RegisterRelease first registers the release, then reads that item (takeRecordedUploader).
 * AWS documents no encoding of `requestParameters.key`; a key that did not match would leave the
 * uploader unknown, which only narrows who may decide the release's gates (release-control.ts).
 */
import { createHash } from "node:crypto";
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { CLOUDTRAIL_DETAIL_TYPE, UPLOAD_EVENT_NAMES } from "../../contract/identity";
import { isRecord } from "../../contract/json";
import { RELEASE_CHANGES } from "../../contract/lifecycle";
import { readableReleaseId } from "../../contract/manifest";
import { type ExecutionDeps, nowIso } from "../executions";
import { changeRelease, releaseKey } from "../lifecycle-store";
import { readItem } from "../reads";

/** The part of EventBridge's "AWS API Call via CloudTrail" event for S3 that this handler reads. */
export interface UploadRecordedEvent {
  "detail-type": string;
  source: string;
  detail: {
    eventName?: string;
    userIdentity?: { type?: string; arn?: string; sessionContext?: { sourceIdentity?: string } };
    requestParameters?: { bucketName?: string; key?: string } | null;
    responseElements?: Record<string, unknown> | null;
  };
}

export function isUploadRecorded(event: unknown): event is UploadRecordedEvent {
  return (
    isRecord(event) &&
    event["detail-type"] === CLOUDTRAIL_DETAIL_TYPE &&
    event.source === "aws.s3" &&
    isRecord(event.detail)
  );
}

/** One upload: where it went and who made it. */
export interface Upload {
  location: string;
  bucket: string;
  key: string;
  versionId?: string;
  uploadedBy: string;
  sourceIdentity?: string;
}

export type UploaderOutcome =
  | { recorded: "release"; releaseId: string }
  | { recorded: "pending"; location: string }
  | { recorded: "nothing"; why: string };

/** Where an object version is, as the release's `source` says it (handlers/load-manifest.ts). */
export function s3Location(bucket: string, key: string, versionId?: string): string {
  return `s3://${bucket}/${key}${versionId ? `?versionId=${versionId}` : ""}`;
}

/** The Releases item that keeps an upload's uploader until its release is registered. */
export function recordedUploadId(location: string): string {
  return `upload:${createHash("sha256").update(location).digest("hex")}`;
}

/** The upload a CloudTrail event describes; undefined for a failed call or one without a principal. */
export function uploadOf(event: UploadRecordedEvent): Upload | undefined {
  const { eventName, userIdentity, requestParameters, responseElements } = event.detail;
  const bucket = requestParameters?.bucketName;
  const key = requestParameters?.key;
  const uploadedBy = userIdentity?.arn;
  // A call that failed has no responseElements, and stored nothing.
  if (!eventName || !UPLOAD_EVENT_NAMES.includes(eventName) || !responseElements) return undefined;
  if (typeof bucket !== "string" || typeof key !== "string" || typeof uploadedBy !== "string")
    return undefined;
  const version = responseElements["x-amz-version-id"];
  const versionId = typeof version === "string" && version !== "" ? version : undefined;
  const sourceIdentity = userIdentity?.sessionContext?.sourceIdentity;
  return {
    location: s3Location(bucket, key, versionId),
    bucket,
    key,
    ...(versionId ? { versionId } : {}),
    uploadedBy,
    ...(sourceIdentity ? { sourceIdentity } : {}),
  };
}

/** Records the uploader on the release registered from exactly that upload; false when there is none. */
async function applyUploader(deps: ExecutionDeps, releaseId: string, upload: Upload): Promise<boolean> {
  const changed = await changeRelease(deps, releaseId, RELEASE_CHANGES.recordUploader, {
    fields: {
      submittedBy: upload.uploadedBy,
      uploadedBy: upload.uploadedBy,
      uploadedFrom: upload.location,
      ...(upload.sourceIdentity ? { uploaderSourceIdentity: upload.sourceIdentity } : {}),
    },
  });
  return changed.changed;
}

/** The manifest's readable releaseId at that version; undefined when it has none or is gone. */
async function releaseIdOf(s3: S3Client, upload: Upload): Promise<string | undefined> {
  try {
    const object = await s3.send(
      new GetObjectCommand({ Bucket: upload.bucket, Key: upload.key, VersionId: upload.versionId }),
    );
    return readableReleaseId((await object.Body?.transformToString("utf-8")) ?? "");
  } catch (error) {
    if (error instanceof Error && ["NoSuchKey", "NoSuchVersion", "AccessDenied"].includes(error.name))
      return undefined;
    throw error;
  }
}

/** The function behind the CloudTrail rule: the uploader, recorded apart and then on its release. */
export async function recordUploader(
  deps: ExecutionDeps & { s3: S3Client },
  event: UploadRecordedEvent,
): Promise<UploaderOutcome> {
  const upload = uploadOf(event);
  if (!upload) return { recorded: "nothing", why: "not a stored upload with a principal" };
  await deps.ddb.send(
    new PutCommand({
      TableName: deps.tables.releases,
      Item: {
        ...releaseKey(recordedUploadId(upload.location)),
        uploadedFrom: upload.location,
        uploadedBy: upload.uploadedBy,
        ...(upload.sourceIdentity ? { uploaderSourceIdentity: upload.sourceIdentity } : {}),
        recordedAt: nowIso(deps),
      },
    }),
  );
  const releaseId = await releaseIdOf(deps.s3, upload);
  if (releaseId !== undefined && (await applyUploader(deps, releaseId, upload)))
    return { recorded: "release", releaseId };
  return { recorded: "pending", location: upload.location };
}

/**
 * RegisterRelease's half: once the release is registered from `source`, an upload CloudTrail's
 * event already recorded is applied to it. True when it was.
 */
export async function takeRecordedUploader(
  deps: ExecutionDeps,
  releaseId: string,
  source: string,
): Promise<boolean> {
  if (!source.startsWith("s3://")) return false;
  const recorded = await readItem<{ uploadedBy?: string; uploaderSourceIdentity?: string }>(
    deps.ddb,
    deps.tables.releases,
    releaseKey(recordedUploadId(source)),
  );
  if (typeof recorded?.uploadedBy !== "string") return false;
  const sourceIdentity = recorded.uploaderSourceIdentity;
  return applyUploader(deps, releaseId, {
    location: source,
    bucket: "",
    key: "",
    uploadedBy: recorded.uploadedBy,
    ...(typeof sourceIdentity === "string" ? { sourceIdentity } : {}),
  });
}
