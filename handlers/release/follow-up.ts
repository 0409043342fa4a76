/**
 * What a control decision leaves to do, after the control call answered (docs/architecture.md,
 * "Crash consistency"): a cancel's stop pass, an approved gate's start, a rejected gate's halt.
 * The control function records the decision, hands this work off with one accepted
 * "Release Control Decided" event and answers; a rule delivers the event to the pipeline-event
 * function as an asynchronous invocation, so the work outlives the call that decided it (Lambda
 * freezes a sandbox once its handler returns:
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtime-environment.html). Each step is
 * idempotent, so a repeated delivery, a repeated decision or the reconciler repeats nothing that
 * matters.
 */
import { randomUUID } from "node:crypto";
import { PIPELINE_CHANGES } from "../../contract/lifecycle";
import { type ExecutionDeps, nowIso } from "../executions";
import { changePipeline } from "../lifecycle-store";
import { stopRelease } from "./failure-policy";
import { finishClosedGate } from "./gates";
import type { ControlDecidedEvent } from "./hand-off";
import { completeReleaseIfSettled } from "./outcome";
import { startClaimed } from "./progress";
import { readPipeline, readReleaseItem } from "./reads";

/** The pipeline-event function's part: the decided work, once per decision whatever the deliveries. */
export async function followUpControl(
  deps: ExecutionDeps,
  event: ControlDecidedEvent,
): Promise<"recorded" | "ignored"> {
  const { detail } = event;
  if (detail.action === "cancel") return finishCancel(deps, detail.releaseId, detail.force === true);
  const item = detail.pipeline ? await readPipeline(deps, detail.releaseId, detail.pipeline) : undefined;
  if (!item || item.decision !== detail.action) return "ignored";
  if (detail.action === "reject") {
    // Closed, not yet finished (it leaves the `gates` index once finished).
    if (item.approvalDeadlineAt === undefined) return "ignored";
    await finishClosedGate(deps, item);
    return "recorded";
  }
  // Approved: the start, by whoever takes the claim over from the approval (one delivery wins).
  if (item.status !== "Starting" || item.claimedBy !== detail.claim) return "ignored";
  const claim = await changePipeline(deps, item.releaseId, item.pipeline, PIPELINE_CHANGES.takeOver, {
    fields: { claimedBy: randomUUID(), startingSince: nowIso(deps) },
    where: { previousClaim: detail.claim ?? "" },
  });
  if (!claim.changed) return "ignored";
  await startClaimed(deps, claim.item);
  return "recorded";
}

/**
 * A cancel's stop pass: what has not started is skipped, what runs is stopped (their ends settle
 * the release), and a release with nothing left running completes CANCELLED at once. A forced
 * cancel abandons rather than stop-and-wait (handlers/stops.ts). The reconciler repeats it for a
 * cancel whose hand-off was lost (cancel-sweep.ts).
 */
export async function finishCancel(
  deps: ExecutionDeps,
  releaseId: string,
  force: boolean,
): Promise<"recorded" | "ignored"> {
  const release = await readReleaseItem(deps, releaseId);
  if (release?.status !== "RUNNING" || release.cancelledBy === undefined) return "ignored";
  const reason = release.cancelReason ? `: ${release.cancelReason}` : "";
  const why = `Release ${releaseId} cancelled by ${release.cancelledBy}${reason}`;
  await stopRelease(deps, releaseId, why, force ? "forcedAbandon" : "wait");
  // Everything may have been settled already (only gates and pending pipelines were left).
  const after = await readReleaseItem(deps, releaseId);
  if (after) await completeReleaseIfSettled(deps, after);
  return "recorded";
}
