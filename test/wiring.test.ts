import assert from "node:assert/strict";
import { LAMBDA_ENTRY_POINTS } from "../handlers/index";
import { HANDLERS } from "../handlers/wiring";
import { HANDLER_NAMES } from "../contract/permissions";
import { PAYLOADS } from "../local/payloads";
import { WORKFLOW_FUNCTIONS } from "../stepfunction/release-workflow";

const sorted = (names: readonly string[]) => [...names].sort();

describe("the one wiring of the functions (handlers/wiring.ts)", () => {
  it("has one handler per deployed function, and one Lambda entry point per handler", () => {
    assert.deepEqual(sorted(Object.keys(HANDLERS)), sorted(HANDLER_NAMES));
    assert.deepEqual(sorted(Object.keys(LAMBDA_ENTRY_POINTS)), sorted(HANDLER_NAMES));
  });

  it("decodes a payload for every function the workflow's tasks invoke locally", () => {
    assert.deepEqual(sorted(Object.keys(PAYLOADS)), sorted(WORKFLOW_FUNCTIONS));
  });

  it("decodes RegisterRelease's payload and RetryRelease's into the events their handler tells apart", () => {
    const register = {
      releaseId: "5.16",
      executionArn: "arn:x",
      startedAt: "2026-11-27T00:00:00Z",
      source: "api",
      submittedBy: "arn:aws:iam::000000000000:user/alice",
      failurePolicy: "stopRemaining",
      longestPipelineRunSeconds: 3600,
      pipelines: [
        { name: "svc-a" },
        {
          name: "svc-b",
          dependsOn: ["svc-a"],
          approval: { timeoutHours: 4, approvers: ["arn:aws:iam::*:role/ops"] },
          variables: { V: "1" },
          sourceRevisions: [{ actionName: "Source", revisionType: "COMMIT_ID", revisionValue: "abc" }],
        },
      ],
    };
    assert.deepEqual(PAYLOADS.registerRelease(register), register);
    const retry = { retry: { releaseId: "5.16", attempt: 2, requestedBy: "bob" }, executionArn: "arn:y" };
    assert.deepEqual(PAYLOADS.registerRelease(retry), retry);
  });

  it("refuses a payload of another shape with a TypeError naming the field", () => {
    assert.throws(
      () => PAYLOADS.awaitRelease({ taskToken: "t", releaseId: 5, executionArn: "arn:x" }),
      (error: Error) => error instanceof TypeError && error.message === "releaseId must be a string",
    );
    assert.throws(
      () => PAYLOADS.registerRelease({ retry: { releaseId: "r", attempt: "2", requestedBy: "b" } }),
      /retry\.attempt must be a number/,
    );
    assert.throws(() => PAYLOADS.recordRejection("text"), /payload must be an object/);
  });

  it("leaves a StopRelease payload's absent reason and error out, so the handler's defaults apply", () => {
    assert.deepEqual(PAYLOADS.stopRelease({ releaseId: "r" }), { releaseId: "r" });
    assert.deepEqual(PAYLOADS.stopRelease({ releaseId: "r", reason: "why", error: "States.Timeout" }), {
      releaseId: "r",
      reason: "why",
      error: "States.Timeout",
    });
  });
});
