/**
 * The end of a release: each pipeline's settle adds one to the release's `settledCount`, then marks
 * the pipeline's own item `settled`, once; once the count reaches the release's pipelines and every
 * pipeline is marked, the outcome is decided, once, and sent to the release's waiting task (which
 * AwaitRelease registers, possibly after everything settled). docs/architecture.md, "Races".
 */
import { SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { ReleaseErrors, ReleaseNotRegistered } from "../../contract/errors";
import {
  MACHINE,
  PIPELINE_CHANGES,
  type PipelineItem,
  type ReleaseItem,
  type ReleaseOutcome,
  RELEASE_CHANGES,
} from "../../contract/lifecycle";
import { type ExecutionDeps, nowIso } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { pipelinesOfRelease, readReleaseItem } from "./reads";

/**
 * Marks a pipeline's place settled; the release's wait ends when every pipeline is. Each settle
 * reads the release and the items after its last write (the count's own answer, as written, when
 * the count is the last), so whichever write comes last (a count or a mark) is followed by a read
 * that sees every count and mark, and confirms on the items. A
 * repeated settle (a duplicate event, a retried invocation, one that died between the two writes)
 * counts again and marks nothing: an over-count only makes an earlier settle look at the items in
 * vain. `marked`: the item was marked already (a success is marked as it is recorded,
 * contract/lifecycle-success.ts), so only the count is written. Each write rewrites a small item,
 * and the count is projected into no index.
 */
export async function settle(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  /**
   * `marked`: the item was marked already (a success is marked as it is recorded). `ended`: the
   * execution whose end settles it: the mark holds only while the pipeline still names it.
   */
  { marked = false, ended }: { marked?: boolean; ended?: string } = {},
): Promise<void> {
  const counted = await changeRelease(deps, releaseId, RELEASE_CHANGES.settle, {
    fields: { settledCount: 1 },
  });
  if (!counted.changed) throw new Error(`release ${releaseId} does not exist: ${pipeline} cannot settle`);
  // Marked before: the count was this settle's last write, and the release it answered (as
  // written) already sees every count and mark before it, so no read is needed.
  if (marked) {
    await completeReleaseIfSettled(deps, counted.item);
    return;
  }
  await (ended === undefined
    ? changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.settle, { fields: { settled: true } })
    : changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.settleEnded, {
        fields: { settled: true },
        where: { pipelineExecutionId: ended },
      }));
  // Read after this settle's writes: every count and mark before them is seen.
  const release = await readReleaseItem(deps, releaseId);
  if (release) await completeReleaseIfSettled(deps, release);
}

/** Every pipeline of the release once all are settled; undefined while any is not. */
async function settledItems(deps: ExecutionDeps, release: ReleaseItem): Promise<PipelineItem[] | undefined> {
  if ((release.settledCount ?? 0) < release.pipelineCount) return undefined;
  const items = await pipelinesOfRelease(deps, release.releaseId);
  const all = items.length >= release.pipelineCount && items.every((item) => item.settled === true);
  return all ? items : undefined;
}

/**
 * What the release's item says its end is: a cancel first, then its first failure, then any
 * pipeline that did not succeed (a first failure cleared by a resumed pipeline's success,
 * handlers/release/resume.ts, never hides another's), else success.
 */
export function outcomeOf(release: ReleaseItem, items: readonly PipelineItem[] = []): ReleaseOutcome {
  if (release.cancelledBy !== undefined) {
    const why = release.cancelReason ? `: ${release.cancelReason}` : "";
    return {
      status: "CANCELLED",
      error: ReleaseErrors.ReleaseCancelled,
      cause: `Release ${release.releaseId} was cancelled by ${release.cancelledBy}${why}`,
      causedBy: release.cancelledBy,
    };
  }
  if (release.firstFailure !== undefined) {
    return {
      status: "FAILED",
      error: release.firstFailureError ?? ReleaseErrors.PipelineFailed,
      cause: release.firstFailure,
      causedBy: release.firstFailureBy ?? MACHINE,
    };
  }
  const failed = items.find((item) => item.status !== "Succeeded");
  if (failed !== undefined) {
    return {
      status: "FAILED",
      error: ReleaseErrors.PipelineFailed,
      cause: failed.cause ?? `Pipeline ${failed.pipeline} ended ${failed.status}`,
      causedBy: MACHINE,
    };
  }
  return { status: "SUCCEEDED", causedBy: release.submittedBy ?? MACHINE };
}

/**
 * Decides the release's outcome exactly once: a conditional write that also requires the cancel
 * state it was computed from. A cancel and the last pipeline's end race only here: whichever
 * writes first decides (the cancel requires that no outcome exists; the outcome requires the cancel
 * state it read), so the release ends with one status, and the loser learns it.
 */
async function decideOutcome(
  deps: ExecutionDeps,
  read: ReleaseItem,
  items: readonly PipelineItem[],
): Promise<ReleaseItem> {
  let release = read;
  for (let tries = 0; tries < 5; tries += 1) {
    if (release.outcome) return release;
    const outcome = outcomeOf(release, items);
    const result =
      release.cancelledBy === undefined
        ? await changeRelease(deps, release.releaseId, RELEASE_CHANGES.decideOutcome, { fields: { outcome } })
        : await changeRelease(deps, release.releaseId, RELEASE_CHANGES.decideCancelledOutcome, {
            fields: { outcome },
          });
    if (result.changed) return result.item;
    const again = await readReleaseItem(deps, release.releaseId);
    if (!again) throw new Error(`release ${release.releaseId} disappeared while its outcome was decided`);
    release = again;
  }
  throw new Error(`the outcome of release ${release.releaseId} kept changing while it was decided`);
}

/**
 * Once every pipeline is settled: decides the outcome (once) and sends it to the release's waiting
 * task, if that is registered yet. Returns whether it sent it.
 */
export async function completeReleaseIfSettled(
  deps: ExecutionDeps,
  settledRelease: ReleaseItem,
): Promise<boolean> {
  const items = await settledItems(deps, settledRelease);
  if (!items) return false;
  const release = await decideOutcome(deps, settledRelease, items);
  if (!release.taskToken || !release.outcome) return false;
  try {
    await deps.sfn.send(
      new SendTaskSuccessCommand({
        taskToken: release.taskToken,
        output: JSON.stringify(release.outcome),
      }),
    );
  } catch (error) {
    // The wait already ended (completed by a concurrent caller, or timed out): nothing to do.
    if (!(
      error instanceof Error && ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"].includes(error.name)
    ))
      throw error;
  }
  return true;
}

/**
 * AwaitRelease's Lambda: stores the release's task token, then completes the wait at once if every
 * pipeline settled before the token was stored (fast pipelines, or a release of failures).
 */
export async function registerReleaseWaiter(
  deps: ExecutionDeps,
  request: { taskToken: string; releaseId: string; executionArn: string },
): Promise<{ completedAtOnce: boolean }> {
  const result = await changeRelease(deps, request.releaseId, RELEASE_CHANGES.storeWait, {
    fields: { taskToken: request.taskToken, waitingSince: nowIso(deps) },
    where: { executionArn: request.executionArn },
  });
  if (!result.changed) {
    throw new ReleaseNotRegistered(
      `release ${request.releaseId} is not registered by ${request.executionArn}`,
    );
  }
  return { completedAtOnce: await completeReleaseIfSettled(deps, result.item) };
}
