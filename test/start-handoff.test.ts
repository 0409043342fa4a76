/**
 * Starts beyond a first batch are handed off (handlers/release/start-batches.ts): no invocation's
 * work grows with the release. A release of 500 roots under sustained CodePipeline throttling, on
 * the local machine with Lambda timeouts enforced.
 */
import assert from "node:assert/strict";
import { MANIFEST_RULE_LIMITS } from "../contract/manifest-schema";
import { FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import { STARTS_PER_INVOCATION } from "../handlers/release/start-batches";
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
});
