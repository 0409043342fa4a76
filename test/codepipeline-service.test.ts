/**
 * The local CodePipeline stand-in, driven by the real `@aws-sdk/client-codepipeline`: if the SDK
 * can talk to it and gets typed exceptions back, the handlers can too.
 */
import assert from "node:assert/strict";
import {
  CodePipelineClient,
  CodePipelineServiceException,
  DuplicatedStopRequestException,
  GetPipelineExecutionCommand,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
  InvalidNextTokenException,
  ListPipelineExecutionsCommand,
  PipelineExecutionNotFoundException,
  PipelineExecutionNotStoppableException,
  PipelineNotFoundException,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
  ValidationException,
  paginateListPipelineExecutions,
} from "@aws-sdk/client-codepipeline";
import type { PipelineStateChangeEvent, StageStateChangeEvent } from "../contract/pipeline-events";
import {
  type CodePipelineService,
  type LocalPipelineSpec,
  startCodePipelineService,
} from "../local/codepipeline-service";
import { singleAttemptCodePipeline } from "./local-helpers";

type AnyEvent = PipelineStateChangeEvent | StageStateChangeEvent;

const PIPELINES: LocalPipelineSpec[] = [
  { name: "fast-ok", durationMs: 30, outcome: "Succeeded" },
  { name: "fast-fails", durationMs: 30, outcome: "Failed", stages: ["Source", "Test"] },
  { name: "instant", durationMs: 0, outcome: "Succeeded", stages: ["Only"] },
  { name: "manual", durationMs: null, outcome: "Succeeded", stages: ["Approval"] },
  { name: "slow", durationMs: 60_000, outcome: "Succeeded" },
  {
    name: "fails-at-build",
    durationMs: 30,
    outcome: "Failed",
    stages: ["Source", { name: "Build", actions: ["Compile", "UnitTests"] }, "Deploy"],
    failure: { stage: "Build", action: "UnitTests", code: "JobFailed", message: "3 tests failed" },
  },
];
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/;

/** The error of a call that must fail: a modelled exception class, or the base class for the rest. */
async function rejection(call: Promise<unknown>): Promise<CodePipelineServiceException> {
  const outcome = await call.then(
    () => undefined,
    (error: unknown) => error,
  );
  assert.ok(
    outcome instanceof CodePipelineServiceException,
    `expected a service error, got ${String(outcome)}`,
  );
  return outcome;
}

/** One line per event of an execution: the pipeline's state, or "<stage> <state>". */
const trail = (events: AnyEvent[], executionId: string) =>
  events
    .filter((e) => e.detail["execution-id"] === executionId)
    .map((e) => ("stage" in e.detail ? `${e.detail.stage} ${e.detail.state}` : e.detail.state));

/** The trail of an execution whose stages each started and ended (`[stage, how]`), then it ended `end`. */
const ranThrough = (end: string, ...stages: [string, string][]) => [
  "STARTED",
  ...stages.flatMap(([stage, state]) => [`${stage} STARTED`, `${stage} ${state}`]),
  end,
];

