/**
 * An execution resumed outside the release (RetryStageExecution, from the console or the CLI):
 * the same execution id emits RESUMED and ends again.
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_RetryStageExecution.html
 * While the release is open (RUNNING, no outcome) the pipeline runs again and its new end counts:
 * its schedule item goes back to Started and leaves the settled count; what its first end already
 * caused (siblings stopped, dependants skipped) stays done. Once the release has its outcome, the
 * resume is only recorded (the execution's history, the release's `resumedAfterEnd`) and
 * announced. Either way a "Pipeline Resumed" event says so. docs/architecture.md, "Lifecycle".
 */
import {
  MACHINE,
  PIPELINE_CHANGES,
  type PipelineItem,
  RELEASE_CHANGES,
  SETTLED_STATUSES,
} from "../../contract/lifecycle";
import { type ExecutionDeps, type ExecutionItem, awaitAgain, nowIso } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { publishPipelineResumed } from "../release-events";
import { pipelinesOfRelease, readPipeline, readReleaseItem } from "./reads";

/** Who resumed it, as the event and the record say: never the release machine itself. */
export const RESUMED_OUTSIDE = "outside the release";

/**
 * Acts on an execution seen at a later attempt than its schedule item holds (its RESUMED, or a
 * new end whose RESUMED is late or lost). `announceLate`: also announce a resume after the
 * release's outcome (only for the RESUMED event itself, so each resume is announced once).
 * Returns whether the pipeline's new end counts for its release.
 */
export async function onExecutionResumed(
  deps: ExecutionDeps,
  execution: ExecutionItem,
  announceLate: boolean,
): Promise<boolean> {
  const { releaseId, pipeline, pipelineExecutionId } = execution;
  const attempt = execution.executionAttempt ?? 1;
  if (!releaseId || !pipeline || attempt < 2) return false;
  const item = await readPipeline(deps, releaseId, pipeline);
  // Not this release's execution of the pipeline (a retry of the release reset it): nothing to do.
  if (!item || item.pipelineExecutionId !== pipelineExecutionId) return false;
  if ((item.executionAttempt ?? 1) >= attempt) return item.status === "Started";
  const now = nowIso(deps);
  const noted = await changeRelease(deps, releaseId, RELEASE_CHANGES.noteResume, {
    fields: { resumedPipelines: new Set([pipeline]), lastResumedAt: now },
  });
  if (!noted.changed) {
    if (!announceLate) return false;
    const late = await changeRelease(deps, releaseId, RELEASE_CHANGES.noteLateResume, {
      fields: { resumedAfterEnd: new Set([pipeline]), lastResumedAt: now },
    });
    const status = late.changed ? late.item.status : "unknown";
    await announce(deps, execution, attempt, false, status);
    return false;
  }
  // Its first end never reached the schedule (lost, or still on its way): it simply runs on.
  if (!SETTLED_STATUSES.includes(item.status)) return item.status === "Started";
  const resumed = await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.resume, {
    fields: { executionAttempt: attempt, resumedAt: now },
    where: { pipelineExecutionId },
  });
  if (!resumed.changed) return false;
  // Counted out once: only the writer that removed the pipeline's mark (the count stays at or
  // above the pipelines marked, contract/lifecycle.ts ReleaseItem.settledCount).
  if (item.settled === true) {
    await changeRelease(deps, releaseId, RELEASE_CHANGES.unsettle, { fields: { settledCount: -1 } });
  }
  const deadlineAt = new Date(Date.parse(now) + noted.item.pipelineTimeoutSeconds * 1000).toISOString();
  await awaitAgain(deps, { pipelineExecutionId, deadlineAt });
  await announce(deps, execution, attempt, true, noted.item.status);
  return true;
}

async function announce(
  deps: ExecutionDeps,
  execution: ExecutionItem,
  executionAttempt: number,
  counts: boolean,
  releaseStatus: string,
): Promise<void> {
  await publishPipelineResumed(deps, {
    releaseId: execution.releaseId ?? "",
    pipeline: execution.pipeline ?? "",
    pipelineExecutionId: execution.pipelineExecutionId,
    executionAttempt,
    counts,
    releaseStatus,
    resumedBy: RESUMED_OUTSIDE,
  });
}

/**
 * Whether a pipeline's failure changed another pipeline's place. Under stopRemaining the failure
 * skipped every pipeline not started and stopped every running one, so any other pipeline that did
 * not succeed was touched by it (one still Stopping included); under letFinish, its dependants
 * were skipped.
 */
function failureDidHarm(items: readonly PipelineItem[], failed: PipelineItem, policy: string): boolean {
  if (policy === "stopRemaining")
    return items.some((i) => i.pipeline !== failed.pipeline && i.status !== "Succeeded");
  return items.some((i) => failed.dependants.includes(i.pipeline) && i.status === "Skipped");
}

/**
 * A resumed pipeline succeeded: when its failure was the release's first and stopped or skipped
 * nothing, the failure is cleared, so the release can still succeed. Otherwise what it caused
 * stays done and the release keeps the failure. The outcome is checked against every pipeline
 * when it is decided (handlers/release/outcome.ts), so another pipeline's failure, recorded or
 * not, still fails the release.
 */
export async function clearFailureIfHarmless(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
): Promise<void> {
  const release = await readReleaseItem(deps, releaseId);
  if (!release || release.firstFailurePipeline !== pipeline || release.firstFailureBy !== MACHINE) return;
  const items = await pipelinesOfRelease(deps, releaseId);
  const failed = items.find((i) => i.pipeline === pipeline);
  if (!failed || failureDidHarm(items, failed, release.failurePolicy)) return;
  await changeRelease(deps, releaseId, RELEASE_CHANGES.clearFailure, { fields: {}, where: { pipeline } });
}
