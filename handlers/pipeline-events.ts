/**
 * The pipeline-event Lambda and the reconciler: both turn a pipeline execution's end into the
 * scheduler's decisions. Events come from EventBridge ("CodePipeline Pipeline Execution State
 * Change", delivered at least once, in any order); the reconciler asks CodePipeline about every
 * execution a RUNNING release's schedule names Started, so a lost event costs minutes, not the
 * release.
 */
import type { EventBridgeEvent } from "aws-lambda";
import type { PipelineStateChangeEvent } from "../contract/pipeline-events";
import { readItem } from "./reads";
import { type ExecutionDeps, type ExecutionItem, recordState } from "./executions";
import {
  ExecutionsTable,
  PIPELINE_EVENT_DETAIL_TYPE,
  type PipelineExecutionStatus,
  isTerminal,
  statusFromEventState,
} from "../contract/tables";
import { expireGates } from "./release/gates";
import { endOnSchedule, onPipelineEnded } from "./release/progress";
import { type SchedulePass, reconcileSchedules } from "./release/reconcile-schedule";
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

/**
 * The pipeline-event Lambda: record the change; when the execution ended, act on it for its
 * release. A change the records already hold, or that its schedule item records as it acts,
 * writes nothing to the execution's item (`actedWithoutRecording`).
 */
export async function handlePipelineEvent(
  deps: ExecutionDeps,
  event: PipelineStateChangeEvent,
): Promise<PipelineEventOutcome> {
  const status = statusFromEventState(event.detail?.state);
  if (event["detail-type"] !== PIPELINE_EVENT_DETAIL_TYPE || status === undefined) return "ignored";
  const attempt = executionAttempt(event.detail["pipeline-execution-attempt"]);
  const known = isTerminal(status) ? await readExecution(deps, event.detail["execution-id"]) : undefined;
  const acted = await actedWithoutRecording(deps, known, { state: event.detail.state, status, attempt });
  if (acted) return acted;
  const item = await recordState(deps, {
    pipelineExecutionId: event.detail["execution-id"],
    pipeline: event.detail.pipeline,
    state: event.detail.state,
    status,
    at: event.time,
    eventId: event.id,
    attempt,
  });
  if (!item) {
    // Recorded before, but a failed attempt may not have acted on it (onPipelineEnded repeats
    // nothing once the schedule records the end settled).
    const stored = await readExecution(deps, event.detail["execution-id"]);
    if (stored?.releaseId && isTerminal(stored.status)) await onPipelineEnded(deps, stored);
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
  // This delivery recorded the end: it acts on it (a redelivery, above, repeats).
  await onPipelineEnded(deps, item);
  return "ended";
}

/**
 * What the records hold without the execution's item: a first attempt's STARTED is what its start
 * record says (handlers/executions.ts, recordStart: `startedAt`, `InProgress`), so it writes
 * nothing, whether it arrives before that record or after. A first attempt's end, once the
 * schedule names the execution, is decided there (endOnSchedule): a success is recorded by the
 * schedule write that acts on it (status, `endedAt`), and an end after the schedule's end is a
 * duplicate. A success is never resumed (RetryStageExecution retries failed actions only:
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_RetryStageExecution.html), so no
 * later attempt's record needs it on the execution's item. Decided on consistent reads, never on a
 * failed conditional write (which DynamoDB bills). Undefined: record it on the execution's item.
 */
async function actedWithoutRecording(
  deps: ExecutionDeps,
  known: ExecutionItem | undefined,
  event: { state: string; status: PipelineExecutionStatus; attempt: number },
): Promise<PipelineEventOutcome | undefined> {
  if (event.attempt !== 1) return undefined;
  // Its start record (written, or still to come: the claimant that started it writes it) says it.
  if (event.state === "STARTED") return "recorded";
  if (!isTerminal(event.status) || !known?.releaseId || isTerminal(known.status)) return undefined;
  if ((known.executionAttempt ?? 1) !== 1) return undefined;
  return endOnSchedule(deps, { ...known, status: event.status });
}

async function readExecution(
  deps: ExecutionDeps,
  pipelineExecutionId: string,
): Promise<ExecutionItem | undefined> {
  return readItem<ExecutionItem>(deps.ddb, deps.tables.executions, {
    [ExecutionsTable.hashKey]: pipelineExecutionId,
  });
}

export interface ReconcileReport extends SchedulePass {
  /** Approval gates closed because their deadline passed. */
  expiredGates: number;
  /** RUNNING releases whose execution had ended without their outcome (the backstop). */
  endedReleases: number;
  /** Cancels whose stop pass was lost with its hand-off, run again (release/cancel-sweep.ts). */
  finishedCancels: number;
}

/**
 * The reconciler: the schedule of every RUNNING release (./release/reconcile-schedule.ts): stuck
 * claims, executions whose end no event brought, unfinished settles; then gates past their
 * deadline and the backstop.
 */
export async function reconcile(deps: ExecutionDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = {
    checked: 0,
    completed: 0,
    resumedStarts: 0,
    repairedSettles: 0,
    expiredGates: 0,
    endedReleases: 0,
    abandonedStops: 0,
    finishedCancels: 0,
    failures: [],
  };
  await reconcileSchedules(deps, report);
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
  report.expiredGates = await pass(() => expireGates(deps));
  report.endedReleases = await pass(() => endReleasesOfEndedExecutions(deps, report));
  return report;
}
