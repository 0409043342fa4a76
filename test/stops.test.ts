/**
 * Stops that finish, end to end on the local engine and the CodePipeline stand-in, whose
 * stop-and-wait waits for in-progress actions as CodePipeline's does (a manual approval until it is
 * decided or the stop is escalated to abandon). A cancel stops and waits first; the reconciler,
 * called directly with an injected clock, abandons a stop still pending past stopGraceMinutes; a
 * forced cancel abandons at once; ConflictException is retried with injected pauses. Each step is
 * in the pipeline's history.
 */
import assert from "node:assert/strict";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { ExecutionItem } from "../handlers/executions";
import { reconcile } from "../handlers/pipeline-events";
import { stopRelease } from "../handlers/release/failure-policy";
import { releaseControlApi } from "../handlers/release-control";
import { STOP_ATTEMPTS } from "../handlers/stops";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";

const BOB = "arn:aws:iam::123456789012:user/bob";

/** A pipeline whose one action is a manual approval: a stop-and-wait waits until it is decided. */
const awaitingApproval = (name: string): LocalPipelineSpec => ({
  name,
  durationMs: null,
  outcome: "Succeeded",
  stages: [{ name: "Deploy", actions: [{ name: "Approve", manualApproval: true }] }],
});

const PIPELINES = ["held", "held-force", "held-escalate", "held-conflict", "held-busy"].map(awaitingApproval);

/**
 * The pipeline's execution once its approval is in progress (a stop now has something to wait for)
 * and the release waits (RegisterRelease, which started it, is done: no start pass races the test).
 */
async function approvalOpen(m: LocalReleaseMachine, releaseId: string, pipeline: string): Promise<string> {
  await until(`release ${releaseId} to wait`, async () => {
    const { Item } = await m.deps.ddb.send(
      new GetCommand({ TableName: m.tables.releases, Key: { releaseId } }),
    );
    return Item?.taskToken !== undefined;
  });
  return until(`${pipeline}'s approval to be open`, () => {
    const started = m.router.published.find(
      (e) =>
        e["detail-type"] === "CodePipeline Stage Execution State Change" &&
        e.detail.pipeline === pipeline &&
        e.detail.state === "STARTED",
    );
    return typeof started?.detail["execution-id"] === "string" ? started.detail["execution-id"] : undefined;
  });
}

async function cancel(m: LocalReleaseMachine, releaseId: string, body: object): Promise<number> {
  const answer = await releaseControlApi(m.control, {
    resource: "/releases/{releaseId}/cancel",
    httpMethod: "POST",
    pathParameters: { releaseId },
    body: JSON.stringify(body),
    requestContext: { identity: { userArn: BOB } },
  });
  return answer.statusCode;
}

async function executionItem(m: LocalReleaseMachine, pipelineExecutionId: string): Promise<ExecutionItem> {
  const { Item } = await m.deps.ddb.send(
    new GetCommand({ TableName: m.tables.executions, Key: { pipelineExecutionId } }),
  );
  return Item as ExecutionItem;
}

/** The pipeline's history as the release's view shows it (each stop's step is recorded before its request). */
const historyOf = async (m: LocalReleaseMachine, releaseId: string) =>
  (await m.readRelease(releaseId))?.pipelines[0].history.map((h) => h.state);

const statusInStandIn = (m: LocalReleaseMachine, pipelineExecutionId: string) =>
  m.codepipeline.executions().find((e) => e.pipelineExecutionId === pipelineExecutionId)?.status;

/** The reconciler's pass as it would run `minutes` from now (its clock injected). */
const reconcileAt = (m: LocalReleaseMachine, minutes: number) =>
  reconcile({
    ...m.functionDeps("reconciler").execution,
    now: () => new Date(Date.now() + minutes * 60_000),
  });

