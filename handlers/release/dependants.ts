/**
 * The dependants one pipeline's success readies, in bounded batches (docs/architecture.md,
 * "Starting many pipelines"): one root may have 499 dependants, and starting them all in the
 * invocation that handled its end could pass the function's timeout under CodePipeline
 * throttling. The end's handler (handlers/release/progress.ts, onPipelineEnded) readies the first
 * STARTS_PER_INVOCATION dependants and hands the rest on with one "Release Starts Pending" event;
 * a rule delivers it to the pipeline-event function as an asynchronous invocation (with Lambda's
 * retries and the dead-letter queue), which readies the next batch and hands on again, until none
 * is left. A lost hand-off (or a function that died after readying dependants) leaves a dependant
 * of a success without that success's mark in `depsSucceeded`, which the reconciler's pass over the
 * RUNNING release's schedule finds and repeats (handlers/release/reconcile-schedule.ts). Every
 * mark is a set-add and every start a claim, so a repeated batch starts nothing twice.
 */
import { STARTS_PENDING_DETAIL_TYPE, type StartsPendingDetail } from "../../contract/event-patterns";
import type { ExecutionDeps } from "../executions";
import { handOffStarts } from "./hand-off";
import { readyDependantsFrom } from "./progress";
import { readPipeline } from "./reads";

/** The event as EventBridge delivers it to the pipeline-event function. */
export interface StartsPendingEvent {
  "detail-type": typeof STARTS_PENDING_DETAIL_TYPE;
  detail: StartsPendingDetail;
}

export function isStartsPending(event: unknown): event is StartsPendingEvent {
  if (typeof event !== "object" || event === null) return false;
  const detail: unknown = Reflect.get(event, "detail");
  return (
    Reflect.get(event, "detail-type") === STARTS_PENDING_DETAIL_TYPE &&
    typeof detail === "object" &&
    detail !== null &&
    typeof Reflect.get(detail, "releaseId") === "string" &&
    typeof Reflect.get(detail, "pipeline") === "string" &&
    typeof Reflect.get(detail, "pipelineExecutionId") === "string" &&
    Number.isInteger(Reflect.get(detail, "from"))
  );
}

/**
 * The pipeline-event function's part: one batch of the succeeded pipeline's dependants from the
 * cursor, then the next hand-off (a lost one leaves a dependant unmarked, which the reconciler repeats).
 */
export async function startPendingDependants(
  deps: ExecutionDeps,
  event: StartsPendingEvent,
): Promise<"recorded" | "ignored"> {
  const { releaseId, pipeline, pipelineExecutionId, from } = event.detail;
  const item = await readPipeline(deps, releaseId, pipeline);
  // Not the success that readied them (a retry's attempt reset it): that attempt readies its own.
  if (item?.pipelineExecutionId !== pipelineExecutionId || item.status !== "Succeeded") return "ignored";
  const next = await readyDependantsFrom(deps, releaseId, pipeline, item.dependants, from);
  if (next !== null) await handOffStarts(deps, { releaseId, pipeline, pipelineExecutionId, from: next });
  return "recorded";
}
