/**
 * A releaseId whose registration failed for good (FAILED before its schedule was complete, so
 * nothing started) is registered again by the next submission (contract/lifecycle-reregister.ts,
 * handlers/release/reregistration.ts), and that re-registration is as crash consistent as the
 * first (docs/architecture.md, "Crash consistency"): killed at each of its DynamoDB writes, it is
 * completed by the repeat Step Functions makes, or failed for good again and taken by the next
 * submission. Every end is true: the schedule is exactly the last manifest's, no leftover item of
 * the failed registration, and the pipeline count is the schedule's.
 */
import assert from "node:assert/strict";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import type { RegisterReleaseRequest } from "../handlers/release/registration";
import { registerRelease } from "../handlers/release/registration";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import { STUCK_START_SECONDS } from "../handlers/release/progress";
import { resumeStuckStarts } from "../handlers/release/reconcile-schedule";
import type { LocalExecution } from "../local/engine";
import type { LocalReleaseMachine } from "../local/release-machine";
import { LOCAL_STATE_MACHINE_ARN } from "../local/local-names";
import { crashAfterWrites } from "./crash-injection";
import { finished, localPipelines, newReleaseId, until, withLocalMachine } from "./local-helpers";

const ALICE = "arn:aws:iam::123456789012:user/alice";
const PIPES = ["rr-a", "rr-b", "rr-c"];
/** The failed registration's manifest; the next one drops rr-a and reorders the rest. */
const FIRST = ["rr-a", { name: "rr-b", dependsOn: ["rr-a"] }, "rr-c"];
const NEXT = ["rr-c", { name: "rr-b", dependsOn: ["rr-c"] }];

const withMachine = (body: (m: LocalReleaseMachine) => Promise<void>) =>
  withLocalMachine({ pipelines: localPipelines({ "rr-a": null, "rr-b": null, "rr-c": null }) }, body);

const submit = (m: LocalReleaseMachine, manifest: object): LocalExecution =>
  m.start({ source: "api", body: JSON.stringify(manifest), submittedBy: ALICE });

async function recordOf(m: LocalReleaseMachine, releaseId: string) {
  const release = await readReleaseItem(m.deps, releaseId);
  const items = await pipelinesOfRelease(m.deps, releaseId);
  return { release, items, statuses: items.map((i) => `${i.pipeline} ${i.status}`) };
}

/** A release whose registration died after its release and one schedule item: FAILED, schedule pending. */
async function failedForGood(m: LocalReleaseMachine, label: string): Promise<string> {
  const releaseId = newReleaseId(label);
  const crash = crashAfterWrites(m.functionDeps("registerRelease").execution, 2);
  assert.equal((await finished(m, submit(m, { releaseId, pipelines: FIRST }))).status, "FAILED");
  crash.restore();
  const { release, statuses } = await recordOf(m, releaseId);
  assert.equal(release?.status, "FAILED");
  assert.ok(release?.schedulePending, "the release says its schedule is incomplete");
  assert.deepEqual(statuses, ["rr-a Skipped"]);
  return releaseId;
}

/** Ends what runs (the roots, then their dependants) until the release succeeded, and checks its record. */
async function succeedsWithNextSchedule(m: LocalReleaseMachine, releaseId: string) {
  await until(`release ${releaseId} to succeed`, async () => {
    for (const pipeline of PIPES)
      for (const e of m.codepipeline.executions(pipeline))
        if (e.status === "InProgress") m.codepipeline.finish(e.pipelineExecutionId, "Succeeded");
    await m.router.idle();
    await m.reconcile();
    return (await readReleaseItem(m.deps, releaseId))?.outcome;
  });
  const { release, items, statuses } = await recordOf(m, releaseId);
  assert.equal(release?.outcome?.status, "SUCCEEDED");
  assert.equal(release?.schedulePending, undefined);
  assert.equal(release?.replaces, undefined);
  assert.equal(release?.pipelineCount, items.length, "the pipeline count is the schedule's");
  assert.equal(release?.settledCount, 2);
  assert.deepEqual(statuses, ["rr-c Succeeded", "rr-b Succeeded"]);
  // The failed registration's pipeline never ran; the next one's ran once each.
  assert.deepEqual(
    PIPES.map((p) => m.codepipeline.executions(p).length),
    [0, 1, 1],
  );
}

