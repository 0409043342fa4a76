/**
 * Crash consistency, the reconciler's sweep (issue 18 C.2; docs/architecture.md, "Crash
 * consistency"): a control decision is recorded and its work handed off with one
 * "Release Control Decided" event. Here every delivery of that event is lost (EventBridge
 * dead-letters it after its retries, or the function fails each time), no one repeats the request,
 * and the reconciler alone must carry the decision out: a cancel's stop pass once the cancel is
 * older than CANCEL_SWEEP_AFTER_SECONDS, an approved start once its claim expired, a rejected
 * gate's halt at once.
 */
import assert from "node:assert/strict";
import { reconcile } from "../handlers/pipeline-events";
import { CANCEL_SWEEP_AFTER_SECONDS } from "../handlers/release/cancel-sweep";
import { STUCK_START_SECONDS } from "../handlers/release/progress";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";
import { callControl, controlDepsOf } from "./control-helpers";

const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:iam::123456789012:user/bob";

const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

/** A local machine whose hand-offs are all lost: the control-decided rule delivers nothing. */
const withLostHandOffs = (
  pipelines: (string | LocalPipelineSpec)[],
  body: (m: LocalReleaseMachine) => Promise<void>,
) =>
  withLocalMachine(
    { pipelines: pipelines.map((p) => (typeof p === "string" ? manual(p) : p)) },
    async (m) => {
      m.router.intercept = (_event, rule) => (rule === "control-decided" ? "drop" : "deliver");
      await body(m);
    },
  );

const control = (m: LocalReleaseMachine, route: string, path: Record<string, string>, body: object) =>
  callControl(controlDepsOf(m), route, path, body, BOB);

/** One reconciler pass, under the reconciler's own clients, `seconds` from now. */
async function reconcileIn(m: LocalReleaseMachine, seconds: number) {
  const later = new Date(Date.now() + seconds * 1000);
  const report = await reconcile({ ...m.functionDeps("reconciler").execution, now: () => later });
  await m.router.idle();
  assert.deepEqual(report.failures, []);
  return report;
}

const statusesOf = async (m: LocalReleaseMachine, releaseId: string) =>
  (await pipelinesOfRelease(m.deps, releaseId)).map((i) => `${i.pipeline} ${i.status}`);

