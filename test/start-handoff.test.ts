/**
 * Starts beyond a first batch are handed off (handlers/release/start-batches.ts): no invocation's
 * work grows with the release. A release of 500 roots under sustained CodePipeline throttling, on
 * the local machine with Lambda timeouts enforced.
 */
import assert from "node:assert/strict";
import { MANIFEST_RULE_LIMITS } from "../contract/manifest-schema";
import { FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import { registerRelease } from "../handlers/release/registration";
import { STARTS_PER_INVOCATION, startMoreRoots } from "../handlers/release/start-batches";
import { LOCAL_STATE_MACHINE_ARN } from "../local/release-machine";
import { finished, localPipelines, newReleaseId, withLocalMachine } from "./local-helpers";

const NAMES = Array.from({ length: 500 }, (_, i) => `root-${String(i + 1).padStart(3, "0")}`);

describe("starting many pipelines", function () {
  this.timeout(120000);

  it("a 500-pipeline release with every pipeline a root, under injected CodePipeline throttling, ends SUCCEEDED with no function past its timeout", async () => {
    // Each invocation of the registerRelease function (RegisterRelease, then each StartMoreRoots,
    // one after another): the executions it started and how long it ran.
    const invocations: { starts: number; ms: number }[] = [];
    const started = { count: () => 0 };
    const options = {
      pipelines: localPipelines(Object.fromEntries(NAMES.map((name) => [name, 0]))),
      manifestRules: {
        maxPipelines: MANIFEST_RULE_LIMITS.maxPipelines,
        maxBytes: MANIFEST_RULE_LIMITS.maxBytes,
      },
      interceptFunction: async (name: string, payload: unknown, invoke: (p: unknown) => Promise<unknown>) => {
        if (name !== "registerRelease") return invoke(payload);
        const [before, at] = [started.count(), performance.now()];
        try {
          return await invoke(payload);
        } finally {
          invocations.push({ starts: started.count() - before, ms: performance.now() - at });
        }
      },
    };
    await withLocalMachine(options, async (machine) => {
      started.count = () => machine.codepipeline.executions().length;
      // Every second start is refused with ThrottlingException (HTTP 400), for the whole release.
      machine.codepipeline.faults.inject({
        operation: "StartPipelineExecution",
        error: "ThrottlingException",
        times: 100_000,
        every: 2,
      });
      const releaseId = newReleaseId("roots");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: NAMES }), 100_000);
      // A Lambda task past its timeout (Sandbox.Timedout) would have failed the execution.
      assert.equal(execution.status, "SUCCEEDED", execution.cause);
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.status, "SUCCEEDED");
      assert.equal(release?.pipelines.filter((p) => p.status === "Succeeded").length, 500);
      assert.deepEqual(machine.router.deliveryFailures, [], "every pipeline event was handled in time");
      assert.ok(machine.codepipeline.callCount("StartPipelineExecution") > 500, "throttling was answered");
      assert.equal(started.count(), 500, "each pipeline started once");
    });
    // No invocation's work grows with the release: each started at most one batch.
    assert.equal(invocations.length, Math.ceil(500 / STARTS_PER_INVOCATION));
    assert.deepEqual(
      invocations.filter((i) => i.starts > STARTS_PER_INVOCATION),
      [],
      `starts per invocation: ${invocations.map((i) => i.starts).join(", ")}`,
    );
    const limit = FUNCTION_TIMEOUT_SECONDS.registerRelease * 1000;
    assert.ok(invocations.every((i) => i.ms < limit));
  });

  it("starts each batch once: a repeated StartMoreRoots starts nothing twice, and the last answers null", async () => {
    const names = NAMES.slice(0, 2 * STARTS_PER_INVOCATION + 5);
    const options = {
      pipelines: localPipelines(Object.fromEntries(names.map((name) => [name, null]))),
      manifestRules: { maxPipelines: 100 },
    };
    await withLocalMachine(options, async (machine) => {
      const deps = machine.functionDeps("registerRelease").execution;
      const releaseId = newReleaseId("batches");
      const started = () => machine.codepipeline.executions().length;
      const registered = await registerRelease(deps, {
        releaseId,
        executionArn: `${LOCAL_STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${releaseId}`,
        startedAt: new Date().toISOString(),
        source: "api",
        failurePolicy: "stopRemaining",
        longestPipelineRunSeconds: 3600,
        pipelines: names.map((name) => ({ name })),
      });
      assert.equal(registered.startsFrom, STARTS_PER_INVOCATION);
      assert.equal(started(), STARTS_PER_INVOCATION);
      const second = await startMoreRoots(deps, { releaseId, from: STARTS_PER_INVOCATION });
      assert.deepEqual(second, { releaseId, startsFrom: 2 * STARTS_PER_INVOCATION });
      assert.deepEqual(await startMoreRoots(deps, { releaseId, from: STARTS_PER_INVOCATION }), second);
      assert.equal(started(), 2 * STARTS_PER_INVOCATION, "the repeated batch started nothing");
      assert.deepEqual(await startMoreRoots(deps, { releaseId, from: 2 * STARTS_PER_INVOCATION }), {
        releaseId,
        startsFrom: null,
      });
      assert.equal(started(), names.length);
    });
  });

  it("fails the release and stops what it started when StartMoreRoots fails (FailStarts)", async () => {
    const names = NAMES.slice(0, STARTS_PER_INVOCATION + 3);
    const options = {
      pipelines: localPipelines(Object.fromEntries(names.map((name) => [name, null]))),
      manifestRules: { maxPipelines: 100 },
      interceptFunction: async (name: string, payload: unknown, invoke: (p: unknown) => Promise<unknown>) => {
        if (name === "registerRelease" && JSON.stringify(payload).includes('"startRoots"'))
          throw Object.assign(new Error("the batch's function failed"), { name: "BatchFailed" });
        return invoke(payload);
      },
    };
    await withLocalMachine(options, async (machine) => {
      const releaseId = newReleaseId("batch-fails");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: names }));
      assert.equal(execution.status, "FAILED");
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.status, "FAILED");
      assert.equal(release?.error, "BatchFailed");
      const statuses = new Set(release?.pipelines.map((p) => p.status));
      assert.ok(!statuses.has("InProgress") && !statuses.has("Pending"), [...statuses].join(", "));
      assert.equal(machine.codepipeline.executions().length, STARTS_PER_INVOCATION, "the rest never started");
    });
  });
});
