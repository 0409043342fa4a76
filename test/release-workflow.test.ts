import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  DefinitionError,
  type FailState,
  type MapState,
  type State,
  type StateMachineDefinition,
  type TaskState,
  allStates,
  stateMachine,
} from "../stepfunction/asl";
import {
  DEFAULT_WORKFLOW_OPTIONS,
  PLACEHOLDER_REFS,
  type WorkflowOptions,
  releaseWorkflow,
} from "../stepfunction/release-workflow";

// asl-validator ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const aslValidator = require("asl-validator") as (
  definition: unknown,
  options?: { checkArn?: boolean; checkPaths?: boolean },
) => { isValid: boolean; errorsText: (separator?: string) => string };

const render = (options: Partial<WorkflowOptions> = {}) =>
  releaseWorkflow(PLACEHOLDER_REFS, { ...DEFAULT_WORKFLOW_OPTIONS, ...options });

function state<T extends State>(definition: StateMachineDefinition, name: string): T {
  const found = allStates(definition).find(([n]) => n === name);
  assert.ok(found, `state ${name} exists`);
  return found[1] as T;
}

describe("the release workflow definition", () => {
  it("renders exactly the reviewed definition (test/fixtures; regenerate with npm run definition)", () => {
    const expected = JSON.parse(
      readFileSync(path.join(__dirname, "fixtures", "release-workflow.stopRemaining.json"), "utf8"),
    );
    assert.deepEqual(render(), expected);
  });

  for (const failurePolicy of ["stopRemaining", "letFinish"] as const) {
    it(`passes asl-validator with ARN and path checks under the ${failurePolicy} policy`, () => {
      const result = aslValidator(structuredClone(render({ failurePolicy })), {
        checkArn: true,
        checkPaths: true,
      });
      assert.equal(result.isValid, true, result.errorsText("\n"));
    });
  }

  it("uses JSONPath and has no Wait state, so no polling loop can exist", () => {
    const definition = render();
    assert.equal(definition.QueryLanguage, "JSONPath");
    const types = allStates(definition).map(([, s]) => s.Type);
    assert.ok(!types.includes("Wait" as never));
  });

  it("waits for each pipeline by task token, timing out only after the longest pipeline run", () => {
    const definition = render({ longestPipelineRunSeconds: 3 * 86400 });
    const await_ = state<TaskState>(definition, "AwaitPipeline");
    assert.equal(await_.Resource, "arn:aws:states:::lambda:invoke.waitForTaskToken");
    assert.equal(await_.TimeoutSeconds, 259200);
    assert.deepEqual(await_.Parameters?.Payload, {
      "taskToken.$": "$$.Task.Token",
      "releaseId.$": "$.releaseId",
      "pipeline.$": "$.pipeline.name",
      "pipelineExecutionId.$": "$.execution.pipelineExecutionId",
      stopIfReleaseFailed: true,
    });
  });

  it("starts pipelines through the CodePipeline SDK integration with the prepared idempotent request", () => {
    const start = state<TaskState>(render(), "StartPipeline");
    assert.equal(start.Resource, "arn:aws:states:::aws-sdk:codepipeline:startPipelineExecution");
    assert.equal(start.InputPath, "$.pipeline.start");
    assert.deepEqual(start.Retry?.[0].ErrorEquals, [
      "CodePipeline.ThrottlingException",
      "CodePipeline.ConflictException",
    ]);
    assert.equal(start.Retry?.[0].JitterStrategy, "FULL");
  });

  it("bounds the Map's concurrency by the option", () => {
    assert.equal(state<MapState>(render({ mapConcurrency: 3 }), "RunPipelines").MaxConcurrency, 3);
  });

  it("registers a release with a conditional put and fails a duplicate as DuplicateRelease", () => {
    const definition = render();
    const register = state<TaskState>(definition, "RegisterRelease");
    assert.equal(register.Parameters?.ConditionExpression, "attribute_not_exists(releaseId)");
    assert.deepEqual(register.Catch?.[0].ErrorEquals, ["DynamoDB.ConditionalCheckFailedException"]);
    const duplicate = state<FailState>(definition, "DuplicateRelease");
    assert.deepEqual(duplicate, { Type: "Fail", Error: "DuplicateRelease", CausePath: "$.duplicate.cause" });
  });

  it("gives every Fail state an Error and a Cause", () => {
    for (const policy of ["stopRemaining", "letFinish"] as const) {
      for (const [name, s] of allStates(render({ failurePolicy: policy }))) {
        if (s.Type !== "Fail") continue;
        assert.ok("Error" in s || "ErrorPath" in s, `${name} has Error`);
        assert.ok("Cause" in s || "CausePath" in s, `${name} has Cause`);
      }
    }
  });

  it("retries only named transient errors, never States.ALL", () => {
    for (const [name, s] of allStates(render())) {
      if (s.Type !== "Task") continue;
      assert.ok(s.Retry && s.Retry.length > 0, `${name} retries something`);
      for (const retrier of s.Retry) assert.ok(!retrier.ErrorEquals.includes("States.ALL"), name);
    }
  });

  it("stops the remaining pipelines after a failure only under the stopRemaining policy", () => {
    const stop = render({ failurePolicy: "stopRemaining" });
    assert.equal(state<MapState>(stop, "RunPipelines").Catch?.[0].Next, "StopRemaining");
    assert.equal(state<TaskState>(stop, "StopRemaining").Next, "MarkFailed");
    assert.equal(state<TaskState>(stop, "RecordPipelineFailure").Next, "StopOtherPipelines");
    assert.equal(
      state<TaskState>(stop, "StopOtherPipelines").Parameters?.FunctionName,
      PLACEHOLDER_REFS.functions.stopRemaining,
    );
    const finish = render({ failurePolicy: "letFinish" });
    assert.ok(
      !allStates(finish).some(([n]) =>
        ["StopRemaining", "StopOtherPipelines", "CheckReleaseOpen"].includes(n),
      ),
    );
    assert.equal(state<TaskState>(finish, "RecordPipelineFailure").Next, "PipelineFinishedFailed");
    assert.equal(state<MapState>(finish, "RunPipelines").Next, "ReadOutcome");
  });

  it("rejects options outside their limits with a message naming the option", () => {
    assert.throws(() => render({ mapConcurrency: 41 }), /mapConcurrency must be an integer from 1 to 40/);
    assert.throws(() => render({ longestPipelineRunSeconds: 10 }), /longestPipelineRunSeconds/);
    assert.throws(() => render({ failurePolicy: "retry" as never }), /failurePolicy/);
  });
});

