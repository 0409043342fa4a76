/**
 * End to end on the local engine and the CodePipeline stand-in: an execution resumed outside the
 * release with RetryStageExecution (as a person does from the console or the AWS CLI) emits
 * RESUMED under the same execution id and ends again. While the release is open its new end
 * counts; after the release's outcome it is recorded and announced, and the outcome stays.
 * Pipelines here run until the test ends them (`finish()`), so nothing depends on timing.
 */
import assert from "node:assert/strict";
import { RetryStageExecutionCommand } from "@aws-sdk/client-codepipeline";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import type { PipelineItem, ReleaseItem } from "../contract/lifecycle";
import type { ExecutionItem } from "../handlers/executions";
import { handlePipelineEvent, reconcile } from "../handlers/pipeline-events";
import type { ExecutionRecord, LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { finished, newReleaseId, singleAttemptCodePipeline, until, withLocalMachine } from "./local-helpers";

/** One stage, run until the test ends it: a failure fails its one action, which a retry runs again. */
const byHand = (name: string): LocalPipelineSpec => ({
  name,
  durationMs: null,
  outcome: "Succeeded",
  stages: ["Deploy"],
});

const PIPELINES: LocalPipelineSpec[] = [
  ...["flaky", "steady", "after-flaky"].map(byHand),
  // Its one action is a manual approval: a stop-and-wait keeps it Stopping until abandoned.
  { ...byHand("held"), stages: [{ name: "Deploy", actions: [{ name: "Approve", manualApproval: true }] }] },
];

async function running(m: LocalReleaseMachine, pipeline: string): Promise<ExecutionRecord> {
  return until(`${pipeline} to be running`, () =>
    m.codepipeline.executions(pipeline).find((e) => e.status === "InProgress"),
  );
}

async function end(
  m: LocalReleaseMachine,
  pipeline: string,
  status: "Succeeded" | "Failed",
): Promise<string> {
  const { pipelineExecutionId } = await running(m, pipeline);
  m.codepipeline.finish(pipelineExecutionId, status);
  // Recorded for the release (its end may arrive first): on the execution's item, or, for a first
  // attempt's success, on the schedule alone (marked settled with it); the router's idle then
  // waits for the rest of the handler's work.
  await until(`${pipeline}'s end to be acted on`, async () => {
    const { Item } = await m.deps.ddb.send(
      new GetCommand({ TableName: m.tables.executions, Key: { pipelineExecutionId } }),
    );
    const item = Item as ExecutionItem | undefined;
    if (item?.releaseId === undefined) return false;
    if (item.status === status) return true;
    const scheduled = await m.deps.ddb.send(
      new GetCommand({ TableName: m.tables.releasePipelines, Key: { releaseId: item.releaseId, pipeline } }),
    );
    const schedule = scheduled.Item as PipelineItem | undefined;
    return (
      schedule?.pipelineExecutionId === pipelineExecutionId &&
      schedule.status === status &&
      schedule.settled === true
    );
  });
  await m.router.idle();
  return pipelineExecutionId;
}

/** RetryStageExecution as the console sends it, then every event it caused delivered. */
async function consoleRetry(m: LocalReleaseMachine, pipeline: string, pipelineExecutionId: string) {
  const client = singleAttemptCodePipeline(m.codepipeline.endpoint);
  const answer = await client.send(
    new RetryStageExecutionCommand({
      pipelineName: pipeline,
      stageName: "Deploy",
      pipelineExecutionId,
      retryMode: "FAILED_ACTIONS",
    }),
  );
  assert.equal(answer.pipelineExecutionId, pipelineExecutionId, "the retry resumes the same execution");
  // Acted on: "Pipeline Resumed" is the handler's last step.
  await until(`${pipeline}'s resume to be announced`, () =>
    m.router.published.some(
      (e) => e["detail-type"] === "Pipeline Resumed" && e.detail.pipelineExecutionId === pipelineExecutionId,
    ),
  );
  await m.router.idle();
}

async function releaseItem(m: LocalReleaseMachine, releaseId: string): Promise<ReleaseItem> {
  const { Item } = await m.deps.ddb.send(
    new GetCommand({ TableName: m.tables.releases, Key: { releaseId } }),
  );
  return Item as ReleaseItem;
}

/** The release's "Pipeline Resumed" events, as [pipeline, counts, releaseStatus, resumedBy]. */
const resumedEvents = (m: LocalReleaseMachine, releaseId: string) =>
  m.router.published
    .filter((e) => e["detail-type"] === "Pipeline Resumed" && e.detail.releaseId === releaseId)
    .map((e) => [e.detail.pipeline, e.detail.counts, e.detail.releaseStatus, e.detail.resumedBy]);

const historyOf = async (m: LocalReleaseMachine, releaseId: string, pipeline: string) =>
  (await m.readRelease(releaseId))?.pipelines.find((p) => p.name === pipeline)?.history.map((h) => h.state);

describe("an execution resumed outside the release (RetryStageExecution)", function () {
  this.timeout(20000);

  it("a pipeline that fails and then succeeds on a console retry reads Succeeded and its release succeeds", async () => {
    await withLocalMachine({ pipelines: PIPELINES, workflow: { failurePolicy: "letFinish" } }, async (m) => {
      const releaseId = newReleaseId("resumed");
      const execution = m.submit({ releaseId, pipelines: ["flaky", "steady"] });
      const flaky = await end(m, "flaky", "Failed");
      assert.equal((await m.readRelease(releaseId))?.pipelines[0].status, "Failed");

      await consoleRetry(m, "flaky", flaky);
      const reading = await m.readRelease(releaseId);
      assert.deepEqual(
        reading?.pipelines.map((p) => [p.name, p.status]),
        [
          ["flaky", "InProgress"],
          ["steady", "InProgress"],
        ],
      );
      await end(m, "flaky", "Succeeded");
      await end(m, "steady", "Succeeded");
      const done = await finished(m, execution);

      assert.equal(done.status, "SUCCEEDED", done.cause);
      const release = await m.readRelease(releaseId);
      assert.deepEqual(
        release?.pipelines.map((p) => [p.name, p.status, p.history.map((h) => h.state)]),
        [
          ["flaky", "Succeeded", ["STARTED", "FAILED", "RESUMED", "SUCCEEDED"]],
          ["steady", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ],
      );
      const item = await releaseItem(m, releaseId);
      assert.deepEqual([...(item.resumedPipelines ?? [])], ["flaky"]);
      assert.deepEqual(release?.resumedOutside, { whileRunning: ["flaky"] });
      // A settle may count twice (the start and the event both act on an instant end; completion
      // confirms on the marks, handlers/release/outcome.ts), but the resume's uncount keeps the
      // count at or above the pipelines marked, so the release completed only once both were.
      assert.ok((item.settledCount ?? 0) >= 2, `settledCount ${item.settledCount} covers both pipelines`);
      assert.equal(item.firstFailure, undefined);
      assert.deepEqual(resumedEvents(m, releaseId), [["flaky", true, "RUNNING", "outside the release"]]);
    });
  });

  it("keeps the dependants a failure skipped skipped when the failed pipeline succeeds on a retry, and the release fails", async () => {
    await withLocalMachine({ pipelines: PIPELINES, workflow: { failurePolicy: "letFinish" } }, async (m) => {
      const releaseId = newReleaseId("resumed-harm");
      const execution = m.submit({
        releaseId,
        pipelines: ["flaky", { name: "after-flaky", dependsOn: ["flaky"] }, "steady"],
      });
      const flaky = await end(m, "flaky", "Failed");
      await consoleRetry(m, "flaky", flaky);
      await end(m, "flaky", "Succeeded");
      await end(m, "steady", "Succeeded");
      const done = await finished(m, execution);

      assert.equal(done.status, "FAILED");
      const release = await m.readRelease(releaseId);
      assert.deepEqual(
        release?.pipelines.map((p) => [p.name, p.status]),
        [
          ["flaky", "Succeeded"],
          ["after-flaky", "Skipped"],
          ["steady", "Succeeded"],
        ],
      );
      assert.match(release?.cause ?? "", /Pipeline flaky did not succeed/);
      assert.equal(m.codepipeline.executions("after-flaky").length, 0, "the skipped dependant never starts");
      assert.deepEqual(resumedEvents(m, releaseId), [["flaky", true, "RUNNING", "outside the release"]]);
    });
  });

  it("under stopRemaining, what the failure stopped stays stopped when the failed pipeline succeeds on a retry, and the release fails", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("resumed-stopped");
      const execution = m.submit({ releaseId, pipelines: ["flaky", "held"] });
      await until("held's approval to be open", () =>
        m.router.published.some(
          (e) =>
            e["detail-type"] === "CodePipeline Stage Execution State Change" &&
            e.detail.pipeline === "held" &&
            e.detail.state === "STARTED",
        ),
      );
      const flaky = await end(m, "flaky", "Failed");
      await until("held to be stopping", async () =>
        (await historyOf(m, releaseId, "held"))?.includes("STOPPING"),
      );
      await consoleRetry(m, "flaky", flaky);
      await end(m, "flaky", "Succeeded");
      // The stop-and-wait of held is still pending: the reconciler abandons it past the grace period.
      const pass = await reconcile({
        ...m.functionDeps("reconciler").execution,
        now: () => new Date(Date.now() + 16 * 60_000),
      });
      assert.deepEqual([pass.abandonedStops, pass.failures], [1, []]);
      await finished(m, execution);

      const release = await m.readRelease(releaseId);
      assert.equal(release?.status, "FAILED");
      assert.match(release?.cause ?? "", /Pipeline flaky did not succeed/);
      assert.deepEqual(
        release?.pipelines.map((p) => [p.name, p.status]),
        [
          ["flaky", "Succeeded"],
          ["held", "Stopped"],
        ],
      );
      assert.deepEqual(await historyOf(m, releaseId, "flaky"), ["STARTED", "FAILED", "RESUMED", "SUCCEEDED"]);
      assert.deepEqual(await historyOf(m, releaseId, "held"), [
        "STARTED",
        "STOP_REQUESTED",
        "STOPPING",
        "STOPPED",
        "ABANDONED_AFTER_GRACE",
      ]);
      assert.deepEqual(resumedEvents(m, releaseId), [["flaky", true, "RUNNING", "outside the release"]]);
    });
  });

  it("a retry after the release failed is recorded in history and announced but the outcome stays", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("resumed-late");
      const execution = m.submit({ releaseId, pipelines: ["flaky"] });
      const flaky = await end(m, "flaky", "Failed");
      assert.equal((await finished(m, execution)).status, "FAILED");

      await consoleRetry(m, "flaky", flaky);
      await end(m, "flaky", "Succeeded");

      const release = await m.readRelease(releaseId);
      assert.equal(release?.status, "FAILED");
      assert.equal(release?.pipelines[0].status, "Failed");
      assert.deepEqual(await historyOf(m, releaseId, "flaky"), ["STARTED", "FAILED", "RESUMED", "SUCCEEDED"]);
      const item = await releaseItem(m, releaseId);
      assert.deepEqual([...(item.resumedAfterEnd ?? [])], ["flaky"]);
      assert.deepEqual(release?.resumedOutside, { afterEnd: ["flaky"] });
      assert.equal(item.outcome?.status, "FAILED");
      assert.deepEqual(resumedEvents(m, releaseId), [["flaky", false, "FAILED", "outside the release"]]);
    });
  });

  it("still drops a true duplicate of an end, and a second end of the same attempt", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (m) => {
      const releaseId = newReleaseId("resumed-dup");
      const execution = m.submit({ releaseId, pipelines: ["steady"] });
      const id = await end(m, "steady", "Succeeded");
      await finished(m, execution);
      const detail = { pipeline: "steady", "execution-id": id, "pipeline-execution-attempt": 1 };
      const event = (eventId: string, state: string) => ({
        version: "0",
        id: eventId,
        "detail-type": "CodePipeline Pipeline Execution State Change",
        source: "aws.codepipeline",
        account: "123456789012",
        time: new Date().toISOString(),
        region: "us-east-1",
        resources: [],
        detail: { ...detail, state },
      });
      const deps = m.functionDeps("pipelineEvent").execution;
      const late = await handlePipelineEvent(deps, event("late-failed", "FAILED"));
      assert.equal(late, "duplicate", "a second end of the same attempt is not a new end");
      assert.equal(await handlePipelineEvent(deps, event("late-failed", "FAILED")), "duplicate");
      assert.deepEqual(await historyOf(m, releaseId, "steady"), ["STARTED", "SUCCEEDED"]);
      assert.equal((await m.readRelease(releaseId))?.status, "SUCCEEDED");
    });
  });
});
