/**
 * describePipelineFailure (handlers/failure-cause.ts) against the local CodePipeline stand-in,
 * through the real CodePipelineClient: the words a failed release's cause will carry.
 */
import assert from "node:assert/strict";
import {
  CodePipelineClient,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
} from "@aws-sdk/client-codepipeline";
import { describePipelineFailure } from "../handlers/failure-cause";
import { type CodePipelineService, startCodePipelineService } from "../local/codepipeline-service";
import { singleAttemptCodePipeline } from "./local-helpers";

describe("describePipelineFailure", () => {
  let service: CodePipelineService;
  let client: CodePipelineClient;

  before(async () => {
    service = await startCodePipelineService({
      pipelines: [
        {
          name: "svc-a",
          durationMs: 0,
          outcome: "Failed",
          stages: ["Source", { name: "Deploy", actions: ["DeployApp", "DeployDb"] }, "Verify"],
          failure: {
            stage: "Deploy",
            action: "DeployApp",
            message: "Health check failed\n  on 2 of 3 hosts",
          },
        },
        { name: "svc-b", durationMs: 0, outcome: "Failed", stages: ["Build", "Test"] },
        { name: "svc-flat", durationMs: 0, outcome: "Failed", stages: [] },
        { name: "svc-slow", durationMs: 60_000, outcome: "Succeeded" },
      ],
      onEvent: () => undefined,
    });
    client = singleAttemptCodePipeline(service.endpoint);
  });
  after(async () => {
    client.destroy();
    await service.close();
  });
  afterEach(() => service.faults.clear());

  let tokens = 0;
  /** Starts `name` and waits for the execution to end. */
  const ended = async (name: string): Promise<string> => {
    tokens += 1;
    const { pipelineExecutionId = "" } = await client.send(
      new StartPipelineExecutionCommand({ name, clientRequestToken: `t-${tokens}` }),
    );
    await service.whenEnded(pipelineExecutionId);
    return pipelineExecutionId;
  };

  it("names the failing stage and action and quotes the action's error on one line", async () => {
    const id = await ended("svc-a");

    assert.equal(
      await describePipelineFailure(client, "svc-a", id, "Failed"),
      `Pipeline svc-a execution ${id} Failed at stage Deploy, action DeployApp: Health check failed on 2 of 3 hosts`,
    );
  });

  it("names the last stage's first action when the pipeline's spec names no failure", async () => {
    const id = await ended("svc-b");

    assert.equal(
      await describePipelineFailure(client, "svc-b", id, "Failed"),
      `Pipeline svc-b execution ${id} Failed at stage Test, action Test: Action Test failed (local stand-in)`,
    );
  });

  it("reads GetPipelineState when ListActionExecutions is refused", async () => {
    const id = await ended("svc-a");
    service.faults.inject({ operation: "ListActionExecutions", error: "AccessDeniedException", times: 1 });
    const stateCalls = service.callCount("GetPipelineState");

    const cause = await describePipelineFailure(client, "svc-a", id, "Failed");

    assert.equal(
      cause,
      `Pipeline svc-a execution ${id} Failed at stage Deploy, action DeployApp: Health check failed on 2 of 3 hosts`,
    );
    assert.equal(service.callCount("GetPipelineState"), stateCalls + 1);
  });

  it("does not take a later execution's stage for this one's from GetPipelineState", async () => {
    const earlier = await ended("svc-b");
    await ended("svc-b");
    service.faults.inject({ operation: "ListActionExecutions", error: "AccessDeniedException", times: 1 });

    assert.equal(
      await describePipelineFailure(client, "svc-b", earlier, "Failed"),
      `Pipeline svc-b execution ${earlier} Failed`,
    );
  });

  it("falls back to the status line when neither call answers", async () => {
    const id = await ended("svc-a");
    service.faults.inject({ operation: "ListActionExecutions", error: "ThrottlingException", times: 1 });
    service.faults.inject({
      operation: "GetPipelineState",
      error: "InternalFailure",
      times: 1,
      httpStatus: 500,
    });

    assert.equal(
      await describePipelineFailure(client, "svc-a", id, "Failed"),
      `Pipeline svc-a execution ${id} Failed`,
    );
  });

  it("says only the status for a stopped execution, a pipeline without stages and an unknown execution", async () => {
    tokens += 1;
    const { pipelineExecutionId: stopped = "" } = await client.send(
      new StartPipelineExecutionCommand({ name: "svc-slow", clientRequestToken: `t-${tokens}` }),
    );
    await client.send(
      new StopPipelineExecutionCommand({
        pipelineName: "svc-slow",
        pipelineExecutionId: stopped,
        abandon: true,
      }),
    );
    const flat = await ended("svc-flat");
    const unknown = "00000000-0000-4000-8000-000000000000";

    assert.deepEqual(
      [
        await describePipelineFailure(client, "svc-slow", stopped, "Stopped"),
        await describePipelineFailure(client, "svc-flat", flat, "Failed"),
        await describePipelineFailure(client, "svc-gone", unknown, "Failed"),
      ],
      [
        `Pipeline svc-slow execution ${stopped} Stopped`,
        `Pipeline svc-flat execution ${flat} Failed`,
        `Pipeline svc-gone execution ${unknown} Failed`,
      ],
    );
  });
});