describe("the typed ASL builder", () => {
  it("refuses a transition to a state that does not exist, naming the state", () => {
    assert.throws(
      () => stateMachine({ StartAt: "A", States: { A: { Type: "Pass", Next: "B" } } }),
      (e: Error) =>
        e instanceof DefinitionError && /state "A": next state "B" does not exist/.test(e.message),
    );
  });

  it("refuses unreachable states", () => {
    assert.throws(
      () => stateMachine({ StartAt: "A", States: { A: { Type: "Succeed" }, B: { Type: "Succeed" } } }),
      /unreachable state\(s\): B/,
    );
  });

  it("refuses a state name used in two scopes", () => {
    const map: MapState = {
      Type: "Map",
      ItemsPath: "$.items",
      ItemProcessor: {
        ProcessorConfig: { Mode: "INLINE" },
        StartAt: "A",
        States: { A: { Type: "Succeed" } },
      },
      Next: "A",
    };
    assert.throws(
      () => stateMachine({ StartAt: "M", States: { M: map, A: { Type: "Succeed" } } }),
      /"A" is used twice/,
    );
  });

  it("refuses a Retry on States.ALL", () => {
    const task: TaskState = {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke",
      Retry: [{ ErrorEquals: ["States.ALL"] }],
      End: true,
    };
    assert.throws(
      () => stateMachine({ StartAt: "T", States: { T: task } }),
      /state "T": Retry must name transient errors/,
    );
  });

  it("refuses a task-token wait without a token or a timeout", () => {
    const base = {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
      End: true,
    } as const;
    assert.throws(
      () => stateMachine({ StartAt: "W", States: { W: { ...base, TimeoutSeconds: 60, Parameters: {} } } }),
      /must pass \$\$\.Task\.Token/,
    );
    assert.throws(
      () =>
        stateMachine({ StartAt: "W", States: { W: { ...base, Parameters: { "t.$": "$$.Task.Token" } } } }),
      /needs TimeoutSeconds/,
    );
  });
});
