/**
 * A person's control of a release, and the workflow's stop when its wait failed: cancel (one
 * conditional write, accepted only while no outcome exists), retry (attempt n+1 resets what did
 * not succeed and moves the release FAILED|CANCELLED -> RUNNING in one write), and the stop after
 * a failed wait. The control routes (handlers/release-control.ts) only check and authorize.
 */
import { createHash } from "node:crypto";
import { ReleaseStateConflict, RetryRefused } from "../../contract/errors";
import {
  MACHINE,
  type PipelineItem,
  type ReleaseFailure,
  type ReleaseItem,
  RELEASE_CHANGES,
  PIPELINE_CHANGES,
} from "../../contract/lifecycle";
import type { AttemptRecord } from "../../contract/lifecycle-view";
import { type ExecutionDeps, nowIso } from "../executions";
import { changePipeline, changeRelease } from "../lifecycle-store";
import { publishReleaseEvent } from "../release-events";
import { skipUnstartedIfStopped, stopRelease } from "./failure-policy";
import { handOff } from "./hand-off";
import { START_CONCURRENCY, inBatches, pipelinesOfRelease, readReleaseItem } from "./reads";
import { startReadyFrom } from "./start-batches";

export interface CancelRequest {
  releaseId: string;
  by: string;
  reason?: string;
  /** Abandon running pipelines at once (StopPipelineExecution with abandon) instead of stop-and-wait. */
  force?: boolean;
}

/**
 * Cancels a running release. A cancel racing the natural end either wins (the release ends
 * CANCELLED) or finds the outcome decided (ReleaseStateConflict: it already ended). From there
 * nothing more starts; once the cancel is recorded and handed off (hand-off.ts) the call answers,
 * and the stop pass runs after (follow-up.ts): pipelines not started are skipped and running ones
 * stopped, and their STOPPED ends settle the release, whose wait then receives the CANCELLED
 * outcome. A repeated cancel of a release already cancelling answers as the first did (the first
 * canceller and reason stand) and hands the stop pass off again, which is idempotent: so a cancel
 * whose invocation died after its write is finished by asking again.
 */
export async function cancelRelease(
  deps: ExecutionDeps,
  request: CancelRequest,
): Promise<{ releaseId: string; status: "CANCELLING"; cancelledBy: string }> {
  const { releaseId } = request;
  let cancel = { by: request.by, reason: request.reason, first: true };
  const written = await changeRelease(deps, releaseId, RELEASE_CHANGES.cancel, {
    fields: { cancelledBy: request.by, cancelledAt: nowIso(deps), cancelReason: request.reason },
  });
  if (!written.changed) {
    const release = await readReleaseItem(deps, releaseId);
    if (release?.status !== "RUNNING" || release.cancelledBy === undefined) {
      const state = release?.outcome ? `${release.outcome.status} (its outcome is decided)` : release?.status;
      throw new ReleaseStateConflict(
        `release ${releaseId} is ${state ?? "unknown"}; only a running release can be cancelled`,
      );
    }
    // Already cancelling: the first cancel stands; its stop pass is repeated (in case it died).
    cancel = { by: release.cancelledBy, reason: release.cancelReason, first: false };
  }
  // The stop pass runs after the answer (follow-up.ts): the answer waits only for the decision. A
  // forced cancel abandons what runs, a pending stop-and-wait of an earlier cancel included. The
  // first cancel's announcement goes in the same PutEvents.
  const announcement = cancel.first
    ? {
        releaseId,
        status: "CANCELLING" as const,
        causedBy: cancel.by,
        ...(cancel.reason ? { reason: cancel.reason } : {}),
      }
    : undefined;
  await handOff(
    deps,
    { releaseId, action: "cancel", ...(request.force ? { force: true } : {}) },
    announcement,
  );
  return { releaseId, status: "CANCELLING", cancelledBy: cancel.by };
}

export interface RetryReleaseRequest {
  retry: { releaseId: string; attempt: number; requestedBy: string };
  executionArn: string;
}

/** The execution name of a release's attempt (2 and later): unique per attempt, so a retry is idempotent. */
export function retryExecutionName(releaseId: string, attempt: number): string {
  return `retry-${attempt}-${createHash("sha256").update(releaseId).digest("hex").slice(0, 48)}`;
}

/**
 * The retry's first step, in its own execution (attempt n+1): resets every pipeline that did not
 * succeed to Pending (once per attempt: `resetForAttempt`), then moves the release to RUNNING at
 * attempt n+1 (of two retries one wins; the other execution fails RetryRefused), its settled count
 * reduced to the pipelines that succeeded (they keep their `settled` mark), and starts the first
 * batch of the pipelines whose dependencies all succeeded, answering where the rest begin. Succeeded pipelines keep their execution; new starts carry the attempt in their
 * clientRequestToken. Resetting first means a late duplicate end of an old execution finds no
 * pipeline naming it.
 */
