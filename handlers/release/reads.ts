/**
 * How the release's schedule is read: one release or pipeline (consistently: it decides what
 * happens next), a release's pipelines in manifest order, the reconciler's sparse indexes, and
 * whether a release still starts pipelines. docs/architecture.md, "Scheduling".
 */
import { allItems, paged, readItem } from "../reads";
import type { ExecutionDeps } from "../executions";
import type { PipelineItem, ReleaseItem } from "../../contract/lifecycle";
import { pipelineKey, releaseKey } from "../lifecycle-store";

type ReadDeps = Pick<ExecutionDeps, "ddb" | "tables">;

/** Starts issued at once by one invocation: CodePipeline throttles bursts (the SDK retries those). */
export const START_CONCURRENCY = 10;

/**
 * Starts one invocation issues: three rounds of START_CONCURRENCY. One start under throttling
 * takes at most the SDK's attempts times the scheduler's tries (about a minute with their
 * backoffs), so three rounds stay well inside the scheduler's 300 s timeout. The rest is handed on
 * (docs/architecture.md, "Starting many pipelines").
 */
export const STARTS_PER_INVOCATION = 3 * START_CONCURRENCY;

/** Runs `work` over `items`, `limit` at a time. */
export async function inBatches<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<unknown>,
): Promise<void> {
  for (let i = 0; i < items.length; i += limit) {
    await Promise.all(items.slice(i, i + limit).map(work));
  }
}

export async function readReleaseItem(deps: ReadDeps, releaseId: string): Promise<ReleaseItem | undefined> {
  return readItem<ReleaseItem>(deps.ddb, deps.tables.releases, releaseKey(releaseId));
}

export async function readPipeline(
  deps: ReadDeps,
  releaseId: string,
  pipeline: string,
): Promise<PipelineItem | undefined> {
  return readItem<PipelineItem>(deps.ddb, deps.tables.releasePipelines, pipelineKey(releaseId, pipeline));
}

/** Every pipeline of a release, in manifest order. */
export async function pipelinesOfRelease(deps: ReadDeps, releaseId: string): Promise<PipelineItem[]> {
  const items = await allItems<PipelineItem>(deps.ddb, {
    query: {
      TableName: deps.tables.releasePipelines,
      KeyConditionExpression: "releaseId = :releaseId",
      ExpressionAttributeValues: { ":releaseId": releaseId },
      ConsistentRead: true,
    },
  });
  return items.sort((a, b) => a.order - b.order);
}

/**
 * Every item on one of the schedule's sparse indexes (`starting`, `gates`), page by page. These
 * indexes hold only the few items waiting for the reconciler, so the scan reads only those.
 */
export function onScheduleIndex<T>(deps: ReadDeps, indexName: string): AsyncGenerator<T> {
  return paged<T>(deps.ddb, { scan: { TableName: deps.tables.releasePipelines, IndexName: indexName } });
}

/**
 * Whether the release still starts pipelines: it runs, nobody cancelled it, no gate halted it, its
 * outcome is not decided, and (under stopRemaining) nothing failed.
 */
export function startsPipelines(release: ReleaseItem | undefined): boolean {
  if (!release || release.status !== "RUNNING") return false;
  if (release.cancelledBy !== undefined || release.halted !== undefined || release.outcome !== undefined)
    return false;
  return !(release.failurePolicy === "stopRemaining" && release.firstFailure !== undefined);
}
