/**
 * Freezes hold starts (issue 20, items 3-4; docs/architecture.md, "Freezes"). Called at ONE
 * point: handlers/release/progress.ts, `startWhenReady`, just before a ready pipeline's start is
 * claimed. A pipeline an active freeze covers is not claimed: it stays Pending and records the
 * hold (`frozenBy`, `frozenUntil`; contract/lifecycle-freeze.ts), and the release's view shows it
 * `Frozen`. The reconciler asks again for every held pipeline of a RUNNING release
 * (handlers/release/thaw.ts): once no freeze covers it, the same path claims and starts it.
 *
 * The freezes are one Releases item (contract/freeze.ts), read with the GetItem on the Releases
 * table every scheduling role already has (contract/permissions.ts, `ReadAndSettleReleases`).
 */
import { freezeHold } from "../../contract/freeze";
import { PIPELINE_CHANGES } from "../../contract/lifecycle";
import type { FreezeOverrideFields } from "../../contract/lifecycle-freeze";
import { ReleasesTable } from "../../contract/tables";
import { readItem } from "../reads";
import { type ExecutionDeps, nowIso } from "../executions";
import { readFreezes } from "../freezes";
import { changePipeline } from "../lifecycle-store";

/**
 * Whether a freeze holds `pipeline` now: if so its hold is recorded (on a Pending item only: a
 * pipeline claimed, skipped or cancelled meanwhile records nothing) and nothing may start it.
 */
export async function heldByFreeze(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
): Promise<boolean> {
  const freezes = await readFreezes(deps);
  if (freezes.length === 0) return false;
  const at = Date.parse(nowIso(deps));
  if (!freezeHold(freezes, pipeline, at)) return false;
  // Covered: the freezes an audited override lifted for this release no longer count for it.
  const release = await readItem<FreezeOverrideFields>(deps.ddb, deps.tables.releases, {
    [ReleasesTable.hashKey]: releaseId,
  });
  const overridden = new Set(release?.freezeOverrides?.flatMap((override) => override.freezes) ?? []);
  const hold = freezeHold(
    freezes.filter((freeze) => !overridden.has(freeze.name)),
    pipeline,
    at,
  );
  if (!hold) return false;
  await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.hold, {
    fields: { frozenBy: hold.frozenBy, ...(hold.until ? { frozenUntil: hold.until } : {}) },
  });
  return true;
}
