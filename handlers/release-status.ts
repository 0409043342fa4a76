/**
 * Reads a release and its pipelines' executions into the shape `GET /releases/{releaseId}`
 * answers, on AWS and locally alike.
 */
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { readItem } from "./reads";
import type { TableNames } from "./config";
import { executionsByIds, recordedHistory } from "./executions";
import { RELEASE_ID_PATTERN } from "../contract/manifest-schema";
import type { ApprovalView, PipelineStatusView, ReleaseStatusView } from "../contract/release-view";
import { ReleasesTable } from "../contract/tables";
import type { PipelineItem, ReleaseItem } from "../contract/lifecycle";
import type { AttemptRecord } from "../contract/lifecycle-view";
import { pipelinesOfRelease } from "./release/reads";

const RECORD_FIELDS = [
  "attempt",
  "submittedBy",
  "failurePolicy",
  "cancelledBy",
  "cancelReason",
  "retriedBy",
  "executionArn",
  "source",
  "startedAt",
  "endedAt",
] as const;

/** The fields of `item` named in `keys` that are set, in that order (the view leaves out the rest). */
function setFields<T extends object, K extends keyof T>(item: T, keys: readonly K[]): Partial<Pick<T, K>> {
  return Object.fromEntries(keys.filter((key) => item[key]).map((key) => [key, item[key]])) as Partial<
    Pick<T, K>
  >;
}

/**
 * A Lambda error reaches Step Functions as a JSON Cause (`{"errorType","errorMessage","trace"}`);
 * people read the message.
 */
export function readableCause(cause: string): string {
  try {
    const parsed: unknown = JSON.parse(cause);
    if (
      parsed &&
      typeof parsed === "object" &&
      typeof (parsed as { errorMessage?: unknown }).errorMessage === "string"
    ) {
      return (parsed as { errorMessage: string }).errorMessage;
    }
  } catch {
    // not JSON: already readable
  }
  return cause;
}

function approvalView(item: PipelineItem): ApprovalView {
  const gate = item.approval ?? { timeoutHours: 0 };
  return {
    timeoutHours: gate.timeoutHours,
    ...setFields(gate, ["approvers"]),
    ...(item.approvalRequestedAt ? { requestedAt: item.approvalRequestedAt } : {}),
    ...(item.approvalDeadlineAt ? { deadlineAt: item.approvalDeadlineAt } : {}),
    ...setFields(item, ["decision", "decidedBy", "decidedAt", "comment"]),
  };
}

/** Returns undefined when no release has that id. */
export async function readRelease(
  deps: { ddb: DynamoDBDocumentClient; tables: TableNames },
  releaseId: string,
): Promise<ReleaseStatusView | undefined> {
  const release = await readItem<ReleaseItem>(deps.ddb, deps.tables.releases, {
    [ReleasesTable.hashKey]: releaseId,
  });
  if (!release) return undefined;
  const schedule = await pipelinesOfRelease(deps, releaseId);
  const executions = await executionsByIds(
    deps,
    schedule.flatMap((item) => (item.pipelineExecutionId ? [item.pipelineExecutionId] : [])),
  );
  const pipelines = schedule.map((item): PipelineStatusView => {
    const execution = executions.find((e) => e.pipelineExecutionId === item.pipelineExecutionId);
    const history = item.pipelineExecutionId
      ? recordedHistory(execution, item).map(({ state, at }) => ({ state, at }))
      : [];
    const frozen = item.status === "Pending" && item.frozenBy !== undefined;
    const status =
      item.status === "Started" || item.status === "Starting"
        ? (execution?.status ?? "Started")
        : frozen
          ? "Frozen"
          : item.status;
    return {
      name: item.pipeline,
      status,
      ...(frozen ? { frozenBy: item.frozenBy, until: item.frozenUntil ?? null } : {}),
      ...(item.dependsOn.length > 0 ? { dependsOn: item.dependsOn } : {}),
      ...setFields(item, ["attempt"]),
      ...(item.approval ? { approval: approvalView(item) } : {}),
      ...setFields(item, ["pipelineExecutionId", "startedAt", "endedAt", "cause"]),
      ...setFields(item, ["failedStage", "failedAction", "stoppedBy"]),
      ...attemptsOf(item),
      history,
    };
  });
  return {
    releaseId: release.releaseId,
    status: release.status === "RUNNING" && release.cancelledBy !== undefined ? "CANCELLING" : release.status,
    ...setFields(release, RECORD_FIELDS),
    ...(release.attempt > 1 && release.retriedAt ? { attemptStartedAt: release.retriedAt } : {}),
    ...attemptsOf(release),
    ...(release.errorName ? { error: release.errorName } : {}),
    ...(release.cause ? { cause: readableCause(release.cause) } : {}),
    ...(release.problems ? { problems: release.problems } : {}),
    ...(release.freezeOverrides?.length ? { freezeOverrides: release.freezeOverrides } : {}),
    ...(release.rejections?.length
      ? {
          rejections: release.rejections.map(({ at, source, errorName, problemCount, executionArn }) => ({
            at,
            source,
            errorName,
            ...(problemCount === undefined ? {} : { problemCount }),
            ...(executionArn === undefined ? {} : { executionArn }),
          })),
        }
      : {}),
    ...resumedOutside(release),
    pipelines,
  };
}

