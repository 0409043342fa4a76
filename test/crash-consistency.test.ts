/**
 * Crash consistency (issue 18 C.2, C.3, C.6; docs/architecture.md, "Crash consistency"): a
 * function killed at each DynamoDB write of registration, retry, cancel and approval, on local
 * mode, and then the recovery the design names (the repeated request, the workflow's Catch, the
 * reconciler). Each ends with the release recoverable and its record true: its status, its
 * pipeline count against its schedule, and the retry or cancel carried out. The crash is injected
 * from outside, on the dying function's own clients (test/crash-injection.ts).
 */
import assert from "node:assert/strict";
import type { ControlDeps } from "../handlers/release-control";
import { releaseControlApi } from "../handlers/release-control";
import type { RegisterReleaseRequest } from "../handlers/release/registration";
import { registerRelease } from "../handlers/release/registration";
import { resumeStuckStarts, STUCK_START_SECONDS } from "../handlers/release/progress";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalExecution } from "../local/engine";
import type { LocalReleaseMachine } from "../local/release-machine";
import { LOCAL_STATE_MACHINE_ARN } from "../local/local-names";
import { crashAfterWrites } from "./crash-injection";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";

const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:iam::123456789012:user/bob";


const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

const withMachine = (pipelines: string[], body: (m: LocalReleaseMachine) => Promise<void>) =>
  withLocalMachine({ pipelines: pipelines.map(manual) }, body);

const submit = (m: LocalReleaseMachine, manifest: object): LocalExecution =>
  m.start({ source: "api", body: JSON.stringify(manifest), submittedBy: ALICE });

/** The release control function's own deps: its clients, under its role. */
function controlDeps(m: LocalReleaseMachine): ControlDeps {
  const own = m.functionDeps("releaseControl");
  return { ...own.execution, ...own.control };
}

type Answer = { status: number; json: Record<string, unknown> };

async function control(
  m: LocalReleaseMachine,
  route: string,
  path: Record<string, string>,
  body: object,
  by: string,
): Promise<Answer> {
  const answer = await releaseControlApi(controlDeps(m), {
    resource: route,
    httpMethod: "POST",
    pathParameters: path,
    body: JSON.stringify(body),
    requestContext: { identity: { userArn: by } },
  });
  return { status: answer.statusCode, json: JSON.parse(answer.body) as Record<string, unknown> };
}

const cancel = (m: LocalReleaseMachine, releaseId: string, by = BOB) =>
  control(m, "/releases/{releaseId}/cancel", { releaseId }, {}, by);
const retry = (m: LocalReleaseMachine, releaseId: string, by = BOB) =>
  control(m, "/releases/{releaseId}/retry", { releaseId }, {}, by);
const decide = (
  m: LocalReleaseMachine,
  releaseId: string,
  pipeline: string,
  decision: "approve" | "reject",
  by = BOB,
) => control(m, "/releases/{releaseId}/approvals/{pipeline}", { releaseId, pipeline }, { decision }, by);

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
  await until(`release ${releaseId} to be ${status}`, async () => {
    await endRunning(m, pipelines);
    await m.reconcile();
    await m.router.idle();
    return (await readReleaseItem(m.deps, releaseId))?.status === status ? true : undefined;
  });
}

/** The execution a control answer started. */
function executionOf(m: LocalReleaseMachine, answer: Answer): LocalExecution {
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
});
