/**
 * IAM enforced at run time in the local release machine (local/iam-wiring.ts): on by default, the
 * real workflow on the engine, every function with its own clients under its own role. A grant
 * removed from one role fails a release with that AccessDenied, as on AWS.
 */
import assert from "node:assert/strict";
import type { PolicyStatement } from "../contract/permissions";
import { LOCAL_REFS } from "../local/release-machine";
import { finished, localPipelines, newReleaseId, withLocalMachine } from "./local-helpers";

const PIPELINES = localPipelines({ "svc-a": 20 });
const denial = (principal: string, action: string, resource: string) =>
  `User: arn:aws:sts::000000000000:assumed-role/${principal} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;

/** Statements without `action` (on every resource, or on `resource` only). */
const without =
  (action: string, resource?: string) =>
  (statements: PolicyStatement[]): PolicyStatement[] =>
    statements.flatMap((s) => {
      if (!s.Action.includes(action)) return [s];
      if (resource === undefined) {
        const Action = s.Action.filter((a) => a !== action);
        return Action.length > 0 ? [{ ...s, Action }] : [];
      }
      const Resource = s.Resource.filter((r) => r !== resource);
      return Resource.length > 0 ? [{ ...s, Resource }] : [];
    });

describe("IAM enforced in the local release machine", function () {
  this.timeout(60_000);

  it("runs a release to SUCCEEDED with every role's deployed statements enforced", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("iam-ok");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
      assert.equal(execution.status, "SUCCEEDED", execution.cause);
    });
  });

  it("fails a release with CodePipeline's AccessDenied, naming the action and the pipeline, when registerRelease loses codepipeline:StartPipelineExecution", async () => {
    const iam = { statements: { registerRelease: without("codepipeline:StartPipelineExecution") } };
    await withLocalMachine({ pipelines: PIPELINES, iam }, async (machine) => {
      const releaseId = newReleaseId("iam-no-start");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
      const refused = denial(
        "release-machine-registerRelease/registerRelease",
        "codepipeline:StartPipelineExecution",
        "arn:aws:codepipeline:us-east-1:000000000000:svc-a",
      );
      assert.deepEqual(
        { status: execution.status, error: execution.error, cause: execution.cause },
        {
          status: "FAILED",
          error: "PipelineFailed",
          cause: `Pipeline svc-a could not start: AccessDeniedException: ${refused}`,
        },
      );
      assert.equal(machine.codepipeline.callCount("StartPipelineExecution"), 0);
    });
  });

  it("fails the Task with Lambda.AWSLambdaException, naming the action and the function, when the state machine may not invoke RegisterRelease", async () => {
    const fn = LOCAL_REFS.functions.registerRelease;
    const iam = { statements: { stateMachine: without("lambda:InvokeFunction", fn) } };
    await withLocalMachine({ pipelines: PIPELINES, iam }, async (machine) => {
      const releaseId = newReleaseId("iam-no-invoke");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
      const refused = denial(
        "release-machine-state-machine/states",
        "lambda:InvokeFunction",
        "arn:aws:lambda:us-east-1:000000000000:function:release-machine-register-release",
      );
      assert.deepEqual(
        { status: execution.status, error: execution.error, cause: execution.cause },
        {
          status: "FAILED",
          error: "Lambda.AWSLambdaException",
          cause: `${refused} (Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException)`,
        },
      );
      // The invocation never happened: nothing was registered, nothing started.
      assert.equal(await machine.readRelease(releaseId), undefined);
      assert.equal(machine.codepipeline.callCount("StartPipelineExecution"), 0);
    });
  });
});
