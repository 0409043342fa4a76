/**
 * The CodePipeline stand-in on a data folder (local/codepipeline-store.ts): stopped and started
 * again, it answers for the executions it ran as CodePipeline does, and those not ended go on.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  GetPipelineExecutionCommand,
  ListPipelineExecutionsCommand,
  StartPipelineExecutionCommand,
} from "@aws-sdk/client-codepipeline";
import type { PipelineStateChangeEvent, StageStateChangeEvent } from "../contract/pipeline-events";
import {
  type CodePipelineService,
  type LocalPipelineSpec,
  startCodePipelineService,
} from "../local/codepipeline-service";
import { singleAttemptCodePipeline, until } from "./local-helpers";

const PIPELINES: LocalPipelineSpec[] = [
  { name: "quick", durationMs: 20, outcome: "Succeeded" },
  { name: "manual", durationMs: null, outcome: "Succeeded", stages: ["Build", "Approve"] },
  { name: "fails", durationMs: 20, outcome: "Failed", stages: ["Build"] },
];

describe("the CodePipeline stand-in started again on its data folder", function () {
  let dataDir: string;
  let service: CodePipelineService | undefined;
  const events: (PipelineStateChangeEvent | StageStateChangeEvent)[] = [];
  const start = async () =>
    (service = await startCodePipelineService({
      pipelines: PIPELINES,
      onEvent: (event) => events.push(event),
      dataDir,
    }));

  beforeEach(() => {
    dataDir = mkdtempSync(path.join(tmpdir(), "rm-codepipeline-"));
    events.length = 0;
  });
  afterEach(async () => {
    await service?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("answers for an ended execution as it ended, and returns it again for its clientRequestToken", async () => {
    const first = await start();
    const client = singleAttemptCodePipeline(first.endpoint);
    const started = await client.send(
      new StartPipelineExecutionCommand({ name: "fails", clientRequestToken: "release-1-fails-1" }),
    );
    const id = started.pipelineExecutionId ?? "";
    await first.whenEnded(id);
    await first.close();

    const second = await start();
    const again = singleAttemptCodePipeline(second.endpoint);
    const read = await again.send(
      new GetPipelineExecutionCommand({ pipelineName: "fails", pipelineExecutionId: id }),
    );
    assert.equal(read.pipelineExecution?.status, "Failed");
    const repeated = await again.send(
      new StartPipelineExecutionCommand({ name: "fails", clientRequestToken: "release-1-fails-1" }),
    );
    assert.equal(repeated.pipelineExecutionId, id);
    const listed = await again.send(new ListPipelineExecutionsCommand({ pipelineName: "fails" }));
    assert.deepEqual(
      listed.pipelineExecutionSummaries?.map((e) => [e.pipelineExecutionId, e.status]),
      [[id, "Failed"]],
    );
    client.destroy();
    again.destroy();
  });

  it("goes on with an execution that was running, never starting it again: an action without an end stays in progress", async () => {
    const first = await start();
    const client = singleAttemptCodePipeline(first.endpoint);
    const started = await client.send(
      new StartPipelineExecutionCommand({ name: "manual", clientRequestToken: "release-2-manual-1" }),
    );
    const id = started.pipelineExecutionId ?? "";
    // Its own STARTED (and its first stage's) announced before the stop: none may come after.
    await until(
      "its stage to run",
      () =>
        first.executions("manual")[0]?.status === "InProgress" &&
        events.some(
          (e) =>
            e["detail-type"] === "CodePipeline Pipeline Execution State Change" &&
            e.detail.pipeline === "manual" &&
            e.detail.state === "STARTED",
        ) &&
        events.some(
          (e) =>
            e["detail-type"] === "CodePipeline Stage Execution State Change" &&
            e.detail.pipeline === "manual" &&
            e.detail.state === "STARTED",
        ),
    );
    await first.close();
    client.destroy();

    const second = await start();
    assert.equal(second.executions("manual")[0]?.status, "InProgress");
    events.length = 0;
    second.finish(id, "Succeeded");
    const ended = await second.whenEnded(id);
    assert.equal(ended.status, "Succeeded");
    assert.deepEqual(
      events
        .filter((e) => e["detail-type"] === "CodePipeline Pipeline Execution State Change")
        .map((e) => e.detail.state),
      ["SUCCEEDED"],
      "no second STARTED: the execution was never restarted",
    );
  });

  it("ends a run that was still running by its script after the restart, under the same id", async () => {
    const first = await start();
    const client = singleAttemptCodePipeline(first.endpoint);
    const started = await client.send(
      new StartPipelineExecutionCommand({ name: "quick", clientRequestToken: "release-3-quick-1" }),
    );
    const id = started.pipelineExecutionId ?? "";
    await first.close();
    client.destroy();

    const second = await start();
    const ended = await second.whenEnded(id);
    assert.deepEqual([ended.pipelineExecutionId, ended.status], [id, "Succeeded"]);
  });
});