describe("stops that finish", function () {
  this.timeout(20000);

  it("a stop-and-wait still pending after stopGraceMinutes is abandoned by the reconciler and recorded", async () => {
    await withLocalMachine({ pipelines: PIPELINES, stopGraceMinutes: 15 }, async (m) => {
      const releaseId = newReleaseId("grace");
      const execution = m.submit({ releaseId, pipelines: ["held"] });
      const id = await approvalOpen(m, releaseId, "held");
      assert.equal(await cancel(m, releaseId, { reason: "wrong build" }), 202);
      await m.router.idle();
      assert.equal(statusInStandIn(m, id), "Stopping", "the stop waits for the approval");
      assert.ok((await executionItem(m, id)).stopRequestedAt);

      const early = await reconcileAt(m, 14);
      assert.deepEqual([early.abandonedStops, early.failures], [0, []]);
      assert.equal(statusInStandIn(m, id), "Stopping", "within the grace period nothing is abandoned");

      const lateClock = new Date(Date.now() + 16 * 60_000);
      const late = await reconcile({ ...m.functionDeps("reconciler").execution, now: () => lateClock });
      assert.deepEqual([late.abandonedStops, late.failures], [1, []]);
      await finished(m, execution);
      const release = await m.readRelease(releaseId);
      assert.deepEqual([release?.status, release?.pipelines[0].status], ["CANCELLED", "Stopped"]);
      // The abandon is recorded at the reconciler's (injected) clock, 16 minutes on.
      assert.deepEqual(
        release?.pipelines[0].history.map((h) => h.state),
        ["STARTED", "STOP_REQUESTED", "STOPPING", "STOPPED", "ABANDONED_AFTER_GRACE"],
      );
      assert.equal(release?.pipelines[0].history.at(-1)?.at, lateClock.toISOString());
      assert.ok((await executionItem(m, id)).stopAbandonedAt);
      const again = await reconcileAt(m, 30);
      assert.equal(again.abandonedStops, 0, "an abandoned stop is not abandoned again");
    });
  });

  it("cancel with force abandons at once, recording the forced abandon", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("force");
      const execution = m.submit({ releaseId, pipelines: ["held-force"] });
      const id = await approvalOpen(m, releaseId, "held-force");
      assert.equal(await cancel(m, releaseId, { force: true }), 202);
      await finished(m, execution);

      assert.equal((await m.codepipeline.whenEnded(id)).status, "Stopped");
      const release = await m.readRelease(releaseId);
      assert.deepEqual([release?.status, release?.pipelines[0].status], ["CANCELLED", "Stopped"]);
      assert.deepEqual(await historyOf(m, releaseId), ["STARTED", "ABANDONED_FORCED", "STOPPING", "STOPPED"]);
    });
  });

  it("a forced cancel of a release already cancelling abandons the pending stop-and-wait", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("escalate");
      const execution = m.submit({ releaseId, pipelines: ["held-escalate"] });
      const id = await approvalOpen(m, releaseId, "held-escalate");
      assert.equal(await cancel(m, releaseId, {}), 202);
      await m.router.idle();
      assert.equal(statusInStandIn(m, id), "Stopping");

      assert.equal(await cancel(m, releaseId, { force: true }), 202);
      await finished(m, execution);
      assert.equal((await m.readRelease(releaseId))?.status, "CANCELLED");
      assert.deepEqual(await historyOf(m, releaseId), [
        "STARTED",
        "STOP_REQUESTED",
        "STOPPING",
        "ABANDONED_FORCED",
        "STOPPED",
      ]);
    });
  });

  // The stop pass itself (handlers/release/failure-policy.ts), as a cancel's follow-up or a failure
  // under stopRemaining runs it, with the pauses recorded instead of slept.
  it("ConflictException on stop is retried, with growing pauses, until the stop is accepted", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("conflict");
      const execution = m.submit({ releaseId, pipelines: ["held-conflict"] });
      const id = await approvalOpen(m, releaseId, "held-conflict");
      m.codepipeline.faults.inject({
        operation: "StopPipelineExecution",
        error: "ConflictException",
        times: 2,
      });
      const before = m.codepipeline.callCount("StopPipelineExecution");
      const pauses: number[] = [];
      const deps = {
        ...m.functionDeps("pipelineEvent").execution,
        pause: async (ms: number) => void pauses.push(ms),
      };

      await stopRelease(deps, releaseId, `Release ${releaseId} stopped`, "forcedAbandon");
      assert.equal(m.codepipeline.callCount("StopPipelineExecution") - before, 3);
      assert.deepEqual(pauses, [200, 400]);
      await finished(m, execution);
      assert.equal((await m.codepipeline.whenEnded(id)).status, "Stopped");
      assert.equal((await m.readRelease(releaseId))?.pipelines[0].status, "Stopped");
    });
  });

  it("gives up on a stop CodePipeline keeps refusing with ConflictException after a bounded number of tries", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("busy");
      m.submit({ releaseId, pipelines: ["held-busy"] });
      await approvalOpen(m, releaseId, "held-busy");
      m.codepipeline.faults.inject({
        operation: "StopPipelineExecution",
        error: "ConflictException",
        times: 99,
      });
      const before = m.codepipeline.callCount("StopPipelineExecution");
      const pauses: number[] = [];
      const deps = {
        ...m.functionDeps("pipelineEvent").execution,
        pause: async (ms: number) => void pauses.push(ms),
      };
      const why = `Release ${releaseId} stopped`;

      await assert.rejects(stopRelease(deps, releaseId, why), { name: "ConflictException" });
      assert.equal(m.codepipeline.callCount("StopPipelineExecution") - before, STOP_ATTEMPTS);
      assert.deepEqual(pauses, [200, 400, 800, 1600]);
      m.codepipeline.faults.clear();
      // Run again (a follow-up's delivery is retried), the stop goes through.
      await stopRelease(deps, releaseId, why);
      assert.ok(
        (await m.readRelease(releaseId))?.pipelines[0].history.some((h) => h.state === "STOP_REQUESTED"),
      );
    });
  });
});
