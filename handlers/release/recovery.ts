/**
 * Local mode's recovery after a restart (local/release-machine.ts): releases the stopped engine
 * left RUNNING cannot be woken, because their executions and local pipelines ran inside the
 * stopped process. Each is marked FAILED, saying why, through the lifecycle's `abandon` changes.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { ReleaseErrors } from "../../contract/errors";
import { SETTLED_STATUSES, RELEASE_CHANGES, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { type ExecutionDeps, nowIso, recordState, releaseWaiterDone } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { pipelinesOfRelease } from "./reads";

export const ABANDONED_CAUSE =
  "The local release machine stopped while this release was running; its local pipelines stopped with it. Submit it again under a new releaseId.";

/**
 * Each running pipeline is recorded (once) as Stopped and taken off the reconciler's index, those
 * never started read Skipped, and the release FAILED. Returns the releases' ids.
 */
export async function failAbandonedReleases(deps: ExecutionDeps): Promise<string[]> {
  const { Items } = await deps.ddb.send(
    new ScanCommand({
      TableName: deps.tables.releases,
      FilterExpression: "#status = :running",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":running": "RUNNING" },
    }),
  );
  const ids = (Items ?? []).map((item) => String(item.releaseId));
  for (const releaseId of ids) {
    for (const item of await pipelinesOfRelease(deps, releaseId)) {
      if (SETTLED_STATUSES.includes(item.status)) continue;
      const id = item.pipelineExecutionId;
      if (id) {
        await recordState(deps, {
          pipelineExecutionId: id,
          pipeline: item.pipeline,
          state: "STOPPED",
          status: "Stopped",
          at: nowIso(deps),
          eventId: `local-engine-stopped:${id}`,
        });
        await releaseWaiterDone(deps, id);
      }
      await changePipeline(deps, releaseId, item.pipeline, PIPELINE_CHANGES.abandon, {
        fields: { endedAt: nowIso(deps) },
        to: id ? "Stopped" : "Skipped",
        from: item.status,
      });
    }
    await changeRelease(deps, releaseId, RELEASE_CHANGES.abandon, {
      fields: { errorName: ReleaseErrors.LocalEngineStopped, cause: ABANDONED_CAUSE, endedAt: nowIso(deps) },
    });
  }
  return ids;
}
