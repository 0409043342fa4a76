/**
 * End to end: the real rendered definition and the real handlers, executed by the local engine
 * against dynalite, the CodePipeline stand-in, the event router and the task-token service.
 */
import assert from "node:assert/strict";
import { GetCommand, QueryCommand, ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { ExecutionItem } from "../handlers/executions";
import {
  type LocalReleaseMachine,
  type LocalReleaseMachineOptions,
  startLocalReleaseMachine,
} from "../local/release-machine";
import { finished, localPipelines, newReleaseId, statusesOf, until, withLocalMachine } from "./local-helpers";

const PIPELINES = localPipelines(
  { "svc-a": 40, "svc-b": 70, "svc-fails": 30, "svc-manual": null, "svc-instant": 0 },
  ["svc-fails"],
);

async function executionItems(machine: LocalReleaseMachine): Promise<ExecutionItem[]> {
  const { Items } = await machine.deps.ddb.send(new ScanCommand({ TableName: machine.tables.executions }));
  return (Items ?? []) as ExecutionItem[];
}

const withMachine = (
  options: Partial<LocalReleaseMachineOptions>,
  body: (machine: LocalReleaseMachine) => Promise<void>,
) => withLocalMachine({ pipelines: PIPELINES, ...options }, body);

describe("the release workflow, end to end on the local engine", function () {
  this.timeout(20000);
  let machine: LocalReleaseMachine;

  before(async () => {
    machine = await startLocalReleaseMachine({ pipelines: PIPELINES, retryPauseMs: 5 });
  });
  after(async () => machine.close());
  afterEach(() => {
    machine.router.intercept = undefined;
    machine.codepipeline.faults.clear();
  });

  it("marks a release SUCCEEDED when all its pipelines succeed, with each execution's full history", async () => {
    const releaseId = newReleaseId("ok");
    const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a", "svc-b"] }));

    assert.equal(execution.status, "SUCCEEDED", execution.cause);
    const release = await machine.readRelease(releaseId);
    assert.ok(release);
    assert.equal(release.status, "SUCCEEDED");
    assert.ok(release.endedAt && release.startedAt && release.endedAt >= release.startedAt);
    assert.deepEqual(
      release.pipelines.map((p) => [p.name, p.status, p.history.map((h) => h.state)]),
      [
        ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
      ],
    );
    const started = machine.codepipeline
      .executions()
      .filter((e) => release.pipelines.some((p) => p.pipelineExecutionId === e.pipelineExecutionId));
    assert.equal(started.length, 2);
    const published = machine.router.published.filter(
      (e) => e["detail-type"] === "Release State Change" && e.detail.releaseId === releaseId,
    );
    const kinds = published.map((e) => String(e.detail.kind));
    assert.deepEqual([kinds[0], kinds.at(-1)], ["release.started", "release.succeeded"]);
    // Each pipeline's start, then its end, announced once each (contract/notification-events.ts).
    for (const name of ["svc-a", "svc-b"])
      assert.deepEqual(
        published
          .filter((e) => e.detail.pipeline === name)
          .map((e) => [e.detail.kind, e.detail.pipelineStatus]),
        [
          ["pipeline.started", "Started"],
          ["pipeline.ended", "Succeeded"],
        ],
        name,
      );
    assert.equal(kinds.length, 6);
    const waiting = (await machine.readRelease(releaseId))?.pipelines.filter((p) => p.status !== "Succeeded");
    assert.deepEqual(waiting, [], "no pipeline is left waiting for its end");
  });

  it("accepts a numeric releaseId, as the shipped manifest has, and records it by its JSON text", async () => {
    const execution = await finished(machine, machine.submit(`{"releaseId": 98.10, "pipelines": ["svc-a"]}`));
    assert.equal(execution.status, "SUCCEEDED", execution.cause);
    assert.equal((await machine.readRelease("98.10"))?.status, "SUCCEEDED");
    assert.equal(await machine.readRelease("98.1"), undefined);
  });

  it("fails the release naming the failed pipeline and its final state, and stops the pipelines still running", async () => {
    const releaseId = newReleaseId("fail");
    const execution = await finished(
      machine,
      machine.submit({ releaseId, pipelines: ["svc-manual", "svc-fails"] }),
    );

    assert.equal(execution.status, "FAILED");
    assert.equal(execution.error, "PipelineFailed");
    assert.match(
      execution.cause ?? "",
      /^Pipeline svc-fails did not succeed: execution \S+ ended Failed( at stage \S+, action \S+: .+)?$/,
    );
    const release = await machine.readRelease(releaseId);
    assert.equal(release?.status, "FAILED");
    assert.equal(release?.error, "PipelineFailed");
    assert.match(release?.cause ?? "", /svc-fails.*ended Failed/);
    const manual = release?.pipelines.find((p) => p.name === "svc-manual");
    assert.ok(manual?.pipelineExecutionId);
    const stopped = await until("the manual pipeline to stop", () => {
      const found = machine.codepipeline
        .executions("svc-manual")
        .find((e) => e.pipelineExecutionId === manual.pipelineExecutionId);
      return found && ["Stopped", "Stopping"].includes(found.status) ? found : undefined;
    });
    assert.ok(["Stopped", "Stopping"].includes(stopped.status));
    const published = machine.router.published.filter(
      (e) =>
        e["detail-type"] === "Release State Change" &&
        e.detail.releaseId === releaseId &&
        !String(e.detail.kind).startsWith("pipeline."),
    );
    assert.deepEqual(
      published.map((e) => [e.detail.status, e.detail.error]),
      [
        ["RUNNING", undefined],
        ["FAILED", "PipelineFailed"],
      ],
    );
  });

  it("rejects a duplicate releaseId as DuplicateRelease and starts nothing", async () => {
    const releaseId = newReleaseId("dup");
    const first = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
    assert.equal(first.status, "SUCCEEDED", first.cause);
    const startsBefore = machine.codepipeline.callCount("StartPipelineExecution");

    const second = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a", "svc-b"] }));

    assert.equal(second.status, "FAILED");
    assert.equal(second.error, "DuplicateRelease");
    assert.match(second.cause ?? "", new RegExp(`Release ${releaseId} was already submitted`));
    assert.equal(machine.codepipeline.callCount("StartPipelineExecution"), startsBefore);
    const release = await machine.readRelease(releaseId);
    assert.equal(release?.executionArn, first.executionArn, "the first run's record is untouched");
  });

  it("lets exactly one of two racing submissions of one releaseId run", async () => {
    const releaseId = newReleaseId("race");
    const [a, b] = await Promise.all([
      finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] })),
      finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] })),
    ]);
    assert.deepEqual([a.status, b.status].sort(), ["FAILED", "SUCCEEDED"]);
    assert.equal([a, b].find((e) => e.status === "FAILED")?.error, "DuplicateRelease");
    const release = await machine.readRelease(releaseId);
    assert.equal(release?.pipelines.length, 1);
  });

  it("rejects an unknown pipeline before anything starts, and records the rejection", async () => {
    const releaseId = newReleaseId("unknown");
    const startsBefore = machine.codepipeline.callCount("StartPipelineExecution");

    const execution = await finished(
      machine,
      machine.submit({ releaseId, pipelines: ["svc-a", "svc-nope"] }),
    );

    assert.equal(execution.status, "FAILED");
    assert.equal(execution.error, "InvalidManifest");
    assert.match(execution.cause ?? "", /\/pipelines\/1/);
    assert.match(execution.cause ?? "", /allowList/);
    assert.equal(machine.codepipeline.callCount("StartPipelineExecution"), startsBefore);
    // Found by its releaseId, with the problem by field and rule, its source, and no stack trace.
    const release = await machine.readRelease(releaseId);
    assert.equal(release?.status, "REJECTED");
    assert.equal(release?.error, "InvalidManifest");
    assert.equal(release?.source, "api");
    assert.deepEqual(
      release?.problems?.map(({ path, rule }) => ({ path, rule })),
      [{ path: "/pipelines/1", rule: "allowList" }],
    );
    assert.match(
      release?.cause ?? "",
      /^\/pipelines\/1: pipeline "svc-nope" is not on this machine's allow-list/,
    );
    assert.deepEqual(release?.pipelines, []);
  });

  it("runs a corrected submission of a rejected releaseId, keeping the rejection listed", async () => {
    const releaseId = newReleaseId("corrected");
    const rejected = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-nope"] }));
    assert.equal(rejected.error, "InvalidManifest");

    const corrected = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));

    assert.equal(corrected.status, "SUCCEEDED", corrected.cause);
    const release = await machine.readRelease(releaseId);
    assert.equal(release?.status, "SUCCEEDED");
    assert.equal(release?.problems, undefined);
    assert.deepEqual(
      release?.rejections?.map((r) => [r.errorName, r.source]),
      [["InvalidManifest", "api"]],
    );
  });

  it("records a duplicate apart from the release it repeats, leaving that release untouched", async () => {
    const releaseId = newReleaseId("dup-record");
    const first = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
    const before = await machine.readRelease(releaseId);
    const second = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-b"] }));

    assert.deepEqual(
      [first.status, second.status, second.error],
      ["SUCCEEDED", "FAILED", "DuplicateRelease"],
    );
    assert.deepEqual(await machine.readRelease(releaseId), before);
    const { Item } = await machine.deps.ddb.send(
      new GetCommand({ TableName: machine.tables.releases, Key: { releaseId: `rejected:${second.name}` } }),
    );
    assert.equal(Item?.status, "REJECTED");
    assert.equal(Item?.rejectedReleaseId, releaseId);
    assert.deepEqual(
      Item?.problems.map((p: { path: string; rule: string }) => [p.path, p.rule]),
      [["/releaseId", "duplicate"]],
    );
  });

  it("rejects malformed JSON with the json rule", async () => {
    const execution = await finished(machine, machine.submit(`{"releaseId": "x", "pipelines": [}`));
    assert.equal(execution.status, "FAILED");
    assert.equal(execution.error, "InvalidManifest");
    assert.match(execution.cause ?? "", /json/);
  });

  it("completes a release whose pipelines all ended before its wait was registered", async () => {
    const releaseId = newReleaseId("early");
    const results: unknown[] = [];
    await withMachine(
      {
        interceptFunction: async (name, payload, invoke) => {
          if (name !== "awaitRelease") return invoke(payload);
          // Hold the release's wait back until both pipelines' ends are acted on.
          await until("every pipeline to settle", async () => {
            const { Items = [] } = await machineRef.deps.ddb.send(
              new QueryCommand({
                TableName: machineRef.tables.releasePipelines,
                KeyConditionExpression: "releaseId = :releaseId",
                ExpressionAttributeValues: { ":releaseId": releaseId },
                ConsistentRead: true,
              }),
            );
            return Items.length === 2 && Items.every((i) => i.settled === true) ? true : undefined;
          });
          const result = await invoke(payload);
          results.push(result);
          return result;
        },
      },
      async (m) => {
        machineRef = m;
        const execution = await finished(m, m.submit({ releaseId, pipelines: ["svc-instant", "svc-a"] }));
        assert.equal(execution.status, "SUCCEEDED", execution.cause);
      },
    );
    assert.deepEqual(results, [{ completedAtOnce: true }]);
  });
  let machineRef: LocalReleaseMachine;

  it("completes a pipeline whose terminal event was lost, through the reconciler", async () => {
    const releaseId = newReleaseId("lost");
    machine.router.intercept = (event) =>
      event.detail.pipeline === "svc-b" && event.detail.state === "SUCCEEDED" ? "drop" : "deliver";
    const execution = machine.submit({ releaseId, pipelines: ["svc-b"] });
    const item = await until("the pipeline to end unnoticed while its waiter waits", async () => {
      const found = (await executionItems(machine)).find((i) => i.releaseId === releaseId);
      const ended = machine.codepipeline
        .executions("svc-b")
        .find((e) => e.pipelineExecutionId === found?.pipelineExecutionId);
      const named = (await machine.readRelease(releaseId))?.pipelines[0]?.pipelineExecutionId;
      return named && named === found?.pipelineExecutionId && ended?.status === "Succeeded"
        ? found
        : undefined;
    });
    assert.equal(item.status, "InProgress");
    assert.equal(execution.status, "RUNNING");

    const report = await machine.reconcile();

    assert.equal(report.completed, 1);
    assert.deepEqual(report.failures, []);
    const done = await finished(machine, execution);
    assert.equal(done.status, "SUCCEEDED", done.cause);
    const release = await machine.readRelease(releaseId);
    assert.deepEqual(
      release?.pipelines[0].history.map((h) => h.state),
      ["STARTED", "SUCCEEDED"],
    );
  });

  it("keeps the history unchanged when every event is delivered twice", async () => {
    const releaseId = newReleaseId("twice");
    machine.router.intercept = () => "duplicate";
    const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a", "svc-b"] }));
    assert.equal(execution.status, "SUCCEEDED", execution.cause);
    const release = await machine.readRelease(releaseId);
    for (const pipeline of release?.pipelines ?? []) {
      assert.deepEqual(
        pipeline.history.map((h) => h.state),
        ["STARTED", "SUCCEEDED"],
        pipeline.name,
      );
    }
  });

  it("fails a release whose pipeline does not exist in CodePipeline, naming it", async () => {
    const releaseId = newReleaseId("missing");
    await withMachine({ allowedPipelines: ["svc-a", "svc-gone"] }, async (m) => {
      const execution = await finished(m, m.submit({ releaseId, pipelines: ["svc-gone"] }));
      assert.equal(execution.status, "FAILED");
      assert.equal(execution.error, "PipelineFailed");
      assert.match(execution.cause ?? "", /^Pipeline svc-gone could not start: PipelineNotFoundException: /);
      assert.equal((await m.readRelease(releaseId))?.status, "FAILED");
    });
  });
});

describe("the letFinish failure policy, end to end", function () {
  this.timeout(20000);

  it("lets the other pipelines finish, then fails the release with the first failure", async () => {
    await withMachine(
      {
        workflow: { failurePolicy: "letFinish" },
        pipelines: [...PIPELINES, { name: "svc-slow", durationMs: 300, outcome: "Succeeded" }],
      },
      async (m) => {
        const releaseId = newReleaseId("finish");
        const execution = await finished(m, m.submit({ releaseId, pipelines: ["svc-fails", "svc-slow"] }));
        assert.equal(execution.status, "FAILED");
        assert.equal(execution.error, "PipelineFailed");
        assert.match(execution.cause ?? "", /svc-fails/);
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "FAILED");
        assert.deepEqual(statusesOf(release), ["svc-fails Failed", "svc-slow Succeeded"]);
        assert.equal(m.codepipeline.callCount("StopPipelineExecution"), 0);
      },
    );
  });
});