describe("a releaseId registered again after its registration failed for good", function () {
  this.timeout(30000);

  const request = (releaseId: string, name: string): RegisterReleaseRequest => ({
    releaseId,
    executionArn: `${LOCAL_STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${name}`,
    startedAt: new Date().toISOString(),
    source: "api",
    submittedBy: ALICE,
    failurePolicy: "stopRemaining",
    longestPipelineRunSeconds: 3600,
    pipelines: [{ name: "rr-c" }, { name: "rr-b", dependsOn: ["rr-c"] }],
  });
  /**
   * The first registration's write (its condition fails: the release is FAILED), the release
   * again, the leftover's delete, two schedule items, the schedule's completion, and the root's
   * claim, record and link.
   */
  const WRITES = 9;
  /** After these writes, until the schedule's completion, the release is RUNNING with its schedule pending. */
  const [REGISTERED, COMPLETE] = [2, 6];

  it(`writes ${WRITES} times for a release of two pipelines over one leftover item`, async () => {
    await withMachine(async (m) => {
      const releaseId = await failedForGood(m, "rr-count");
      const deps = m.functionDeps("registerRelease").execution;
      const counting = crashAfterWrites(deps, Infinity);
      await registerRelease(deps, request(releaseId, `${releaseId}-again`));
      counting.restore();
      assert.equal(counting.writes(), WRITES);
    });
  });

  it("runs the next submission to success with exactly its manifest's schedule, through the workflow", async () => {
    await withMachine(async (m) => {
      const releaseId = await failedForGood(m, "rr-next");
      const next = submit(m, { releaseId, pipelines: NEXT });
      await succeedsWithNextSchedule(m, releaseId);
      assert.equal((await finished(m, next)).status, "SUCCEEDED");
      const { release } = await recordOf(m, releaseId);
      assert.equal(release?.executionArn, next.executionArn);
      assert.deepEqual(
        [release?.status, release?.attempt, release?.firstFailure],
        ["SUCCEEDED", 1, undefined],
      );
    });
  });

  it("refuses to register again a FAILED release whose pipelines started, whatever its schedule says", async () => {
    await withMachine(async (m) => {
      const releaseId = await failedForGood(m, "rr-ran");
      // As if a pipeline had started: a release that ran is retried, never registered again.
      const [item] = await pipelinesOfRelease(m.deps, releaseId);
      await m.deps.ddb.send(
        new PutCommand({
          TableName: m.deps.tables.releasePipelines,
          Item: { ...item, status: "Failed", pipelineExecutionId: "exec-ran" },
        }),
      );
      const deps = m.functionDeps("registerRelease").execution;
      await assert.rejects(registerRelease(deps, request(releaseId, `${releaseId}-again`)), {
        name: "DuplicateRelease",
      });
      const { release, statuses } = await recordOf(m, releaseId);
      assert.equal(release?.status, "FAILED");
      assert.deepEqual(statuses, ["rr-a Failed"]);
    });
  });

  for (let k = 0; k <= WRITES; k += 1) {
    it(`completes by repeating the registration again after it died after write ${k} of ${WRITES}`, async () => {
      await withMachine(async (m) => {
        const releaseId = await failedForGood(m, `rr-repeat-${k}`);
        const deps = m.functionDeps("registerRelease").execution;
        const crash = crashAfterWrites(deps, k);
        const again = request(releaseId, `${releaseId}-again`);
        await assert.rejects(registerRelease(deps, again), { name: "FunctionDied" });
        crash.restore();
        await m.router.idle();
        const partial = await recordOf(m, releaseId);
        if (k >= REGISTERED && k < COMPLETE) {
          // Registered again and its schedule not yet complete: it says so, and nothing started.
          assert.deepEqual(
            [partial.release?.status, partial.release?.schedulePending],
            ["RUNNING", again.executionArn],
          );
          assert.ok(partial.release?.replaces);
          assert.deepEqual(
            PIPES.map((p) => m.codepipeline.executions(p).length),
            [0, 0, 0],
          );
        }
        // Step Functions retries the task with the same input; the reconciler takes over a
        // start whose claimant died, once its claim expired.
        await registerRelease(deps, again);
        const later = new Date(Date.now() + (STUCK_START_SECONDS + 60) * 1000);
        await resumeStuckStarts({ ...m.functionDeps("reconciler").execution, now: () => later });
        await succeedsWithNextSchedule(m, releaseId);
      });
    });

    it(`records the registration again truly when it died for good after write ${k} of ${WRITES}, and the next submission runs`, async () => {
      await withMachine(async (m) => {
        const releaseId = await failedForGood(m, `rr-fail-${k}`);
        const crash = crashAfterWrites(m.functionDeps("registerRelease").execution, k);
        assert.equal((await finished(m, submit(m, { releaseId, pipelines: NEXT }))).status, "FAILED");
        crash.restore();
        const { release } = await recordOf(m, releaseId);
        assert.equal(release?.status, "FAILED");
        if (release?.schedulePending === undefined) {
          // Its schedule was complete and its root started: a release that ran is retried, not resubmitted.
          assert.ok(k >= COMPLETE, `died after write ${k} with the schedule complete`);
          assert.equal((await finished(m, submit(m, { releaseId, pipelines: NEXT }))).status, "FAILED");
          return;
        }
        const last = submit(m, { releaseId, pipelines: NEXT });
        await succeedsWithNextSchedule(m, releaseId);
        assert.equal((await finished(m, last)).status, "SUCCEEDED");
      });
    });
  }
});
