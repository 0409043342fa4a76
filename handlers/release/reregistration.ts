/**
 * A releaseId registered again after its registration failed for good (contract/lifecycle-reregister.ts):
 * the release is FAILED and still says `schedulePending`, so its schedule was never complete and
 * nothing of it started. RegisterRelease takes it back (`reregister`) only after reading that no
 * item of its schedule ever started, then deletes the leftover items before writing its own, so the
 * schedule is exactly the new manifest's and `pipelineCount` counts it.
 *
 * Crash consistency (docs/architecture.md, "Crash consistency"): until `scheduleWritten`, the
 * release says which execution it `replaces` and nothing starts, so a repeat of the same
 * registration (Step Functions retries the task with the same input) deletes whatever is there
 * again (the leftovers, and any items it wrote itself: none started) and writes the schedule
 * whole. If the new registration fails for good too, the release is FAILED with `schedulePending`
 * again, and the next submission takes it the same way. Each delete is conditional on the item
 * never having started (`attribute_not_exists(pipelineExecutionId)`), so a delete can never remove
 * a pipeline's record of a run.
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_DeleteItem.html
 */
import { DeleteCommand } from "@aws-sdk/lib-dynamodb";
import { type PipelineItem, RELEASE_CHANGES, type ReleaseItem } from "../../contract/lifecycle";
import { failedForGood } from "../../contract/lifecycle-reregister";
import type { ExecutionDeps } from "../executions";
import { isConditionFailure } from "../executions";
import { type Changed, changeRelease, pipelineKey } from "../lifecycle-store";
import { START_CONCURRENCY, inBatches, pipelinesOfRelease, readReleaseItem } from "./reads";

type StoreDeps = Pick<ExecutionDeps, "ddb" | "tables">;

/** What `register` writes, which `reregister` writes too. */
export type RegisterFields = Parameters<typeof changeRelease<typeof RELEASE_CHANGES.register>>[3]["fields"];

/** Whether an item's pipeline ever started (a claim, a recorded execution, an end of one). */
const started = (item: PipelineItem) =>
  item.pipelineExecutionId !== undefined || (item.status !== "Pending" && item.status !== "Skipped");

/**
 * Registers the release again over a registration that failed for good, or answers
 * `{ changed: false }` when it is not one (or another submission took it first).
 */
export async function reregister(
  deps: StoreDeps,
  releaseId: string,
  fields: RegisterFields,
): Promise<Changed<ReleaseItem>> {
  const release = await readReleaseItem(deps, releaseId);
  if (!failedForGood(release)) return { changed: false };
  // schedulePending means nothing started; the items say so too (a release that ran stays FAILED).
  if ((await pipelinesOfRelease(deps, releaseId)).some(started)) return { changed: false };
  return changeRelease(deps, releaseId, RELEASE_CHANGES.reregister, {
    fields: { ...fields, settledCount: 0, replaces: release.executionArn },
  });
}

/**
 * Deletes every schedule item of a release being registered again, while its schedule is pending
 * (nothing started): the failed registration's leftovers, and what an earlier try of this one wrote.
 */
export async function clearSchedule(deps: StoreDeps, releaseId: string): Promise<void> {
  const items = await pipelinesOfRelease(deps, releaseId);
  await inBatches(items, START_CONCURRENCY, async (item) => {
    try {
      await deps.ddb.send(
        new DeleteCommand({
          TableName: deps.tables.releasePipelines,
          Key: pipelineKey(releaseId, item.pipeline),
          ConditionExpression: "attribute_not_exists(#pipelineExecutionId)",
          ExpressionAttributeNames: { "#pipelineExecutionId": "pipelineExecutionId" },
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      throw new Error(`${releaseId}: ${item.pipeline} started; its record is kept`, { cause: error });
    }
  });
}
