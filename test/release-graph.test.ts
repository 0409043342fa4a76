/**
 * End to end: releases whose pipelines depend on each other, on the local engine and stand-ins.
 * Pipelines here never end by themselves (`durationMs: null`): each test ends them with the
 * CodePipeline stand-in's `finish()` and then waits for the router to deliver every event and for
 * the handlers to act (`router.idle()`), so nothing depends on timing.
 */
import assert from "node:assert/strict";
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { ExecutionRecord, LocalPipelineSpec } from "../local/codepipeline-service";
import { type LocalReleaseMachine, type LocalReleaseMachineOptions } from "../local/release-machine";
import { finished, functionDdbs, newReleaseId, statusesOf, until, withLocalMachine } from "./local-helpers";

const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

/** The stand-in's execution of `pipeline` started after `since` (executions are never reused). */
function executionOf(machine: LocalReleaseMachine, pipeline: string): ExecutionRecord | undefined {
  return machine.codepipeline.executions(pipeline)[0];
}

async function running(machine: LocalReleaseMachine, pipeline: string): Promise<ExecutionRecord> {
  return until(`${pipeline} to be running`, () => {
    const found = executionOf(machine, pipeline);
    return found?.status === "InProgress" ? found : undefined;
  });
}

/** Ends a running pipeline and waits until every handler has acted on its end. */
async function end(machine: LocalReleaseMachine, pipeline: string, status: "Succeeded" | "Failed") {
  machine.codepipeline.finish((await running(machine, pipeline)).pipelineExecutionId, status);
  await machine.router.idle();
}

const withMachine = (
  pipelines: LocalPipelineSpec[],
  options: Partial<LocalReleaseMachineOptions>,
  body: (machine: LocalReleaseMachine) => Promise<void>,
) => withLocalMachine({ pipelines, ...options }, body);

/** Every dependency's execution ended Succeeded no later than its dependant's started, by the stand-in's clock. */
function assertStartedAfterDependencies(machine: LocalReleaseMachine, graph: Record<string, string[]>): void {
  for (const [pipeline, dependsOn] of Object.entries(graph)) {
    const execution = executionOf(machine, pipeline);
    if (!execution) continue;
    for (const dependency of dependsOn) {
      const before = executionOf(machine, dependency);
      assert.equal(before?.status, "Succeeded", `${dependency} succeeded before ${pipeline} started`);
      assert.ok(
        before.endTime && before.endTime <= execution.startTime,
        `${pipeline} started after ${dependency} ended`,
      );
    }
  }
}

