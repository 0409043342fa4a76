/**
 * What a failure means for the rest of a release (docs/architecture.md, "Scheduling", failure
 * policy): the release keeps its first failure; under `stopRemaining` every pipeline not started
 * is skipped and every running one stopped, under `letFinish` only the failed pipeline's
 * dependants are skipped. The same skip and stop passes serve a cancel, a halted release and a
 * failed wait.
 */
import { ReleaseErrors } from "../../contract/errors";
import { MACHINE, type ReleaseItem, RELEASE_CHANGES, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { type ExecutionDeps, nowIso } from "../executions";
import { type StopKind, stopExecution } from "../stops";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { settle } from "./outcome";
import {
  START_CONCURRENCY,
  inBatches,
  pipelinesOfRelease,
  readPipeline,
  readReleaseItem,
  startsPipelines,
} from "./reads";

/**
 * A pipeline that never started leaves the schedule as Skipped, from the status it was read in;
 * `stoppedBy` names the pipeline whose failure skipped it.
 */
export async function settleUnstarted(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  from: "Pending" | "Starting" | "AwaitingApproval",
  stoppedBy?: string,
): Promise<void> {
  const skipped = await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.skip, {
    fields: { endedAt: nowIso(deps), ...(stoppedBy ? { stoppedBy } : {}) },
    from,
  });
  if (!skipped.changed) {
    const item = await readPipeline(deps, releaseId, pipeline);
    if (item?.status !== "Skipped") return; // claimed or started meanwhile: its own path settles it
    // Marked: its settle counted it before the mark (./outcome.ts), so another would only over-count.
    if (item.settled === true) return;
  }
  await settle(deps, releaseId, pipeline);
}

/** Skips every pipeline that has not started (Pending or awaiting approval); running ones run on. */
export async function skipUnstarted(deps: ExecutionDeps, releaseId: string): Promise<string[]> {
  const skipped: string[] = [];
  const items = await pipelinesOfRelease(deps, releaseId);
  await inBatches(items, START_CONCURRENCY, async (item) => {
    if (item.status !== "Pending" && item.status !== "AwaitingApproval") return;
    await settleUnstarted(deps, releaseId, item.pipeline, item.status);
    skipped.push(item.pipeline);
  });
  return skipped;
}

/**
 * A cancel that arrived while the schedule was being written found only part of it to skip: the
 * rest is skipped here, once the whole schedule exists.
 */
export async function skipUnstartedIfStopped(deps: ExecutionDeps, releaseId: string): Promise<void> {
  const release = await readReleaseItem(deps, releaseId);
  if (release && release.status === "RUNNING" && !startsPipelines(release))
    await skipUnstarted(deps, releaseId);
}

/**
 * Ends the running part of a release: pipelines not yet started are skipped, running ones are
 * stopped (their STOPPED events then settle them like any end). Used by stopRemaining, a cancel
 * and when the release's wait fails; `stoppedBy` names the failed pipeline when a failure stops it.
 */
export async function stopRelease(
  deps: ExecutionDeps,
  releaseId: string,
  reason: string,
  kind: StopKind = "wait",
  stoppedBy?: string,
): Promise<{ stopped: string[]; skipped: string[] }> {
  const stopped: string[] = [];
  const skipped: string[] = [];
  const items = await pipelinesOfRelease(deps, releaseId);
  await inBatches(items, START_CONCURRENCY, async (item) => {
    if (item.status === "Pending" || item.status === "AwaitingApproval") {
      await settleUnstarted(deps, releaseId, item.pipeline, item.status, stoppedBy);
      skipped.push(item.pipeline);
    } else if (item.status === "Started" && item.pipelineExecutionId) {
      const execution = { pipelineExecutionId: item.pipelineExecutionId, pipeline: item.pipeline };
      if (await stopExecution(deps, execution, reason, kind)) stopped.push(item.pipeline);
    } else if (item.status === "Skipped" && item.settled !== true) {
      // A skip whose settle died between its count and its mark: nothing else repeats it (an
      // ended pipeline's settle is repeated by the reconciler), so a repeated pass finishes
      // it; the repeat only over-counts, which completion tolerates: it is confirmed on the marks.
      await settle(deps, releaseId, item.pipeline);
    }
  });
  return { stopped, skipped };
}

/**
 * After a pipeline failed: keep the release's first failure, skip every pipeline that depends on
 * the failed one (directly or not), and under stopRemaining stop everything else.
 */
export async function afterFailure(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  cause: string,
  /** The attempt the failed execution ran in. */
  attempt: number,
): Promise<void> {
  const recorded = await changeRelease(deps, releaseId, RELEASE_CHANGES.recordFailure, {
    fields: {
      firstFailure: cause,
      firstFailureError: ReleaseErrors.PipelineFailed,
      firstFailureBy: MACHINE,
      firstFailurePipeline: pipeline,
    },
    where: { attempt },
  });
  // The release no longer runs that attempt (it ended, or a retry reset what the failure would
  // skip): a late end of an earlier attempt stops and skips nothing.
  if (!recorded.changed) return;
  if (recorded.item.failurePolicy === "stopRemaining") {
    // One pass: the first failure's, unless a cancel's runs (repeated by the reconciler's cancel
    // sweep when lost: ./cancel-sweep.ts). It skips and stops everything, and a start recorded
    // after it re-reads the release and stops itself (./progress.ts). Every later failure (the
    // pipelines a cancel or a first failure stopped end Stopped) would repeat the whole pass,
    // settling again what the first is settling. A first failure's handler that died is repeated
    // by the reconciler's pass over the schedule (an end not yet settled: ./reconcile-schedule.ts),
    // and finds the failure its own again.
    const first = recorded.item.firstFailurePipeline === pipeline;
    if (!first || recorded.item.cancelledBy !== undefined) return;
    await stopRelease(deps, releaseId, `Release ${releaseId} failed: ${cause}`, "wait", pipeline);
    return;
  }
  const items = await pipelinesOfRelease(deps, releaseId);
  const byName = new Map(items.map((i) => [i.pipeline, i]));
  const doomed = new Set<string>();
  const queue = [...(byName.get(pipeline)?.dependants ?? [])];
  for (let name = queue.pop(); name !== undefined; name = queue.pop()) {
    if (doomed.has(name)) continue;
    doomed.add(name);
    queue.push(...(byName.get(name)?.dependants ?? []));
  }
  await inBatches([...doomed], START_CONCURRENCY, (name) =>
    settleUnstarted(deps, releaseId, name, "Pending", pipeline),
  );
}

/**
 * A start CodePipeline refused for good (the pipeline is gone, the request invalid): a failure,
 * recorded only by the claim's holder. A claimant whose claim was taken over fails nothing: the
 * new claimant's start decides the pipeline.
 */
export async function failUnstarted(
  deps: ExecutionDeps,
  release: ReleaseItem,
  pipeline: string,
  claim: string,
  why: string,
): Promise<void> {
  const cause = `Pipeline ${pipeline} could not start: ${why}`;
  const failed = await changePipeline(deps, release.releaseId, pipeline, PIPELINE_CHANGES.failStart, {
    fields: { endedAt: nowIso(deps), cause },
    where: { claim },
  });
  if (!failed.changed) return;
  await afterFailure(deps, release.releaseId, pipeline, cause, release.attempt);
  await settle(deps, release.releaseId, pipeline);
}
