/**
 * Crash consistency (issue 18 C.2, C.3, C.6; docs/architecture.md, "Crash consistency"): a
 * function killed at each DynamoDB write of registration, retry, cancel and approval, on local
 * mode, and then the recovery the design names (the repeated request, the workflow's Catch, the
 * reconciler). Each ends with the release recoverable and its record true: its status, its
 * pipeline count against its schedule, and the retry or cancel carried out. The crash is injected
 * from outside, on the dying function's own clients (test/crash-injection.ts).
 */
import assert from "node:assert/strict";
import type { RegisterReleaseRequest } from "../handlers/release/registration";
import { registerRelease } from "../handlers/release/registration";
import { STUCK_START_SECONDS } from "../handlers/release/progress";
import { resumeStuckStarts } from "../handlers/release/reconcile-schedule";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalExecution } from "../local/engine";
import type { LocalReleaseMachine } from "../local/release-machine";
import { LOCAL_STATE_MACHINE_ARN } from "../local/local-names";
import { type Crash, crashAfterWrites } from "./crash-injection";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";
import { type ControlAnswer, controlCalls, controlDepsOf } from "./control-helpers";

const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:iam::123456789012:user/bob";
const CAROL = "arn:aws:iam::123456789012:user/carol";

const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

const withMachine = (pipelines: string[], body: (m: LocalReleaseMachine) => Promise<void>) =>
  withLocalMachine({ pipelines: pipelines.map(manual) }, body);

const submit = (m: LocalReleaseMachine, manifest: object): LocalExecution =>
  m.start({ source: "api", body: JSON.stringify(manifest), submittedBy: ALICE });

const { cancel, retry, decide } = controlCalls(controlDepsOf, BOB);

/** The release's record and schedule, read as no role. */
async function recordOf(m: LocalReleaseMachine, releaseId: string) {
  const release = await readReleaseItem(m.deps, releaseId);
  const items = await pipelinesOfRelease(m.deps, releaseId);
  return { release, items, statuses: items.map((i) => `${i.pipeline} ${i.status}`) };
}

/** Ends every running execution of `pipelines` as `status`, and delivers what that causes. */
async function endRunning(
  m: LocalReleaseMachine,
  pipelines: string[],
  status: "Succeeded" | "Failed" = "Succeeded",
) {
  for (const pipeline of pipelines)
    for (const e of m.codepipeline.executions(pipeline))
      if (e.status === "InProgress") m.codepipeline.finish(e.pipelineExecutionId, status);
  await m.router.idle();
}

/** Ends what runs, with the reconciler's passes, until the release's status is `status`. */
async function driveTo(m: LocalReleaseMachine, releaseId: string, pipelines: string[], status: string) {
  try {
    await until(`release ${releaseId} to be ${status}`, async () => {
      await endRunning(m, pipelines);
      await m.reconcile();
      await m.router.idle();
      return (await readReleaseItem(m.deps, releaseId))?.status === status ? true : undefined;
    });
  } catch (error) {
    const { release, statuses } = await recordOf(m, releaseId);
    const runs = pipelines.map((p) => m.codepipeline.executions(p).map((e) => `${p}:${e.status}`));
    throw new Error(`${String(error)}; ${JSON.stringify({ release, statuses, runs })}`, { cause: error });
  }
}

/** The execution a control answer started. */
function executionOf(m: LocalReleaseMachine, answer: ControlAnswer): LocalExecution {
  const execution = m.engine.describeExecution(String(answer.json.executionArn));
  assert.ok(execution, JSON.stringify(answer));
  return execution;
}

/** The true record of a finished release: every pipeline as expected, its count its schedule's. */
async function assertEndedTrue(
  m: LocalReleaseMachine,
  releaseId: string,
  status: string,
  statuses: string[],
) {
  const { release, items } = await recordOf(m, releaseId);
  assert.equal(release?.status, status);
  assert.equal(release?.schedulePending, undefined);
  assert.equal(release?.pipelineCount, items.length, "the pipeline count is the schedule's");
  assert.deepEqual(
    items.map((i) => `${i.pipeline} ${i.status}`),
    statuses,
  );
}

