/**
 * Step Functions' quotas, enforced by the local engine as AWS enforces them, and the release
 * workflow kept inside them at the configured maxima: the largest manifest, the most pipelines,
 * the longest names and the most escaping a manifest can hold (docs/aws-facts.md, "Step Functions").
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { InvalidManifest } from "../contract/errors";
import { MANIFEST_RULE_LIMITS, STATE_PLAN_BUDGET } from "../contract/manifest-schema";
import { readRejection } from "../contract/rejection";
import { validateManifest } from "../handlers/load-manifest";
import { readSettings } from "../infra/config";
import {
  InvalidName,
  type LocalExecution,
  LocalWorkflowEngine,
  STATE_DATA_LIMIT_BYTES,
  ValidationException,
} from "../local/engine";
import { HISTORY_LIMIT } from "../local/history";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import { type LocalReleaseMachine, startLocalReleaseMachine } from "../local/release-machine";
import { TaskTokenRegistry } from "../local/sfn-service";
import { stateMachine } from "../stepfunction/asl";
import { finished, newReleaseId, withLocalMachine } from "./local-helpers";

const FUNCTION = "arn:aws:lambda:us-east-1:000000000000:function:big";

/** An engine running one Lambda task that returns `result`; no other service is reachable. */
function oneTaskEngine(result: () => unknown): LocalWorkflowEngine {
  const definition = stateMachine({
    StartAt: "Big",
    States: {
      Big: {
        Type: "Task",
        Resource: "arn:aws:states:::lambda:invoke",
        Parameters: { FunctionName: FUNCTION, "Payload.$": "$" },
        Retry: [{ ErrorEquals: ["Lambda.ServiceException"] }],
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.caught", Next: "Caught" }],
        End: true,
      },
      Caught: { Type: "Succeed" },
    },
  });
  const unreachable = { endpoint: "http://127.0.0.1:9", region: "us-east-1", maxAttempts: 1 };
  return new LocalWorkflowEngine(definition, {
    functions: { [FUNCTION]: async () => result() },
    dynamodb: new DynamoDBClient(unreachable),
    putEvents: async () => ({ FailedEntryCount: 0, Entries: [] }),
    tokens: new TaskTokenRegistry(),
  });
}

describe("Step Functions quotas on the local engine", () => {
  it("refuses execution names Step Functions refuses: whitespace, special characters, over 80 characters", () => {
    const engine = oneTaskEngine(() => ({}));
    for (const name of ["release 5.16", "release/5.16", "r#1", "x".repeat(81), ""]) {
      assert.throws(() => engine.startExecution({ input: {}, name }), InvalidName, JSON.stringify(name));
    }
    assert.equal(engine.startExecution({ input: {}, name: `r-${"x".repeat(78)}` }).status, "RUNNING");
  });

  it("refuses an execution input over 262,144 bytes with ValidationException", () => {
    const engine = oneTaskEngine(() => ({}));
    const input = { body: "x".repeat(STATE_DATA_LIMIT_BYTES) };
    assert.throws(() => engine.startExecution({ input }), ValidationException);
  });

  it("fails an execution with States.DataLimitExceeded when a state's output passes 256 KiB, past any Catch", async () => {
    const engine = oneTaskEngine(() => ({ blob: "x".repeat(STATE_DATA_LIMIT_BYTES) }));
    const done = await engine.startExecution({ input: {} }).done;
    assert.equal(done.status, "FAILED");
    assert.equal(done.error, "States.DataLimitExceeded");
    assert.match(done.cause ?? "", /'Big'/);
  });

  it("fails the release workflow with States.Runtime once its history passes the limit", async () => {
    const machine = await startLocalReleaseMachine({
      pipelines: [{ name: "h-a", durationMs: 0, outcome: "Succeeded" }],
      retryPauseMs: 5,
      historyLimit: 10,
    });
    try {
      const done = await finished(
        machine,
        machine.submit({ releaseId: newReleaseId("history"), pipelines: ["h-a"] }),
      );
      assert.equal(done.status, "FAILED");
      assert.equal(done.error, "States.Runtime");
      assert.match(done.cause ?? "", /maximum number of history events \(10\)/);
    } finally {
      await machine.close();
    }
  });
});

/** The state carried at least `bytes` (so the test did push toward the limit) and never passed 256 KiB. */
function assertCarriedWithinLimit(done: LocalExecution, bytes: number): void {
  assert.ok(done.largestStateBytes > bytes, `the state carried only ${done.largestStateBytes} bytes`);
  assert.ok(
    done.largestStateBytes <= STATE_DATA_LIMIT_BYTES,
    `largest state ${done.largestStateBytes} bytes`,
  );
}

