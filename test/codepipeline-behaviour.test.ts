/**
 * The CodePipeline stand-in behaves as CodePipeline documents it (docs/aws-facts.md,
 * "CodePipeline"): execution modes, RetryStageExecution, stop and wait versus abandon, manual
 * approvals, execution triggers. Stages are held open by manual approvals, so every step is
 * driven by an event or a call, never by the clock.
 */
import assert from "node:assert/strict";
import {
  ApprovalAlreadyCompletedException,
  CodePipelineClient,
  DuplicatedStopRequestException,
  GetPipelineCommand,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  InvalidApprovalTokenException,
  ListActionExecutionsCommand,
  ListPipelineExecutionsCommand,
  NotLatestPipelineExecutionException,
  PutApprovalResultCommand,
  RetryStageExecutionCommand,
  StageNotFoundException,
  StageNotRetryableException,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
  ValidationException,
} from "@aws-sdk/client-codepipeline";
import type { PipelineStateChangeEvent, StageStateChangeEvent } from "../contract/pipeline-events";
import {
  type CodePipelineService,
  type ExecutionMode,
  type LocalPipelineSpec,
  startCodePipelineService,
} from "../local/codepipeline-service";
import { singleAttemptCodePipeline } from "./local-helpers";

type AnyEvent = PipelineStateChangeEvent | StageStateChangeEvent;

/** Two stages, each held open by a manual approval until the test approves it. */
const gated = (name: string, executionMode?: ExecutionMode): LocalPipelineSpec => ({
  name,
  durationMs: null,
  outcome: "Succeeded",
  ...(executionMode && { executionMode }),
  stages: [
    { name: "Build", actions: [{ name: "BuildGate", manualApproval: true }] },
    { name: "Deploy", actions: [{ name: "DeployGate", manualApproval: true }] },
  ],
});

const PIPELINES: LocalPipelineSpec[] = [
  gated("superseded"),
  gated("queued", "QUEUED"),
  gated("parallel", "PARALLEL"),
  {
    name: "flaky",
    durationMs: 30,
    outcomes: ["Failed", "Succeeded"],
    stages: ["Source", { name: "Build", actions: ["Compile", "UnitTests"] }, "Deploy"],
    failure: { stage: "Build", action: "UnitTests", message: "1 test failed" },
  },
  { name: "always-fails", durationMs: 30, outcome: "Failed", stages: ["Build"] },
  {
    // Fails once; the retry then waits at its approval, so it is still running when stopped.
    name: "flaky-held",
    durationMs: 30,
    outcomes: ["Failed", "Succeeded"],
    stages: ["Build", { name: "Approve", actions: [{ name: "ApproveGate", manualApproval: true }] }],
    failure: { stage: "Build" },
  },
  {
    name: "timed",
    durationMs: null,
    outcome: "Succeeded",
    // The gate keeps the stage open until the test approves it, so the stop always lands in it.
    stages: [
      {
        name: "Deploy",
        actions: [
          { name: "DeployGate", manualApproval: true },
          { name: "Migrate", durationMs: 300 },
        ],
      },
    ],
  },
];

