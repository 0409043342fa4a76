/**
 * Starts beyond a first batch are handed off, so no invocation's work grows with the release
 * (docs/architecture.md, "Starting many pipelines"). RegisterRelease (and RetryRelease) start the
 * first STARTS_PER_INVOCATION ready pipelines in manifest order and answer where the rest begin;
 * the workflow's StartMoreRoots state then invokes the same function once per further batch, with
 * that cursor, until none is left. Each invocation issues at most STARTS_PER_INVOCATION starts,
 * START_CONCURRENCY at a time, whatever the release's size or CodePipeline's throttling. Every
 * start is claimed (handlers/release/progress.ts), so a repeated batch starts nothing twice.
 */
import type { ApprovalGate } from "../../contract/manifest";
import type { PipelineItem } from "../../contract/lifecycle";
import type { ExecutionDeps } from "../executions";
import { skipUnstartedIfStopped } from "./failure-policy";
import { startWhenReady } from "./progress";
import { START_CONCURRENCY, STARTS_PER_INVOCATION, inBatches, pipelinesOfRelease } from "./reads";

export { STARTS_PER_INVOCATION };

/** StartMoreRoots's payload: the release, and the index in manifest order where this batch begins. */
export interface StartRootsRequest {
  startRoots: { releaseId: string; from: number };
}

/** Where the next batch begins in manifest order; null when every ready pipeline was started. */
export interface RootsStarted {
  releaseId: string;
  startsFrom: number | null;
}

/** A pipeline of the schedule in manifest order, and whether it may start now. */
export interface Startable {
  name: string;
  approval?: ApprovalGate;
  ready: boolean;
}

/**
 * Starts (or opens the gates of) the next STARTS_PER_INVOCATION ready pipelines of `ordered` (the
 * whole schedule in manifest order) from index `from`; answers the index after the last one taken,
 * or null when none is left. Readiness only grows, so a cursor over the schedule misses none: one
 * readied later, behind the cursor, is started by the end that readied it.
 */
export async function startReadyFrom(
  deps: ExecutionDeps,
  releaseId: string,
  ordered: readonly Startable[],
  from: number,
): Promise<number | null> {
  const batch: Startable[] = [];
  let next = from;
  for (; next < ordered.length && batch.length < STARTS_PER_INVOCATION; next += 1) {
    if (ordered[next].ready) batch.push(ordered[next]);
  }
  await inBatches(batch, START_CONCURRENCY, (p) => startWhenReady(deps, releaseId, p.name, p.approval));
  return ordered.slice(next).some((p) => p.ready) ? next : null;
}

/**
 * Every dependency succeeded: a start's claim takes it if it is still Pending. Not its status, so
 * a repeated batch (a Lambda retry) takes the same pipelines, whose claims then start nothing.
 */
export function depsMet(item: PipelineItem): boolean {
  return item.dependsOn.every((name) => item.depsSucceeded?.has(name));
}

/**
 * StartMoreRoots: the release's schedule in manifest order, one batch of its ready pipelines from
 * the cursor (the roots a registration left, or what a retry made ready). A release stopped
 * meanwhile starts nothing: each claim finds its pipeline skipped, or its start finds the release
 * no longer starting pipelines.
 */
export async function startMoreRoots(
  deps: ExecutionDeps,
  request: StartRootsRequest["startRoots"],
): Promise<RootsStarted> {
  const { releaseId, from } = request;
  const items = await pipelinesOfRelease(deps, releaseId);
  const ordered = items.map((item) => ({
    name: item.pipeline,
    ...(item.approval ? { approval: item.approval } : {}),
    ready: depsMet(item),
  }));
  const startsFrom = await startReadyFrom(deps, releaseId, ordered, from);
  await skipUnstartedIfStopped(deps, releaseId);
  return { releaseId, startsFrom };
}