describe("crash consistency: a decision whose hand-off was lost is carried out by the reconciler", function () {
  this.timeout(30000);

  it("a cancel whose hand-off was lost is finished by the reconciler once the cancel is older than its grace", async () => {
    await withLostHandOffs(["sw-a", "sw-b"], async (m) => {
      const releaseId = newReleaseId("sw-cancel");
      const execution = m.start({
        source: "api",
        body: JSON.stringify({ releaseId, pipelines: ["sw-a", { name: "sw-b", dependsOn: ["sw-a"] }] }),
        submittedBy: ALICE,
      });
      await until("sw-a to run", () => m.codepipeline.executions("sw-a").length === 1 || undefined);
      // Registered and waiting: no registration left to skip sw-b on seeing the cancel.
      await until("the release's wait", async () => (await readReleaseItem(m.deps, releaseId))?.taskToken);
      await m.router.idle();
      const answer = await control(m, "/releases/{releaseId}/cancel", { releaseId }, {});
      assert.deepEqual([answer.status, answer.json.status], [202, "CANCELLING"]);
      await m.router.idle();
      // Within the grace the hand-off may still be delivered: the reconciler leaves it be.
      const early = await reconcileIn(m, 0);
      assert.equal(early.finishedCancels, 0);
      assert.deepEqual(await statusesOf(m, releaseId), ["sw-a Started", "sw-b Pending"]);
      assert.equal(m.codepipeline.executions("sw-a")[0].status, "InProgress");
      const late = await reconcileIn(m, CANCEL_SWEEP_AFTER_SECONDS + 60);
      assert.equal(late.finishedCancels, 1);
      await until("the release to be CANCELLED", async () => {
        await m.reconcile();
        await m.router.idle();
        return (await readReleaseItem(m.deps, releaseId))?.status === "CANCELLED" || undefined;
      });
      assert.equal((await finished(m, execution)).status, "FAILED");
      assert.deepEqual(await statusesOf(m, releaseId), ["sw-a Stopped", "sw-b Skipped"]);
      const release = await readReleaseItem(m.deps, releaseId);
      assert.deepEqual([release?.cancelledBy, release?.pipelineCount], [BOB, 2]);
      // Each pipeline marked settled once; the count may only over-count (a repeated settle).
      const items = await pipelinesOfRelease(m.deps, releaseId);
      assert.deepEqual(
        items.map((i) => i.settled),
        [true, true],
      );
      assert.ok((release?.settledCount ?? 0) >= 2);
      assert.equal(m.codepipeline.executions("sw-b").length, 0);
      // Nothing is left to sweep: a further pass finishes no cancel.
      assert.equal((await reconcileIn(m, CANCEL_SWEEP_AFTER_SECONDS + 120)).finishedCancels, 0);
    });
  });

  it("leaves a cancel whose stops are already pending to the stop grace, sweeping it only once", async () => {
    // A manual approval in flight: a stop-and-wait leaves the execution Stopping until abandoned.
    const waits: LocalPipelineSpec = {
      ...manual("sw-c"),
      stages: [{ name: "Deploy", actions: [{ name: "Approve", manualApproval: true }] }],
    };
    await withLostHandOffs([waits], async (m) => {
      const releaseId = newReleaseId("sw-pending");
      m.start({
        source: "api",
        body: JSON.stringify({ releaseId, pipelines: ["sw-c"] }),
        submittedBy: ALICE,
      });
      await until("sw-c to run", () => m.codepipeline.executions("sw-c").length === 1 || undefined);
      await m.router.idle();
      const answer = await control(m, "/releases/{releaseId}/cancel", { releaseId }, {});
      assert.equal(answer.status, 202);
      await m.router.idle();
      assert.equal((await reconcileIn(m, CANCEL_SWEEP_AFTER_SECONDS + 60)).finishedCancels, 1);
      assert.equal(m.codepipeline.executions("sw-c")[0].status, "Stopping");
      const again = await reconcileIn(m, CANCEL_SWEEP_AFTER_SECONDS + 90);
      assert.equal(again.finishedCancels, 0, "its stop was asked for: the sweep has nothing left to do");
    });
  });

  it("an approval whose hand-off was lost is started once by the reconciler after its claim expired", async () => {
    await withLostHandOffs(["sw-g"], async (m) => {
      const releaseId = newReleaseId("sw-approve");
      const execution = m.start({
        source: "api",
        body: JSON.stringify({ releaseId, pipelines: [{ name: "sw-g", approval: true }] }),
        submittedBy: ALICE,
      });
      await until(
        "the gate to open",
        async () => (await statusesOf(m, releaseId))[0] === "sw-g AwaitingApproval" || undefined,
      );
      await m.router.idle();
      const path = { releaseId, pipeline: "sw-g" };
      const answer = await control(m, "/releases/{releaseId}/approvals/{pipeline}", path, {
        decision: "approve",
      });
      assert.deepEqual([answer.status, answer.json.status], [200, "Starting"]);
      await m.router.idle();
      assert.equal((await reconcileIn(m, 0)).resumedStarts, 0, "the approval's own claim stands");
      assert.equal(m.codepipeline.executions("sw-g").length, 0);
      assert.equal((await reconcileIn(m, STUCK_START_SECONDS + 60)).resumedStarts, 1);
      assert.deepEqual(await statusesOf(m, releaseId), ["sw-g Started"]);
      const [run] = m.codepipeline.executions("sw-g");
      m.codepipeline.finish(run.pipelineExecutionId, "Succeeded");
      assert.equal((await finished(m, execution)).status, "SUCCEEDED");
      assert.equal(m.codepipeline.executions("sw-g").length, 1);
      assert.equal((await readReleaseItem(m.deps, releaseId))?.status, "SUCCEEDED");
    });
  });

  it("a rejection whose hand-off was lost fails the release through the reconciler's next pass", async () => {
    await withLostHandOffs(["sw-r"], async (m) => {
      const releaseId = newReleaseId("sw-reject");
      const execution = m.start({
        source: "api",
        body: JSON.stringify({ releaseId, pipelines: [{ name: "sw-r", approval: true }] }),
        submittedBy: ALICE,
      });
      await until(
        "the gate to open",
        async () => (await statusesOf(m, releaseId))[0] === "sw-r AwaitingApproval" || undefined,
      );
      await m.router.idle();
      const path = { releaseId, pipeline: "sw-r" };
      const answer = await control(m, "/releases/{releaseId}/approvals/{pipeline}", path, {
        decision: "reject",
      });
      assert.deepEqual([answer.status, answer.json.decision], [200, "reject"]);
      await m.router.idle();
      assert.equal((await readReleaseItem(m.deps, releaseId))?.status, "RUNNING", "the halt was lost");
      await reconcileIn(m, 0);
      assert.equal((await finished(m, execution)).status, "FAILED");
      const release = await readReleaseItem(m.deps, releaseId);
      assert.deepEqual([release?.status, release?.errorName], ["FAILED", "ApprovalRejected"]);
      assert.deepEqual(await statusesOf(m, releaseId), ["sw-r Skipped"]);
      assert.equal(m.codepipeline.executions("sw-r").length, 0);
    });
  });
});
