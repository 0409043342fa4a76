/**
 * Starts beyond a first batch are handed off, so no invocation's work grows with the release
 * (docs/architecture.md, "Starting many pipelines"). RegisterRelease starts the first
 * STARTS_PER_INVOCATION pipelines that depend on nothing and answers where the rest begin; the
 * workflow's StartMoreRoots state then invokes the same function once per further batch, with
 * that cursor, until none is left. Each invocation issues at most STARTS_PER_INVOCATION starts,
 * START_CONCURRENCY at a time, whatever the release's size or CodePipeline's throttling. Every
 * start is claimed (handlers/release/progress.ts), so a repeated batch starts nothing twice.
 */
import type { ApprovalGate } from "../../contract/manifest";
import type { ExecutionDeps } from "../executions";
import { skipUnstartedIfStopped } from "./failure-policy";
import { startWhenReady } from "./progress";
import { START_CONCURRENCY, inBatches, pipelinesOfRelease } from "./reads";

/**
 * Starts one invocation issues: three rounds of START_CONCURRENCY. One start under throttling
 * takes at most the SDK's attempts times the scheduler's tries (about a minute with their
 * backoffs), so three rounds stay well inside the scheduler's 300 s timeout.
 */
export const STARTS_PER_INVOCATION = 3 * START_CONCURRENCY;

/** StartMoreRoots's payload: the release, and the index among its roots where this batch begins. */
export interface StartRootsRequest {
  startRoots: { releaseId: string; from: number };
}

/** Where the next batch begins among the release's roots; null when every root was started. */
export interface RootsStarted {
  releaseId: string;
  startsFrom: number | null;
}

/** Starts (or opens the gates of) the roots of one batch, from `from`; answers where the next begins. */
export async function startRootsFrom(
  deps: ExecutionDeps,
  releaseId: string,
  roots: readonly { name: string; approval?: ApprovalGate }[],
  from: number,
): Promise<number | null> {
  const batch = roots.slice(from, from + STARTS_PER_INVOCATION);
  await inBatches(batch, START_CONCURRENCY, (p) => startWhenReady(deps, releaseId, p.name, p.approval));
  const next = from + batch.length;
  return next < roots.length ? next : null;
}

/**
 * StartMoreRoots: the release's roots in manifest order (as RegisterRelease listed them), one batch
 * of them from the cursor. A release stopped meanwhile starts nothing: each claim finds its
 * pipeline skipped, or its start finds the release no longer starting pipelines.
 */
export async function startMoreRoots(
  deps: ExecutionDeps,
  request: StartRootsRequest["startRoots"],
): Promise<RootsStarted> {
  const { releaseId, from } = request;
  const items = await pipelinesOfRelease(deps, releaseId);
  const roots = items
    .filter((item) => item.dependsOn.length === 0)
    .map((item) => ({ name: item.pipeline, ...(item.approval ? { approval: item.approval } : {}) }));
  const startsFrom = await startRootsFrom(deps, releaseId, roots, from);
  await skipUnstartedIfStopped(deps, releaseId);
  return { releaseId, startsFrom };
}
