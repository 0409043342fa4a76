/**
 * A retry's request (handlers/release-control.ts, `POST /releases/{releaseId}/retry`), resumable
 * from its record (docs/architecture.md, "Crash consistency"): the decision (attempt n+1, who asked)
 * is written on the release before the attempt's execution starts, and the execution's name and
 * input come from that record alone, so a repeated or racing request starts the same attempt.
 */
import { StartExecutionCommand } from "@aws-sdk/client-sfn";
import { RELEASE_CHANGES, type ReleaseItem } from "../../contract/lifecycle";
import { RequestRefused, RetryRefused } from "../../contract/errors";
import { type ExecutionDeps, nowIso } from "../executions";
import { changeRelease } from "../lifecycle-store";
import { retryExecutionName } from "./control";
import { readReleaseItem } from "./reads";

/** The clients a retry's request uses, and the workflow whose attempt it starts. */
type RetryDeps = ExecutionDeps & { stateMachineArn: string };

export const isAlreadyExists = (error: unknown) =>
  error instanceof Error && error.name === "ExecutionAlreadyExists";
export const alreadyStarted = (releaseId: string, attempt: number) =>
  new RequestRefused(
    409,
    "RetryAlreadyStarted",
    `attempt ${attempt} of release ${releaseId} was already started`,
  );

/** StartExecution of a recorded attempt: its name and input come from the record alone. */
export async function startAttempt(
  deps: RetryDeps,
  releaseId: string,
  attempt: number,
  requestedBy: string,
): Promise<{ releaseId: string; attempt: number; executionArn: string }> {
  const started = await deps.sfn.send(
    new StartExecutionCommand({
      stateMachineArn: deps.stateMachineArn,
      name: retryExecutionName(releaseId, attempt),
      input: JSON.stringify({ retry: { releaseId, attempt, requestedBy } }),
    }),
  );
  return { releaseId, attempt, executionArn: started.executionArn ?? "" };
}

/**
 * The release's attempt n+1, whose execution exists and ended without taking the release (it
 * would be at attempt n+1 otherwise: the condition on attempt n refuses a stale read), is recorded
 * FAILED as failRetry records one whose Catch ran. 409 when the release moved on meanwhile.
 */
export async function recordLostAttempt(deps: RetryDeps, release: ReleaseItem): Promise<ReleaseItem> {
  const attempt = release.attempt + 1;
  const name = retryExecutionName(release.releaseId, attempt);
  const lost = await changeRelease(deps, release.releaseId, RELEASE_CHANGES.failRetry, {
    fields: {
      attempt,
      executionArn: `${deps.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`,
      endedAt: nowIso(deps),
      errorName: RetryRefused.name,
      cause: `attempt ${attempt}'s execution ended before it took the release (StartExecution answered ExecutionAlreadyExists)`,
    },
    where: { previousAttempt: release.attempt },
  });
  if (!lost.changed) throw alreadyStarted(release.releaseId, attempt);
  return lost.item;
}

/**
 * The retry's decision, recorded once per attempt (one of two racing requests writes it): who
 * asked for attempt n+1, which every request for that attempt then starts with.
 */
export async function recordRetry(deps: RetryDeps, release: ReleaseItem, caller: string): Promise<string> {
  const { releaseId } = release;
  const attempt = release.attempt + 1;
  if (release.retryRequested === attempt && release.retryRequestedBy) return release.retryRequestedBy;
  const recorded = await changeRelease(deps, releaseId, RELEASE_CHANGES.requestRetry, {
    fields: { retryRequested: attempt, retryRequestedBy: caller, retryRequestedAt: nowIso(deps) },
    where: { previousAttempt: release.attempt },
  });
  if (recorded.changed) return caller;
  const now = await readReleaseItem(deps, releaseId);
  if (now?.attempt === release.attempt && now.retryRequested === attempt && now.retryRequestedBy)
    return now.retryRequestedBy;
  throw new RequestRefused(
    409,
    "RetryAlreadyStarted",
    `attempt ${attempt} of release ${releaseId} was already started`,
  );
}
