/**
 * End to end: release control on the local engine and stand-ins: cancel, retry of what did not
 * succeed, approval gates, the release list, and the races between them. The routes run through
 * the same handler as the deployed control Lambda (handlers/release-control.ts), with the caller
 * as API Gateway passes it. Pipelines here never end by themselves: each test ends them with the
 * stand-in's `finish()` and waits for the router to deliver every event, so nothing depends on timing.
 */
import assert from "node:assert/strict";
import { PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { clientRequestToken } from "../contract/manifest";
import { listedShard } from "../contract/tables";
import { approverMatches, listRoute, releaseControlApi } from "../handlers/release-control";
import type { ExecutionRecord, LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalExecution } from "../local/engine";
import { type LocalReleaseMachine, type LocalReleaseMachineOptions } from "../local/release-machine";
import { finished, functionDdbs, newReleaseId, statusesOf, until, withLocalMachine } from "./local-helpers";
import { controlCalls } from "./control-helpers";

type Send = (command: unknown) => Promise<unknown>;

/**
 * Wraps the send of every function's DynamoDB client (each has its own, local/release-machine.ts)
 * with `wrap`, given that client's own send. Returns the restore.
 */
function wrapSends(m: LocalReleaseMachine, wrap: (original: Send) => Send): () => void {
  const restores = functionDdbs(m).map((ddb) => {
    const original = ddb.send.bind(ddb) as Send;
    ddb.send = wrap(original) as unknown as typeof ddb.send;
    return () => {
      ddb.send = original as unknown as typeof ddb.send;
    };
  });
  return () => restores.forEach((restore) => restore());
}

const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });
const ALICE = "arn:aws:iam::123456789012:user/alice";
const BOB = "arn:aws:iam::123456789012:user/bob";
const CAROL = "arn:aws:iam::123456789012:role/release-approvers/carol";

async function withMachine(
  pipelines: string[],
  body: (machine: LocalReleaseMachine) => Promise<void>,
  options: Partial<LocalReleaseMachineOptions> = {},
): Promise<void> {
  return withLocalMachine({ pipelines: pipelines.map(manual), ...options }, body);
}

/** Submits as the API does, on behalf of `by` (the start template's `submittedBy`). */
function submit(machine: LocalReleaseMachine, manifest: object, by = ALICE): LocalExecution {
  return machine.start({ source: "api", body: JSON.stringify(manifest), submittedBy: by });
}

const { cancel, retry, decide } = controlCalls((m) => m.control, BOB);

function executionsOf(machine: LocalReleaseMachine, pipeline: string): ExecutionRecord[] {
  return machine.codepipeline.executions(pipeline);
}

async function running(machine: LocalReleaseMachine, pipeline: string): Promise<ExecutionRecord> {
  return until(`${pipeline} to be running`, () =>
    executionsOf(machine, pipeline).find((e) => e.status === "InProgress"),
  );
}

async function end(machine: LocalReleaseMachine, pipeline: string, status: "Succeeded" | "Failed") {
  machine.codepipeline.finish((await running(machine, pipeline)).pipelineExecutionId, status);
  await machine.router.idle();
}

async function pipelineStatus(machine: LocalReleaseMachine, releaseId: string, pipeline: string) {
  const release = await machine.readRelease(releaseId);
  return release?.pipelines.find((p) => p.name === pipeline)?.status;
}

async function awaiting(machine: LocalReleaseMachine, releaseId: string, pipeline: string): Promise<void> {
  await until(`${pipeline} to await approval`, async () =>
    (await pipelineStatus(machine, releaseId, pipeline)) === "AwaitingApproval" ? true : undefined,
  );
}

/** The release's "Release State Change" events, as [status, causedBy]. */
/** The release's own changes as announced (its pipelines' starts and ends left out). */
function stateChanges(machine: LocalReleaseMachine, releaseId: string): [unknown, unknown][] {
  return machine.router.published
    .filter(
      (e) =>
        e["detail-type"] === "Release State Change" &&
        e.detail.releaseId === releaseId &&
        !String(e.detail.kind).startsWith("pipeline."),
    )
    .map((e) => [e.detail.status, e.detail.causedBy]);
}

/** A release of `pipeline` alone, which ended `status`: its releaseId. */
async function endedAlone(
  m: LocalReleaseMachine,
  label: string,
  pipeline: string,
  status: "Succeeded" | "Failed",
): Promise<string> {
  const releaseId = newReleaseId(label);
  const execution = submit(m, { releaseId, pipelines: [pipeline] });
  await end(m, pipeline, status);
  await finished(m, execution);
  return releaseId;
}

