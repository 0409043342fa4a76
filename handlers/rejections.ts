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
import { RELEASE_CHANGES } from "../contract/lifecycle";
import type { S3Client } from "@aws-sdk/client-s3";
import { findNodeAtLocation, parseTree } from "jsonc-parser";
import type { ManifestProblem } from "../contract/errors";
import type { ExecutionDeps } from "./executions";
import { changeRelease, recordRejectionApart } from "./lifecycle-store";
import { loadManifest, parseReleaseRequest } from "./load-manifest";
import { type ValidatedRelease, canonicalReleaseId, offsetNestedDeeperThan } from "../contract/manifest";
import { ReleasesTable } from "../contract/tables";
import { readableCause } from "./release-status";

export interface RejectionRequest {
  /** The execution's input: the S3 reference or the API body. */
  request: unknown;
  /** What the workflow caught: a Lambda error's name and its JSON Cause. */
  error: { Error: string; Cause: string };
  executionArn: string;
  executionName: string;
  startedAt: string;
}

export interface RejectionDeps {
  ddb: ExecutionDeps["ddb"];
  tables: ExecutionDeps["tables"];
  s3: S3Client;
  maxBytes: number;
  parse: (text: string) => ValidatedRelease;
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

/** The releaseId, when the text is JSON enough to hold a well-formed one. */
export function readableReleaseId(text: string): string | undefined {
  if (offsetNestedDeeperThan(text, 100) >= 0) return undefined; // the parser recurses per level
  const tree = parseTree(text, [], { allowTrailingComma: true, disallowComments: false });
  const node = tree && findNodeAtLocation(tree, ["releaseId"]);
  if (!node || (node.type !== "string" && node.type !== "number")) return undefined;
  const literal = node.type === "number" ? text.slice(node.offset, node.offset + node.length) : undefined;
  return canonicalReleaseId(node.value as string | number, literal);
}

/** The problems, structured: the parser's own for a bad manifest, one named problem otherwise. */
async function problemsOf(
  deps: RejectionDeps,
  request: RejectionRequest,
  message: string,
): Promise<{ problems: ManifestProblem[]; releaseId?: string }> {
  const single = (path: string, rule: string): ManifestProblem[] => [{ path, rule, message }];
  if (request.error.Error === "ManifestNotFound") return { problems: single("", "notFound") };
  let text: string;
  try {
    text = (await loadManifest({ s3: deps.s3, maxBytes: deps.maxBytes }, request.request)).text;
  } catch (error) {
    const problems = (error as { problems?: ManifestProblem[] }).problems;
    return { problems: problems ?? single("", request.error.Error) };
  }
  const releaseId = readableReleaseId(text);
  if (request.error.Error === "DuplicateRelease")
    return { problems: single("/releaseId", "duplicate"), releaseId };
  try {
    deps.parse(text);
  } catch (error) {
    const problems = (error as { problems?: ManifestProblem[] }).problems;
    // A releaseId the validator refused is not one to record the rejection under.
    if (problems)
      return { problems, releaseId: problems.some((p) => p.path === "/releaseId") ? undefined : releaseId };
  }
  return { problems: single("", request.error.Error), releaseId };
}

export async function recordRejection(
  deps: RejectionDeps,
  request: RejectionRequest,
): Promise<RecordedRejection> {
  const cause = readableCause(request.error.Cause);
  const { problems, releaseId } = await problemsOf(deps, request, cause);
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
  if (releaseId !== undefined && request.error.Error !== "DuplicateRelease") {
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