describe("the local CodePipeline service", () => {
  let service: CodePipelineService;
  let events: AnyEvent[];
  let waiters: { matches: (e: AnyEvent) => boolean; resolve: () => void }[];
  let client: CodePipelineClient;

  /** Resolves once an event `matches` has been emitted (at once if one already was). */
  const emitted = (matches: (e: AnyEvent) => boolean) =>
    new Promise<void>((resolve) => {
      if (events.some(matches)) resolve();
      else waiters.push({ matches, resolve });
    });

  beforeEach(async () => {
    events = [];
    waiters = [];
    service = await startCodePipelineService({
      pipelines: PIPELINES,
      // A stop-and-wait stays Stopping until the test ends it: nothing here races a timer.
      stopAndWaitMs: null,
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

  const start = async (name: string, clientRequestToken?: string) => {
    const { pipelineExecutionId } = await client.send(
      new StartPipelineExecutionCommand({ name, clientRequestToken }),
    );
    assert.ok(pipelineExecutionId);
    return pipelineExecutionId;
  };
  /** Starts `name` and waits for its execution to end. */
  const runToEnd = async (name: string): Promise<string> => {
    const id = await start(name);
    await service.whenEnded(id);
    return id;
  };
  const get = async (pipelineName: string, pipelineExecutionId: string) =>
    (await client.send(new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId })))
      .pipelineExecution;

  it("listens on 127.0.0.1 on an ephemeral port", () => {
    const url = new URL(service.endpoint);
    assert.equal(url.origin, service.endpoint);
    assert.equal(url.hostname, "127.0.0.1");
    assert.ok(Number(url.port) > 0);
  });

  it("starts an execution with a UUID and emits STARTED, every stage, then SUCCEEDED in EventBridge's shape", async () => {
    const id = await start("fast-ok");
    assert.match(id, UUID);
    await service.whenEnded(id);

    assert.deepEqual(
      trail(events, id),
      ranThrough("SUCCEEDED", ["Source", "SUCCEEDED"], ["Build", "SUCCEEDED"], ["Deploy", "SUCCEEDED"]),
    );
    const [record] = service.executions("fast-ok");
    const first = events[0];
    assert.match(first.id, UUID);
    assert.ok(!Number.isNaN(Date.parse(first.time)));
    assert.deepEqual(first, {
      version: "0",
      id: first.id,
      "detail-type": "CodePipeline Pipeline Execution State Change",
      source: "aws.codepipeline",
      account: "000000000000",
      time: first.time,
      region: "us-east-1",
      resources: ["arn:aws:codepipeline:us-east-1:000000000000:fast-ok"],
      detail: {
        pipeline: "fast-ok",
        "execution-id": id,
        "start-time": record.startTime.toISOString(),
        state: "STARTED",
        version: 1,
        "pipeline-execution-attempt": 1,
        "execution-trigger": {
          "trigger-type": "StartPipelineExecution",
          "trigger-detail": "arn:aws:sts::000000000000:assumed-role/release-machine-local/engine",
        },
      },
    });
    const stage = events[1];
    assert.equal(stage["detail-type"], "CodePipeline Stage Execution State Change");
    assert.deepEqual(stage.detail, {
      pipeline: "fast-ok",
      "execution-id": id,
      stage: "Source",
      state: "STARTED",
      version: 1,
    });
    assert.equal(new Set(events.map((e) => e.id)).size, events.length, "event ids are unique");
    assert.equal((await get("fast-ok", id))?.status, "Succeeded");
    assert.ok(record.endTime && record.endTime >= record.startTime);
  });

  it("ends a Failed pipeline with its last stage FAILED, then the pipeline FAILED", async () => {
    const id = await runToEnd("fast-fails");

    assert.deepEqual(trail(events, id), ranThrough("FAILED", ["Source", "SUCCEEDED"], ["Test", "FAILED"]));
    const execution = await get("fast-fails", id);
    assert.equal(execution?.status, "Failed");
    assert.ok(execution?.statusSummary);
  });

  it("ends a zero-duration pipeline by itself, asynchronously, right after the start", async () => {
    const id = await runToEnd("instant");
    assert.deepEqual(trail(events, id), ["STARTED", "Only STARTED", "Only SUCCEEDED", "SUCCEEDED"]);
  });

  it("returns the same execution for a repeated clientRequestToken and starts only one", async () => {
    const variables = [{ name: "release", value: "5.15" }];
    const sourceRevisions = [
      { actionName: "Source", revisionType: "COMMIT_ID" as const, revisionValue: "abc" },
    ];
    const request = { name: "slow", clientRequestToken: "release-515-slow", variables, sourceRevisions };
    const first = await client.send(new StartPipelineExecutionCommand(request));
    const second = await client.send(new StartPipelineExecutionCommand(request));
    const otherPipeline = await start("fast-ok", "release-515-slow");

    assert.equal(second.pipelineExecutionId, first.pipelineExecutionId);
    assert.notEqual(otherPipeline, first.pipelineExecutionId, "a token is scoped to its pipeline");
    const [record, ...more] = service.executions("slow");
    assert.equal(more.length, 0);
    assert.equal(record.pipelineExecutionId, first.pipelineExecutionId);
    assert.equal(record.clientRequestToken, "release-515-slow");
    assert.deepEqual(record.variables, variables);
    assert.deepEqual(record.sourceRevisions, sourceRevisions);
    assert.deepEqual((await get("slow", record.pipelineExecutionId))?.variables, [
      { name: "release", resolvedValue: "5.15" },
    ]);
    assert.equal(service.callCount("StartPipelineExecution"), 3);
  });

  it("answers an unknown pipeline with a typed PipelineNotFoundException and starts nothing", async () => {
    const error = await rejection(client.send(new StartPipelineExecutionCommand({ name: "nope" })));
    assert.ok(error instanceof PipelineNotFoundException);
    assert.equal(error.$metadata.httpStatusCode, 400);
    assert.match(error.message, /nope/);
    assert.deepEqual(service.executions(), []);
  });

  it("answers an ill-formed clientRequestToken or variables with a ValidationException", async () => {
    for (const clientRequestToken of ["has spaces", "x".repeat(129), "under_score"]) {
      await assert.rejects(
        client.send(new StartPipelineExecutionCommand({ name: "fast-ok", clientRequestToken })),
        ValidationException,
      );
    }
    const tooMany = Array.from({ length: 51 }, (_, i) => ({ name: `v${i}`, value: "x" }));
    await assert.rejects(
      client.send(new StartPipelineExecutionCommand({ name: "fast-ok", variables: tooMany })),
      ValidationException,
    );
    assert.deepEqual(service.executions(), []);
  });

  it("answers an unknown execution, or one of another pipeline, with PipelineExecutionNotFoundException", async () => {
    const id = await start("slow");
    for (const [pipelineName, pipelineExecutionId] of [
      ["slow", "00000000-0000-4000-8000-000000000000"],
      ["fast-ok", id],
    ]) {
      await assert.rejects(
        client.send(new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId })),
        PipelineExecutionNotFoundException,
      );
    }
    const execution = await get("slow", id);
    assert.equal(execution?.pipelineName, "slow");
    assert.equal(execution?.pipelineVersion, 1);
    assert.equal(execution?.status, "InProgress");
    assert.deepEqual(execution?.artifactRevisions, []);
    assert.equal(execution?.trigger?.triggerType, "StartPipelineExecution");
  });

  it("stops an execution through Stopping to Stopped, refusing a second stop and a stop of an ended one", async () => {
    const id = await start("slow");
    const stop = (abandon = false) =>
      client.send(
        new StopPipelineExecutionCommand({
          pipelineName: "slow",
          pipelineExecutionId: id,
          abandon,
          reason: "release failed",
        }),
      );
    assert.equal((await stop()).pipelineExecutionId, id);
    assert.equal((await get("slow", id))?.status, "Stopping");
    await assert.rejects(stop(), DuplicatedStopRequestException);

    service.finish(id, "Stopped");
    await service.whenEnded(id);
    assert.equal((await get("slow", id))?.status, "Stopped");
    assert.deepEqual(trail(events, id), [
      "STARTED",
      "Source STARTED",
      "STOPPING",
      "Source STOPPED",
      "STOPPED",
    ]);
    await assert.rejects(stop(), PipelineExecutionNotStoppableException);
    await assert.rejects(stop(true), PipelineExecutionNotStoppableException);
  });

  it("ends a stop-and-wait by itself, Stopped, when stopAndWaitMs is left at its default", async () => {
    const own = await startCodePipelineService({ pipelines: PIPELINES, onEvent: () => undefined });
    const ownClient = new CodePipelineClient({
      endpoint: own.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    try {
      const { pipelineExecutionId = "" } = await ownClient.send(
        new StartPipelineExecutionCommand({ name: "slow", clientRequestToken: "default-stop" }),
      );
      await ownClient.send(new StopPipelineExecutionCommand({ pipelineName: "slow", pipelineExecutionId }));

      assert.equal((await own.whenEnded(pipelineExecutionId)).status, "Stopped");
    } finally {
      ownClient.destroy();
      await own.close();
    }
  });

  it("abandons an execution at once, also escalating a stop that is still waiting", async () => {
    const [first, second] = [await start("slow"), await start("slow")];
    const stop = (pipelineExecutionId: string, abandon: boolean) =>
      client.send(new StopPipelineExecutionCommand({ pipelineName: "slow", pipelineExecutionId, abandon }));

    await stop(first, true);
    assert.equal((await get("slow", first))?.status, "Stopped");
    await stop(second, false);
    await stop(second, true);
    assert.equal((await get("slow", second))?.status, "Stopped");
    await assert.rejects(stop(second, true), PipelineExecutionNotStoppableException);
    assert.deepEqual(trail(events, second).slice(-2), ["Source STOPPED", "STOPPED"]);
  });

  it("lists executions newest first, page by page, with the stop reason", async () => {
    const ids = [await start("slow"), await start("slow"), await start("slow")];
    await client.send(
      new StopPipelineExecutionCommand({ pipelineName: "slow", pipelineExecutionId: ids[0], reason: "why" }),
    );
    const firstPage = await client.send(
      new ListPipelineExecutionsCommand({ pipelineName: "slow", maxResults: 2 }),
    );
    assert.deepEqual(
      firstPage.pipelineExecutionSummaries?.map((s) => s.pipelineExecutionId),
      [ids[2], ids[1]],
    );
    assert.ok(firstPage.nextToken);
    const [newest] = firstPage.pipelineExecutionSummaries ?? [];
    assert.equal(newest.status, "InProgress");
    assert.ok(newest.startTime instanceof Date);
    assert.ok(Math.abs(newest.startTime.getTime() - Date.now()) < 5000, "epoch seconds, not ms");
    assert.equal(newest.trigger?.triggerType, "StartPipelineExecution");

    const all = [];
    for await (const page of paginateListPipelineExecutions(
      { client, pageSize: 2 },
      { pipelineName: "slow" },
    )) {
      all.push(...(page.pipelineExecutionSummaries ?? []));
    }
    assert.deepEqual(
      all.map((s) => s.pipelineExecutionId),
      [...ids].reverse(),
    );
    assert.equal(all[2].status, "Stopping");
    assert.deepEqual(all[2].stopTrigger, { reason: "why" });
    await assert.rejects(
      client.send(new ListPipelineExecutionsCommand({ pipelineName: "slow", nextToken: "garbage" })),
      InvalidNextTokenException,
    );
  });

  it("fails the next N calls with an injected ThrottlingException, then succeeds", async () => {
    service.faults.inject({
      operation: "StartPipelineExecution",
      error: "ThrottlingException",
      times: 2,
      pipeline: "fast-ok",
    });
    const attempt = () =>
      client.send(new StartPipelineExecutionCommand({ name: "fast-ok", clientRequestToken: "t1" }));

    for (let i = 0; i < 2; i += 1) {
      const error = await rejection(attempt());
      assert.equal(error.name, "ThrottlingException");
      assert.equal(error.$metadata.httpStatusCode, 400);
    }
    assert.ok(await start("slow"), "a fault scoped to a pipeline spares the others");
    assert.match((await attempt()).pipelineExecutionId ?? "", UUID);
    assert.equal(service.executions("fast-ok").length, 1);
    assert.equal(service.callCount("StartPipelineExecution"), 4);
  });

  it("answers an injected ThrottlingException so that the SDK classifies it as throttling and retries it", async () => {
    const classified: string[] = [];
    // Retries at once, only what the SDK calls THROTTLING: its own backoff would add seconds of jitter.
    const retrying = new CodePipelineClient({
      endpoint: service.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
      retryStrategy: {
        acquireInitialRetryToken: async () => ({ getRetryCount: () => 0, getRetryDelay: () => 0 }),
        refreshRetryTokenForRetry: async (
          token: { getRetryCount(): number },
          info: { errorType: string },
        ) => {
          classified.push(info.errorType);
          const attempt = token.getRetryCount() + 1;
          if (info.errorType !== "THROTTLING" || attempt >= 3) throw new Error("no retry");
          return { getRetryCount: () => attempt, getRetryDelay: () => 0 };
        },
        recordSuccess: () => undefined,
      },
    });
    service.faults.inject({ operation: "StartPipelineExecution", error: "ThrottlingException", times: 2 });
    try {
      const { pipelineExecutionId } = await retrying.send(
        new StartPipelineExecutionCommand({ name: "manual", clientRequestToken: "throttled" }),
      );
      assert.deepEqual(classified, ["THROTTLING", "THROTTLING"]);
      assert.deepEqual(
        service.executions().map((e) => e.pipelineExecutionId),
        [pipelineExecutionId],
      );
    } finally {
      retrying.destroy();
    }
  });

  it("can answer an injected fault with another HTTP status, until the faults are cleared", async () => {
    const id = await start("slow");
    service.faults.inject({
      operation: "GetPipelineExecution",
      error: "ServiceUnavailableException",
      times: 5,
      httpStatus: 503,
    });
    const error = await rejection(get("slow", id));
    assert.equal(error.name, "ServiceUnavailableException");
    assert.equal(error.$metadata.httpStatusCode, 503);
    service.faults.clear();
    assert.equal((await get("slow", id))?.status, "InProgress");
  });

  it("starts exactly one execution for an afterEffect fault, and the retry with the same token gets it back", async () => {
    service.faults.inject({
      operation: "StartPipelineExecution",
      error: "ConflictException",
      times: 1,
      afterEffect: true,
    });
    const request = { name: "fast-ok", clientRequestToken: "lost-response" };

    const error = await rejection(client.send(new StartPipelineExecutionCommand(request)));
    assert.equal(error.name, "ConflictException");
    const started = service.executions("fast-ok");
    assert.equal(started.length, 1);

    const retried = await client.send(new StartPipelineExecutionCommand(request));
    assert.equal(retried.pipelineExecutionId, started[0].pipelineExecutionId);
    assert.equal(service.executions().length, 1);
    await service.whenEnded(started[0].pipelineExecutionId);
    assert.equal(trail(events, started[0].pipelineExecutionId).filter((s) => s === "STARTED").length, 1);
  });

  it("runs a null-duration pipeline until finish() ends it", async () => {
    const id = await start("manual");
    await emitted((e) => e.detail["execution-id"] === id && "stage" in e.detail);
    assert.deepEqual(trail(events, id), ["STARTED", "Approval STARTED"]);
    assert.equal((await get("manual", id))?.status, "InProgress");

    service.finish(id, "Failed");
    assert.deepEqual(trail(events, id), ["STARTED", "Approval STARTED", "Approval FAILED", "FAILED"]);
    assert.equal((await get("manual", id))?.status, "Failed");
    service.finish(id, "Succeeded");
    assert.equal(trail(events, id).length, 4, "an ended execution stays ended");
    assert.throws(() => service.finish("unknown", "Succeeded"), /unknown/);
  });

  it("answers an unknown operation and a malformed body like the JSON 1.1 protocol", async () => {
    const call = async (target: string, body: string) => {
      const response = await fetch(service.endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-amz-json-1.1", "x-amz-target": target },
        body,
      });
      return { status: response.status, body: (await response.json()) as { __type: string } };
    };
    const unknown = await call("CodePipeline_20150709.DeletePipeline", "{}");
    assert.equal(unknown.status, 400);
    assert.equal(unknown.body.__type, "UnknownOperationException");
    const malformed = await call("CodePipeline_20150709.StartPipelineExecution", "{not json");
    assert.equal(malformed.status, 400);
    assert.equal(malformed.body.__type, "SerializationException");
    const inherited = await call("CodePipeline_20150709.toString", "{}");
    assert.equal(inherited.body.__type, "UnknownOperationException");
    assert.equal(service.callCount("DeletePipeline"), 1);
  });

  it("cancels every pending timer on close(), so nothing fires afterwards and the process can exit", async () => {
    const timeouts = () => process.getActiveResourcesInfo().filter((r) => r === "Timeout").length;
    // Counted after a first await: mocha arms this test's own timeout once the test returns its promise.
    await new Promise((resolve) => setImmediate(resolve));
    const before = timeouts();
    await start("slow");
    await start("manual");
    await start("fast-ok");
    assert.ok(timeouts() > before);

    client.destroy();
    await service.close();
    assert.equal(timeouts(), before);
  });
  describe("stages and actions, as GetPipelineState and ListActionExecutions report them", () => {
    /** Each stage as [name, its latest execution's status, [action, status, error message]…]. */
    const stateOf = async (name: string) =>
      ((await client.send(new GetPipelineStateCommand({ name }))).stageStates ?? []).map((stage) => [
        stage.stageName,
        stage.latestExecution?.status,
        (stage.actionStates ?? []).map((a) => [
          a.actionName,
          a.latestExecution?.status,
          a.latestExecution?.errorDetails?.message,
        ]),
      ]);

    it("fails at the stage and action the spec names, and never reaches the stages after it", async () => {
      const id = await runToEnd("fails-at-build");

      assert.deepEqual(trail(events, id), ranThrough("FAILED", ["Source", "SUCCEEDED"], ["Build", "FAILED"]));
      assert.deepEqual(await stateOf("fails-at-build"), [
        ["Source", "Succeeded", [["Source", "Succeeded", undefined]]],
        [
          "Build",
          "Failed",
          [
            ["Compile", "Succeeded", undefined],
            ["UnitTests", "Failed", "3 tests failed"],
          ],
        ],
        ["Deploy", undefined, [["Deploy", undefined, undefined]]],
      ]);
    });

    it("reports each stage with the id and status of the latest execution that reached it", async () => {
      const first = await start("fast-fails", "first");
      await service.whenEnded(first);
      const second = await start("fast-fails", "second");
      await service.whenEnded(second);

      const { stageStates = [] } = await client.send(new GetPipelineStateCommand({ name: "fast-fails" }));

      assert.deepEqual(
        stageStates.map((s) => [
          s.stageName,
          s.latestExecution?.pipelineExecutionId,
          s.latestExecution?.status,
        ]),
        [
          ["Source", second, "Succeeded"],
          ["Test", second, "Failed"],
        ],
      );
      assert.equal(stageStates[1].actionStates?.[0].latestExecution?.errorDetails?.code, "JobFailed");
    });

    it("lists one execution's action runs newest first, the failing one with its errorDetails", async () => {
      const id = await runToEnd("fails-at-build");
      const other = await start("fails-at-build", "another-run");
      await emitted((e) => e.detail["execution-id"] === other && "stage" in e.detail);

      const { actionExecutionDetails = [] } = await client.send(
        new ListActionExecutionsCommand({
          pipelineName: "fails-at-build",
          filter: { pipelineExecutionId: id },
        }),
      );

      assert.deepEqual(
        actionExecutionDetails.map((a) => [a.pipelineExecutionId, a.stageName, a.actionName, a.status]),
        [
          [id, "Build", "UnitTests", "Failed"],
          [id, "Build", "Compile", "Succeeded"],
          [id, "Source", "Source", "Succeeded"],
        ],
      );
      assert.deepEqual(actionExecutionDetails[0].output?.executionResult?.errorDetails, {
        code: "JobFailed",
        message: "3 tests failed",
      });
      assert.ok(actionExecutionDetails[0].startTime instanceof Date);
    });

    it("marks the open stage's actions Abandoned when an execution is stopped with abandon", async () => {
      const id = await start("slow");
      await client.send(
        new StopPipelineExecutionCommand({ pipelineName: "slow", pipelineExecutionId: id, abandon: true }),
      );

      assert.deepEqual((await stateOf("slow"))[0], [
        "Source",
        "Stopped",
        [["Source", "Abandoned", undefined]],
      ]);
    });

    it("answers ListActionExecutions for an execution it does not know with PipelineExecutionNotFoundException", async () => {
      await assert.rejects(
        client.send(
          new ListActionExecutionsCommand({
            pipelineName: "slow",
            filter: { pipelineExecutionId: "00000000-0000-4000-8000-000000000000" },
          }),
        ),
        PipelineExecutionNotFoundException,
      );
    });

    it("refuses a spec whose failure names a stage or an action the pipeline does not have", async () => {
      const spec = (failure: LocalPipelineSpec["failure"]): LocalPipelineSpec => ({
        name: "p",
        durationMs: 10,
        outcome: "Failed",
        stages: ["Build"],
        failure,
      });
      const onEvent = () => undefined;
      await assert.rejects(startCodePipelineService({ pipelines: [spec({ stage: "Deploy" })], onEvent }), {
        message: 'pipeline p: failure.stage "Deploy" is not one of its stages',
      });
      await assert.rejects(startCodePipelineService({ pipelines: [spec({ action: "Lint" })], onEvent }), {
        message: 'pipeline p: failure.action "Lint" is not an action of stage Build',
      });
    });
  });
});
