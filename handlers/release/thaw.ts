/**
 * The reconciler's part of freezes (docs/architecture.md, "Freezes"): every held pipeline of a
 * RUNNING release is made ready again, so once its window ended (or its freeze was removed) it is
 * claimed and started by the one start path (handlers/release/progress.ts, `startWhenReady`,
 * which checks the freezes again first: a pipeline still covered keeps its hold).
 */
import type { PipelineItem } from "../../contract/lifecycle";
import type { ExecutionDeps } from "../executions";
import { startWhenReady } from "./progress";

/** Asks again for every held pipeline of `items`; returns how many started or opened a gate. */
export async function thawHeld(deps: ExecutionDeps, items: readonly PipelineItem[]): Promise<number> {
  let thawed = 0;
  for (const item of items) {
    if (item.status !== "Pending" || item.frozenBy === undefined) continue;
    await startWhenReady(deps, item.releaseId, item.pipeline, item.approval);
    thawed += 1;
  }
  return thawed;
}
