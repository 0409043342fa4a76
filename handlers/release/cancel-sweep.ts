/**
 * The reconciler's sweep of cancels whose hand-off was lost (docs/architecture.md, "Crash
 * consistency"). A cancel records its decision and hands its stop pass off with one
 * "Release Control Decided" event (hand-off.ts); if that delivery and every retry fail (EventBridge
 * sends it to the dead-letter queue, the function fails each time), nothing else would run the stop
 * pass but another cancel. So the reconciler's pass over RUNNING releases (execution-ended.ts)
 * repeats it for a release still cancelling, a grace period after its cancel, while a pipeline
 * of it is left that the stop pass would stop, skip or settle. The stop pass is idempotent
 * (follow-up.ts `finishCancel`), so racing a late delivery repeats nothing.
 */
import type { ReleaseItem } from "../../contract/lifecycle";
import { ExecutionsTable, isTerminal } from "../../contract/tables";
import { type ExecutionDeps, type ExecutionItem, nowIso } from "../executions";
import { readItem } from "../reads";
import { finishCancel } from "./follow-up";
import { pipelinesOfRelease } from "./reads";

/**
 * How long after its decision a cancel's stop pass is left to its hand-off: an ordinary delivery
 * and its Lambda retries finish well within it, so the sweep does not race them (and is harmless
 * when it does).
 */
export const CANCEL_SWEEP_AFTER_SECONDS = 300;

/**
 * Runs a cancelling release's stop pass when its hand-off was evidently lost: the release is
 * RUNNING with `cancelledBy` and no outcome, cancelled more than CANCEL_SWEEP_AFTER_SECONDS ago
 * (the injected clock), and a pipeline is left that is not stopping. A lost forced cancel is swept
 * as stop-and-wait (the release records no force), which the grace period then abandons.
 * Returns whether it ran the pass.
 */
export async function finishLostCancel(deps: ExecutionDeps, release: ReleaseItem): Promise<boolean> {
  if (release.status !== "RUNNING" || release.cancelledBy === undefined || release.outcome) return false;
  const cutoff = Date.parse(nowIso(deps)) - CANCEL_SWEEP_AFTER_SECONDS * 1000;
  if (!release.cancelledAt || Date.parse(release.cancelledAt) > cutoff) return false;
  if (!(await leftUnstopped(deps, release.releaseId))) return false;
  return (await finishCancel(deps, release.releaseId, false)) === "recorded";
}

/**
 * Whether the stop pass has anything left to do: a pipeline not started (Pending, awaiting
 * approval), a skip not yet settled, or a running execution with no stop asked for. A Starting
 * pipeline is left to its claimant (it re-reads the release after its start and stops it) or to
 * the reconciler's takeover of its claim.
 */
async function leftUnstopped(deps: ExecutionDeps, releaseId: string): Promise<boolean> {
  for (const item of await pipelinesOfRelease(deps, releaseId)) {
    if (item.status === "Pending" || item.status === "AwaitingApproval") return true;
    if (item.status === "Skipped" && item.settled !== true) return true;
    if (item.status !== "Started" || !item.pipelineExecutionId) continue;
    const execution = await readItem<ExecutionItem>(deps.ddb, deps.tables.executions, {
      [ExecutionsTable.hashKey]: item.pipelineExecutionId,
    });
    const stopping = execution?.stopRequestedAt !== undefined || execution?.stopAbandonedAt !== undefined;
    if (!stopping && !isTerminal(execution?.status)) return true;
  }
  return false;
}
