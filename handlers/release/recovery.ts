/**
 * Local mode's recovery after a restart (local/release-machine.ts). The executions the stopped
 * engine ran are journaled and run again (local/execution-journal.ts), and the CodePipeline
 * stand-in kept its executions, so recovery guesses nothing: starts claimed by the stopped process
 * are taken over at once (it certainly stopped; the same clientRequestToken returns the execution
 * it may have started), and the reconciler asks CodePipeline about every execution whose end was
 * not yet acted on. Only a release whose execution was never journaled (a data folder from before
 * the journal, or a journal lost) cannot be woken: it is marked FAILED through the `abandon`
 * changes, as interrupted, dated by its last recorded event (when the machine last did anything
 * for it, not the restart), with the retry that resumes it: a retry is a new execution (attempt
 * n+1) that reruns only what did not succeed.
 */
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import { ReleaseErrors } from "../../contract/errors";
import { SETTLED_STATUSES, RELEASE_CHANGES, PIPELINE_CHANGES } from "../../contract/lifecycle";
import type { PipelineItem, ReleaseItem } from "../../contract/lifecycle";
import { type ExecutionDeps, executionsByIds, nowIso, recordState } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { resumeStuckStarts } from "./reconcile-schedule";
import { pipelinesOfRelease } from "./reads";

/** The cause of a release interrupted by a stop of the local machine: what happened, and what resumes it. */
export function interruptedCause(releaseId: string, stoppedAt: string): string {
  return `Interrupted: the local release machine stopped while this release was running (its last recorded event was at ${stoppedAt}), and nothing could take it up again at the restart. \`release-machine retry ${releaseId}\` resumes it: a new attempt runs the pipelines that did not succeed.`;
}

/** A release marked FAILED after a restart, and when it stopped (its last recorded event). */
export interface InterruptedRelease {
  releaseId: string;
  stoppedAt: string;
}

/**
 * The last moment anything was recorded for the release: its start or retry, its pipelines'
 * starts, ends and decisions, and every state of their executions.
 */
async function lastRecordedAt(
  deps: ExecutionDeps,
  release: Partial<ReleaseItem>,
  items: PipelineItem[],
): Promise<string> {
  const ids = items.flatMap((item) => (item.pipelineExecutionId ? [item.pipelineExecutionId] : []));
  const executions = await executionsByIds(deps, ids);
  const times = [
    release.startedAt,
    release.retriedAt,
    release.lastResumedAt,
    ...items.flatMap((i) => [i.startedAt, i.endedAt, i.approvalRequestedAt, i.decidedAt, i.resumedAt]),
    ...executions.flatMap((e) => (e.history ?? []).map((h) => h.at)),
  ].filter((at): at is string => typeof at === "string" && at !== "");
  // ISO 8601 in UTC sorts as text; a release with nothing recorded is dated by its start (or now).
  return times.sort().at(-1) ?? nowIso(deps);
}

/**
 * Takes over every start claimed by the stopped process (see above); returns how many. The
 * reconciler's next pass (local/server.ts runs one at start-up) acts on the ends.
 */
export async function takeOverDeadClaims(deps: ExecutionDeps): Promise<number> {
  return resumeStuckStarts(deps, 0);
}

/**
 * Releases RUNNING whose execution cannot run again (`attached` says which can): each running
 * pipeline is recorded (once) as Stopped, those never started read Skipped, and the release FAILED
 * as interrupted, each dated by the release's last recorded event. Returns the releases and those
 * dates.
 */
export async function failAbandonedReleases(
  deps: ExecutionDeps,
  attached: (executionArn: string) => boolean = () => false,
): Promise<InterruptedRelease[]> {
  const { Items } = await deps.ddb.send(
    new ScanCommand({
      TableName: deps.tables.releases,
      FilterExpression: "#status = :running",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":running": "RUNNING" },
    }),
  );
  const releases = (Items ?? []).filter((item) => !attached(String(item.executionArn ?? "")));
  const interrupted: InterruptedRelease[] = [];
  for (const release of releases as Partial<ReleaseItem>[]) {
    const releaseId = String(release.releaseId);
    const items = await pipelinesOfRelease(deps, releaseId);
    const stoppedAt = await lastRecordedAt(deps, release, items);
    for (const item of items) {
      if (SETTLED_STATUSES.includes(item.status)) continue;
      const id = item.pipelineExecutionId;
      if (id) {
        await recordState(deps, {
          pipelineExecutionId: id,
          pipeline: item.pipeline,
          state: "STOPPED",
          status: "Stopped",
          at: stoppedAt,
          eventId: `local-engine-stopped:${id}`,
        });
      }
      await changePipeline(deps, releaseId, item.pipeline, PIPELINE_CHANGES.abandon, {
        fields: { endedAt: stoppedAt },
        to: id ? "Stopped" : "Skipped",
        from: item.status,
      });
    }
    await changeRelease(deps, releaseId, RELEASE_CHANGES.abandon, {
      fields: {
        errorName: ReleaseErrors.LocalEngineStopped,
        cause: interruptedCause(releaseId, stoppedAt),
        endedAt: stoppedAt,
      },
    });
    interrupted.push({ releaseId, stoppedAt });
  }
  return interrupted;
}
