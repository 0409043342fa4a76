/**
 * RecordRejected's Lambda: a submission the workflow refused (a bad manifest, a missing object, a
 * duplicate releaseId) is recorded where an operator will look for it, with what was wrong
 * (field and rule, never a stack trace) and where it came from.
 *
 * - A readable releaseId with no release of its own yet: recorded under that releaseId, so
 *   `GET /releases/{releaseId}` answers REJECTED with the problems. A later, corrected submission
 *   of the same releaseId replaces it (RegisterRelease accepts a REJECTED item) and keeps the list
 *   of earlier rejections.
 * - Otherwise (no readable releaseId, or the releaseId belongs to a real release, as for a
 *   duplicate): recorded apart, under `rejected:<execution name>`, without touching the release.
 */
import { type ManifestProblem, ReleaseErrors } from "../contract/errors";
import { RELEASE_CHANGES } from "../contract/lifecycle";
import { readRejection } from "../contract/rejection";
import type { ExecutionDeps } from "./executions";
import { changeRelease, recordRejectionApart } from "./lifecycle-store";
import { parseReleaseRequest } from "./load-manifest";
import { ReleasesTable } from "../contract/tables";
import { readableCause } from "./release-status";

export interface RejectionRequest {
  /** The execution's input: the S3 reference or the API body. */
  request: unknown;
  /**
   * What the workflow caught: a Lambda error's name and its JSON Cause, whose message carries the
   * problems and the releaseId (contract/rejection.ts).
   */
  error: { Error: string; Cause: string };
  executionArn: string;
  executionName: string;
  startedAt: string;
}

export interface RejectionDeps {
  ddb: ExecutionDeps["ddb"];
  tables: ExecutionDeps["tables"];
  now?: () => Date;
}

/** What the Fail state after it says: the error's name and a readable cause. */
export interface RecordedRejection {
  error: string;
  cause: string;
  /** The Releases key it was recorded under. */
  recordedAs: string;
}

/** Where the submission came from, as the release record says it: `s3://bucket/key?versionId=…` or `api`. */
function sourceOf(request: unknown): string {
  try {
    const parsed = parseReleaseRequest(request);
    if (parsed.source === "api") return "api";
    return `s3://${parsed.bucket}/${parsed.key}${parsed.versionId ? `?versionId=${parsed.versionId}` : ""}`;
  } catch {
    return "unknown";
  }
}

/**
 * The readable cause, and the problems and releaseId the error carries: a bad manifest's and a
 * duplicate's from its message; one problem named by the error otherwise (a missing object).
 */
function rejectionOf(error: RejectionRequest["error"]): {
  cause: string;
  problems: ManifestProblem[];
  releaseId?: string;
} {
  const { summary, rejection } = readRejection(readableCause(error.Cause));
  if (rejection) return { cause: summary, ...rejection };
  const rule = error.Error === ReleaseErrors.ManifestNotFound ? "notFound" : error.Error;
  return { cause: summary, problems: [{ path: "", rule, message: summary }] };
}

export async function recordRejection(
  deps: RejectionDeps,
  request: RejectionRequest,
): Promise<RecordedRejection> {
  const { cause, problems, releaseId } = rejectionOf(request.error);
  const at = (deps.now ? deps.now() : new Date()).toISOString();
  const record = {
    source: sourceOf(request.request),
    errorName: request.error.Error,
    cause,
    problems,
    executionArn: request.executionArn,
    startedAt: request.startedAt,
    endedAt: at,
  };
  const summary = {
    at,
    source: record.source,
    errorName: record.errorName,
    cause,
    executionArn: request.executionArn,
  };
  if (releaseId !== undefined && request.error.Error !== ReleaseErrors.DuplicateRelease) {
    // Never over a real release: only a release not yet submitted, or rejected before.
    const recorded = await changeRelease(deps, releaseId, RELEASE_CHANGES.reject, {
      fields: { ...record, rejections: [summary] },
    });
    if (recorded.changed) return { error: request.error.Error, cause, recordedAs: releaseId };
  }
  const key = `rejected:${request.executionName}`;
  await recordRejectionApart(deps, {
    [ReleasesTable.hashKey]: key,
    ...(releaseId ? { rejectedReleaseId: releaseId } : {}),
    ...record,
  });
  return { error: request.error.Error, cause, recordedAs: key };
}
