/**
 * What ends an execution whose RegisterRelease or RetryRelease failed for any reason but their
 * named errors (a timeout, an SDK error, a defect): the release it holds is stopped and recorded
 * FAILED with the caught error and cause, and the execution fails with them
 * (docs/architecture.md, "The workflow"). A function does it, not a Mark state, because whether
 * the release is this execution's to fail is decided on the release as it is read: a submission
 * that failed before it wrote the release must not fail another's, and a retry that failed before
 * it moved the release records its attempt instead (handlers/release/ended.ts). A registration that
 * failed before it took the release is recorded as a refused submission (RecordRejected), as a bad
 * manifest is: under its releaseId when that is free, apart otherwise. A registration that failed
 * after it took the release but before its schedule was complete leaves it FAILED with
 * `schedulePending`: nothing started, so the next submission of the releaseId, through any door,
 * registers it again (contract/lifecycle-reregister.ts); a release FAILED later is only retried.
 */
import type { State } from "./asl";
import { choice, fail, next } from "./asl";
import { lambdaTask } from "./lambda-task";

/** Step Functions spells a caught error {Error, Cause}; the Catch places it at `$.error`. */
export const CAUGHT = { ErrorEquals: ["States.ALL"], ResultPath: "$.error" };

function failState(
  stopReleaseArn: string,
  releaseId: string,
  attempt: string | undefined,
  then: string,
  failed: string,
): State {
  return lambdaTask(
    stopReleaseArn,
    {
      failExecution: {
        "releaseId.$": releaseId,
        "executionArn.$": "$$.Execution.Id",
        "error.$": "$.error.Error",
        "cause.$": "$.error.Cause",
        ...(attempt ? { "attempt.$": attempt } : {}),
      },
    },
    {
      Comment:
        "Stops and fails the release this execution holds (or records a retry's failed attempt), then the execution fails with the caught error.",
      ResultSelector: { "recorded.$": "$.Payload.recorded" },
      ResultPath: "$.failed",
      // The execution fails with the caught error whether or not its record could be written.
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.failError", Next: failed }],
    },
    next(then),
  );
}

/** The states after a failed RegisterRelease or RetryRelease; the stopRelease function does the work. */
export function failedRegistrationStates(stopReleaseArn: string): Record<string, State> {
  const failed = fail({ ErrorPath: "$.error.Error" }, { CausePath: "$.error.Cause" });
  return {
    FailRegistration: failState(
      stopReleaseArn,
      "$.release.releaseId",
      undefined,
      "RegistrationRecorded",
      "RegistrationFailed",
    ),
    RegistrationRecorded: choice(
      [{ Variable: "$.failed.recorded", StringEquals: "nothing", Next: "RecordRejected" }],
      "RegistrationFailed",
      "It failed before it took the release: the submission is recorded as refused, so it is not lost.",
    ),
    RegistrationFailed: failed,
    // StartMoreRoots failed: the release is this execution's (it registered it), so it fails.
    FailStarts: failState(stopReleaseArn, "$.releaseId", undefined, "StartsFailed", "StartsFailed"),
    StartsFailed: failed,
    FailRetry: failState(
      stopReleaseArn,
      "$.retry.releaseId",
      "$.retry.attempt",
      "RetryFailed",
      "RetryFailed",
    ),
    RetryFailed: failed,
  };
}
