/**
 * The pipeline-event Lambda and the reconciler: both turn a pipeline execution's end into the
 * scheduler's decisions. Events come from EventBridge ("CodePipeline Pipeline Execution State
 * Change", delivered at least once, in any order); the reconciler asks CodePipeline about every
 * execution still on the `waiting` index, so a lost event costs minutes, not the release.
 */
import { GetPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import type { EventBridgeEvent } from "aws-lambda";
import type { PipelineStateChangeEvent } from "../contract/pipeline-events";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { paged, readItem } from "./reads";
import { type ExecutionDeps, type ExecutionItem, nowIso, recordState } from "./executions";
import { abandonPastGrace, stopExecution } from "./stops";
import {
  ExecutionsTable,
  PIPELINE_EVENT_DETAIL_TYPE,
  type PipelineExecutionStatus,
  isTerminal,
  statusFromEventState,
} from "../contract/tables";
import { expireGates } from "./release/gates";
import { onPipelineEnded, resumeStuckStarts } from "./release/progress";
import { endReleasesOfEndedExecutions } from "./release/execution-ended";
import { onExecutionResumed } from "./release/resume";

// Handed on for handlers/index.ts, which names the event type with the handler it wires.
export type { PipelineStateChangeEvent };

/** The event, when its detail has the fields the handler reads; undefined for any other event. */
export function pipelineStateChange(
  event: EventBridgeEvent<string, Record<string, unknown>>,
): PipelineStateChangeEvent | undefined {
  const { pipeline, state } = event.detail;
  const executionId = event.detail["execution-id"];
  return typeof pipeline === "string" && typeof state === "string" && typeof executionId === "string"
    ? { ...event, detail: { ...event.detail, pipeline, state, "execution-id": executionId } }
    : undefined;
}

export type PipelineEventOutcome = "recorded" | "resumed" | "ended" | "duplicate" | "ignored";

/** The event's `pipeline-execution-attempt` (2 or more once RetryStageExecution resumed it), else 1. */
function executionAttempt(value: unknown): number {
  return typeof value === "number" && Number.isInteger(value) && value > 0 ? value : 1;
}

/** The pipeline-event Lambda: record the change; when the execution ended, act on it for its release. */
export async function handlePipelineEvent(
  deps: ExecutionDeps,
  event: PipelineStateChangeEvent,
): Promise<PipelineEventOutcome> {
  const status = statusFromEventState(event.detail?.state);
  if (event["detail-type"] !== PIPELINE_EVENT_DETAIL_TYPE || status === undefined) return "ignored";
  const item = await recordState(deps, {
    pipelineExecutionId: event.detail["execution-id"],
    pipeline: event.detail.pipeline,
    state: event.detail.state,
    status,
    at: event.time,
    eventId: event.id,
    attempt: executionAttempt(event.detail["pipeline-execution-attempt"]),
  });
  if (!item) {
    // Recorded before, but a failed attempt may not have acted on it: it is still waiting then.
    const stored = await readExecution(deps, event.detail["execution-id"]);
    if (stored?.awaitingRelease && isTerminal(stored.status)) await onPipelineEnded(deps, stored);
    // A resume whose first delivery died after recording it: acting on it again repeats nothing.
    else if (event.detail.state === "RESUMED" && stored?.releaseId && !isTerminal(stored.status))
      await onExecutionResumed(deps, stored, false);
    return "duplicate";
  }
  // No releaseId: an execution this machine did not start (or has not recorded yet). The event is
  // kept, so the scheduler's recordStart sees it and acts on it then.
  if (!item.releaseId) return "recorded";
  if (event.detail.state === "RESUMED") {
    await onExecutionResumed(deps, item, true);
    return "resumed";
  }
  if (!isTerminal(item.status)) return "recorded";
  // This delivery recorded the end: a first-hand actor (a redelivery, above, repeats).
  await onPipelineEnded(deps, item, "firstHand");
  return "ended";
}

async function readExecution(
  deps: ExecutionDeps,
  pipelineExecutionId: string,
): Promise<ExecutionItem | undefined> {
  return readItem<ExecutionItem>(deps.ddb, deps.tables.executions, {
    [ExecutionsTable.hashKey]: pipelineExecutionId,
  });
}

const EVENT_STATE_OF: Record<PipelineExecutionStatus, string> = {
  InProgress: "STARTED",
  Stopping: "STOPPING",
  Stopped: "STOPPED",
  Succeeded: "SUCCEEDED",
  Failed: "FAILED",
  Cancelled: "CANCELED",
  Superseded: "SUPERSEDED",
};

export interface ReconcileReport {
  checked: number;
  completed: number;
  /** Starts taken over from a claimant that never recorded them. */
  resumedStarts: number;
  /** Approval gates closed because their deadline passed. */
  expiredGates: number;
  /** RUNNING releases whose execution had ended without their outcome (the backstop). */
  endedReleases: number;
  /** Stop-and-waits still pending past stopGraceMinutes, abandoned. */
  abandonedStops: number;
  /** Cancels whose stop pass was lost with its hand-off, run again (release/cancel-sweep.ts). */
  finishedCancels: number;
  failures: { pipelineExecutionId: string; error: string }[];
}

/**
 * The reconciler: for every execution still waiting (the sparse `waiting` index), ask CodePipeline
 * for its status and act on the ends no event brought.
 */
export async function reconcile(deps: ExecutionDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    checked: 0,
    completed: 0,
    resumedStarts: 0,
    expiredGates: 0,
    endedReleases: 0,
    abandonedStops: 0,
    finishedCancels: 0,
    failures: [],
  };
  const stillWaiting = paged<WaitingExecution>(deps.ddb, {
    scan: { TableName: deps.tables.executions, IndexName: ExecutionsTable.waitingIndex.name },
  });
  for await (const waiting of stillWaiting) {
    report.checked += 1;
    try {
      const done = await reconcileOne(deps, waiting);
      if (done === "completed") report.completed += 1;
      if (done === "abandoned") report.abandonedStops += 1;
    } catch (error) {
      // One broken execution must not stop the pass over the others.
      report.failures.push({
        pipelineExecutionId: waiting.pipelineExecutionId,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }
  // Each pass runs even when another failed; a failure is reported, not thrown.
  const pass = async (work: () => Promise<number>): Promise<number> => {
    try {
      return await work();
    } catch (error) {
      report.failures.push({
        pipelineExecutionId: "",
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
      return 0;
    }
  };
  report.resumedStarts = await pass(() => resumeStuckStarts(deps));
  report.expiredGates = await pass(() => expireGates(deps));
  report.endedReleases = await pass(() => endReleasesOfEndedExecutions(deps, report));
  return report;
}

/**
 * What the `waiting` index holds of an execution: its keys and its projection, no more, so the
 * compiler refuses a reconciler that reads a field the index leaves out.
 */
type WaitingExecution = Pick<
  ExecutionItem,
  "pipelineExecutionId" | "awaitingRelease" | (typeof ExecutionsTable.waitingIndex.projection)[number]
>;

async function reconcileOne(
  deps: ExecutionDeps,
  waiting: WaitingExecution,
): Promise<"completed" | "abandoned" | "waiting"> {
  if (isTerminal(waiting.status)) {
    await onPipelineEnded(deps, waiting);
    return "completed";
  }
  const { pipelineExecution } = await deps.codepipeline.send(
    new GetPipelineExecutionCommand({
      pipelineName: waiting.pipeline,
      pipelineExecutionId: waiting.pipelineExecutionId,
    }),
  );
  const status = pipelineExecution?.status as PipelineExecutionStatus | undefined;
  if (!isTerminal(status)) {
    if (waiting.deadlineAt && waiting.deadlineAt < nowIso(deps) && !waiting.timedOut) {
      // Ran longer than the release allows one pipeline: stop it; its STOPPED end fails it.
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.tables.executions,
          Key: { [ExecutionsTable.hashKey]: waiting.pipelineExecutionId },
          UpdateExpression: "SET timedOut = :true",
          ExpressionAttributeValues: { ":true": true },
        }),
      );
      await stopExecution(
        deps,
        waiting,
        `ran past its deadline ${waiting.deadlineAt} (longestPipelineRunHours)`,
      );
    }
    return (await abandonPastGrace(deps, waiting)) ? "abandoned" : "waiting";
  }
  const attempt = waiting.executionAttempt ?? 1;
  const item = await recordState(deps, {
    pipelineExecutionId: waiting.pipelineExecutionId,
    pipeline: waiting.pipeline ?? pipelineExecution?.pipelineName ?? "",
    state: EVENT_STATE_OF[status],
    status,
    at: nowIso(deps),
    // One id per attempt's end: a resumed execution's new end is a new event.
    eventId: `reconciler:${waiting.pipelineExecutionId}:${attempt > 1 ? `${attempt}:` : ""}${status}`,
    attempt,
  });
  await onPipelineEnded(deps, item ?? { ...waiting, status });
  return "completed";
}