describe("the local CodePipeline service, as CodePipeline documents it", () => {
  let service: CodePipelineService;
  let events: AnyEvent[];
  let waiters: { matches: (e: AnyEvent) => boolean; resolve: () => void }[];
  let client: CodePipelineClient;

  beforeEach(async () => {
    events = [];
    waiters = [];
    service = await startCodePipelineService({
      pipelines: PIPELINES,
      stopAndWaitMs: null,
      callers: { "ci-key": "arn:aws:iam::000000000000:user/ci" },
      onEvent: (e) => {
        events.push(e);
        for (const waiter of waiters.filter((w) => w.matches(e))) waiter.resolve();
      },
    });
    client = singleAttemptCodePipeline(service.endpoint);
  });

  afterEach(async () => {
    client.destroy();
    await service.close();
  });

  /** Resolves once execution `id` emitted `what` ("STARTED", or "<stage> <state>"). */
  const emitted = (id: string, what: string) => {
    const matches = (e: AnyEvent) => e.detail["execution-id"] === id && line(e) === what;
    return new Promise<void>((resolve) => {
      if (events.some(matches)) resolve();
      else waiters.push({ matches, resolve });
    });
  };
  const line = (e: AnyEvent) =>
    "stage" in e.detail ? `${e.detail.stage} ${e.detail.state}` : e.detail.state;
  const trail = (id: string) => events.filter((e) => e.detail["execution-id"] === id).map(line);
  const start = async (name: string) => {
    const { pipelineExecutionId = "" } = await client.send(new StartPipelineExecutionCommand({ name }));
    return pipelineExecutionId;
  };
  const statusOf = async (pipelineName: string, pipelineExecutionId: string) =>
    (await client.send(new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId })))
      .pipelineExecution?.status;
  /** The open approval's token of `stage` in pipeline `name`, as GetPipelineState shows it. */
  const tokenOf = async (name: string, stage: string) => {
    const { stageStates = [] } = await client.send(new GetPipelineStateCommand({ name }));
    const token = stageStates.find((s) => s.stageName === stage)?.actionStates?.[0]?.latestExecution?.token;
    assert.ok(token, `no open approval in ${name}/${stage}`);
    return token;
  };
  const decide = async (name: string, stage: string, status: "Approved" | "Rejected", token?: string) =>
    client.send(
      new PutApprovalResultCommand({
        pipelineName: name,
        stageName: stage,
        actionName: `${stage}Gate`,
        token: token ?? (await tokenOf(name, stage)),
        result: { status, summary: `${status} by the test` },
      }),
    );
  /** Approves `stage` of `name` for the execution holding it, and waits until that stage ended. */
  const approve = async (name: string, id: string, stage: string) => {
    await decide(name, stage, "Approved");
    await emitted(id, `${stage} SUCCEEDED`);
  };
  const stop = (pipelineName: string, pipelineExecutionId: string, abandon: boolean) =>
    client.send(new StopPipelineExecutionCommand({ pipelineName, pipelineExecutionId, abandon }));

  describe("execution modes", () => {
    it("answers GetPipeline with each pipeline's execution mode, SUPERSEDED by default", async () => {
      const modes = [];
      for (const name of ["superseded", "queued", "parallel"]) {
        modes.push((await client.send(new GetPipelineCommand({ name }))).pipeline?.executionMode);
      }
      assert.deepEqual(modes, ["SUPERSEDED", "QUEUED", "PARALLEL"]);
    });

    it("SUPERSEDED: a newer execution arriving at the stage an older one waits to enter supersedes the older one", async () => {
      const first = await start("superseded");
      await emitted(first, "Build STARTED");
      await approve("superseded", first, "Build");
      await emitted(first, "Deploy STARTED");
      const second = await start("superseded");
      await emitted(second, "Build STARTED");
      await approve("superseded", second, "Build");
      assert.equal(await statusOf("superseded", second), "InProgress", "waiting in front of Deploy");

      const third = await start("superseded");
      await emitted(third, "Build STARTED");
      await approve("superseded", third, "Build");
      await emitted(second, "SUPERSEDED");

      assert.equal(await statusOf("superseded", second), "Superseded");
      assert.deepEqual(trail(second), ["STARTED", "Build STARTED", "Build SUCCEEDED", "SUPERSEDED"]);
      assert.equal((await service.whenEnded(second)).status, "Superseded");
      await approve("superseded", first, "Deploy");
      await emitted(third, "Deploy STARTED");
      assert.equal(await statusOf("superseded", first), "Succeeded");
    });

    it("SUPERSEDED: an execution waits in front of a locked stage without entering it", async () => {
      const first = await start("superseded");
      await emitted(first, "Build STARTED");
      const second = await start("superseded");
      await emitted(second, "STARTED");

      assert.deepEqual(trail(second), ["STARTED"]);
      await approve("superseded", first, "Build");
      await emitted(second, "Build STARTED");
      assert.deepEqual(trail(first).slice(-1), ["Deploy STARTED"]);
    });

    it("QUEUED: waiting executions enter a locked stage one by one in the order they arrived, none superseded", async () => {
      const ids: string[] = [];
      for (let i = 0; i < 3; i += 1) {
        const id = await start("queued");
        await emitted(id, "Build STARTED");
        await approve("queued", id, "Build");
        ids.push(id);
      }
      const deployOrder = () =>
        events.filter((e) => line(e) === "Deploy STARTED").map((e) => ids.indexOf(e.detail["execution-id"]));
      assert.deepEqual(deployOrder(), [0]);
      await approve("queued", ids[0], "Deploy");
      await emitted(ids[1], "Deploy STARTED");
      assert.deepEqual(deployOrder(), [0, 1]);
      await approve("queued", ids[1], "Deploy");
      await emitted(ids[2], "Deploy STARTED");

      assert.deepEqual(deployOrder(), [0, 1, 2]);
      assert.ok(!events.some((e) => e.detail.state === "SUPERSEDED"));
      assert.deepEqual(
        [
          await statusOf("queued", ids[0]),
          await statusOf("queued", ids[1]),
          await statusOf("queued", ids[2]),
        ],
        ["Succeeded", "Succeeded", "InProgress"],
      );
    });

    it("QUEUED: a stop of an execution still waiting ends it Stopped at once, and the queue moves on without it", async () => {
      const first = await start("queued");
      await emitted(first, "Build STARTED");
      const [second, third] = [await start("queued"), await start("queued")];
      await emitted(third, "STARTED");

      await stop("queued", second, false);
      assert.equal(await statusOf("queued", second), "Stopped");
      assert.deepEqual(trail(second), ["STARTED", "STOPPING", "STOPPED"]);
      await approve("queued", first, "Build");
      await emitted(third, "Build STARTED");
    });

    it("PARALLEL: executions run side by side, each in the same stage at once", async () => {
      const [first, second] = [await start("parallel"), await start("parallel")];
      await emitted(first, "Build STARTED");
      await emitted(second, "Build STARTED");
      assert.deepEqual(trail(first), ["STARTED", "Build STARTED"]);
      assert.deepEqual(trail(second), ["STARTED", "Build STARTED"]);
    });
  });

  describe("RetryStageExecution", () => {
    const retry = (pipelineExecutionId: string, stageName: string, retryMode = "FAILED_ACTIONS") =>
      client.send(
        new RetryStageExecutionCommand({
          pipelineName: "flaky",
          stageName,
          pipelineExecutionId,
          retryMode: retryMode as "FAILED_ACTIONS",
        }),
      );
    const actionRuns = async (pipelineExecutionId: string) =>
      (
        (
          await client.send(
            new ListActionExecutionsCommand({ pipelineName: "flaky", filter: { pipelineExecutionId } }),
          )
        ).actionExecutionDetails ?? []
      )
        .map((a) => `${a.stageName}/${a.actionName} ${a.status}`)
        .reverse();

    it("resumes the same execution at its failed stage with RESUMED, running only the failed actions, to SUCCEEDED", async () => {
      const id = await start("flaky");
      assert.equal((await service.whenEnded(id)).status, "Failed");

      const { pipelineExecutionId } = await retry(id, "Build");
      assert.equal(pipelineExecutionId, id);
      assert.equal((await service.whenEnded(id)).status, "Succeeded");

      assert.deepEqual(trail(id), [
        "STARTED",
        "Source STARTED",
        "Source SUCCEEDED",
        "Build STARTED",
        "Build FAILED",
        "FAILED",
        "RESUMED",
        "Build RESUMED",
        "Build SUCCEEDED",
        "Deploy STARTED",
        "Deploy SUCCEEDED",
        "SUCCEEDED",
      ]);
      const attempts = events
        .filter((e) => e.detail["execution-id"] === id && !("stage" in e.detail))
        .map((e) => [e.detail.state, (e as PipelineStateChangeEvent).detail["pipeline-execution-attempt"]]);
      assert.deepEqual(attempts, [
        ["STARTED", 1],
        ["FAILED", 1],
        ["RESUMED", 2],
        ["SUCCEEDED", 2],
      ]);
      assert.deepEqual(await actionRuns(id), [
        "Source/Source Succeeded",
        "Build/Compile Succeeded",
        "Build/UnitTests Failed",
        "Build/UnitTests Succeeded",
        "Deploy/Deploy Succeeded",
      ]);
      assert.equal(await statusOf("flaky", id), "Succeeded");
    });

    it("with ALL_ACTIONS runs every action of the stage again", async () => {
      const id = await start("flaky");
      await service.whenEnded(id);
      await retry(id, "Build", "ALL_ACTIONS");
      await service.whenEnded(id);

      assert.deepEqual(
        (await actionRuns(id)).filter((a) => a.startsWith("Build/")),
        [
          "Build/Compile Succeeded",
          "Build/UnitTests Failed",
          "Build/Compile Succeeded",
          "Build/UnitTests Succeeded",
        ],
      );
    });

    it("refuses an unknown stage, a stage the execution did not fail in, an execution that did not fail, and a bad retryMode", async () => {
      const id = await start("flaky");
      await service.whenEnded(id);

      await assert.rejects(retry(id, "Test"), StageNotFoundException);
      await assert.rejects(retry(id, "Source"), StageNotRetryableException);
      await assert.rejects(retry(id, "Build", "SOME_ACTIONS"), ValidationException);
      await assert.rejects(retry("not-an-execution-id", "Build"), ValidationException);
      await retry(id, "Build");
      await assert.rejects(retry(id, "Build"), StageNotRetryableException, "a retry is under way");
      await service.whenEnded(id);
      await assert.rejects(retry(id, "Build"), StageNotRetryableException, "it succeeded");
      assert.equal(trail(id).filter((s) => s === "RESUMED").length, 1);
    });

    it("answers NotLatestPipelineExecutionException once a more recent execution failed in the same stage", async () => {
      const older = await start("flaky");
      await service.whenEnded(older);
      const newer = await start("flaky");
      await service.whenEnded(newer);

      await assert.rejects(retry(older, "Build"), NotLatestPipelineExecutionException);
      assert.equal(await statusOf("flaky", older), "Failed");
      assert.equal((await retry(newer, "Build")).pipelineExecutionId, newer);
    });

    it("fails again when the attempt's scripted outcome is Failed, the last outcome repeating", async () => {
      const run = async () => {
        const { pipelineExecutionId = "" } = await client.send(
          new StartPipelineExecutionCommand({ name: "always-fails" }),
        );
        return pipelineExecutionId;
      };
      const id = await run();
      await service.whenEnded(id);
      await client.send(
        new RetryStageExecutionCommand({
          pipelineName: "always-fails",
          stageName: "Build",
          pipelineExecutionId: id,
          retryMode: "FAILED_ACTIONS",
        }),
      );
      assert.equal((await service.whenEnded(id)).status, "Failed");
      assert.deepEqual(trail(id).slice(-4), ["RESUMED", "Build RESUMED", "Build FAILED", "FAILED"]);
    });
  });

  describe("stops and manual approvals", () => {
    it("lets an action with its own duration run to its end under a stop-and-wait, then Stopped", async () => {
      const id = await start("timed");
      await emitted(id, "Deploy STARTED");
      await stop("timed", id, false);
      assert.equal(await statusOf("timed", id), "Stopping");
      await decide("timed", "Deploy", "Approved");

      assert.equal((await service.whenEnded(id)).status, "Stopped");
      const { actionExecutionDetails = [] } = await client.send(
        new ListActionExecutionsCommand({ pipelineName: "timed", filter: { pipelineExecutionId: id } }),
      );
      const migrate = actionExecutionDetails.find((a) => a.actionName === "Migrate");
      assert.equal(migrate?.status, "Succeeded", "the action finished, it was not abandoned");
      const ran = (migrate?.lastUpdateTime?.getTime() ?? 0) - (migrate?.startTime?.getTime() ?? 0);
      assert.ok(ran >= 290, `the action ran its 300 ms, the stop did not cut it short (${ran} ms)`);
      assert.deepEqual(trail(id), ["STARTED", "Deploy STARTED", "STOPPING", "Deploy STOPPED", "STOPPED"]);
    });

    it("keeps a stop-and-wait Stopping while an approval waits, refuses a second one, and ends Stopped once approved", async () => {
      const id = await start("superseded");
      await emitted(id, "Build STARTED");
      await stop("superseded", id, false);
      await assert.rejects(stop("superseded", id, false), DuplicatedStopRequestException);
      assert.equal(await statusOf("superseded", id), "Stopping");

      await decide("superseded", "Build", "Approved");
      assert.equal((await service.whenEnded(id)).status, "Stopped");
      assert.deepEqual(trail(id), ["STARTED", "Build STARTED", "STOPPING", "Build STOPPED", "STOPPED"]);
    });

    it("abandons a waiting approval at once when the stop-and-wait is escalated to abandon", async () => {
      const id = await start("superseded");
      await emitted(id, "Build STARTED");
      const token = await tokenOf("superseded", "Build");
      await stop("superseded", id, false);
      await stop("superseded", id, true);

      assert.equal(await statusOf("superseded", id), "Stopped");
      const { stageStates = [] } = await client.send(new GetPipelineStateCommand({ name: "superseded" }));
      assert.equal(stageStates[0].actionStates?.[0].latestExecution?.status, "Abandoned");
      await assert.rejects(
        decide("superseded", "Build", "Approved", token),
        ApprovalAlreadyCompletedException,
      );
    });

    it("PARALLEL: shows an open approval's token only as ListActionExecutions' externalExecutionId, not in GetPipelineState", async () => {
      const id = await start("parallel");
      await emitted(id, "Build STARTED");
      const { stageStates = [] } = await client.send(new GetPipelineStateCommand({ name: "parallel" }));
      assert.equal(stageStates[0].actionStates?.[0].latestExecution?.status, "InProgress");
      assert.equal(stageStates[0].actionStates?.[0].latestExecution?.token, undefined);
      const { actionExecutionDetails: [gate] = [] } = await client.send(
        new ListActionExecutionsCommand({ pipelineName: "parallel", filter: { pipelineExecutionId: id } }),
      );
      const token = gate.output?.executionResult?.externalExecutionId;
      assert.ok(token);

      await decide("parallel", "Build", "Approved", token);
      await emitted(id, "Deploy STARTED");
    });

    it("retries the stage of an execution stopped with abandon, running its abandoned action again", async () => {
      const id = await start("superseded");
      await emitted(id, "Build STARTED");
      await stop("superseded", id, true);
      const retried = await client.send(
        new RetryStageExecutionCommand({
          pipelineName: "superseded",
          stageName: "Build",
          pipelineExecutionId: id,
          retryMode: "FAILED_ACTIONS",
        }),
      );

      assert.equal(retried.pipelineExecutionId, id);
      assert.equal(await statusOf("superseded", id), "InProgress");
      await approve("superseded", id, "Build");
      await emitted(id, "Deploy STARTED");
      assert.deepEqual(trail(id).slice(2), [
        "STOPPING",
        "Build STOPPED",
        "STOPPED",
        "RESUMED",
        "Build RESUMED",
        "Build SUCCEEDED",
        "Deploy STARTED",
      ]);
    });

    it("fails the execution when its approval is rejected, and refuses an unknown token", async () => {
      const id = await start("superseded");
      await emitted(id, "Build STARTED");
      await assert.rejects(
        decide("superseded", "Build", "Approved", "00000000-0000-4000-8000-000000000000"),
        InvalidApprovalTokenException,
      );
      const { approvedAt } = await decide("superseded", "Build", "Rejected");

      assert.ok(approvedAt instanceof Date);
      assert.equal((await service.whenEnded(id)).status, "Failed");
      const { stageStates = [] } = await client.send(new GetPipelineStateCommand({ name: "superseded" }));
      assert.deepEqual(stageStates[0].actionStates?.[0].latestExecution?.errorDetails, {
        code: "JobFailed",
        message: "Rejected: Rejected by the test",
      });
    });
  });

  describe("triggers, and the protocol as the AWS CLI speaks it", () => {
    it("lists and gets each execution with its trigger: StartPipelineExecution by the caller that signed the request", async () => {
      const ci = new CodePipelineClient({
        endpoint: service.endpoint,
        region: "us-east-1",
        credentials: { accessKeyId: "ci-key", secretAccessKey: "x" },
      });
      try {
        const { pipelineExecutionId: byCi = "" } = await ci.send(
          new StartPipelineExecutionCommand({ name: "parallel" }),
        );
        const byEngine = await start("parallel");
        const { pipelineExecutionSummaries = [] } = await client.send(
          new ListPipelineExecutionsCommand({ pipelineName: "parallel" }),
        );

        assert.deepEqual(
          pipelineExecutionSummaries.map((s) => [s.pipelineExecutionId, s.status, s.trigger]),
          [
            [
              byEngine,
              "InProgress",
              {
                triggerType: "StartPipelineExecution",
                triggerDetail: "arn:aws:sts::000000000000:assumed-role/release-machine-local/engine",
              },
            ],
            [
              byCi,
              "InProgress",
              { triggerType: "StartPipelineExecution", triggerDetail: "arn:aws:iam::000000000000:user/ci" },
            ],
          ],
        );
        const execution = await client.send(
          new GetPipelineExecutionCommand({ pipelineName: "parallel", pipelineExecutionId: byCi }),
        );
        assert.equal(
          execution.pipelineExecution?.trigger?.triggerDetail,
          "arn:aws:iam::000000000000:user/ci",
        );
        assert.ok(pipelineExecutionSummaries[0].lastUpdateTime instanceof Date);
      } finally {
        ci.destroy();
      }
    });

    it("serves start, retry-stage-execution and stop as the AWS CLI sends them (JSON 1.1, X-Amz-Target), errors as HTTP 400 with __type", async () => {
      const cli = async (operation: string, body: object) => {
        const response = await fetch(`${service.endpoint}/`, {
          method: "POST",
          headers: {
            "content-type": "application/x-amz-json-1.1",
            "x-amz-target": `CodePipeline_20150709.${operation}`,
          },
          body: JSON.stringify(body),
        });
        return { status: response.status, body: (await response.json()) as Record<string, unknown> };
      };
      // The CLI fills clientRequestToken itself (an idempotency token in the service model).
      const started = await cli("StartPipelineExecution", {
        name: "flaky-held",
        clientRequestToken: "cli-generated-token-1",
      });
      assert.equal(started.status, 200);
      const id = String(started.body.pipelineExecutionId);
      assert.equal((await service.whenEnded(id)).status, "Failed");
      const request = {
        pipelineName: "flaky-held",
        stageName: "Build",
        pipelineExecutionId: id,
        retryMode: "FAILED_ACTIONS",
      };

      assert.deepEqual(await cli("RetryStageExecution", request), {
        status: 200,
        body: { pipelineExecutionId: id },
      });
      const again = await cli("RetryStageExecution", request);
      assert.equal(again.status, 400);
      assert.equal(again.body.__type, "StageNotRetryableException");
      assert.equal(typeof again.body.message, "string");
      const stopped = await cli("StopPipelineExecution", {
        pipelineName: "flaky-held",
        pipelineExecutionId: id,
        abandon: true,
      });
      assert.deepEqual(stopped, { status: 200, body: { pipelineExecutionId: id } });
      const listed = await cli("ListPipelineExecutions", { pipelineName: "flaky-held", maxResults: 1 });
      const [summary] = listed.body.pipelineExecutionSummaries as { startTime: number; status: string }[];
      assert.equal(summary.status, "Stopped");
      assert.ok(Math.abs(summary.startTime - Date.now() / 1000) < 60, "epoch seconds");
    });

    it("listens on the port it is given, so the AWS CLI's --endpoint-url can be fixed", async () => {
      const probe = await startCodePipelineService({ pipelines: PIPELINES, onEvent: () => undefined });
      const port = Number(new URL(probe.endpoint).port);
      await probe.close();
      const fixed = await startCodePipelineService({ pipelines: PIPELINES, onEvent: () => undefined, port });
      try {
        assert.equal(fixed.endpoint, `http://127.0.0.1:${port}`);
      } finally {
        await fixed.close();
      }
    });
  });
});
