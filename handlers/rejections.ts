/**
 * RecordRejected's Lambda: a submission the workflow refused (a bad manifest, a missing object, a
 * duplicate releaseId) is recorded where an operator will look for it, with what was wrong
 * (field and rule, never a stack trace) and where it came from. The submission function records
 * the bodies it refuses through the same recordRefusal (handlers/submission.ts), so both doors
 * leave the same record.
 *
 * - A readable releaseId with no release of its own yet: recorded under that releaseId, so
 *   `GET /releases/{releaseId}` answers REJECTED with the problems. A later, corrected submission
 *   of the same releaseId replaces it (RegisterRelease accepts a REJECTED item) and keeps the list
 *   of earlier rejections.
 * - Otherwise (no readable releaseId, or the releaseId belongs to a real release, as for a
 *   duplicate): recorded apart, under `rejected:<execution name>` (or `rejected:api-<request id>`
 *   from the API), without touching the release.
 */
import { type ManifestProblem, ReleaseErrors } from "../contract/errors";
import { RELEASE_CHANGES, type RejectionRecord, type ReleaseItem } from "../contract/lifecycle";
import { readRejection } from "../contract/rejection";
import type { ExecutionDeps } from "./executions";
import { changeRelease, recordRejectionApart, releaseKey } from "./lifecycle-store";
import { readItem } from "./reads";
import { parseReleaseRequest } from "./load-manifest";
import { ReleasesTable } from "../contract/tables";
import { readableCause } from "./release-status";

/**
 * Rejections a release item keeps in brief, the newest last. Each is about 1 KB at most (its source
 * is an S3 location), and the current rejection's problems and cause are capped
 * (contract/rejection.ts), so any number of resubmissions keeps the item far below DynamoDB's
 * 400 KB (docs/aws-facts.md, "DynamoDB").
 */
export const REJECTIONS_KEPT = 10;

/** Writers of one releaseId's rejection that may race before this one gives up and records apart. */
const RECORD_ATTEMPTS = 5;

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
  const recordedAs = await recordRefusal(deps, {
    source: sourceOf(request.request),
    errorName: request.error.Error,
    cause,
    problems,
    executionArn: request.executionArn,
    startedAt: request.startedAt,
    // A duplicate's releaseId belongs to the release that ran: never recorded over it.
    ...(releaseId !== undefined && request.error.Error !== ReleaseErrors.DuplicateRelease
      ? { releaseId }
      : {}),
    ...(releaseId !== undefined ? { namedReleaseId: releaseId } : {}),
    apartAs: `${REJECTED_PREFIX}${request.executionName}`,
  });
  return { error: request.error.Error, cause, recordedAs };
}

/** The key prefix of a rejection recorded apart: `rejected:<execution name or request id>`. */
export const REJECTED_PREFIX = "rejected:";

/** One refused submission, whichever door it came through (the workflow's or the API's). */
export interface Refusal {
  /** The releaseId to record it under, when the submission names one of its own. */
  releaseId?: string;
  /** The releaseId it named, kept on a record apart (a duplicate's). */
  namedReleaseId?: string;
  source: string;
  errorName: string;
  cause: string;
  problems: ManifestProblem[];
  /** The execution that refused it; none for a refusal of the submission function. */
  executionArn?: string;
  startedAt: string;
  /** The key to record it under when not under its releaseId (`rejected:…`). */
  apartAs: string;
}

/**
 * Records a refusal under its releaseId when that has no release of its own (or only rejections),
 * else apart under `refusal.apartAs`; returns the key it is recorded under.
 */
export async function recordRefusal(deps: RejectionDeps, refusal: Refusal): Promise<string> {
  const at = (deps.now ? deps.now() : new Date()).toISOString();
  const { source, errorName, cause, problems, executionArn, startedAt, releaseId } = refusal;
  const record = {
    source,
    errorName,
    cause,
    problems,
    ...(executionArn !== undefined ? { executionArn } : {}),
    startedAt,
    endedAt: at,
  };
  const summary: RejectionRecord = {
    at,
    source,
    errorName,
    problemCount: problems.length,
    ...(executionArn !== undefined ? { executionArn } : {}),
  };
  if (releaseId !== undefined) {
    // Never over a real release: only a release not yet submitted, or rejected before. DynamoDB
    // cannot cut a list in an update, so the bounded list is replaced whole, conditional on the
    // count it was read at; a racing rejection makes this read again.
    for (let attempt = 0; attempt < RECORD_ATTEMPTS; attempt += 1) {
      const current = await readItem<ReleaseItem>(deps.ddb, deps.tables.releases, releaseKey(releaseId));
      if (current !== undefined && current.status !== "REJECTED") break;
      const readCount = current?.rejectionCount ?? 0;
      const earlier = (current?.rejections ?? []).slice(-(REJECTIONS_KEPT - 1)).map(brief);
      const recorded = await changeRelease(deps, releaseId, RELEASE_CHANGES.reject, {
        fields: { ...record, rejections: [...earlier, summary], rejectionCount: readCount + 1 },
        where: { readCount },
      });
      if (recorded.changed) return releaseId;
    }
  }
  const named = refusal.namedReleaseId ?? releaseId;
  await recordRejectionApart(deps, {
    [ReleasesTable.hashKey]: refusal.apartAs,
    ...(named ? { rejectedReleaseId: named } : {}),
    ...record,
  });
  return refusal.apartAs;
}

/** An earlier record in brief: records written before the list was bounded also carried a cause. */
function brief(record: RejectionRecord): RejectionRecord {
  const { at, source, errorName, problemCount, executionArn } = record;
  return {
    at,
    source,
    errorName,
    ...(problemCount === undefined ? {} : { problemCount }),
    ...(executionArn === undefined ? {} : { executionArn }),
  };
}