export async function retryRelease(
  deps: ExecutionDeps,
  request: RetryReleaseRequest,
): Promise<{ releaseId: string; attempt: number; startsFrom: number | null }> {
  const { releaseId, attempt, requestedBy } = request.retry;
  const release = await readReleaseItem(deps, releaseId);
  const retrying = release?.executionArn === request.executionArn;
  if (
    !release ||
    (!retrying && (!["FAILED", "CANCELLED"].includes(release.status) || release.attempt !== attempt - 1))
  ) {
    throw new RetryRefused(
      `release ${releaseId} is ${release ? `${release.status} at attempt ${release.attempt}` : "unknown"}; attempt ${attempt} cannot start`,
    );
  }
  // Its registration died before every pipeline was written: a retry would wait for pipelines that
  // do not exist (docs/architecture.md, "Crash consistency").
  if (release.schedulePending !== undefined) throw new RetryRefused(incompleteSchedule(release));
  const items = await pipelinesOfRelease(deps, releaseId);
  const succeeded = new Set(items.filter((i) => i.status === "Succeeded").map((i) => i.pipeline));
  const again = items.filter((i) => !succeeded.has(i.pipeline));
  // Not reset: an earlier try of this attempt reset it.
  await inBatches(again, START_CONCURRENCY, (item) => {
    const met = item.dependsOn.filter((name) => succeeded.has(name));
    return changePipeline(deps, releaseId, item.pipeline, PIPELINE_CHANGES.resetForRetry, {
      fields: {
        resetForAttempt: attempt,
        depsSucceeded: met.length > 0 ? new Set(met) : undefined,
        earlierAttempts: item.startedAt ? [pipelineAttempt(item)] : [],
      },
    });
  });
  const moved = await changeRelease(deps, releaseId, RELEASE_CHANGES.retry, {
    fields: {
      attempt,
      executionArn: request.executionArn,
      retriedBy: requestedBy,
      retriedAt: nowIso(deps),
      settledCount: succeeded.size,
      earlierAttempts: retrying ? [] : [releaseAttempt(release)],
    },
    where: { previousAttempt: attempt - 1 },
  });
  if (!moved.changed) {
    throw new RetryRefused(
      `release ${releaseId} was retried by another request; attempt ${attempt} did not start`,
    );
  }
  await publishReleaseEvent(deps, { releaseId, status: "RUNNING", attempt, causedBy: requestedBy });
  // The first batch of what is ready; the workflow's StartMoreRoots starts the rest, one batch per
  // invocation, as it does a registration's roots (./start-batches.ts).
  const ordered = items.map((i) => ({
    name: i.pipeline,
    ...(i.approval ? { approval: i.approval } : {}),
    ready: !succeeded.has(i.pipeline) && i.dependsOn.every((name) => succeeded.has(name)),
  }));
  const startsFrom = await startReadyFrom(deps, releaseId, ordered, 0);
  await skipUnstartedIfStopped(deps, releaseId);
  return { releaseId, attempt, startsFrom };
}

/** The attempt a retry ends, as the release's item keeps it, so its duration stays readable. */
function releaseAttempt(release: ReleaseItem): AttemptRecord {
  return {
    attempt: release.attempt,
    status: release.status,
    ...(release.retriedAt || release.startedAt ? { startedAt: release.retriedAt ?? release.startedAt } : {}),
    ...(release.endedAt ? { endedAt: release.endedAt } : {}),
  };
}

/** A pipeline's run in the attempt a retry ends. */
function pipelineAttempt(item: PipelineItem): AttemptRecord {
  return {
    attempt: item.attempt ?? 1,
    status: item.status,
    ...(item.pipelineExecutionId ? { pipelineExecutionId: item.pipelineExecutionId } : {}),
    ...(item.startedAt ? { startedAt: item.startedAt } : {}),
    ...(item.endedAt ? { endedAt: item.endedAt } : {}),
  };
}

/** Why a release whose registration did not finish its schedule cannot be retried. */
export function incompleteSchedule(release: { releaseId: string; pipelineCount: number }): string {
  return `release ${release.releaseId} cannot be retried: its registration failed before all ${release.pipelineCount} pipelines of its schedule were written; submit the manifest again under a new releaseId`;
}

export interface StopReleaseRequest {
  releaseId: string;
  reason?: string;
  error?: string;
}

export interface StopReleaseResult {
  stopped: string[];
  skipped: string[];
  /** The failure the workflow records and publishes: the wait's own, caused by the machine. */
  failure: ReleaseFailure;
}

/** StopRelease's Lambda: the release's wait failed (its backstop timeout, or a defect). */
export async function stopReleaseAfterFailedWait(
  deps: ExecutionDeps,
  request: StopReleaseRequest,
): Promise<StopReleaseResult> {
  const reason = request.reason ?? "the release stopped";
  const { stopped, skipped } = await stopRelease(deps, request.releaseId, reason);
  return {
    stopped,
    skipped,
    failure: { error: request.error ?? "States.Timeout", cause: reason, causedBy: MACHINE },
  };
}