/** Earlier attempts, once each (a repeated retry step may have appended one twice), oldest first. */
function attemptsOf(item: { earlierAttempts?: AttemptRecord[] }): { earlierAttempts?: AttemptRecord[] } {
  const byAttempt = new Map<number, AttemptRecord>();
  for (const record of item.earlierAttempts ?? [])
    if (!byAttempt.has(record.attempt)) byAttempt.set(record.attempt, record);
  const earlier = [...byAttempt.values()].sort((a, b) => a.attempt - b.attempt);
  return earlier.length > 0 ? { earlierAttempts: earlier } : {};
}

/** The pipelines resumed outside the release, when any were (sorted: the item holds sets). */
function resumedOutside(release: ReleaseItem): Pick<ReleaseStatusView, "resumedOutside"> {
  const whileRunning = [...(release.resumedPipelines ?? [])].sort();
  const afterEnd = [...(release.resumedAfterEnd ?? [])].sort();
  if (whileRunning.length === 0 && afterEnd.length === 0) return {};
  return {
    resumedOutside: {
      ...(whileRunning.length > 0 ? { whileRunning } : {}),
      ...(afterEnd.length > 0 ? { afterEnd } : {}),
    },
  };
}

/** The subset of API Gateway's Lambda proxy event this handler reads. */
export interface ReleaseStatusRequest {
  pathParameters?: { releaseId?: string } | null;
}

export interface ProxyResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

/** A Lambda proxy answer with a JSON body, as every API handler gives it. */
export const json = (statusCode: number, body: unknown): ProxyResponse => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/**
 * The id of a rejection recorded apart (handlers/rejections.ts): `rejected:` and an execution name
 * or `api-` and a request id. `GET /releases/{id}` reads those as it reads releases.
 */
export const REJECTED_APART_ID = /^rejected:[A-Za-z0-9_-]{1,120}$/;

/** `GET /releases/{releaseId}`: 200 with the release, 404 for an unknown id, 400 for a malformed one. */
export async function releaseStatusApi(
  deps: { ddb: DynamoDBDocumentClient; tables: TableNames },
  request: ReleaseStatusRequest,
): Promise<ProxyResponse> {
  const releaseId = request.pathParameters?.releaseId ?? "";
  if (!new RegExp(RELEASE_ID_PATTERN).test(releaseId) && !REJECTED_APART_ID.test(releaseId)) {
    return json(400, {
      error: "InvalidReleaseId",
      message:
        "releaseId must be 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit (or a rejection's id, rejected:…, as the list shows it)",
    });
  }
  const release = await readRelease(deps, releaseId);
  if (!release)
    return json(404, { error: "ReleaseNotFound", message: `no release has releaseId ${releaseId}` });
  return json(200, release);
}
