/**
 * A retry's starts and the dependants one pipeline's end readies are handed off beyond a first
 * batch, as a registration's roots are (test/start-handoff.test.ts): no invocation's work grows
 * with the release. On the local machine, with Lambda timeouts enforced and CodePipeline throttled.
 */
import assert from "node:assert/strict";
import { AsyncLocalStorage } from "node:async_hooks";
import { StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { MANIFEST_RULE_LIMITS } from "../contract/manifest-schema";
import { FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import { STARTS_PENDING_DETAIL_TYPE } from "../contract/event-patterns";
import { releaseControlApi } from "../handlers/release-control";
import { pipelinesOfRelease } from "../handlers/release/reads";
import { STARTS_PER_INVOCATION } from "../handlers/release/start-batches";
import type { LocalReleaseMachine } from "../local/release-machine";
import { finished, localPipelines, newReleaseId, until, withLocalMachine } from "./local-helpers";

const BOB = "arn:aws:iam::123456789012:user/bob";
const LIMITS = { maxPipelines: MANIFEST_RULE_LIMITS.maxPipelines, maxBytes: MANIFEST_RULE_LIMITS.maxBytes };
const named = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i + 1).padStart(3, "0")}`);

/** Every second StartPipelineExecution is refused with ThrottlingException, for the whole test. */
function throttle(machine: LocalReleaseMachine): void {
  machine.codepipeline.faults.inject({
    operation: "StartPipelineExecution",
    error: "ThrottlingException",
    times: 100_000,
    every: 2,
  });
}

/**
 * Successful StartPipelineExecution calls per invocation of the pipeline-event and registerRelease
 * functions (their own clients, by the invocation's async context), and each hand-off's cursor.
 */
function countStarts(machine: LocalReleaseMachine, drop: (index: number) => boolean = () => false) {
  const context = new AsyncLocalStorage<{ starts: number }>();
  const counted = { invocations: [] as number[], handOffs: [] as number[] };
  const within = async (work: () => Promise<unknown>) => {
    const store = { starts: 0 };
    try {
      return await context.run(store, work);
    } finally {
      counted.invocations.push(store.starts);
    }
  };
  for (const name of ["pipelineEvent", "registerRelease"] as const) {
    const client = machine.functionDeps(name).execution.codepipeline;
    const send = client.send.bind(client) as (command: unknown) => Promise<unknown>;
    const counting = async (command: unknown) => {
      const answer = await send(command);
      const store = context.getStore();
      if (store && command instanceof StartPipelineExecutionCommand) store.starts += 1;
      return answer;
    };
    Object.assign(client, { send: counting });
  }
  machine.router.aroundDelivery = (_event, _rule, deliver) => within(deliver);
  machine.router.intercept = (event) => {
    if (event["detail-type"] !== STARTS_PENDING_DETAIL_TYPE) return "deliver";
    counted.handOffs.push(Number(event.detail.from));
    return drop(counted.handOffs.length - 1) ? "drop" : "deliver";
  };
  return { counted, within };
}

describe("starting many pipelines: retries and dependants", function () {
  this.timeout(180000);

  it("a retry of a 100-pipeline release whose every pipeline must start again starts them in batches of at most 30 per invocation and ends SUCCEEDED", async () => {
    // 100, not 500: attempt 1's failure skips every pipeline it did not start, one by one, which
    // takes minutes for 470 on this machine (the FailStarts stop pass is not batched).
    const COUNT = 100;
    const names = named("again", COUNT);
    const invocations: { starts: number; ms: number }[] = [];
    const state = { failBatches: true, counting: false, started: () => 0 };
    const options = {
      // Each runs until the test ends it: nothing of attempt 1 succeeds.
      pipelines: localPipelines(Object.fromEntries(names.map((name) => [name, null]))),
      manifestRules: { maxPipelines: COUNT },
      interceptFunction: async (name: string, payload: unknown, invoke: (p: unknown) => Promise<unknown>) => {
        if (name !== "registerRelease") return invoke(payload);
        // Attempt 1 fails at its first StartMoreRoots (FailStarts): 30 stopped, 470 skipped.
        if (state.failBatches && JSON.stringify(payload).includes('"startRoots"'))
          throw Object.assign(new Error("the batch's function failed"), { name: "BatchFailed" });
        if (!state.counting) return invoke(payload);
        const [before, at] = [state.started(), performance.now()];
        try {
          return await invoke(payload);
        } finally {
          invocations.push({ starts: state.started() - before, ms: performance.now() - at });
        }
      },
    };
    await withLocalMachine(options, async (machine) => {
      state.started = () => machine.codepipeline.executions().length;
      const releaseId = newReleaseId("retry-all");
      const first = await finished(machine, machine.submit({ releaseId, pipelines: names }), 60_000);
      assert.equal(first.status, "FAILED");
      const failed = await machine.readRelease(releaseId);
      assert.equal(failed?.status, "FAILED");
      assert.equal(failed?.pipelines.filter((p) => p.status === "Succeeded").length, 0);
      assert.equal(state.started(), STARTS_PER_INVOCATION);

      state.failBatches = false;
      state.counting = true;
      throttle(machine);
      const answer = await releaseControlApi(machine.control, {
        resource: "/releases/{releaseId}/retry",
        httpMethod: "POST",
        pathParameters: { releaseId },
        body: "{}",
        requestContext: { identity: { userArn: BOB } },
      });
      assert.equal(answer.statusCode, 202, answer.body);
      const { executionArn } = JSON.parse(answer.body) as { executionArn: string };
      const second = machine.engine.describeExecution(executionArn);
      assert.ok(second, "the retry started an execution of the workflow");
      let ended = false;
      void second.done.then(() => (ended = true));
      // Each started execution of attempt 2 succeeds as soon as the test sees it running.
      await until(
        "attempt 2 to end",
        () => {
          for (const e of machine.codepipeline.executions())
            if (e.status === "InProgress") machine.codepipeline.finish(e.pipelineExecutionId, "Succeeded");
          return ended;
        },
        60_000,
      );
      const done = await finished(machine, second);
      assert.equal(done.status, "SUCCEEDED", done.cause);
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.status, "SUCCEEDED");
      assert.equal(release?.attempt, 2);
      assert.equal(
        release?.pipelines.filter((p) => p.status === "Succeeded" && p.attempt === 2).length,
        COUNT,
      );
      assert.equal(state.started(), STARTS_PER_INVOCATION + COUNT, "each pipeline started once per attempt");
      assert.deepEqual(machine.router.deliveryFailures, []);
    });
    // RetryRelease, then StartMoreRoots until none is left: each started at most one batch.
    assert.deepEqual(
      invocations.map((i) => i.starts),
      [
        STARTS_PER_INVOCATION,
        STARTS_PER_INVOCATION,
        STARTS_PER_INVOCATION,
        COUNT - 3 * STARTS_PER_INVOCATION,
      ],
    );
    const limit = FUNCTION_TIMEOUT_SECONDS.registerRelease * 1000;
    assert.ok(invocations.every((i) => i.ms < limit));
  });

  it("one root with 149 dependants: its end starts them in bounded batches, under injected CodePipeline throttling, and the release ends SUCCEEDED", async () => {
    // 149, five batches of dependants: the bound is per batch, so more only makes the test longer.
    const dependants = named("dependant", 149);
    const options = {
      pipelines: localPipelines(Object.fromEntries(["root", ...dependants].map((name) => [name, 0]))),
      manifestRules: LIMITS,
    };
    await withLocalMachine(options, async (machine) => {
      throttle(machine);
      const { counted } = countStarts(machine);
      const releaseId = newReleaseId("fan-out");
      const manifest = {
        releaseId,
        pipelines: ["root", ...dependants.map((name) => ({ name, dependsOn: ["root"] }))],
      };
      const execution = await finished(machine, machine.submit(manifest), 150_000);
      assert.equal(execution.status, "SUCCEEDED", execution.cause);
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.pipelines.filter((p) => p.status === "Succeeded").length, 150);
      assert.equal(machine.codepipeline.executions().length, 150, "each pipeline started once");
      assert.ok(machine.codepipeline.callCount("StartPipelineExecution") > 150, "throttling was answered");
      // Every pipeline-event invocation ended within its timeout (a timeout is a delivery failure).
      assert.deepEqual(machine.router.deliveryFailures, []);
      // The root's end started the first 30; each hand-off (one per further batch) at most 30 more.
      const cursors = [...new Set(counted.handOffs)].sort((a, b) => a - b);
      assert.deepEqual(
        cursors,
        Array.from({ length: 4 }, (_, i) => (i + 1) * STARTS_PER_INVOCATION),
      );
      const busy = counted.invocations.filter((n) => n > 0);
      assert.ok(busy.length >= 5, `invocations that started something: ${busy.length}`);
      assert.deepEqual(
        busy.filter((n) => n > STARTS_PER_INVOCATION),
        [],
        `starts per pipeline-event invocation: ${busy.join(", ")}`,
      );
      // Every dependant carries the root's mark: no hand-off was lost for the reconciler to repeat.
      const schedule = await pipelinesOfRelease(machine.deps, releaseId);
      assert.deepEqual(
        schedule.filter((item) => item.pipeline !== "root" && !item.depsSucceeded?.has("root")),
        [],
      );
    });
  });

  it("a lost hand-off of dependants is repeated by the reconciler: the dependants without the success's mark show it", async () => {
    const dependants = named("late", 70);
    const options = {
      // "first" runs until the test ends it, once its start is recorded: one handler acts on its end.
      pipelines: localPipelines({ first: null, ...Object.fromEntries(dependants.map((name) => [name, 0])) }),
      manifestRules: { maxPipelines: 100 },
    };
    await withLocalMachine(options, async (machine) => {
      // The first hand-off is lost (as one whose function died before EventBridge took it).
      const { counted } = countStarts(machine, (index) => index === 0);
      const handOffs = counted.handOffs;
      const releaseId = newReleaseId("lost-hand-off");
      const manifest = {
        releaseId,
        pipelines: ["first", ...dependants.map((name) => ({ name, dependsOn: ["first"] }))],
      };
      const execution = machine.submit(manifest);
      const started = await until("the first pipeline's start to be recorded", async () => {
        const id = (await machine.readRelease(releaseId))?.pipelines[0]?.pipelineExecutionId;
        return id ? id : undefined;
      });
      machine.codepipeline.finish(started, "Succeeded");
      await until("the first batch of dependants to succeed", async () => {
        const release = await machine.readRelease(releaseId);
        const succeeded = release?.pipelines.filter((p) => p.status === "Succeeded").length ?? 0;
        return succeeded === 1 + STARTS_PER_INVOCATION && handOffs.length === 1 ? release : undefined;
      });
      await machine.router.idle();
      const stalled = await machine.readRelease(releaseId);
      assert.equal(stalled?.status, "RUNNING");
      assert.equal(
        stalled?.pipelines.filter((p) => p.status === "Pending").length,
        70 - STARTS_PER_INVOCATION,
      );
      // The reconciler finds dependants of the succeeded root without its mark on the RUNNING
      // release's schedule: it readies the first batch again (claimed: nothing starts twice) and
      // hands the rest on.
      const report = await machine.reconcile();
      assert.equal(report.repairedSettles, 1);
      const done = await finished(machine, execution, 60_000);
      assert.equal(done.status, "SUCCEEDED", done.cause);
      assert.equal(machine.codepipeline.executions().length, 71, "each pipeline started once");
      assert.deepEqual(handOffs, [30, 30, 60], "the lost hand-off, then the reconciler's chain");
      assert.ok(counted.invocations.every((n) => n <= STARTS_PER_INVOCATION));
    });
  });
});
