import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import {
  type ChoiceState,
  DefinitionError,
  type FailState,
  type PayloadTemplate,
  type State,
  type StateMachineDefinition,
  type TaskState,
  allStates,
  choice,
  end,
  fail,
  next,
  pass,
  stateMachine,
  succeed,
  successors,
  task,
} from "../stepfunction/asl";
import { oneStateMap } from "./asl-fixtures";
import { MAX_APPROVAL_TIMEOUT_HOURS } from "../contract/manifest-schema";
import {
  DEFAULT_WORKFLOW_OPTIONS,
  MAX_PIPELINE_RUN_SECONDS,
  PLACEHOLDER_REFS,
  type WorkflowOptions,
  lambdaTask,
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

/** A Lambda task hands `functionArn` exactly `payload`. */
function assertInvokes(task: TaskState, functionArn: string, payload: PayloadTemplate): void {
  assert.deepEqual(task.Parameters, { FunctionName: functionArn, Payload: payload });
}

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

  it("has no Map, no per-pipeline state and one loop, a batch of starts per turn: every other path visits at most 12 states", () => {
    for (const failurePolicy of ["stopRemaining", "letFinish"] as const) {
      const definition = render({ failurePolicy });
      assert.ok(!allStates(definition).some(([, s]) => s.Type === "Map"));
      // StartMoreRoots -> MoreRoots turns once per STARTS_PER_INVOCATION roots past the first
      // batch (handlers/release/start-batches.ts): the only loop, and it ends with the roots.
      assert.deepEqual(successors(definition.States.StartMoreRoots), ["MoreRoots", "FailStarts"]);
      const longest = (name: string, seen: string[]): number => {
        assert.ok(!seen.includes(name), `a loop through ${[...seen, name].join(" -> ")}`);
        const next = new Set(successors(definition.States[name]));
        if (name === "StartMoreRoots") next.delete("MoreRoots");
        return 1 + Math.max(0, ...[...next].map((n) => longest(n, [...seen, name])));
      };
      assert.ok(
        longest(definition.StartAt, []) <= 12,
        `${failurePolicy}: ${longest(definition.StartAt, [])}`,
      );
    }
  });

  it("gives every path into MarkFailed its failure ($.failure: error, cause, causedBy), so PublishFailed finds it", () => {
    const definition = render();
    const into = allStates(definition).filter(([, s]) => successors(s).includes("MarkFailed"));
    assert.deepEqual(into.map(([name]) => name).sort(), [
      "DescribeFailure",
      "DescribeWaitFailure",
      "StopRelease",
    ]);
    for (const [name, s] of into) {
      assert.ok(s.Type === "Pass" || s.Type === "Task", name);
      assert.equal(s.ResultPath, "$.failure", name);
      const shaped = s.Type === "Task" ? s.ResultSelector : s.Parameters;
      const fields = Object.keys(shaped ?? {}).map((key) => key.replace(/\.\$$/, ""));
      assert.deepEqual(fields.sort(), ["cause", "causedBy", "error"], name);
    }
  });

  it("parks the whole release in one task-token wait that the scheduler completes", () => {
    const definition = render();
    const waits = allStates(definition).filter(
      ([, s]) => s.Type === "Task" && s.Resource.endsWith(".waitForTaskToken"),
    );
    assert.deepEqual(
      waits.map(([name]) => name),
      ["AwaitRelease"],
    );
    const wait = state<TaskState>(definition, "AwaitRelease");
    assertInvokes(wait, PLACEHOLDER_REFS.functions.awaitRelease, {
      "taskToken.$": "$$.Task.Token",
      "releaseId.$": "$.releaseId",
      "executionArn.$": "$$.Execution.Id",
    });
    assert.equal(wait.TimeoutSeconds, 31_449_600, "a backstop only: the reconciler times pipelines out");
    assert.deepEqual(
      wait.Catch?.map((c) => [c.ErrorEquals, c.Next]),
      [[["States.ALL"], "StopRelease"]],
    );
  });

  it("calls CodePipeline only from functions, never through an SDK integration", () => {
    for (const [name, s] of allStates(render())) {
      if (s.Type !== "Task") continue;
      assert.doesNotMatch(s.Resource, /aws-sdk:codepipeline/, name);
    }
  });

  it("hands RegisterRelease the plan, the stack's failure policy with the manifest's own choice, and the longest pipeline run, and carries on only the releaseId and where its further starts begin", () => {
    const definition = render({ failurePolicy: "letFinish", longestPipelineRunSeconds: 7200 });
    const register = state<TaskState>(definition, "RegisterRelease");
    assertInvokes(register, PLACEHOLDER_REFS.functions.registerRelease, {
      "releaseId.$": "$.release.releaseId",
      "executionArn.$": "$$.Execution.Id",
      "startedAt.$": "$$.Execution.StartTime",
      "source.$": "$.release.location",
      "submittedBy.$": "$.release.submittedBy",
      failurePolicy: "letFinish",
      "options.$": "$.release.options",
      longestPipelineRunSeconds: 7200,
      "pipelines.$": "$.release.pipelines",
    });
    assert.equal(register.OutputPath, "$.release");
    assert.deepEqual(register.ResultSelector, {
      "releaseId.$": "$.Payload.releaseId",
      "startsFrom.$": "$.Payload.startsFrom",
    });
    assert.deepEqual(
      register.Catch?.map((c) => [c.ErrorEquals, c.Next]),
      [
        [["DuplicateRelease"], "RecordRejected"],
        [["States.ALL"], "FailRegistration"],
      ],
    );
  });

  it("routes a retry to RetryRelease, which hands its further starts to the MoreRoots loop or fails RetryRefused", () => {
    const definition = render();
    assert.equal(definition.StartAt, "Submission");
    const submission = state<ChoiceState>(definition, "Submission");
    assert.deepEqual(submission.Choices, [{ Variable: "$.retry", IsPresent: true, Next: "RetryRelease" }]);
    assert.equal(submission.Default, "LoadManifest");
    const retry = state<TaskState>(definition, "RetryRelease");
    assertInvokes(retry, PLACEHOLDER_REFS.functions.registerRelease, {
      "retry.$": "$.retry",
      "executionArn.$": "$$.Execution.Id",
    });
    // Its further starts go through the same bounded loop as a registration's roots.
    assert.equal(retry.Next, "MoreRoots");
    assert.deepEqual(retry.ResultSelector, {
      "releaseId.$": "$.Payload.releaseId",
      "startsFrom.$": "$.Payload.startsFrom",
    });
    assert.deepEqual(
      retry.Catch?.map((c) => [c.ErrorEquals, c.Next]),
      [
        [["RetryRefused"], "RetryRefused"],
        [["States.ALL"], "FailRetry"],
      ],
    );
  });

  it("marks a CANCELLED outcome CANCELLED and publishes it naming who cancelled, then fails the execution", () => {
    const definition = render();
    const outcome = state<ChoiceState>(definition, "ReleaseOutcome");
    assert.deepEqual(outcome.Choices, [
      { Variable: "$.outcome.status", StringEquals: "SUCCEEDED", Next: "MarkSucceeded" },
      { Variable: "$.outcome.status", StringEquals: "CANCELLED", Next: "MarkCancelled" },
    ]);
    const mark = state<TaskState>(definition, "MarkCancelled");
    assert.equal(mark.Parameters?.ConditionExpression, "#status = :from OR #status = :to");
    assert.deepEqual(mark.Parameters?.ExpressionAttributeValues, {
      ":from": { S: "RUNNING" },
      ":to": { S: "CANCELLED" },
      ":statusShard": { "S.$": "States.Format('CANCELLED#{}', States.MathRandom(0, 7))" },
      ":endedAt": { "S.$": "$$.State.EnteredTime" },
      ":errorName": { "S.$": "$.outcome.error" },
      ":cause": { "S.$": "$.outcome.cause" },
    });
    const publish = state<TaskState>(definition, "PublishCancelled");
    const entry = (publish.Parameters?.Entries as { Detail: Record<string, unknown> }[])[0];
    assert.equal(entry.Detail.status, "CANCELLED");
    assert.equal(entry.Detail["causedBy.$"], "$.outcome.causedBy");
    assert.deepEqual(state<State>(definition, "ReleaseCancelled"), {
      Type: "Fail",
      ErrorPath: "$.outcome.error",
      CausePath: "$.outcome.cause",
    });
  });

  it("records every refused submission (bad manifest, missing object, duplicate) before failing with its error", () => {
    const definition = render();
    for (const name of ["LoadManifest", "ValidateManifest"]) {
      assert.deepEqual(
        state<TaskState>(definition, name).Catch?.map((c) => [c.ErrorEquals, c.Next]),
        [
          [["InvalidManifest", "ManifestNotFound"], "RecordRejected"],
          [["States.ALL"], "RecordRejected"],
        ],
      );
    }
    const record = state<TaskState>(definition, "RecordRejected");
    assert.equal(record.Next, "Rejected");
    assert.deepEqual(state<FailState>(definition, "Rejected"), {
      Type: "Fail",
      ErrorPath: "$.rejection.error",
      CausePath: "$.rejection.cause",
    });
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

  it("differs between failure policies only in what RegisterRelease is told", () => {
    const stop = render({ failurePolicy: "stopRemaining" });
    const finish = render({ failurePolicy: "letFinish" });
    const payload = (d: StateMachineDefinition) =>
      (state<TaskState>(d, "RegisterRelease").Parameters?.Payload as Record<string, unknown>).failurePolicy;
    assert.deepEqual([payload(stop), payload(finish)], ["stopRemaining", "letFinish"]);
    const withoutPolicy = (d: StateMachineDefinition) =>
      JSON.stringify(d).replace(/"failurePolicy":"\w+"/, "");
    assert.equal(withoutPolicy(stop), withoutPolicy(finish));
  });

  it("times the release's wait out a day before the execution's one-year limit, at the largest settings", () => {
    const yearSeconds = 31_536_000;
    const largest = render({ longestPipelineRunSeconds: MAX_PIPELINE_RUN_SECONDS });
    const timeout = state<TaskState>(largest, "AwaitRelease").TimeoutSeconds ?? yearSeconds;
    assert.ok(yearSeconds - timeout >= 24 * 3600, `AwaitRelease times out at ${timeout} s`);
    const timeouts = {
      longestPipelineRun: MAX_PIPELINE_RUN_SECONDS,
      gate: MAX_APPROVAL_TIMEOUT_HOURS * 3600,
    };
    for (const [setting, seconds] of Object.entries(timeouts)) {
      assert.ok(timeout - seconds >= 24 * 3600, `${setting} (${seconds} s) reaches the wait's ${timeout} s`);
    }
    assert.throws(
      () => render({ longestPipelineRunSeconds: MAX_PIPELINE_RUN_SECONDS + 1 }),
      /longestPipelineRunSeconds must be an integer from 60 to 31363200, the limit 8712 hours \(a STANDARD execution's one-year limit/,
    );
  });

  it("rejects options outside their limits with a message naming the option", () => {
    assert.throws(
      () => render({ longestPipelineRunSeconds: 10 }),
      /longestPipelineRunSeconds must be an integer from 60/,
    );
    assert.throws(() => render({ longestPipelineRunSeconds: 40_000_000 }), /longestPipelineRunSeconds/);
    assert.throws(() => render({ failurePolicy: "retry" as never }), /failurePolicy/);
  });
});

describe("the typed ASL builder", () => {
  it("builds each state type with its exact type, the transition given apart", () => {
    assert.deepEqual(task({ Resource: "arn:aws:states:::lambda:invoke" }, next("B")), {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke",
      Next: "B",
    });
    assert.deepEqual(pass({ Result: 1 }, end), { Type: "Pass", Result: 1, End: true });
    assert.deepEqual(choice([{ Variable: "$.a", IsPresent: true, Next: "X" }], "Y"), {
      Type: "Choice",
      Choices: [{ Variable: "$.a", IsPresent: true, Next: "X" }],
      Default: "Y",
    });
    assert.deepEqual(fail({ Error: "E" }, { CausePath: "$.c" }), {
      Type: "Fail",
      Error: "E",
      CausePath: "$.c",
    });
    assert.deepEqual(succeed(), { Type: "Succeed" });
  });

  it("does not type-check a state with both Next and End, or a Lambda task with neither", () => {
    // Each line below must fail the type-check (npm test runs tsc): @ts-expect-error fails if it does not.
    // @ts-expect-error Next and End together
    const both: TaskState = { Type: "Task", Resource: "r", Next: "A", End: true };
    // @ts-expect-error a Lambda task must say where it goes
    const neither = lambdaTask("arn", {}, { ResultPath: null });
    assert.ok(both && neither);
  });

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
    const map = oneStateMap("A", "A");
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
      /needs TimeoutSeconds or TimeoutSecondsPath/,
    );
  });

  it('refuses ResultPath "$" (AWS reads it as the default; the local engine would write a key named $)', () => {
    const task: TaskState = {
      Type: "Task",
      Resource: "arn:aws:states:::lambda:invoke",
      ResultPath: "$",
      End: true,
    };
    assert.throws(() => stateMachine({ StartAt: "T", States: { T: task } }), /leave ResultPath out/);
  });
});