describe("releases with dependencies between pipelines, end to end", function () {
  this.timeout(30000);

  it("starts a pipeline only once every pipeline it depends on has succeeded", async () => {
    const graph = { "g-db": [], "g-api": ["g-db"], "g-web": ["g-db"], "g-smoke": ["g-api", "g-web"] };
    await withMachine(Object.keys(graph).map(manual), {}, async (m) => {
      const releaseId = newReleaseId("graph");
      const execution = m.submit({
        releaseId,
        pipelines: Object.entries(graph).map(([name, dependsOn]) =>
          dependsOn.length > 0 ? { name, dependsOn } : name,
        ),
      });
      const db = await running(m, "g-db");
      // The scheduler records the start after CodePipeline answered: wait for that record.
      await until(
        "g-db's start to be recorded",
        async () =>
          (await m.readRelease(releaseId))?.pipelines[0].pipelineExecutionId === db.pipelineExecutionId,
      );
      await m.router.idle();
      assert.deepEqual(
        ["g-api", "g-web", "g-smoke"].map((p) => executionOf(m, p)),
        [undefined, undefined, undefined],
      );
      const pending = await m.readRelease(releaseId);
      assert.deepEqual(statusesOf(pending), [
        "g-db InProgress",
        "g-api Pending",
        "g-web Pending",
        "g-smoke Pending",
      ]);

      await end(m, "g-db", "Succeeded");
      await Promise.all([running(m, "g-api"), running(m, "g-web")]);
      await end(m, "g-api", "Succeeded");
      assert.equal(executionOf(m, "g-smoke"), undefined, "g-smoke waits for g-web too");
      await end(m, "g-web", "Succeeded");
      await end(m, "g-smoke", "Succeeded");

      const done = await finished(m, execution);
      assert.equal(done.status, "SUCCEEDED", done.cause);
      assertStartedAfterDependencies(m, graph);
      const release = await m.readRelease(releaseId);
      assert.deepEqual(
        release?.pipelines.map((p) => [p.name, p.status, p.dependsOn ?? []]),
        Object.entries(graph).map(([name, dependsOn]) => [name, "Succeeded", dependsOn]),
      );
      for (const p of release?.pipelines ?? []) {
        assert.match(p.startedAt ?? "", /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
        assert.ok(p.endedAt && p.startedAt && p.endedAt >= p.startedAt, p.name);
      }
    });
  });

  it("starts a dependant as soon as its dependency succeeded, while an unrelated long pipeline still runs", async () => {
    await withMachine(["c-a", "c-c", "c-long"].map(manual), {}, async (m) => {
      const releaseId = newReleaseId("critical");
      const execution = m.submit({
        releaseId,
        pipelines: ["c-a", { name: "c-c", dependsOn: ["c-a"] }, "c-long"],
      });
      await Promise.all([running(m, "c-a"), running(m, "c-long")]);
      await end(m, "c-a", "Succeeded");
      await running(m, "c-c");
      assert.equal(
        executionOf(m, "c-long")?.status,
        "InProgress",
        "c-c did not wait for the unrelated c-long",
      );
      await end(m, "c-c", "Succeeded");
      assert.equal(execution.status, "RUNNING");
      await end(m, "c-long", "Succeeded");
      assert.equal((await finished(m, execution)).status, "SUCCEEDED");
    });
  });

  it("runs 60 pipelines without dependencies all at once", async () => {
    const names = Array.from({ length: 60 }, (_, i) => `wide-${i}`);
    await withMachine(names.map(manual), { manifestRules: { maxPipelines: 60 } }, async (m) => {
      const execution = m.submit({ releaseId: newReleaseId("wide"), pipelines: names });
      const all = await until("all 60 pipelines to run at once", () => {
        const runningNow = names.map((n) => executionOf(m, n)).filter((e) => e?.status === "InProgress");
        return runningNow.length === 60 ? runningNow : undefined;
      });
      assert.equal(all.length, 60);
      for (const name of names)
        m.codepipeline.finish((executionOf(m, name) as ExecutionRecord).pipelineExecutionId, "Succeeded");
      const done = await finished(m, execution);
      assert.equal(done.status, "SUCCEEDED", done.cause);
    });
  });

  it("never starts the dependants of a failed pipeline and, under stopRemaining, stops the rest", async () => {
    await withMachine(["f-a", "f-b", "f-c", "f-other"].map(manual), {}, async (m) => {
      const releaseId = newReleaseId("fail-chain");
      const execution = m.submit({
        releaseId,
        pipelines: [
          "f-a",
          { name: "f-b", dependsOn: ["f-a"] },
          { name: "f-c", dependsOn: ["f-b"] },
          "f-other",
        ],
      });
      await running(m, "f-other");
      await end(m, "f-a", "Failed");
      const done = await finished(m, execution);

      assert.equal(done.status, "FAILED");
      assert.equal(done.error, "PipelineFailed");
      assert.match(
        done.cause ?? "",
        /^Pipeline f-a did not succeed: execution \S+ ended Failed( at stage \S+, action \S+: .+)?$/,
      );
      assert.equal(executionOf(m, "f-b"), undefined);
      assert.equal(executionOf(m, "f-c"), undefined);
      assert.equal(executionOf(m, "f-other")?.status, "Stopped");
      const release = await m.readRelease(releaseId);
      assert.deepEqual(statusesOf(release), ["f-a Failed", "f-b Skipped", "f-c Skipped", "f-other Stopped"]);
      const skipped = release?.pipelines.filter((p) => p.status === "Skipped") ?? [];
      assert.ok(skipped.every((p) => p.startedAt === undefined && p.pipelineExecutionId === undefined));
      const stoppedHistory = release?.pipelines
        .find((p) => p.name === "f-other")
        ?.history.map((h) => h.state);
      assert.deepEqual(
        stoppedHistory?.filter((s) => s === "STOPPED"),
        ["STOPPED"],
        "one terminal entry",
      );
    });
  });

  it("under letFinish, runs independent branches to their end and skips only the failed pipeline's dependants", async () => {
    const options = { workflow: { failurePolicy: "letFinish" as const } };
    await withMachine(["l-a", "l-b", "l-c", "l-d"].map(manual), options, async (m) => {
      const releaseId = newReleaseId("let-finish");
      const execution = m.submit({
        releaseId,
        pipelines: ["l-a", { name: "l-b", dependsOn: ["l-a"] }, "l-c", { name: "l-d", dependsOn: ["l-c"] }],
      });
      await running(m, "l-c");
      await end(m, "l-a", "Failed");
      assert.equal(executionOf(m, "l-c")?.status, "InProgress", "l-c is not stopped");
      await end(m, "l-c", "Succeeded");
      await end(m, "l-d", "Succeeded");
      const done = await finished(m, execution);

      assert.equal(done.status, "FAILED");
      assert.match(done.cause ?? "", /^Pipeline l-a did not succeed/);
      assert.equal(m.codepipeline.callCount("StopPipelineExecution"), 0);
      const release = await m.readRelease(releaseId);
      assert.deepEqual(statusesOf(release), ["l-a Failed", "l-b Skipped", "l-c Succeeded", "l-d Succeeded"]);
    });
  });

  it("starts a dependant once when its two dependencies end together and every event arrives twice", async () => {
    await withMachine(["t-a", "t-b", "t-c"].map(manual), {}, async (m) => {
      m.router.intercept = () => "duplicate";
      const execution = m.submit({
        releaseId: newReleaseId("twice-ready"),
        pipelines: ["t-a", "t-b", { name: "t-c", dependsOn: ["t-a", "t-b"] }],
      });
      const [a, b] = await Promise.all([running(m, "t-a"), running(m, "t-b")]);
      await m.router.idle();
      const startsBefore = m.codepipeline.callCount("StartPipelineExecution");
      m.codepipeline.finish(a.pipelineExecutionId, "Succeeded");
      m.codepipeline.finish(b.pipelineExecutionId, "Succeeded");
      await m.router.idle();

      assert.equal(m.codepipeline.callCount("StartPipelineExecution") - startsBefore, 1);
      assert.equal(m.codepipeline.executions("t-c").length, 1);
      await end(m, "t-c", "Succeeded");
      assert.equal((await finished(m, execution)).status, "SUCCEEDED");
    });
  });

  it("acts on a pipeline's end that arrived before its start was recorded", async () => {
    const pipelines = [{ name: "e-instant", durationMs: 0, outcome: "Succeeded" as const }];
    await withMachine(pipelines, {}, async (m) => {
      let held = 0;
      // Each function has its own client (local/release-machine.ts): hold the start on every one.
      holdRecordStart(functionDdbs(m), m.tables.executions, async (pipelineExecutionId) => {
        held += 1;
        // The start is recorded only after the pipeline's terminal event was.
        await until("the end to be recorded first", async () => {
          const item = (
            await m.deps.ddb.send(
              new GetCommand({
                TableName: m.tables.executions,
                Key: { pipelineExecutionId },
              }),
            )
          ).Item;
          return item?.status === "Succeeded" && item.releaseId === undefined ? true : undefined;
        });
      });
      const releaseId = newReleaseId("end-first");
      const done = await finished(m, m.submit({ releaseId, pipelines: ["e-instant"] }));

      assert.equal(held, 1);
      assert.equal(done.status, "SUCCEEDED", done.cause);
      const release = await m.readRelease(releaseId);
      assert.deepEqual(
        release?.pipelines.map((p) => [p.status, p.history.map((h) => h.state)]),
        [["Succeeded", ["STARTED", "SUCCEEDED"]]],
      );
    });
  });

  it("stops and fails a pipeline that runs past longestPipelineRunSeconds, through the reconciler", async () => {
    await withMachine([manual("d-slow")], { workflow: { longestPipelineRunSeconds: 60 } }, async (m) => {
      const releaseId = newReleaseId("deadline");
      const execution = m.submit({ releaseId, pipelines: ["d-slow"] });
      const slow = await running(m, "d-slow");
      await until(
        "d-slow's start to be recorded",
        async () =>
          (await m.readRelease(releaseId))?.pipelines[0].pipelineExecutionId === slow.pipelineExecutionId,
      );
      await m.router.idle();
      const before = await m.reconcile();
      assert.deepEqual([before.checked, before.completed], [1, 0], "watched, not yet past its deadline");

      // The reconciler's own clock (each function has its own deps, local/release-machine.ts).
      m.functionDeps("reconciler").execution.now = () => new Date(Date.now() + 61_000);
      await m.reconcile();
      await m.router.idle();
      const done = await finished(m, execution);

      assert.equal(executionOf(m, "d-slow")?.status, "Stopped");
      assert.equal(done.status, "FAILED");
      assert.match(
        done.cause ?? "",
        /^Pipeline d-slow did not succeed: execution \S+ ran past \S+ \(longestPipelineRunHours\) and was stopped$/,
      );
    });
  });
});

/**
 * Holds the scheduler's record of a start (the Executions update that links the execution to its release)
 * until `hold` resolves: a DynamoDB client middleware, so the product code runs unchanged.
 */
function holdRecordStart(
  ddbs: DynamoDBDocumentClient[],
  table: string,
  hold: (pipelineExecutionId: string) => Promise<void>,
): void {
  for (const ddb of ddbs)
    ddb.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as {
          TableName?: string;
          UpdateExpression?: string;
          Key?: Record<string, unknown>;
        };
        // The start's link of the execution to its release (handlers/executions.ts, recordStart).
        if (input.TableName === table && input.UpdateExpression?.includes("SET releaseId = :releaseId")) {
          await hold(String(input.Key?.pipelineExecutionId));
        }
        return next(args);
      },
      { step: "initialize", name: "holdRecordStart" },
    );
}