/** A local machine allowing the largest manifests and the most pipelines, closed afterwards. */
async function atMaxima(
  pipelines: LocalPipelineSpec[],
  body: (machine: LocalReleaseMachine) => Promise<void>,
): Promise<void> {
  return withLocalMachine({ pipelines, manifestRules: MANIFEST_RULE_LIMITS }, body);
}

describe("the release workflow at the configured maxima", function () {
  this.timeout(120_000);
  const names = Array.from(
    { length: MANIFEST_RULE_LIMITS.maxPipelines },
    (_, i) => `p${String(i).padStart(3, "0")}-${"n".repeat(95)}`,
  );

  /**
   * A manifest of exactly `bytes` bytes: `count` pipelines of the longest names, each carrying up
   * to 50 variables of '"' characters, which take 2 bytes in the text and 4 in the state (where the
   * text travels as a JSON string): the most a valid manifest can grow there.
   */
  function largestManifest(releaseId: string, bytes: number, count = names.length): string {
    const pipelines: unknown[] = names.slice(0, count);
    let room = bytes - JSON.stringify({ releaseId, pipelines }).length;
    for (let i = 0; i < count && room > 100; i += 1) {
      const variables: Record<string, string> = {};
      room -= `{"name":,"variables":{}}`.length;
      for (let v = 0; v < 50 && room > 20; v += 1) {
        const key = `V${v}`;
        const quotes = Math.min(1000, Math.floor((room - `"${key}":"",`.length) / 2));
        if (quotes <= 0) break;
        variables[key] = '"'.repeat(quotes);
        room -= `"${key}":"",`.length + quotes * 2;
      }
      pipelines[i] = { name: names[i], variables };
    }
    const text = JSON.stringify({ releaseId, pipelines });
    return text + " ".repeat(Math.max(0, bytes - Buffer.byteLength(text)));
  }

  it("runs 500 pipelines of 100-character names from a 100 KiB manifest within 256 KiB of state and 25,000 history events", async () => {
    await atMaxima(
      names.map((name) => ({ name, durationMs: 0, outcome: "Succeeded" as const })),
      async (machine) => {
        const releaseId = newReleaseId("max");
        const text = largestManifest(releaseId, MANIFEST_RULE_LIMITS.maxBytes);
        assert.equal(Buffer.byteLength(text), MANIFEST_RULE_LIMITS.maxBytes);

        // 500 pipelines take seconds; a loaded machine may take many more: a wide bound, not a race.
        const done = await finished(machine, machine.submit(text), 100_000);

        assert.equal(done.status, "SUCCEEDED", done.cause);
        assertCarriedWithinLimit(done, 150_000);
        assert.ok(done.costs.historyEvents < HISTORY_LIMIT, `${done.costs.historyEvents} history events`);
        const release = await machine.readRelease(releaseId);
        assert.equal(release?.pipelines.length, 500);
        assert.ok(release?.pipelines.every((p) => p.status === "Succeeded"));
        const started = machine.codepipeline.executions(names[0])[0];
        assert.equal(started.variables?.length, Object.keys(JSON.parse(text).pipelines[0].variables).length);
      },
    );
  });

  /**
   * A manifest of at most `bytes` bytes holding as many pipelines of the longest names as fit, each
   * with 50 variables of the shortest names and values: what grew most in the plan when it listed
   * variables as CodePipeline's `{name, value}` objects (about three times the manifest).
   */
  function mostVariablesManifest(releaseId: string, bytes: number): string {
    const variables = Object.fromEntries(
      Array.from({ length: 50 }, (_, v) => [String.fromCharCode(v < 26 ? 97 + v : 39 + v), "1"]),
    );
    const pipelines: unknown[] = [];
    for (const name of names) {
      const next = JSON.stringify({ releaseId, pipelines: [...pipelines, { name, variables }] });
      if (Buffer.byteLength(next) > bytes) break;
      pipelines.push({ name, variables });
    }
    return JSON.stringify({ releaseId, pipelines });
  }

  it("runs a 100 KiB manifest of the most variables (50 per pipeline, the longest pipeline names) within 256 KiB of state", async () => {
    const releaseId = newReleaseId("max-vars");
    const text = mostVariablesManifest(releaseId, MANIFEST_RULE_LIMITS.maxBytes);
    const count = (JSON.parse(text) as { pipelines: unknown[] }).pipelines.length;
    assert.ok(
      Buffer.byteLength(text) > MANIFEST_RULE_LIMITS.maxBytes - 600,
      `${Buffer.byteLength(text)} bytes`,
    );
    assert.ok(count > 150, `${count} pipelines`);
    const specs = names
      .slice(0, count)
      .map((name) => ({ name, durationMs: 0, outcome: "Succeeded" as const }));
    await atMaxima(specs, async (machine) => {
      const done = await finished(machine, machine.submit(text), 100_000);

      assert.equal(done.status, "SUCCEEDED", `${done.error}: ${done.cause}`);
      assertCarriedWithinLimit(done, 100_000);
      const started = machine.codepipeline.executions(names[count - 1])[0];
      assert.equal(started.variables?.length, 50);
      assert.deepEqual(started.variables?.[0], { name: "a", value: "1" });
    });
  });

  it("refuses a plan that could not fit the state as InvalidManifest naming the limit, before anything starts", () => {
    const pipelines = Array.from({ length: 300 }, (_, i) => ({
      name: names[i % names.length],
      variables: { V: "x".repeat(1000) },
    }));
    const input = { text: "{}", location: "api", submittedBy: "tester" };
    assert.throws(
      () => validateManifest(() => ({ releaseId: "too-big", pipelines }), input),
      (error: unknown) => {
        assert.ok(error instanceof InvalidManifest);
        const read = readRejection(error.message).rejection;
        assert.equal(read?.releaseId, "too-big");
        assert.deepEqual(
          read?.problems.map((p) => [p.path, p.rule]),
          [["", "stateSize"]],
        );
        assert.match(read?.problems[0].message ?? "", new RegExp(`the limit is ${STATE_PLAN_BUDGET} bytes`));
        return true;
      },
    );
  });

  it("runs a 100 KiB manifest made almost wholly of escaped quotes within 256 KiB of state", async () => {
    const three = names.slice(0, 3).map((name) => ({ name, durationMs: 0, outcome: "Succeeded" as const }));
    await atMaxima(three, async (machine) => {
      const releaseId = newReleaseId("max-escaped");
      const text = largestManifest(releaseId, MANIFEST_RULE_LIMITS.maxBytes, 3);
      assert.equal(Buffer.byteLength(text), MANIFEST_RULE_LIMITS.maxBytes);
      assert.ok((text.match(/"/g) ?? []).length > 0.45 * text.length, "mostly quotes");

      const done = await finished(machine, machine.submit(text));

      assert.equal(done.status, "SUCCEEDED", done.cause);
      assertCarriedWithinLimit(done, 200_000);
    });
  });

  it("rejects a 100 KiB manifest of the most escaping, recording the rejection within 256 KiB of state", async () => {
    await atMaxima([{ name: "only-one", durationMs: 0, outcome: "Succeeded" }], async (machine) => {
      const releaseId = newReleaseId("max-rejected");
      // Off the allow-list, so it is rejected after the whole text travelled through the state.
      const text = largestManifest(releaseId, MANIFEST_RULE_LIMITS.maxBytes, 3);
      const done = await finished(machine, machine.submit(text));

      assert.deepEqual([done.status, done.error], ["FAILED", "InvalidManifest"]);
      assertCarriedWithinLimit(done, 200_000);
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.status, "REJECTED");
      assert.ok((release?.problems?.length ?? 0) > 0);
    });
  });

  it("rejects a 100 KiB manifest of the most escaping and the most problems, its capped problems travelling in the error within 256 KiB of state", async () => {
    await atMaxima([{ name: "only-one", durationMs: 0, outcome: "Succeeded" }], async (machine) => {
      const releaseId = newReleaseId("max-problems");
      // Every one of its 500 pipelines is off the allow-list: more problems than a Cause can hold.
      const text = largestManifest(releaseId, MANIFEST_RULE_LIMITS.maxBytes, names.length);
      const done = await finished(machine, machine.submit(text));

      assert.deepEqual([done.status, done.error], ["FAILED", "InvalidManifest"]);
      assertCarriedWithinLimit(done, 200_000);
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.status, "REJECTED");
      const problems = release?.problems ?? [];
      assert.ok(problems.length > 20, `${problems.length} problems recorded`);
      assert.ok(problems.slice(0, -1).every((p) => p.rule === "allowList"));
      assert.equal(problems[problems.length - 1].rule, "tooManyProblems");
      // Those listed and those counted as left out are every pipeline's one problem.
      const leftOut = /^(\d+) more problems are not listed$/.exec(problems[problems.length - 1].message);
      assert.equal(problems.length - 1 + Number(leftOut?.[1]), names.length);
    });
  });

  it("accepts no configuration that could take a manifest past a quota", () => {
    const get = (overrides: Record<string, string>) => (key: string) =>
      ({ pipelines: '["a"]', ...overrides })[key];
    assert.throws(
      () => readSettings(get({ maxPipelines: "501" })),
      /maxPipelines must be an integer from 1 to 500/,
    );
    assert.throws(
      () => readSettings(get({ maxManifestBytes: String(MANIFEST_RULE_LIMITS.maxBytes + 1) })),
      /maxManifestBytes must be an integer from 256 to 102400/,
    );
    assert.equal(readSettings(get({ maxPipelines: "500", maxManifestBytes: "102400" })).maxPipelines, 500);
  });
});