/** Pipelines each depending on the one before it. */
const chain = (...names: string[]) =>
  names.map((name, i) => (i === 0 ? name : { name, dependsOn: [names[i - 1]] }));

describe("release control, end to end on the local engine", function () {
  this.timeout(30000);

  describe("cancel", () => {
    it("stops the running pipeline, skips those not started, starts nothing more and records who cancelled and why", async () => {
      await withMachine(["k-a", "k-b", "k-c"], async (m) => {
        const releaseId = newReleaseId("cancel");
        const execution = submit(m, { releaseId, pipelines: chain("k-a", "k-b", "k-c") });
        const started = await running(m, "k-a");

        const answer = await cancel(m, releaseId, BOB, "wrong build");
        assert.deepEqual(answer, {
          status: 202,
          json: { releaseId, status: "CANCELLING", cancelledBy: BOB },
        });
        const done = await finished(m, execution);

        assert.equal(done.status, "FAILED");
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "CANCELLED");
        assert.equal(release?.error, "ReleaseCancelled");
        assert.equal(release?.cancelledBy, BOB);
        assert.equal(release?.cancelReason, "wrong build");
        assert.deepEqual(statusesOf(release), ["k-a Stopped", "k-b Skipped", "k-c Skipped"]);
        assert.equal(executionsOf(m, "k-a")[0].pipelineExecutionId, started.pipelineExecutionId);
        assert.deepEqual([executionsOf(m, "k-b"), executionsOf(m, "k-c")], [[], []]);
        assert.deepEqual(stateChanges(m, releaseId), [
          ["RUNNING", ALICE],
          ["CANCELLING", BOB],
          ["CANCELLED", BOB],
        ]);
      });
    });

    it("skips every pipeline and starts none when the cancel lands while the schedule is still being written", async () => {
      await withMachine(["k-e", "k-f"], async (m) => {
        const releaseId = newReleaseId("cancel-registering");
        let answer: { status: number; json: Record<string, unknown> } | undefined;
        // The cancel runs just before the schedule's first item is written: the release item exists.
        const restore = wrapSends(m, (original) => async (command: unknown) => {
          if (
            !answer &&
            command instanceof PutCommand &&
            command.input.TableName === m.tables.releasePipelines
          ) {
            answer = await cancel(m, releaseId, BOB, "too early");
          }
          return original(command);
        });
        try {
          const execution = submit(m, { releaseId, pipelines: ["k-e", { name: "k-f", dependsOn: ["k-e"] }] });
          const done = await finished(m, execution);
          assert.equal(done.status, "FAILED");
        } finally {
          restore();
        }
        assert.equal(answer?.status, 202);
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "CANCELLED");
        assert.deepEqual(statusesOf(release), ["k-e Skipped", "k-f Skipped"]);
        assert.deepEqual([executionsOf(m, "k-e"), executionsOf(m, "k-f")], [[], []]);
      });
    });

    it("finishes a cancel whose invocation died after its write when the cancel is asked again, keeping the first canceller", async () => {
      await withMachine(["k-g"], async (m) => {
        const releaseId = newReleaseId("cancel-again");
        const execution = submit(m, { releaseId, pipelines: ["k-g"] });
        await running(m, "k-g");
        // The first cancel's write landed; its invocation died before the stop pass.
        await m.deps.ddb.send(
          new UpdateCommand({
            TableName: m.tables.releases,
            Key: { releaseId },
            UpdateExpression: "SET cancelledBy = :by, cancelReason = :reason, cancelledAt = :at",
            ExpressionAttributeValues: { ":by": CAROL, ":reason": "first", ":at": new Date().toISOString() },
          }),
        );
        assert.equal((await m.readRelease(releaseId))?.status, "CANCELLING");

        const again = await cancel(m, releaseId, BOB, "second");
        assert.deepEqual(again, {
          status: 202,
          json: { releaseId, status: "CANCELLING", cancelledBy: CAROL },
        });
        await finished(m, execution);
        const release = await m.readRelease(releaseId);
        assert.deepEqual(
          [release?.status, release?.cancelledBy, release?.cancelReason, release?.pipelines[0].status],
          ["CANCELLED", CAROL, "first", "Stopped"],
        );
      });
    });

    it("answers 409 for a release that already ended and 404 for an unknown one, changing nothing", async () => {
      await withMachine(["k-d"], async (m) => {
        const releaseId = await endedAlone(m, "cancel-ended", "k-d", "Succeeded");

        const late = await cancel(m, releaseId);
        assert.equal(late.status, 409);
        assert.equal(late.json.error, "ReleaseNotRunning");
        assert.match(String(late.json.message), /is SUCCEEDED/);
        assert.equal((await m.readRelease(releaseId))?.status, "SUCCEEDED");
        assert.equal((await m.readRelease(releaseId))?.cancelledBy, undefined);
        assert.deepEqual((await cancel(m, "no-such-release")).status, 404);
      });
    });

    it("leaves exactly one final status, agreeing with the cancel's answer, when a cancel races the last pipeline's end", async () => {
      await withMachine(["k-race"], async (m) => {
        for (let round = 0; round < 8; round += 1) {
          const releaseId = newReleaseId("cancel-race");
          const execution = submit(m, { releaseId, pipelines: ["k-race"] });
          const pipeline = await running(m, "k-race");
          // Both at once: the stand-in's end (and the event handler acting on it) and the cancel.
          const [answer] = await Promise.all([
            cancel(m, releaseId),
            Promise.resolve().then(() => m.codepipeline.finish(pipeline.pipelineExecutionId, "Succeeded")),
          ]);
          const done = await finished(m, execution);
          const release = await m.readRelease(releaseId);
          const finals = stateChanges(m, releaseId)
            .map(([status]) => status)
            .filter((s) => s === "SUCCEEDED" || s === "CANCELLED");
          const expected = answer.status === 202 ? "CANCELLED" : "SUCCEEDED";
          assert.ok([202, 409].includes(answer.status), JSON.stringify(answer));
          assert.equal(release?.status, expected, `round ${round}: cancel answered ${answer.status}`);
          assert.deepEqual(finals, [expected], `round ${round}: one final event`);
          assert.equal(done.status, expected === "SUCCEEDED" ? "SUCCEEDED" : "FAILED");
        }
      });
    });
  });

  describe("the release's own wait failing", () => {
    it("stops what runs and publishes FAILED with the wait's error, caused by the release machine", async () => {
      const broken = new Error("the wait could not be registered");
      broken.name = "WaitBroken";
      await withMachine(
        ["w-a", "w-b"],
        async (m) => {
          const releaseId = newReleaseId("wait-failed");
          const execution = submit(m, { releaseId, pipelines: ["w-a", { name: "w-b", dependsOn: ["w-a"] }] });
          const done = await finished(m, execution);
          assert.equal(done.status, "FAILED");
          await until("w-a to stop", () => executionsOf(m, "w-a").find((e) => e.status === "Stopped"));
          const release = await m.readRelease(releaseId);
          assert.equal(release?.status, "FAILED");
          assert.equal(release?.error, "WaitBroken");
          assert.equal(await pipelineStatus(m, releaseId, "w-b"), "Skipped");
          const failed = m.router.published.find(
            (e) =>
              e["detail-type"] === "Release State Change" &&
              e.detail.releaseId === releaseId &&
              e.detail.status === "FAILED",
          );
          assert.equal(failed?.detail.error, "WaitBroken");
          assert.equal(failed?.detail.causedBy, "release-machine");
        },
        {
          interceptFunction: async (name, payload, invoke) => {
            if (name === "awaitRelease") throw broken;
            return invoke(payload);
          },
        },
      );
    });
  });

  describe("cancel racing the natural end, each order forced", () => {
    /**
     * Runs `act` once, just before (or just after) the scheduler writes the release's outcome, by
     * wrapping the machine's DynamoDB client: the one place the two can meet. More than one
     * settle may try to write the outcome (the last pipeline's and the wait's, when it registers
     * after everything settled): every outcome write waits for `act`, so "before" holds for all.
     */
    function aroundOutcomeWrite(m: LocalReleaseMachine, when: "before" | "after", act: () => Promise<void>) {
      let acting: Promise<void> | undefined;
      const restore = wrapSends(m, (original) => async (command: unknown) => {
        const outcome =
          command instanceof UpdateCommand && command.input.UpdateExpression === "SET #outcome = :outcome";
        if (!outcome) return original(command);
        const first = acting === undefined;
        if (when === "before") {
          acting ??= act();
          await acting;
          return original(command);
        }
        const result = await original(command);
        if (first) acting = act();
        await acting;
        return result;
      });
      return { fired: () => acting !== undefined, restore };
    }

    for (const [when, answer, final] of [
      ["before", 202, "CANCELLED"],
      ["after", 409, "SUCCEEDED"],
    ] as const) {
      it(`answers ${answer} and ends ${final} when the cancel lands just ${when} the outcome is written`, async () => {
        await withMachine(["k-forced"], async (m) => {
          const releaseId = newReleaseId(`cancel-${when}`);
          const execution = submit(m, { releaseId, pipelines: ["k-forced"] });
          await running(m, "k-forced");
          let cancelled: { status: number; json: Record<string, unknown> } | undefined;
          const race = aroundOutcomeWrite(m, when, async () => {
            cancelled = await cancel(m, releaseId);
          });
          try {
            await end(m, "k-forced", "Succeeded");
            const done = await finished(m, execution);
            assert.ok(race.fired(), "the cancel ran at the outcome's write");
            assert.equal(cancelled?.status, answer, JSON.stringify(cancelled?.json));
            assert.equal(done.status, final === "SUCCEEDED" ? "SUCCEEDED" : "FAILED");
          } finally {
            race.restore();
          }
          const release = await m.readRelease(releaseId);
          assert.equal(release?.status, final);
          assert.equal(await pipelineStatus(m, releaseId, "k-forced"), "Succeeded");
          const finals = stateChanges(m, releaseId).filter(([s]) => s === "SUCCEEDED" || s === "CANCELLED");
          assert.deepEqual(
            finals.map(([s]) => s),
            [final],
          );
        });
      });
    }
  });

  describe("retry", () => {
    it("starts attempt 2 with only the pipelines that did not succeed, keeping the succeeded one's execution", async () => {
      await withMachine(["r-a", "r-b", "r-c"], async (m) => {
        const releaseId = newReleaseId("retry");
        const first = submit(m, { releaseId, pipelines: chain("r-a", "r-b", "r-c") });
        await end(m, "r-a", "Succeeded");
        await end(m, "r-b", "Failed");
        await finished(m, first);
        const failed = await m.readRelease(releaseId);
        assert.equal(failed?.status, "FAILED");
        const aExecution = failed?.pipelines[0].pipelineExecutionId;

        const answer = await retry(m, releaseId, CAROL);
        assert.equal(answer.status, 202, JSON.stringify(answer.json));
        assert.equal(answer.json.attempt, 2);
        assert.match(String(answer.json.executionArn), /:retry-2-[0-9a-f]{48}$/);
        const second = m.engine.describeExecution(String(answer.json.executionArn));
        assert.ok(second, "the retry started an execution of the workflow");

        await until("r-b's second execution", () => executionsOf(m, "r-b").length === 2);
        const restarted = executionsOf(m, "r-b").find((e) => e.status === "InProgress");
        assert.equal(restarted?.clientRequestToken, clientRequestToken(releaseId, "r-b", 2));
        assert.notEqual(restarted?.clientRequestToken, clientRequestToken(releaseId, "r-b", 1));
        assert.equal(executionsOf(m, "r-a").length, 1, "r-a, which succeeded, is not started again");

        const whileRunning = await retry(m, releaseId);
        assert.deepEqual([whileRunning.status, whileRunning.json.error], [409, "ReleaseNotRetryable"]);

        await end(m, "r-b", "Succeeded");
        await end(m, "r-c", "Succeeded");
        const done = await finished(m, second);
        assert.equal(done.status, "SUCCEEDED");
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "SUCCEEDED");
        assert.equal(release?.attempt, 2);
        assert.equal(release?.retriedBy, CAROL);
        assert.deepEqual(
          release?.pipelines.map((p) => [p.name, p.status, p.attempt]),
          [
            ["r-a", "Succeeded", 1],
            ["r-b", "Succeeded", 2],
            ["r-c", "Succeeded", 2],
          ],
        );
        assert.equal(release?.pipelines[0].pipelineExecutionId, aExecution);
        assert.equal(release?.pipelines[1].pipelineExecutionId, restarted?.pipelineExecutionId);

        const afterSuccess = await retry(m, releaseId);
        assert.equal(afterSuccess.status, 409);
        assert.match(String(afterSuccess.json.message), /it succeeded/);
        assert.deepEqual(stateChanges(m, releaseId), [
          ["RUNNING", ALICE],
          ["FAILED", "release-machine"],
          ["RUNNING", CAROL],
          ["SUCCEEDED", ALICE],
        ]);
      });
    });

    it("retries a cancelled release: what was stopped or skipped runs again", async () => {
      await withMachine(["r-d", "r-e"], async (m) => {
        const releaseId = newReleaseId("retry-cancelled");
        const first = submit(m, { releaseId, pipelines: ["r-d", { name: "r-e", dependsOn: ["r-d"] }] });
        await running(m, "r-d");
        await cancel(m, releaseId);
        await finished(m, first);
        assert.equal((await m.readRelease(releaseId))?.status, "CANCELLED");

        const answer = await retry(m, releaseId);
        assert.equal(answer.status, 202);
        const second = await until("r-d's second execution", () => executionsOf(m, "r-d")[1]);
        // The scheduler records the start after CodePipeline answered: wait for that record.
        await until(
          "the second start to be recorded",
          async () =>
            (await m.readRelease(releaseId))?.pipelines[0].pipelineExecutionId === second.pipelineExecutionId,
        );
        await m.router.idle();
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "RUNNING");
        assert.equal(release?.cancelledBy, undefined, "the cancel belonged to attempt 1");
        assert.deepEqual(statusesOf(release), ["r-d InProgress", "r-e Pending"]);
        await end(m, "r-d", "Succeeded");
        await end(m, "r-e", "Succeeded");
        await until("the release to succeed", async () =>
          (await m.readRelease(releaseId))?.status === "SUCCEEDED" ? true : undefined,
        );
      });
    });

    it("starts one attempt 2 for two racing retries: the first recorded decides, the other is answered with its execution or 409", async () => {
      await withMachine(["r-f"], async (m) => {
        const releaseId = await endedAlone(m, "retry-race", "r-f", "Failed");
        const answers = await Promise.all([retry(m, releaseId, BOB), retry(m, releaseId, CAROL)]);
        const accepted = answers.filter((a) => a.status === 202);
        assert.ok(accepted.length >= 1, JSON.stringify(answers));
        assert.equal(new Set(accepted.map((a) => a.json.executionArn)).size, 1, "one execution");
        for (const refused of answers.filter((a) => a.status !== 202))
          assert.deepEqual([refused.status, refused.json.error], [409, "RetryAlreadyStarted"]);
        const second = m.engine.describeExecution(String(accepted[0].json.executionArn));
        assert.ok(second, "the winning retry's execution");
        await end(m, "r-f", "Succeeded");
        assert.equal((await finished(m, second)).status, "SUCCEEDED");
        assert.equal(executionsOf(m, "r-f").length, 2, "one execution per attempt");
        // Whoever's decision was recorded first is the attempt's requester, whichever call started it.
        const decided = await m.readRelease(releaseId);
        assert.ok([BOB, CAROL].includes(String(decided?.retriedBy)), String(decided?.retriedBy));
      });
    });
  });

  describe("approval gates", () => {
    it("holds a gated pipeline AwaitingApproval once its dependency succeeded, announces it, and starts it when a second person approves", async () => {
      await withMachine(["g-build", "g-prod"], async (m) => {
        const releaseId = newReleaseId("gate");
        const execution = submit(m, {
          releaseId,
          pipelines: ["g-build", { name: "g-prod", dependsOn: ["g-build"], approval: { timeoutHours: 4 } }],
        });
        await end(m, "g-build", "Succeeded");
        await awaiting(m, releaseId, "g-prod");
        assert.deepEqual(executionsOf(m, "g-prod"), []);
        const approvalRequests = () =>
          m.router.published.filter(
            (e) => e["detail-type"] === "Release Approval Requested" && e.detail.releaseId === releaseId,
          );
        // The gate is announced after its status is written, by the workflow's own invocation.
        const requested = await until("the gate to be announced", () =>
          approvalRequests().length > 0 ? approvalRequests() : undefined,
        );
        assert.equal(requested[0].detail.pipeline, "g-prod");
        assert.equal(requested[0].detail.submittedBy, ALICE);
        assert.ok(!JSON.stringify(requested[0].detail).toLowerCase().includes("token"));

        const own = await decide(m, releaseId, "g-prod", "approve", ALICE);
        assert.deepEqual([own.status, own.json.error], [403, "SelfApprovalNotAllowed"]);
        assert.equal(await pipelineStatus(m, releaseId, "g-prod"), "AwaitingApproval");

        const approved = await decide(m, releaseId, "g-prod", "approve", BOB, "ship it");
        assert.equal(approved.status, 200, JSON.stringify(approved.json));
        assert.deepEqual(approved.json, {
          releaseId,
          pipeline: "g-prod",
          decision: "approve",
          decidedBy: BOB,
          status: "Starting",
        });
        await end(m, "g-prod", "Succeeded");
        const done = await finished(m, execution);
        assert.equal(done.status, "SUCCEEDED");
        assert.equal(approvalRequests().length, 1, "the gate was announced once");
        const release = await m.readRelease(releaseId);
        const gate = release?.pipelines.find((p) => p.name === "g-prod")?.approval;
        assert.equal(gate?.decision, "approve");
        assert.equal(gate?.decidedBy, BOB);
        assert.equal(gate?.comment, "ship it");
        assert.equal(gate?.timeoutHours, 4);
        assert.ok(!JSON.stringify(release).toLowerCase().includes("token"), "no task token reaches clients");
      });
    });

    it("fails the release ApprovalRejected when the gate is rejected, starting nothing more", async () => {
      await withMachine(["g-a", "g-b", "g-c"], async (m) => {
        const releaseId = newReleaseId("gate-reject");
        const execution = submit(m, {
          releaseId,
          pipelines: [{ name: "g-a", approval: true }, { name: "g-b", dependsOn: ["g-a"] }, "g-c"],
        });
        await awaiting(m, releaseId, "g-a");
        const rejected = await decide(m, releaseId, "g-a", "reject", BOB, "not today");
        assert.equal(rejected.status, 200);
        await end(m, "g-c", "Succeeded");
        await finished(m, execution);
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "FAILED");
        assert.equal(release?.error, "ApprovalRejected");
        assert.match(release?.cause ?? "", /approval of g-a was rejected by .*bob: not today/);
        assert.deepEqual(statusesOf(release), ["g-a Skipped", "g-b Skipped", "g-c Succeeded"]);
        assert.deepEqual([executionsOf(m, "g-a"), executionsOf(m, "g-b")], [[], []]);
        assert.deepEqual(stateChanges(m, releaseId).at(-1), ["FAILED", BOB]);
      });
    });

    it("lets exactly one of two concurrent decisions win; the other gets 409 and the pipeline starts once", async () => {
      await withMachine(["g-x"], async (m) => {
        const releaseId = newReleaseId("gate-race");
        submit(m, { releaseId, pipelines: [{ name: "g-x", approval: true }] });
        await awaiting(m, releaseId, "g-x");
        const answers = await Promise.all([
          decide(m, releaseId, "g-x", "approve", BOB),
          decide(m, releaseId, "g-x", "reject", CAROL),
        ]);
        assert.deepEqual(answers.map((a) => a.status).sort(), [200, 409]);
        const loser = answers.find((a) => a.status === 409);
        assert.equal(loser?.json.error, "GateNotAwaiting");
        await m.router.idle();
        const winner = answers.find((a) => a.status === 200)?.json.decision;
        assert.equal(executionsOf(m, "g-x").length, winner === "approve" ? 1 : 0);
      });
    });

    it("answers 409 to an approval arriving after the release was cancelled, and starts nothing", async () => {
      await withMachine(["g-y"], async (m) => {
        const releaseId = newReleaseId("gate-cancelled");
        const execution = submit(m, { releaseId, pipelines: [{ name: "g-y", approval: true }] });
        await awaiting(m, releaseId, "g-y");
        assert.equal((await cancel(m, releaseId)).status, 202);
        const late = await decide(m, releaseId, "g-y", "approve", CAROL);
        assert.equal(late.status, 409);
        await finished(m, execution);
        assert.equal((await m.readRelease(releaseId))?.status, "CANCELLED");
        assert.equal(await pipelineStatus(m, releaseId, "g-y"), "Skipped");
        assert.deepEqual(executionsOf(m, "g-y"), []);
      });
    });

    it("refuses a caller outside the gate's approvers with 403, and accepts one matching a pattern", async () => {
      await withMachine(["g-z"], async (m) => {
        const releaseId = newReleaseId("gate-approvers");
        submit(m, {
          releaseId,
          pipelines: [
            { name: "g-z", approval: { approvers: ["arn:aws:iam::123456789012:role/release-approvers/*"] } },
          ],
        });
        await awaiting(m, releaseId, "g-z");
        const outsider = await decide(m, releaseId, "g-z", "approve", BOB);
        assert.deepEqual([outsider.status, outsider.json.error], [403, "NotAnApprover"]);
        const approver = await decide(m, releaseId, "g-z", "approve", CAROL);
        assert.equal(approver.status, 200);
        await running(m, "g-z");
      });
    });

    it("lets the submitter approve their own release when the stack allows it", async () => {
      await withMachine(
        ["g-self"],
        async (m) => {
          const releaseId = newReleaseId("gate-self");
          submit(m, { releaseId, pipelines: [{ name: "g-self", approval: true }] });
          await awaiting(m, releaseId, "g-self");
          assert.equal((await decide(m, releaseId, "g-self", "approve", ALICE)).status, 200);
          await running(m, "g-self");
        },
        { allowSelfApproval: true },
      );
    });

    it("finishes a rejection whose invocation died after closing the gate, through the reconciler", async () => {
      await withMachine(["g-died"], async (m) => {
        const releaseId = newReleaseId("gate-reject-died");
        const execution = submit(m, { releaseId, pipelines: [{ name: "g-died", approval: true }] });
        await awaiting(m, releaseId, "g-died");
        // The rejection's write landed; its invocation died before halting the release.
        await m.deps.ddb.send(
          new UpdateCommand({
            TableName: m.tables.releasePipelines,
            Key: { releaseId, pipeline: "g-died" },
            UpdateExpression:
              "SET #status = :skipped, decision = :reject, decidedBy = :by, decidedAt = :at, cause = :cause",
            ExpressionAttributeNames: { "#status": "status" },
            ExpressionAttributeValues: {
              ":skipped": "Skipped",
              ":reject": "reject",
              ":by": BOB,
              ":at": new Date().toISOString(),
              ":cause": `The approval of g-died was rejected by ${BOB}`,
            },
          }),
        );
        const report = await m.reconcile();
        assert.deepEqual([report.failures, report.expiredGates], [[], 0]);
        await finished(m, execution);
        const release = await m.readRelease(releaseId);
        assert.deepEqual([release?.status, release?.error], ["FAILED", "ApprovalRejected"]);
        assert.equal(release?.pipelines[0].approval?.deadlineAt, undefined, "the gate left the index");
        assert.deepEqual(stateChanges(m, releaseId).at(-1), ["FAILED", BOB]);
      });
    });

    it("fails the release ApprovalExpired when the reconciler finds the gate past its deadline", async () => {
      await withMachine(["g-late"], async (m) => {
        const releaseId = newReleaseId("gate-expired");
        const execution = submit(m, {
          releaseId,
          pipelines: [{ name: "g-late", approval: { timeoutHours: 1 } }],
        });
        await awaiting(m, releaseId, "g-late");
        // An hour later, as the reconciler sees it: the deadline moved into the past.
        await m.deps.ddb.send(
          new UpdateCommand({
            TableName: m.tables.releasePipelines,
            Key: { releaseId, pipeline: "g-late" },
            UpdateExpression: "SET approvalDeadlineAt = :past",
            ExpressionAttributeValues: { ":past": "2000-01-01T00:00:00.000Z" },
          }),
        );
        const report = await m.reconcile();
        assert.equal(report.expiredGates, 1);
        await finished(m, execution);
        const release = await m.readRelease(releaseId);
        assert.equal(release?.status, "FAILED");
        assert.equal(release?.error, "ApprovalExpired");
        const gate = release?.pipelines[0];
        assert.deepEqual([gate?.status, gate?.approval?.decision], ["Skipped", "expired"]);
        // Announced once, as the family's gate.expired, before the release's release.failed.
        const kinds = m.router.published
          .filter((e) => e.detail.releaseId === releaseId && e["detail-type"] === "Release State Change")
          .map((e) => e.detail.kind);
        assert.deepEqual(
          kinds.filter((k) => k === "gate.expired" || k === "release.failed"),
          ["gate.expired", "release.failed"],
        );
        const late = await decide(m, releaseId, "g-late", "approve", BOB);
        assert.equal(late.status, 409);
      });
    });
  });

  describe("the release list", () => {
    it("lists releases newest first, page by page, and by status, with who submitted each", async () => {
      await withMachine(["l-a"], async (m) => {
        const ids: string[] = [];
        for (const by of [ALICE, BOB, CAROL]) {
          const releaseId = newReleaseId("list");
          ids.push(releaseId);
          const execution = submit(m, { releaseId, pipelines: ["l-a"] }, by);
          await end(m, "l-a", by === BOB ? "Failed" : "Succeeded");
          await finished(m, execution);
        }
        const list = async (query: Record<string, string>) => {
          const answer = await releaseControlApi(m.control, {
            resource: "/releases",
            httpMethod: "GET",
            queryStringParameters: query,
          });
          return { status: answer.statusCode, json: JSON.parse(answer.body) as Record<string, unknown> };
        };
        const first = await list({ limit: "2" });
        assert.equal(first.status, 200);
        const page1 = first.json.releases as { releaseId: string; submittedBy: string; status: string }[];
        assert.deepEqual(
          page1.map((r) => [r.releaseId, r.submittedBy, r.status]),
          [
            [ids[2], CAROL, "SUCCEEDED"],
            [ids[1], BOB, "FAILED"],
          ],
        );
        assert.equal(typeof first.json.nextToken, "string");
        const second = await list({ limit: "2", nextToken: String(first.json.nextToken) });
        const page2 = second.json.releases as { releaseId: string }[];
        assert.deepEqual(
          page2.map((r) => r.releaseId),
          [ids[0]],
        );
        const failed = await list({ status: "FAILED" });
        assert.deepEqual(
          (failed.json.releases as { releaseId: string }[]).map((r) => r.releaseId),
          [ids[1]],
        );
      });
    });

    it("merges the newest index's shards newest first, every release once, across pages", async () => {
      await withMachine(["l-a"], async (m) => {
        const base = Date.parse("2030-01-01T00:00:00.000Z");
        const ids = Array.from({ length: 23 }, (_, i) => `shard-${i}-${newReleaseId("s")}`);
        for (const [i, releaseId] of ids.entries()) {
          await m.deps.ddb.send(
            new PutCommand({
              TableName: m.tables.releases,
              Item: {
                releaseId,
                status: "SUCCEEDED",
                listed: listedShard(releaseId),
                startedAt: new Date(base + i * 1000).toISOString(),
                attempt: 1,
                executionArn: "arn:aws:states:us-east-1:000000000000:execution:m:x",
                settledCount: 1,
              },
            }),
          );
        }
        assert.ok(new Set(ids.map(listedShard)).size >= 4, "the releases spread over several shards");
        // The index holds the listing fields only, locally as on AWS (INCLUDE projection).
        const { Items = [] } = await m.deps.ddb.send(
          new QueryCommand({
            TableName: m.tables.releases,
            IndexName: "newest",
            KeyConditionExpression: "listed = :shard",
            ExpressionAttributeValues: { ":shard": listedShard(ids[0]) },
          }),
        );
        const entry = Items.find((i) => i.releaseId === ids[0]);
        assert.deepEqual(Object.keys(entry ?? {}).sort(), [
          "attempt",
          "listed",
          "releaseId",
          "startedAt",
          "status",
        ]);
        const seen: { releaseId: string; startedAt: string }[] = [];
        let nextToken: string | undefined;
        let pages = 0;
        do {
          const page = await listRoute(m.control, { limit: "4", ...(nextToken ? { nextToken } : {}) });
          assert.ok(page.releases.length <= 4);
          seen.push(...page.releases.map((r) => ({ releaseId: r.releaseId, startedAt: r.startedAt ?? "" })));
          nextToken = page.nextToken;
          pages += 1;
        } while (nextToken && pages < 50);
        assert.equal(nextToken, undefined, "the listing ends");
        const starts = seen.map((r) => r.startedAt);
        assert.deepEqual(starts, [...starts].sort().reverse(), "newest first across pages");
        assert.equal(new Set(seen.map((r) => r.releaseId)).size, seen.length, "each release once");
        assert.deepEqual(
          seen.map((r) => r.releaseId).filter((id) => ids.includes(id)),
          [...ids].reverse(),
        );
      });
    });

    it("refuses a nextToken naming a shard the listing does not have", async () => {
      await withMachine(["l-a"], async (m) => {
        const token = Buffer.from(JSON.stringify({ elsewhere: "start" })).toString("base64url");
        await assert.rejects(listRoute(m.control, { nextToken: token }), { name: "InvalidNextToken" });
      });
    });
  });
});

describe("approver patterns", () => {
  it("matches `*` as any run of characters and every other character literally, case-sensitively", () => {
    const pattern = "arn:aws:sts::123456789012:assumed-role/release-approvers/*";
    assert.equal(
      approverMatches(pattern, "arn:aws:sts::123456789012:assumed-role/release-approvers/carol"),
      true,
    );
    assert.equal(
      approverMatches(pattern, "arn:aws:sts::123456789012:assumed-role/release-approvers-x/carol"),
      false,
    );
    assert.equal(
      approverMatches(pattern, "arn:aws:sts::123456789012:assumed-role/Release-Approvers/carol"),
      false,
    );
    assert.equal(approverMatches("arn:aws:iam::1:user/a.b+c", "arn:aws:iam::1:user/aXb+c"), false);
    assert.equal(approverMatches("arn:aws:iam::1:user/a.b+c", "arn:aws:iam::1:user/a.b+c"), true);
    assert.equal(approverMatches("local-user", "local-user"), true);
  });
});
