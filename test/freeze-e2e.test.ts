/**
 * Freezes on local mode, end to end (issue 20, items 3-4): the emergency stop holds every
 * release's next start, the release's view says why, removing it resumes them (the reconciler
 * asks again for every held pipeline) and they finish by themselves; cancelling a frozen release
 * starts nothing. Pipelines end only when a test ends them with the stand-in's `finish()`.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { reconcile } from "../handlers/pipeline-events";
import type { LocalServer } from "../local/server";
import { type CliServer, type Run, runCli, startCliServer } from "./cli-harness";
import { until } from "./local-helpers";

let testServer: CliServer;
let server: LocalServer;
const PIPELINES = ["svc-a-pipeline", "svc-b-pipeline"];

const cli = (args: string[], user = "release-manager"): Promise<Run> =>
  runCli(server, args, { RELEASE_MACHINE_USER: user });

async function submitted(releaseId: string, pipelines: unknown[]): Promise<void> {
  const file = path.join(testServer.dataDir, `${releaseId}.json`);
  writeFileSync(file, JSON.stringify({ releaseId, pipelines }));
  const run = await cli(["submit", file], "developer");
  assert.equal(run.code, 0, run.stderr);
}

const viewOf = async (releaseId: string, pipeline: string) =>
  (await server.machine.readRelease(releaseId))?.pipelines.find((p) => p.name === pipeline);

async function pipelineReads(releaseId: string, pipeline: string, status: string) {
  return until(`${releaseId}/${pipeline} to read ${status}`, async () => {
    const view = await viewOf(releaseId, pipeline);
    return view?.status === status ? view : undefined;
  });
}

async function finish(pipeline: string): Promise<void> {
  const record = await until(`${pipeline} to run`, () =>
    server.machine.codepipeline.executions(pipeline).find((e) => e.status === "InProgress"),
  );
  server.machine.codepipeline.finish(record.pipelineExecutionId, "Succeeded");
  await server.machine.router.idle();
}

async function releaseReads(releaseId: string, status: string): Promise<void> {
  await until(`${releaseId} to be ${status}`, async () =>
    (await server.machine.readRelease(releaseId))?.status === status ? true : undefined,
  );
}

describe("freezes on local mode", function () {
  this.timeout(60_000);

  before(async () => {
    testServer = await startCliServer(
      "freeze-e2e",
      PIPELINES.map((name) => ({ name, durationMs: 3_600_000 })),
      // The reconciler runs when a test asks (server.machine.reconcile()), not on a timer.
      { reconcileEveryMs: 3_600_000 },
    );
    server = testServer.server;
  });
  after(async () => {
    await testServer.close();
  });

  it("holds every release's next start under the emergency stop, and removing it resumes them to the end", async () => {
    const stop = await cli([
      "freeze",
      "add",
      "stop-the-line",
      "--pipelines",
      "*",
      "--reason",
      "incident 123",
    ]);
    assert.equal(stop.code, 0, stop.stderr);
    await submitted("frozen-1", [{ name: PIPELINES[0] }]);
    await submitted("frozen-2", [{ name: PIPELINES[1] }]);
    for (const [releaseId, pipeline] of [
      ["frozen-1", PIPELINES[0]],
      ["frozen-2", PIPELINES[1]],
    ]) {
      const view = await pipelineReads(releaseId, pipeline, "Frozen");
      assert.deepEqual([view.frozenBy, view.until], [["stop-the-line"], null]);
    }
    const status = await cli(["status", "frozen-1"]);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /svc-a-pipeline\s+Frozen\s.*frozen by stop-the-line until removed/);
    // A reconciler pass while the stop holds starts nothing either.
    await server.machine.reconcile();
    for (const pipeline of PIPELINES) assert.deepEqual(server.machine.codepipeline.executions(pipeline), []);
    assert.equal((await server.machine.readRelease("frozen-1"))?.status, "RUNNING");

    const removed = await cli(["freeze", "remove", "stop-the-line"]);
    assert.equal(removed.code, 0, removed.stderr);
    await server.machine.reconcile();
    for (const pipeline of PIPELINES) await finish(pipeline);
    await releaseReads("frozen-1", "SUCCEEDED");
    await releaseReads("frozen-2", "SUCCEEDED");
    assert.equal(server.machine.codepipeline.executions(PIPELINES[0]).length, 1);
  });

  it("holds only the pipelines a window's globs cover: the others run, the dependant waits", async () => {
    const freeze = await cli([
      "freeze",
      "add",
      "b-only",
      "--pipelines",
      "svc-b-*",
      "--reason",
      "b is frozen",
    ]);
    assert.equal(freeze.code, 0, freeze.stderr);
    await submitted("frozen-3", [{ name: PIPELINES[0] }, { name: PIPELINES[1], dependsOn: [PIPELINES[0]] }]);
    await pipelineReads("frozen-3", PIPELINES[0], "InProgress");
    await finish(PIPELINES[0]);
    await pipelineReads("frozen-3", PIPELINES[1], "Frozen");
    assert.equal(server.machine.codepipeline.executions(PIPELINES[1]).length, 1, "only frozen-2's run");
    assert.equal((await cli(["freeze", "remove", "b-only"])).code, 0);
    await server.machine.reconcile();
    await finish(PIPELINES[1]);
    await releaseReads("frozen-3", "SUCCEEDED");
  });

  it("holds a release inside a window until the window ends, then it finishes by itself (the reconciler's clock driven)", async () => {
    const end = new Date(Date.now() + 3_600_000).toISOString();
    const added = await cli([
      "freeze",
      "add",
      "window",
      "--pipelines",
      "svc-*",
      "--end",
      end,
      "--reason",
      "audit",
    ]);
    assert.equal(added.code, 0, added.stderr);
    const runsBefore = server.machine.codepipeline.executions(PIPELINES[0]).length;
    await submitted("frozen-window", [{ name: PIPELINES[0] }]);
    const held = await pipelineReads("frozen-window", PIPELINES[0], "Frozen");
    assert.deepEqual([held.frozenBy, held.until], [["window"], end]);
    // One reconciler pass inside the window, one just past its end, under the reconciler's own role.
    const passAt = async (at: string) => {
      const report = await reconcile({
        ...server.machine.functionDeps("reconciler").execution,
        now: () => new Date(at),
      });
      await server.machine.router.idle();
      assert.deepEqual(report.failures, []);
    };
    await passAt(new Date(Date.parse(end) - 60_000).toISOString());
    assert.equal((await viewOf("frozen-window", PIPELINES[0]))?.status, "Frozen");
    assert.equal(server.machine.codepipeline.executions(PIPELINES[0]).length, runsBefore);
    await passAt(new Date(Date.parse(end) + 60_000).toISOString());
    await finish(PIPELINES[0]);
    await releaseReads("frozen-window", "SUCCEEDED");
    assert.equal((await cli(["freeze", "remove", "window"])).code, 0);
  });

  it("starts a frozen pipeline on an audited override, recording who and why, while other releases stay held", async () => {
    assert.equal(
      (await cli(["freeze", "add", "quiet", "--pipelines", "*", "--reason", "quarter end"])).code,
      0,
    );
    const runsBefore = server.machine.codepipeline.executions(PIPELINES[0]).length;
    await submitted("frozen-hotfix", [{ name: PIPELINES[0] }]);
    await submitted("frozen-other", [{ name: PIPELINES[1] }]);
    await pipelineReads("frozen-hotfix", PIPELINES[0], "Frozen");
    await pipelineReads("frozen-other", PIPELINES[1], "Frozen");
    const noReason = await cli(["freeze", "override", "frozen-hotfix"]);
    assert.equal(noReason.code, 2);
    const overridden = await cli(["freeze", "override", "frozen-hotfix", "--reason", "CVE fix"], "oncall");
    assert.equal(overridden.code, 0, overridden.stderr);
    await server.machine.reconcile();
    await finish(PIPELINES[0]);
    await releaseReads("frozen-hotfix", "SUCCEEDED");
    assert.equal(server.machine.codepipeline.executions(PIPELINES[0]).length, runsBefore + 1);
    const view = await server.machine.readRelease("frozen-hotfix");
    assert.deepEqual(
      view?.freezeOverrides?.map((o) => [o.by, o.reason, o.freezes, o.pipelines]),
      [["oncall", "CVE fix", ["quiet"], [PIPELINES[0]]]],
    );
    assert.equal((await viewOf("frozen-other", PIPELINES[1]))?.status, "Frozen");
    // Nothing of the finished release is frozen any more: 409.
    const again = await cli(["freeze", "override", "frozen-hotfix", "--reason", "again"]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /has no frozen pipeline/);
    assert.equal((await cli(["freeze", "remove", "quiet"])).code, 0);
    await server.machine.reconcile();
    await finish(PIPELINES[1]);
    await releaseReads("frozen-other", "SUCCEEDED");
  });

  it("starts nothing when a frozen release is cancelled, nor once the freeze is removed", async () => {
    assert.equal((await cli(["freeze", "add", "hold-all", "--pipelines", "*", "--reason", "r"])).code, 0);
    const runsBefore = server.machine.codepipeline.executions(PIPELINES[0]).length;
    await submitted("frozen-4", [{ name: PIPELINES[0] }]);
    await pipelineReads("frozen-4", PIPELINES[0], "Frozen");
    const cancelled = await cli(["cancel", "frozen-4", "--reason", "not this week"]);
    assert.equal(cancelled.code, 0, cancelled.stderr);
    await releaseReads("frozen-4", "CANCELLED");
    assert.equal((await viewOf("frozen-4", PIPELINES[0]))?.status, "Skipped");
    assert.equal((await cli(["freeze", "remove", "hold-all"])).code, 0);
    await server.machine.reconcile();
    assert.equal(server.machine.codepipeline.executions(PIPELINES[0]).length, runsBefore);
  });
});
