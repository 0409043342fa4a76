/**
 * Local mode's recovery after a restart (local/release-machine.ts). The executions the stopped
 * engine ran are journaled and run again (local/execution-journal.ts), and the CodePipeline
 * stand-in kept its executions, so recovery guesses nothing: starts claimed by the stopped process
 * are taken over at once (it certainly stopped; the same clientRequestToken returns the execution
 * it may have started), and the reconciler asks CodePipeline about every execution whose end was
 * not yet acted on. Only a release whose execution was never journaled (a data folder from before
 * the journal) cannot be woken: it is marked FAILED, saying why, through the `abandon` changes.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { ReleaseErrors } from "../../contract/errors";
import { SETTLED_STATUSES, RELEASE_CHANGES, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { type ExecutionDeps, nowIso, recordState } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { resumeStuckStarts } from "./reconcile-schedule";
import { pipelinesOfRelease } from "./reads";

export const ABANDONED_CAUSE =
  "The local release machine stopped while this release was running; its local pipelines stopped with it. Submit it again under a new releaseId.";

/**
 * Takes over every start claimed by the stopped process (see above); returns how many. The
 * reconciler's next pass (local/server.ts runs one at start-up) acts on the ends.
 */
export async function takeOverDeadClaims(deps: ExecutionDeps): Promise<number> {
  return resumeStuckStarts(deps, 0);
}

/**
 * Releases RUNNING whose execution cannot run again (`attached` says which can): each running
 * pipeline is recorded (once) as Stopped, those never started
 * read Skipped, and the release FAILED. Returns the releases' ids.
 */
export async function failAbandonedReleases(
  deps: ExecutionDeps,
  attached: (executionArn: string) => boolean = () => false,
): Promise<string[]> {
  const { Items } = await deps.ddb.send(
    new ScanCommand({
      TableName: deps.tables.releases,
      FilterExpression: "#status = :running",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":running": "RUNNING" },
    }),
  );
  const ids = (Items ?? [])
    .filter((item) => !attached(String(item.executionArn ?? "")))
    .map((item) => String(item.releaseId));
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