describe("crash consistency: a function killed at each write, then recovered", function () {
  this.timeout(30000);

  describe("registration", () => {
    const PIPES = ["rg-a", "rg-b", "rg-c"];
    const request = (releaseId: string): RegisterReleaseRequest => ({
      releaseId,
      executionArn: `${LOCAL_STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${releaseId}`,
      startedAt: new Date().toISOString(),
      source: "api",
      submittedBy: ALICE,
      failurePolicy: "stopRemaining",
      longestPipelineRunSeconds: 3600,
      pipelines: [{ name: "rg-a" }, { name: "rg-b", dependsOn: ["rg-a"] }, { name: "rg-c" }],
    });
    /** The release item, three schedule items, the schedule's completion, two roots' claims and records. */
    const WRITES = 11;

    it(`writes ${WRITES} times for a release of three pipelines, two of them roots`, async () => {
      await withMachine(PIPES, async (m) => {
        const counting = crashAfterWrites(m.functionDeps("registerRelease").execution, Infinity);
        await registerRelease(m.functionDeps("registerRelease").execution, request(newReleaseId("rg-count")));
        counting.restore();
        assert.equal(counting.writes(), WRITES);
      });
    });

    for (let k = 0; k <= WRITES; k += 1) {
      it(`completes by repeating the registration after it died after write ${k} of ${WRITES}`, async () => {
        await withMachine(PIPES, async (m) => {
          const releaseId = newReleaseId(`rg-repeat-${k}`);
          const deps = m.functionDeps("registerRelease").execution;
          const crash = crashAfterWrites(deps, k);
          await assert.rejects(registerRelease(deps, request(releaseId)), { name: "FunctionDied" });
          crash.restore();
          await m.router.idle();
          const partial = await recordOf(m, releaseId);
          // Until every item exists, the release says so, and nothing has started.
          if (partial.release && partial.items.length < 3)
            assert.equal(partial.release.schedulePending, request(releaseId).executionArn);
          // Step Functions retries the task with the same input; the reconciler takes over a
          // start whose claimant died, once its claim expired.
          await registerRelease(deps, request(releaseId));
          const later = new Date(Date.now() + (STUCK_START_SECONDS + 60) * 1000);
          await resumeStuckStarts({ ...m.functionDeps("reconciler").execution, now: () => later });
          await until("the release's outcome", async () => {
            await endRunning(m, PIPES);
            await m.reconcile();
            return (await readReleaseItem(m.deps, releaseId))?.outcome;
          });
          const { release, items } = await recordOf(m, releaseId);
          assert.deepEqual(release?.outcome?.status, "SUCCEEDED");
          assert.equal(release?.schedulePending, undefined);
          assert.equal(release?.pipelineCount, items.length);
          assert.deepEqual(
            items.map((i) => `${i.pipeline} ${i.status}`),
            ["rg-a Succeeded", "rg-b Succeeded", "rg-c Succeeded"],
          );
          // One start per pipeline: a repeated start reused its clientRequestToken.
          assert.deepEqual(
            PIPES.map((p) => m.codepipeline.executions(p).length),
            [1, 1, 1],
          );
        });
      });
    }

    for (let k = 0; k <= WRITES; k += 1) {
      it(`records the release truly when the registration died for good after write ${k} of ${WRITES}, and a retry either completes it or is refused`, async () => {
        await withMachine(PIPES, async (m) => {
          const releaseId = newReleaseId(`rg-fail-${k}`);
          const crash = crashAfterWrites(m.functionDeps("registerRelease").execution, k);
          const execution = submit(m, {
            releaseId,
            pipelines: ["rg-a", { name: "rg-b", dependsOn: ["rg-a"] }, "rg-c"],
          });
          assert.equal((await finished(m, execution)).status, "FAILED");
          crash.restore();
          const { release, items } = await recordOf(m, releaseId);
          if (k === 0) {
            // It died before it took the releaseId: the submission is recorded refused, the id free.
            assert.equal(release?.status ?? "REJECTED", "REJECTED");
            return;
          }
          assert.equal(release?.status, "FAILED");
          if (items.length < 3 || release?.schedulePending !== undefined) {
            // The schedule is incomplete and the release says so: no retry waits for what does not exist.
            assert.ok(release?.schedulePending);
            const refused = await retry(m, releaseId);
            assert.deepEqual([refused.status, refused.json.error], [409, "ReleaseNotRetryable"]);
            assert.deepEqual([(await cancel(m, releaseId)).status], [409]);
            assert.deepEqual(
              PIPES.map((p) => m.codepipeline.executions(p).length),
              [0, 0, 0],
            );
            return;
          }
          assert.equal(release.pipelineCount, items.length);
          const accepted = await retry(m, releaseId);
          assert.equal(accepted.status, 202, JSON.stringify(accepted.json));
          await driveTo(m, releaseId, PIPES, "SUCCEEDED");
          assert.equal((await finished(m, executionOf(m, accepted))).status, "SUCCEEDED");
          await assertEndedTrue(m, releaseId, "SUCCEEDED", [
            "rg-a Succeeded",
            "rg-b Succeeded",
            "rg-c Succeeded",
          ]);
        });
      });
    }
  });
  describe("retry", () => {
    const PIPES = ["rt-x", "rt-y"];

    /** A release of rt-x (succeeded) and rt-y (failed): FAILED at attempt 1. */
    async function failedRelease(m: LocalReleaseMachine, label: string): Promise<string> {
      const releaseId = newReleaseId(label);
      const execution = submit(m, { releaseId, pipelines: PIPES });
      await until(
        "both to run",
        () => PIPES.every((p) => m.codepipeline.executions(p).length === 1) || undefined,
      );
      await m.router.idle();
      await endRunning(m, ["rt-x"]);
      await endRunning(m, ["rt-y"], "Failed");
      assert.equal((await finished(m, execution)).status, "FAILED");
      return releaseId;
    }

    /** The retry's decision, then its StartExecution. */
    const ROUTE_WRITES = 1;
    for (let k = 0; k <= ROUTE_WRITES; k += 1) {
      it(`completes the retry when its request died after write ${k} of ${ROUTE_WRITES} and is asked again, by anyone`, async () => {
        await withMachine(PIPES, async (m) => {
          const releaseId = await failedRelease(m, `rt-route-${k}`);
          const crash = crashAfterWrites(m.functionDeps("releaseControl").execution, k);
          await assert.rejects(retry(m, releaseId, BOB), { name: "FunctionDied" });
          crash.restore();
          const recorded = (await recordOf(m, releaseId)).release;
          assert.deepEqual([recorded?.status, recorded?.attempt], ["FAILED", 1]);
          assert.equal(recorded?.retryRequestedBy, k === 0 ? undefined : BOB);
          const again = await retry(m, releaseId, CAROL);
          assert.deepEqual([again.status, again.json.attempt], [202, 2]);
          await driveTo(m, releaseId, PIPES, "SUCCEEDED");
          await finished(m, executionOf(m, again));
          await assertEndedTrue(m, releaseId, "SUCCEEDED", ["rt-x Succeeded", "rt-y Succeeded"]);
          const release = (await recordOf(m, releaseId)).release;
          // The first recorded decision is the attempt's: its requester, whoever repeated it.
          assert.deepEqual([release?.attempt, release?.retriedBy], [2, k === 0 ? CAROL : BOB]);
          assert.deepEqual(
            PIPES.map((p) => m.codepipeline.executions(p).length),
            [1, 2],
          );
        });
      });
    }

    /** RetryRelease: rt-y's reset, the release's move to RUNNING, rt-y's claim, its execution's link and record. */
    const RETRY_WRITES = 5;
    for (let k = 0; k <= RETRY_WRITES; k += 1) {
      it(`records a retry that died after write ${k} of ${RETRY_WRITES} of RetryRelease as failed, and the next retry completes the release`, async () => {
        await withMachine(PIPES, async (m) => {
          const releaseId = await failedRelease(m, `rt-task-${k}`);
          const crash = crashAfterWrites(m.functionDeps("registerRelease").execution, k);
          const accepted = await retry(m, releaseId);
          assert.equal(accepted.status, 202);
          assert.equal((await finished(m, executionOf(m, accepted))).status, "FAILED");
          crash.restore();
          const failed = (await recordOf(m, releaseId)).release;
          assert.deepEqual([failed?.status, failed?.attempt], ["FAILED", 2]);
          const next = await retry(m, releaseId, CAROL);
          assert.deepEqual([next.status, next.json.attempt], [202, 3]);
          await driveTo(m, releaseId, PIPES, "SUCCEEDED");
          await finished(m, executionOf(m, next));
          await assertEndedTrue(m, releaseId, "SUCCEEDED", ["rt-x Succeeded", "rt-y Succeeded"]);
          assert.equal(m.codepipeline.executions("rt-x").length, 1, "a success keeps its execution");
        });
      });
    }

    for (const k of [0, 1]) {
      it(`completes a retry whose execution was stopped after write ${k} of RetryRelease, with no Catch run, when it is asked again`, async () => {
        await withMachine(PIPES, async (m) => {
          const releaseId = await failedRelease(m, `rt-lost-${k}`);
          let stopped: () => void = () => undefined;
          const dying = new Promise<void>((resolve) => (stopped = resolve));
          const crash: Crash = crashAfterWrites(m.functionDeps("registerRelease").execution, k, {
            hang: true,
            onDeath: stopped,
          });
          const accepted = await retry(m, releaseId);
          assert.equal(accepted.status, 202);
          await dying;
          // The function stops mid-way and its execution ends with it (kill -9, StopExecution).
          m.engine.stopExecution(String(accepted.json.executionArn), { cause: "killed" });
          crash.restore();
          const lost = (await recordOf(m, releaseId)).release;
          assert.deepEqual([lost?.status, lost?.attempt, lost?.retryRequested], ["FAILED", 1, 2]);
          const again = await retry(m, releaseId, CAROL);
          assert.deepEqual([again.status, again.json.attempt], [202, 3], JSON.stringify(again.json));
          await driveTo(m, releaseId, PIPES, "SUCCEEDED");
          await finished(m, executionOf(m, again));
          await assertEndedTrue(m, releaseId, "SUCCEEDED", ["rt-x Succeeded", "rt-y Succeeded"]);
        });
      });
    }
  });

  describe("cancel", () => {
    const PIPES = ["cx-a", "cx-b"];

    /** A release of cx-a (running) and cx-b (waiting for it). */
    async function runningRelease(m: LocalReleaseMachine, label: string) {
      const releaseId = newReleaseId(label);
      const execution = submit(m, { releaseId, pipelines: ["cx-a", { name: "cx-b", dependsOn: ["cx-a"] }] });
      await until("cx-a to run", () => m.codepipeline.executions("cx-a").length === 1 || undefined);
      await m.router.idle();
      return { releaseId, execution };
    }

    async function assertCancelled(m: LocalReleaseMachine, releaseId: string, execution: LocalExecution) {
      await driveTo(m, releaseId, [], "CANCELLED");
      assert.equal((await finished(m, execution)).status, "FAILED");
      await assertEndedTrue(m, releaseId, "CANCELLED", ["cx-a Stopped", "cx-b Skipped"]);
      assert.equal((await recordOf(m, releaseId)).release?.cancelledBy, BOB);
      assert.equal(m.codepipeline.executions("cx-b").length, 0);
    }

    /** The cancel's write, then its hand-off. */
    const ROUTE_WRITES = 1;
    for (let k = 0; k <= ROUTE_WRITES; k += 1) {
      it(`completes a cancel whose request died after write ${k} of ${ROUTE_WRITES} when it is asked again`, async () => {
        await withMachine(PIPES, async (m) => {
          const { releaseId, execution } = await runningRelease(m, `cx-route-${k}`);
          const crash = crashAfterWrites(m.functionDeps("releaseControl").execution, k);
          await assert.rejects(cancel(m, releaseId, BOB), { name: "FunctionDied" });
          crash.restore();
          await m.router.idle();
          const recorded = (await recordOf(m, releaseId)).release;
          assert.deepEqual([recorded?.status, recorded?.cancelledBy], ["RUNNING", k === 0 ? undefined : BOB]);
          const again = await cancel(m, releaseId, k === 0 ? BOB : CAROL);
          assert.deepEqual([again.status, again.json.cancelledBy], [202, BOB]);
          await assertCancelled(m, releaseId, execution);
        });
      });
    }

    /** The stop pass in the pipeline-event function: cx-b skipped, counted and marked settled. */
    const STOP_WRITES = 3;
    for (let k = 0; k <= STOP_WRITES; k += 1) {
      it(`completes a cancel whose stop pass died after write ${k} of ${STOP_WRITES}, through a repeated cancel and the reconciler`, async () => {
        await withMachine(PIPES, async (m) => {
          const { releaseId, execution } = await runningRelease(m, `cx-stop-${k}`);
          const crash = crashAfterWrites(m.functionDeps("pipelineEvent").execution, k);
          const answer = await cancel(m, releaseId, BOB);
          assert.deepEqual([answer.status, answer.json.status], [202, "CANCELLING"]);
          await m.router.idle();
          crash.restore();
          assert.equal((await recordOf(m, releaseId)).release?.status, "RUNNING");
          const again = await cancel(m, releaseId, BOB);
          assert.equal(again.status, 202);
          await assertCancelled(m, releaseId, execution);
        });
      });
    }
  });

  describe("approval", () => {
    const PIPES = ["ap-g"];

    async function gatedRelease(m: LocalReleaseMachine, label: string) {
      const releaseId = newReleaseId(label);
      const execution = submit(m, { releaseId, pipelines: [{ name: "ap-g", approval: true }] });
      await until("the gate to open", async () =>
        (await recordOf(m, releaseId)).statuses[0] === "ap-g AwaitingApproval" ? true : undefined,
      );
      await m.router.idle();
      return { releaseId, execution };
    }

    /** The expired claim's takeover by the reconciler, a pass past the claim's expiry. */
    async function reconcileLater(m: LocalReleaseMachine) {
      const later = new Date(Date.now() + (STUCK_START_SECONDS + 60) * 1000);
      await resumeStuckStarts({ ...m.functionDeps("reconciler").execution, now: () => later });
      await m.router.idle();
    }

    /** The decision's write (it takes the start claim), then its hand-off. */
    const ROUTE_WRITES = 1;
    for (let k = 0; k <= ROUTE_WRITES; k += 1) {
      it(`starts an approved pipeline once when the approval died after write ${k} of ${ROUTE_WRITES} and is asked again`, async () => {
        await withMachine(PIPES, async (m) => {
          const { releaseId, execution } = await gatedRelease(m, `ap-route-${k}`);
          const crash = crashAfterWrites(m.functionDeps("releaseControl").execution, k);
          await assert.rejects(decide(m, releaseId, "ap-g", "approve"), { name: "FunctionDied" });
          crash.restore();
          const recorded = (await recordOf(m, releaseId)).items[0];
          assert.equal(recorded.status, k === 0 ? "AwaitingApproval" : "Starting");
          const again = await decide(m, releaseId, "ap-g", "approve");
          assert.deepEqual([again.status, again.json.decidedBy], [200, BOB]);
          await driveTo(m, releaseId, PIPES, "SUCCEEDED");
          assert.equal((await finished(m, execution)).status, "SUCCEEDED");
          await assertEndedTrue(m, releaseId, "SUCCEEDED", ["ap-g Succeeded"]);
          assert.equal(m.codepipeline.executions("ap-g").length, 1);
        });
      });
    }

    it("fails the release once when a rejection died after its write and is asked again", async () => {
      await withMachine(PIPES, async (m) => {
        const { releaseId, execution } = await gatedRelease(m, "ap-reject");
        const crash = crashAfterWrites(m.functionDeps("releaseControl").execution, 1);
        await assert.rejects(decide(m, releaseId, "ap-g", "reject"), { name: "FunctionDied" });
        crash.restore();
        const again = await decide(m, releaseId, "ap-g", "reject");
        assert.deepEqual([again.status, again.json.decision], [200, "reject"]);
        assert.equal((await finished(m, execution)).status, "FAILED");
        await assertEndedTrue(m, releaseId, "FAILED", ["ap-g Skipped"]);
        assert.equal((await recordOf(m, releaseId)).release?.errorName, "ApprovalRejected");
        assert.equal(m.codepipeline.executions("ap-g").length, 0);
      });
    });

    /** The start in the pipeline-event function: the claim's takeover, the schedule's record, the execution's link. */
    const START_WRITES = 3;
    for (let k = 0; k <= START_WRITES; k += 1) {
      it(`starts an approved pipeline once when its start died after write ${k} of ${START_WRITES}, through a repeated approval or the reconciler`, async () => {
        await withMachine(PIPES, async (m) => {
          const { releaseId, execution } = await gatedRelease(m, `ap-start-${k}`);
          const crash = crashAfterWrites(m.functionDeps("pipelineEvent").execution, k);
          const answer = await decide(m, releaseId, "ap-g", "approve");
          assert.deepEqual([answer.status, answer.json.status], [200, "Starting"]);
          await m.router.idle();
          crash.restore();
          // Repeated: handed off again while the approval's own claim stands; else 409, and the
          // claim is the reconciler's once it expired.
          const again = await decide(m, releaseId, "ap-g", "approve");
          assert.equal(again.status, k === 0 ? 200 : 409, JSON.stringify(again.json));
          await m.router.idle();
          await reconcileLater(m);
          await driveTo(m, releaseId, PIPES, "SUCCEEDED");
          assert.equal((await finished(m, execution)).status, "SUCCEEDED");
          await assertEndedTrue(m, releaseId, "SUCCEEDED", ["ap-g Succeeded"]);
          assert.equal(m.codepipeline.executions("ap-g").length, 1, "one start: the same clientRequestToken");
        });
      });
    }
  });
});
