/**
 * Stops that finish. StopPipelineExecution without `abandon` is a stop-and-wait: the execution
 * stays Stopping until its in-progress actions end, which for a manual approval can be 7 days.
 * The release machine stops and waits first, so in-flight deploys end cleanly; a stop still pending
 * `stopGraceMinutes` later (stack config, default 15) is abandoned by the reconciler; a forced
 * cancel abandons at once. ConflictException is retried with backoff; DuplicatedStopRequestException
 * means a stop is already pending (after a stop-and-wait, abandon is still possible).
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_StopPipelineExecution.html
 * https://docs.aws.amazon.com/codepipeline/latest/userguide/pipelines-stop.html
 * Each step is appended, once, to the execution's history (the pipeline's history in the release's
 * view) and stamped on its Executions item (`stopRequestedAt`, `stopAbandonedAt`).
 */
import { StopPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { ExecutionsTable } from "../contract/tables";
import { type ExecutionDeps, type ExecutionItem, isConditionFailure, nowIso } from "./executions";

/** A stop-and-wait, an abandon after the grace period, or an abandon a person forced. */
export type StopKind = "wait" | "abandonAfterGrace" | "forcedAbandon";

/** The history entry each kind of stop leaves, as the release's view shows it. */
export const STOP_HISTORY_STATES: Record<StopKind, string> = {
  wait: "STOP_REQUESTED",
  abandonAfterGrace: "ABANDONED_AFTER_GRACE",
  forcedAbandon: "ABANDONED_FORCED",
};

/** The stack's default `stopGraceMinutes`. */
export const DEFAULT_STOP_GRACE_MINUTES = 15;
/** Tries of one stop while CodePipeline answers ConflictException, and the first pause between them. */
export const STOP_ATTEMPTS = 5;
const FIRST_PAUSE_MS = 200;

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

const errorName = (error: unknown) => (error instanceof Error ? error.name : "");

/**
 * Records the step, then stops the execution as `kind` says. Recorded first, so the history reads
 * in order (the request, then CodePipeline's STOPPING) and a stop refused after every try still
 * leaves its stamp for the reconciler to abandon after the grace period. Returns whether this
 * request stopped it: false when it had already ended (PipelineExecutionNotStoppableException) or
 * a stop was already pending (DuplicatedStopRequestException: after a stop-and-wait, abandon
 * is still possible, which the grace period and a forced cancel use).
 */
export async function stopExecution(
  deps: ExecutionDeps,
  item: Pick<ExecutionItem, "pipeline" | "pipelineExecutionId">,
  reason: string,
  kind: StopKind = "wait",
): Promise<boolean> {
  const pause = deps.pause ?? sleep;
  await recordStop(deps, item.pipelineExecutionId, kind);
  for (let tries = 1; ; tries += 1) {
    try {
      await deps.codepipeline.send(
        new StopPipelineExecutionCommand({
          pipelineName: item.pipeline,
          pipelineExecutionId: item.pipelineExecutionId,
          abandon: kind !== "wait",
          reason: reason.slice(0, 200),
        }),
      );
      return true;
    } catch (error) {
      const name = errorName(error);
      if (name === "ConflictException" && tries < STOP_ATTEMPTS) {
        await pause(FIRST_PAUSE_MS * 2 ** (tries - 1));
        continue;
      }
      if (name === "DuplicatedStopRequestException" || name === "PipelineExecutionNotStoppableException")
        return false;
      throw error;
    }
  }
}

/** Stamps the stop on the execution's item and appends its history entry, each once. */
async function recordStop(deps: ExecutionDeps, pipelineExecutionId: string, kind: StopKind): Promise<void> {
  const now = nowIso(deps);
  const eventId = `release-machine:${STOP_HISTORY_STATES[kind]}`;
  const stamp = kind === "wait" ? "stopRequestedAt" : "stopAbandonedAt";
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.executions,
        Key: { [ExecutionsTable.hashKey]: pipelineExecutionId },
        UpdateExpression: `SET #stamp = if_not_exists(#stamp, :now), history = list_append(if_not_exists(history, :empty), :entry) ADD eventIds :eventIdSet`,
        ConditionExpression:
          "attribute_exists(pipelineExecutionId) AND (attribute_not_exists(eventIds) OR NOT contains(eventIds, :eventId))",
        ExpressionAttributeNames: { "#stamp": stamp },
        ExpressionAttributeValues: {
          ":now": now,
          ":empty": [],
          ":entry": [{ state: STOP_HISTORY_STATES[kind], at: now, eventId }],
          ":eventId": eventId,
          ":eventIdSet": new Set([eventId]),
        },
      }),
    );
  } catch (error) {
    // Recorded before (a repeated stop pass), or no item: the step is already in the history.
    if (!isConditionFailure(error)) throw error;
  }
}

/**
 * The reconciler's part: a stop-and-wait this machine asked for, still pending past
 * `stopGraceMinutes`, is abandoned (the execution's waiting actions are abandoned; a deploy in
 * flight had the grace period to end cleanly). Returns whether it abandoned.
 */
export async function abandonPastGrace(deps: ExecutionDeps, waiting: ExecutionItem): Promise<boolean> {
  if (!waiting.stopRequestedAt || waiting.stopAbandonedAt) return false;
  const graceMs = (deps.stopGraceMinutes ?? DEFAULT_STOP_GRACE_MINUTES) * 60_000;
  if (Date.parse(waiting.stopRequestedAt) + graceMs > Date.parse(nowIso(deps))) return false;
  const minutes = deps.stopGraceMinutes ?? DEFAULT_STOP_GRACE_MINUTES;
  return stopExecution(
    deps,
    waiting,
    `stop-and-wait still pending after ${minutes} minutes (stopGraceMinutes): abandoned`,
    "abandonAfterGrace",
  );
}
