/**
 * A release whose execution failed without recording its outcome: RegisterRelease or RetryRelease
 * failed for any reason but their named errors (docs/architecture.md, "The workflow"). Only the
 * execution that holds the release acts on it, so a submission that lost its releaseId to another
 * never touches that release; and every step is conditional, so a repeat changes nothing.
 */
import { MACHINE, RELEASE_CHANGES, type ReleaseFailure } from "../../contract/lifecycle";
import { type ExecutionDeps, nowIso } from "../executions";
import { changeRelease } from "../lifecycle-store";
import { publishReleaseEvent } from "../release-events";
import { stopRelease } from "./failure-policy";
import { readReleaseItem } from "./reads";

export interface FailExecutionRequest {
  releaseId: string;
  executionArn: string;
  error: string;
  cause: string;
  /** A retry's attempt: when it failed before it took the release, that attempt is recorded. */
  attempt?: number;
}

export interface FailExecutionResult {
  /** What this call recorded: FAILED for the execution's release, or nothing (not its release). */
  recorded: "failed" | "retryFailed" | "nothing";
  stopped: string[];
  skipped: string[];
  failure: ReleaseFailure;
}

/**
 * Fails the release this execution holds: stops what runs (the stop pass), then records FAILED
 * with the error and cause, and announces it. A retry that failed before it moved the release
 * (still FAILED or CANCELLED at the attempt before) records its own attempt on the release, which
 * stays FAILED: the next retry is the attempt after it, whose execution name is unused (each
 * attempt's name is burnt for 90 days once started, docs/aws-facts.md, "Step Functions").
 * Anything else (no release, a rejected one, another execution's) is left as it is.
 */
export async function failExecution(
  deps: ExecutionDeps,
  request: FailExecutionRequest,
): Promise<FailExecutionResult> {
  const { releaseId, executionArn, error, attempt } = request;
  // A task's timeout is caught with an empty cause: the error then names what happened.
  const cause = request.cause || `the execution failed with ${error}`;
  const failure: ReleaseFailure = { error, cause, causedBy: MACHINE };
  const release = await readReleaseItem(deps, releaseId);
  const nothing: FailExecutionResult = { recorded: "nothing", stopped: [], skipped: [], failure };
  const fields = { endedAt: nowIso(deps), errorName: error, cause };
  if (release?.status === "RUNNING" && release.executionArn === executionArn) {
    const { stopped, skipped } = await stopRelease(deps, releaseId, `Release ${releaseId} failed: ${cause}`);
    const marked = await changeRelease(deps, releaseId, RELEASE_CHANGES.failExecution, {
      fields,
      where: { executionArn },
    });
    if (!marked.changed) return { ...nothing, stopped, skipped };
    await publishReleaseEvent(deps, {
      releaseId,
      status: "FAILED",
      executionArn,
      error,
      cause,
      causedBy: MACHINE,
    });
    return { recorded: "failed", stopped, skipped, failure };
  }
  if (attempt !== undefined && release && release.attempt === attempt - 1) {
    const marked = await changeRelease(deps, releaseId, RELEASE_CHANGES.failRetry, {
      fields: { ...fields, attempt, executionArn },
      where: { previousAttempt: attempt - 1 },
    });
    if (!marked.changed) return nothing;
    await publishReleaseEvent(deps, {
      releaseId,
      status: "FAILED",
      executionArn,
      attempt,
      error,
      cause,
      causedBy: MACHINE,
    });
    return { ...nothing, recorded: "retryFailed" };
  }
  return nothing;
}
