/**
 * The local stand-ins, driven the way the product drives them: the CodePipeline stand-in and the
 * task-token service through the real AWS SDK clients, the event router through the same patterns
 * the Pulumi rules declare. Pipelines here run for tens of milliseconds.
 */
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import {
  CodePipelineClient,
  type CodePipelineClientConfig,
  DuplicatedStopRequestException,
  GetPipelineExecutionCommand,
  ListPipelineExecutionsCommand,
  PipelineExecutionNotStoppableException,
  PipelineNotFoundException,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
  ValidationException,
} from "@aws-sdk/client-codepipeline";
import {
  InvalidOutput,
  InvalidToken,
  SFNClient,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  TaskDoesNotExist,
  TaskTimedOut,
} from "@aws-sdk/client-sfn";
import { manifestUploadedPattern, pipelineStateChangePattern } from "../handlers/event-patterns";
import {
  type CodePipelineService,
  type PipelineStateChangeEvent,
  type StageStateChangeEvent,
  startCodePipelineService,
} from "../local/codepipeline-service";
import { type EventEnvelope, type EventPattern, EventRouter, matchesPattern } from "../local/event-router";
import { type SfnService, TaskTokenRegistry, startSfnService } from "../local/sfn-service";

const credentials = { accessKeyId: "x", secretAccessKey: "x" };
const region = "us-east-1";
const PIPELINE_DETAIL_TYPE = "CodePipeline Pipeline Execution State Change";
const STAGE_DETAIL_TYPE = "CodePipeline Stage Execution State Change";

type PipelineEvent = PipelineStateChangeEvent | StageStateChangeEvent;

/** Polls until `condition` holds; fails naming what it waited for. */
async function waitUntil(what: string, condition: () => boolean, timeoutMs = 1000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) assert.fail(`timed out waiting for ${what}`);
    await sleep(2);
  }
}

/** The rejection of `promise`, which must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  return assert.fail("expected the call to be rejected");
}

describe("the local CodePipeline, through the real CodePipelineClient", () => {
  let service: CodePipelineService;
  let client: CodePipelineClient;
  let events: PipelineEvent[];
  /** Error types the SDK classified before asking to retry, in order. */
  let retriedErrorTypes: string[];

  /**
   * Retries only what the SDK classifies as throttling, at once, up to 3 attempts: the SDK's own
   * throttling backoff would add up to 1.5 s of jitter, and any other error reaches the caller.
   */
  const throttlingRetriesOnly: CodePipelineClientConfig["retryStrategy"] = {
    acquireInitialRetryToken: async () => ({ getRetryCount: () => 0, getRetryDelay: () => 0 }),
    refreshRetryTokenForRetry: async (token: { getRetryCount(): number }, info: { errorType: string }) => {
      retriedErrorTypes.push(info.errorType);
      const attempt = token.getRetryCount() + 1;
      if (info.errorType !== "THROTTLING" || attempt >= 3) throw new Error("no retry");
      return { getRetryCount: () => attempt, getRetryDelay: () => 1 };
    },
    recordSuccess: () => undefined,
  };

  beforeEach(async () => {
    events = [];
    retriedErrorTypes = [];
    service = await startCodePipelineService({
      pipelines: [
        { name: "svc-quick", durationMs: 30, outcome: "Succeeded" },
        { name: "svc-fails", durationMs: 20, outcome: "Failed", stages: ["Build"] },
        { name: "svc-manual", durationMs: null, outcome: "Succeeded" },
        { name: "svc-slow", durationMs: 60_000, outcome: "Succeeded" },
      ],
      onEvent: (event) => events.push(event),
    });
    client = new CodePipelineClient({
      endpoint: service.endpoint,
      region,
      credentials,
      retryStrategy: throttlingRetriesOnly,
    });
  });

  afterEach(async () => {
    client.destroy();
    await service.close();
  });

  const start = async (name: string, clientRequestToken: string): Promise<string> => {
    const { pipelineExecutionId } = await client.send(
      new StartPipelineExecutionCommand({ name, clientRequestToken }),
    );
    assert.ok(pipelineExecutionId);
    return pipelineExecutionId;
  };
  const statusOf = async (pipelineName: string, pipelineExecutionId: string) =>
    (await client.send(new GetPipelineExecutionCommand({ pipelineName, pipelineExecutionId })))
      .pipelineExecution?.status;
  const stop = (pipelineName: string, pipelineExecutionId: string, reason = "release failed") =>
    client.send(new StopPipelineExecutionCommand({ pipelineName, pipelineExecutionId, reason }));
  const pipelineEventsOf = (id: string) =>
    events.filter(
      (e): e is PipelineStateChangeEvent =>
        e["detail-type"] === PIPELINE_DETAIL_TYPE && e.detail["execution-id"] === id,
    );
  const pipelineStates = (id: string) => pipelineEventsOf(id).map((e) => e.detail.state);
  /** Every event of an execution as "pipeline:STATE" or "<stage>:STATE", in emission order. */
  const timeline = (id: string) =>
    events
      .filter((e) => e.detail["execution-id"] === id)
      .map((e) => `${"stage" in e.detail ? e.detail.stage : "pipeline"}:${e.detail.state}`);
  const hasEnded = (id: string) =>
    pipelineStates(id).some((state) => ["SUCCEEDED", "FAILED", "STOPPED"].includes(state));

  it("starts an execution that emits STARTED, its stage events, then SUCCEEDED, in EventBridge's envelope", async () => {
    const id = await start("svc-quick", "token-quick");
    await waitUntil("the execution to end", () => hasEnded(id));

    assert.deepEqual(timeline(id), [
      "pipeline:STARTED",
      "Source:STARTED",
      "Source:SUCCEEDED",
      "Build:STARTED",
      "Build:SUCCEEDED",
      "Deploy:STARTED",
      "Deploy:SUCCEEDED",
      "pipeline:SUCCEEDED",
    ]);
    for (const event of events) {
      assert.equal(event.version, "0");
      assert.equal(event.source, "aws.codepipeline");
      assert.equal(event.account, "000000000000");
      assert.equal(event.region, "us-east-1");
      assert.deepEqual(event.resources, ["arn:aws:codepipeline:us-east-1:000000000000:svc-quick"]);
      assert.equal(event.detail.pipeline, "svc-quick");
      assert.equal(event.detail["execution-id"], id);
    }
    assert.deepEqual(
      events.map((e) => e["detail-type"]),
      [PIPELINE_DETAIL_TYPE, ...Array<string>(6).fill(STAGE_DETAIL_TYPE), PIPELINE_DETAIL_TYPE],
    );
    assert.equal(await statusOf("svc-quick", id), "Succeeded");
  });

  it("ends a failing pipeline with FAILED, and GetPipelineExecution says Failed", async () => {
    const id = await start("svc-fails", "token-fails");
    await waitUntil("the execution to end", () => hasEnded(id));

    assert.deepEqual(timeline(id), ["pipeline:STARTED", "Build:STARTED", "Build:FAILED", "pipeline:FAILED"]);
    assert.equal(await statusOf("svc-fails", id), "Failed");
  });

  it("returns the same execution for the same clientRequestToken, and starts only one", async () => {
    const first = await start("svc-quick", "token-once");
    const second = await start("svc-quick", "token-once");
    await waitUntil("the execution to end", () => hasEnded(first));

    assert.equal(second, first);
    assert.deepEqual(
      service.executions("svc-quick").map((e) => e.pipelineExecutionId),
      [first],
    );
    assert.deepEqual(
      events
        .filter((e) => e.detail.state === "STARTED" && !("stage" in e.detail))
        .map((e) => e.detail["execution-id"]),
      [first],
    );
  });

  it("answers an unknown pipeline with the SDK's PipelineNotFoundException", async () => {
    const error = await rejectionOf(start("svc-unknown", "token-1"));

    assert.ok(error instanceof PipelineNotFoundException);
    assert.match(error.message, /svc-unknown/);
    assert.deepEqual(service.executions(), []);
  });

  it("answers a malformed clientRequestToken with ValidationException and starts nothing", async () => {
    const error = await rejectionOf(start("svc-quick", "not a token!"));

    assert.ok(error instanceof ValidationException);
    assert.match(error.message, /clientRequestToken/);
    assert.deepEqual(service.executions(), []);
  });

  it("stops a running execution: STOPPING, then STOPPED, and the status Stopped with its reason", async () => {
    const id = await start("svc-manual", "token-stop");
    await waitUntil("the execution to start", () => pipelineStates(id).includes("STARTED"));

    const stopped = await stop("svc-manual", id, "release 5.15 failed");
    await waitUntil("the execution to end", () => hasEnded(id));

    assert.equal(stopped.pipelineExecutionId, id);
    assert.deepEqual(pipelineStates(id), ["STARTED", "STOPPING", "STOPPED"]);
    assert.equal(await statusOf("svc-manual", id), "Stopped");
    const listed = await client.send(new ListPipelineExecutionsCommand({ pipelineName: "svc-manual" }));
    assert.equal(listed.pipelineExecutionSummaries?.[0]?.stopTrigger?.reason, "release 5.15 failed");
  });

  it("refuses a second stop while the first is in progress with DuplicatedStopRequestException", async () => {
    const id = await start("svc-manual", "token-stop-twice");

    const outcomes = await Promise.allSettled([stop("svc-manual", id), stop("svc-manual", id)]);

    assert.deepEqual(outcomes.map((o) => o.status).sort(), ["fulfilled", "rejected"]);
    const refused = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
    assert.ok(refused?.reason instanceof DuplicatedStopRequestException);
  });

  it("refuses to stop an execution that has ended with PipelineExecutionNotStoppableException", async () => {
    const id = await start("svc-quick", "token-ended");
    await waitUntil("the execution to end", () => hasEnded(id));

    const error = await rejectionOf(stop("svc-quick", id));

    assert.ok(error instanceof PipelineExecutionNotStoppableException);
    assert.match(error.message, /Succeeded/);
  });

  it("lists executions newest first, one page at a time with nextToken", async () => {
    const ids: string[] = [];
    for (const token of ["token-list-1", "token-list-2", "token-list-3"]) {
      ids.push(await start("svc-manual", token));
      await sleep(3); // distinct start times, so "newest" is well defined
    }

    const pages: string[][] = [];
    let nextToken: string | undefined;
    do {
      const page = await client.send(
        new ListPipelineExecutionsCommand({ pipelineName: "svc-manual", maxResults: 1, nextToken }),
      );
      pages.push((page.pipelineExecutionSummaries ?? []).map((s) => s.pipelineExecutionId ?? ""));
      nextToken = page.nextToken;
    } while (nextToken !== undefined && pages.length < 5);

    assert.deepEqual(pages, [[ids[2]], [ids[1]], [ids[0]]]);
  });

  it("fails the next calls with an injected ThrottlingException, which the SDK retries to success", async () => {
    service.faults.inject({ operation: "StartPipelineExecution", error: "ThrottlingException", times: 2 });

    const id = await start("svc-manual", "token-throttled");

    assert.deepEqual(retriedErrorTypes, ["THROTTLING", "THROTTLING"]);
    assert.equal(service.callCount("StartPipelineExecution"), 3);
    assert.deepEqual(
      service.executions().map((e) => e.pipelineExecutionId),
      [id],
    );
  });

  it("applies a start whose response is lost (afterEffect), so a retry with the same token finds it", async () => {
    service.faults.inject({
      operation: "StartPipelineExecution",
      error: "InternalFailure",
      httpStatus: 500,
      times: 1,
      afterEffect: true,
    });

    const error = await rejectionOf(start("svc-manual", "token-lost"));
    const started = service.executions("svc-manual").map((e) => e.pipelineExecutionId);
    const retried = await start("svc-manual", "token-lost");

    assert.equal(error.name, "InternalFailure");
    assert.equal(started.length, 1);
    assert.equal(retried, started[0]);
    assert.deepEqual(
      service.executions().map((e) => e.pipelineExecutionId),
      started,
    );
  });

  it("lets finish() end an execution that runs until told, emitting its terminal event", async () => {
    const succeeded = await start("svc-manual", "token-finish-ok");
    const failed = await start("svc-manual", "token-finish-failed");
    await waitUntil("both executions to start", () =>
      [succeeded, failed].every((id) => pipelineStates(id).includes("STARTED")),
    );

    service.finish(succeeded, "Succeeded");
    service.finish(failed, "Failed");

    assert.deepEqual(pipelineStates(succeeded), ["STARTED", "SUCCEEDED"]);
    assert.deepEqual(pipelineStates(failed), ["STARTED", "FAILED"]);
    assert.deepEqual(
      [await statusOf("svc-manual", succeeded), await statusOf("svc-manual", failed)],
      ["Succeeded", "Failed"],
    );
  });

  it("clears every pending timer on close(): a 60 s pipeline does not hold the process, a 30 ms one emits nothing more", async () => {
    const slow = await start("svc-slow", "token-slow");
    const quick = await start("svc-quick", "token-quick-closed");
    await waitUntil("both executions to start", () =>
      [slow, quick].every((id) => pipelineStates(id).includes("STARTED")),
    );
    const emittedBeforeClose = events.length;

    await service.close();
    await sleep(50);

    assert.equal(events.length, emittedBeforeClose);
    assert.equal(hasEnded(quick), false);
  });
});

describe("the local event router", () => {
  describe("matchesPattern", () => {
    const kinds: { kind: string; pattern: EventPattern; matching: object; other: object }[] = [
      {
        kind: "a literal string",
        pattern: { source: ["aws.s3"] },
        matching: { source: "aws.s3" },
        other: { source: "aws.s3x" },
      },
      { kind: "a literal number", pattern: { size: [5] }, matching: { size: 5 }, other: { size: "5" } },
      { kind: "a literal boolean", pattern: { ok: [true] }, matching: { ok: true }, other: { ok: "true" } },
      { kind: "a literal null", pattern: { reason: [null] }, matching: { reason: null }, other: {} },
      {
        kind: "a prefix",
        pattern: { key: [{ prefix: "releases/" }] },
        matching: { key: "releases/r.json" },
        other: { key: "drafts/releases/r.json" },
      },
      {
        kind: "a prefix ignoring case",
        pattern: { key: [{ prefix: { "equals-ignore-case": "RELEASES/" } }] },
        matching: { key: "Releases/r.json" },
        other: { key: "drafts/r.json" },
      },
      {
        kind: "a suffix",
        pattern: { key: [{ suffix: ".json" }] },
        matching: { key: "releases/r.json" },
        other: { key: "releases/r.json.txt" },
      },
      {
        kind: "a suffix ignoring case",
        pattern: { key: [{ suffix: { "equals-ignore-case": ".JSON" } }] },
        matching: { key: "r.Json" },
        other: { key: "r.jsonl" },
      },
      {
        kind: "equals-ignore-case",
        pattern: { pipeline: [{ "equals-ignore-case": "svc-A" }] },
        matching: { pipeline: "SVC-a" },
        other: { pipeline: "svc-ab" },
      },
      {
        kind: "a wildcard, whose dots are literal",
        pattern: { key: [{ wildcard: "releases/*.json" }] },
        matching: { key: "releases/5.15/r.json" },
        other: { key: "releases/5.15/rXjson" },
      },
      {
        kind: "an open-closed numeric range",
        pattern: { size: [{ numeric: [">", 0, "<=", 5] }] },
        matching: { size: 5 },
        other: { size: 0 },
      },
      {
        kind: "a closed-open numeric range",
        pattern: { size: [{ numeric: [">=", 10, "<", 20] }] },
        matching: { size: 10 },
        other: { size: 20 },
      },
      {
        kind: "numeric equality",
        pattern: { size: [{ numeric: ["=", 3] }] },
        matching: { size: 3 },
        other: { size: "3" },
      },
      {
        kind: "anything-but a value",
        pattern: { state: [{ "anything-but": "STARTED" }] },
        matching: { state: "FAILED" },
        other: { state: "STARTED" },
      },
      {
        kind: "anything-but a list",
        pattern: { state: [{ "anything-but": ["STARTED", "RESUMED"] }] },
        matching: { state: "SUCCEEDED" },
        other: { state: "RESUMED" },
      },
      {
        kind: "anything-but a prefix",
        pattern: { key: [{ "anything-but": { prefix: "tmp/" } }] },
        matching: { key: "releases/r.json" },
        other: { key: "tmp/r.json" },
      },
      {
        kind: "exists: true",
        pattern: { "version-id": [{ exists: true }] },
        matching: { "version-id": "v1" },
        other: {},
      },
      {
        kind: "exists: false",
        pattern: { "version-id": [{ exists: false }] },
        matching: {},
        other: { "version-id": "v1" },
      },
      {
        kind: "$or",
        pattern: {
          $or: [{ state: ["FAILED"] }, { size: [{ numeric: [">", 100] }] }],
        } as unknown as EventPattern,
        matching: { state: "SUCCEEDED", size: 101 },
        other: { state: "SUCCEEDED", size: 100 },
      },
      {
        kind: "an array in the event (any element)",
        pattern: { resources: ["arn:aws:s3:::b"] },
        matching: { resources: ["arn:aws:s3:::a", "arn:aws:s3:::b"] },
        other: { resources: ["arn:aws:s3:::a"] },
      },
      {
        kind: "a nested field",
        pattern: { detail: { bucket: { name: ["b"] } } },
        matching: { detail: { bucket: { name: "b" } } },
        other: { detail: { bucket: { name: "c" } } },
      },
    ];
    for (const { kind, pattern, matching, other } of kinds) {
      it(`matches by ${kind}: ${JSON.stringify(matching)} but not ${JSON.stringify(other)}`, () => {
        assert.deepEqual([matchesPattern(pattern, matching), matchesPattern(pattern, other)], [true, false]);
      });
    }

    it("throws on a matcher it does not support, rather than guessing", () => {
      assert.throws(
        () => matchesPattern({ ip: [{ cidr: "10.0.0.0/24" }] }, { ip: "10.0.0.1" }),
        /unsupported EventBridge pattern matcher \{"cidr":"10.0.0.0\/24"\}/,
      );
    });
  });

  describe("the product's patterns (handlers/event-patterns.ts)", () => {
    /** An S3 "Object Created" event as EventBridge delivers it. */
    const objectCreated = (bucket: string, key: string): EventEnvelope => ({
      version: "0",
      id: "17793124-05d4-b198-2fde-7ededc63b103",
      "detail-type": "Object Created",
      source: "aws.s3",
      account: "123456789012",
      time: "2026-01-15T10:00:00Z",
      region: "us-east-1",
      resources: [`arn:aws:s3:::${bucket}`],
      detail: {
        version: "0",
        bucket: { name: bucket },
        object: {
          key,
          size: 143,
          etag: "b1946ac92492d2347c6235b4d2611184",
          "version-id": "v1",
          sequencer: "0062E99A88DC407460",
        },
        "request-id": "N4N7GDK58NMKJ12R",
        requester: "123456789012",
        "source-ip-address": "1.2.3.4",
        reason: "PutObject",
      },
    });
    const pipelineEvent = (detailType: string, pipeline: string): EventEnvelope => ({
      version: "0",
      id: "01234567-0123-0123-0123-012345678901",
      "detail-type": detailType,
      source: "aws.codepipeline",
      account: "123456789012",
      time: "2026-01-15T10:00:00Z",
      region: "us-east-1",
      resources: [`arn:aws:codepipeline:us-east-1:123456789012:${pipeline}`],
      detail: { pipeline, "execution-id": "e-1", state: "SUCCEEDED", version: 1, stage: "Deploy" },
    });

    it("matches a .json manifest written to the release bucket, and not a .txt or another bucket's", () => {
      const pattern = manifestUploadedPattern("b");

      assert.deepEqual(
        [
          matchesPattern(pattern, objectCreated("b", "releases/r.json")),
          matchesPattern(pattern, objectCreated("b", "releases/r.txt")),
          matchesPattern(pattern, objectCreated("other", "releases/r.json")),
        ],
        [true, false, false],
      );
    });

    it("matches pipeline state changes of the listed pipelines only, and no stage events", () => {
      const pattern = pipelineStateChangePattern(["a", "b"]);

      assert.deepEqual(
        [
          matchesPattern(pattern, pipelineEvent(PIPELINE_DETAIL_TYPE, "a")),
          matchesPattern(pattern, pipelineEvent(PIPELINE_DETAIL_TYPE, "c")),
          matchesPattern(pattern, pipelineEvent(STAGE_DETAIL_TYPE, "a")),
        ],
        [true, false, false],
      );
    });
  });

  describe("EventRouter", () => {
    let router: EventRouter;
    beforeEach(() => {
      router = new EventRouter({ maxAttempts: 3, retryDelayMs: 1 });
    });
    afterEach(() => router.close());

    const event = (source: string, detail: Record<string, unknown> = {}): EventEnvelope => ({
      version: "0",
      id: `${source}-event`,
      "detail-type": "Test",
      source,
      account: "000000000000",
      time: "2026-01-15T10:00:00Z",
      region: "us-east-1",
      resources: [],
      detail,
    });
    /** Adds a rule on `source` whose target records the ids it receives. */
    const recordingRule = (name: string, source: string): string[] => {
      const received: string[] = [];
      router.addRule({ name, pattern: { source: [source] }, target: (e) => void received.push(e.id) });
      return received;
    };

    it("delivers asynchronously: the target is not called inside publish", async () => {
      const received = recordingRule("r", "app");

      router.publish(event("app"));
      const duringPublish = [...received];
      await router.idle();

      assert.deepEqual(duringPublish, []);
      assert.deepEqual(received, ["app-event"]);
    });

    it("retries a throwing target and records a delivery failure after maxAttempts", async () => {
      let attempts = 0;
      router.addRule({
        name: "broken",
        pattern: { source: ["app"] },
        target: () => {
          attempts += 1;
          throw new Error(`attempt ${attempts} failed`);
        },
      });

      router.publish(event("app"));
      await router.idle();

      assert.equal(attempts, 3);
      assert.deepEqual(router.deliveryFailures, [
        { rule: "broken", eventId: "app-event", error: "Error: attempt 3 failed" },
      ]);
    });

    it("delivers on a retry after a target fails once, recording no failure", async () => {
      let attempts = 0;
      const received: string[] = [];
      router.addRule({
        name: "flaky",
        pattern: { source: ["app"] },
        target: (e) => {
          attempts += 1;
          if (attempts === 1) throw new Error("first attempt failed");
          received.push(e.id);
        },
      });

      router.publish(event("app"));
      await router.idle();

      assert.equal(attempts, 2);
      assert.deepEqual(received, ["app-event"]);
      assert.deepEqual(router.deliveryFailures, []);
    });

    it("lets intercept drop a delivery, asking with the event and the rule's name", async () => {
      const received = recordingRule("r", "app");
      const asked: string[] = [];
      router.intercept = (e, rule) => {
        asked.push(`${e.id} ${rule}`);
        return "drop";
      };

      router.publish(event("app"));
      await router.idle();

      assert.deepEqual(asked, ["app-event r"]);
      assert.deepEqual(received, []);
    });

    it("lets intercept duplicate a delivery: the target gets the same event twice", async () => {
      const received = recordingRule("r", "app");
      router.intercept = () => "duplicate";

      router.publish(event("app"));
      await router.idle();

      assert.deepEqual(received, ["app-event", "app-event"]);
    });

    it("lets intercept delay a delivery, and idle() waits for it", async () => {
      const received = recordingRule("r", "app");
      router.intercept = () => ({ delayMs: 40 });
      const publishedAt = Date.now();

      router.publish(event("app"));
      await sleep(10);
      const early = [...received];
      await router.idle();

      assert.deepEqual(early, []);
      assert.deepEqual(received, ["app-event"]);
      assert.ok(Date.now() - publishedAt >= 35, "delivered before the delay");
    });

    it("makes idle() wait for deliveries that publish further events", async () => {
      router.addRule({
        name: "first",
        pattern: { source: ["app"] },
        target: () => router.publish(event("next")),
      });
      const received = recordingRule("second", "next");

      router.publish(event("app"));
      await router.idle();

      assert.deepEqual(received, ["next-event"]);
    });

    it("wraps putEvents entries in EventBridge's envelope and delivers them", async () => {
      const received: EventEnvelope[] = [];
      router.addRule({
        name: "r",
        pattern: { source: ["release-machine"] },
        target: (e) => void received.push(e),
      });

      const result = router.putEvents([
        {
          Source: "release-machine",
          DetailType: "Release Succeeded",
          Detail: '{"releaseId":"5.15"}',
          Resources: ["arn:aws:states:us-east-1:000000000000:execution:m:release-5.15"],
          Time: "2026-01-15T10:00:00.000Z",
        },
      ]);
      await router.idle();

      const [entry] = result.Entries as { EventId: string }[];
      assert.equal(result.FailedEntryCount, 0);
      assert.deepEqual(received, [
        {
          version: "0",
          id: entry.EventId,
          "detail-type": "Release Succeeded",
          source: "release-machine",
          account: "000000000000",
          time: "2026-01-15T10:00:00.000Z",
          region: "us-east-1",
          resources: ["arn:aws:states:us-east-1:000000000000:execution:m:release-5.15"],
          detail: { releaseId: "5.15" },
        },
      ]);
    });

    it("reports MalformedDetail for each entry whose Detail is not a JSON object, and publishes only the rest", () => {
      const entry = (Detail: string) => ({ Source: "app", DetailType: "Test", Detail });

      const result = router.putEvents(["[1]", '"text"', "null", "not json", '{"ok":true}'].map(entry));

      assert.equal(result.FailedEntryCount, 4);
      assert.deepEqual(
        result.Entries.map((e) => ("ErrorCode" in e ? e.ErrorCode : "published")),
        ["MalformedDetail", "MalformedDetail", "MalformedDetail", "MalformedDetail", "published"],
      );
      assert.deepEqual(
        router.published.map((e) => e.detail),
        [{ ok: true }],
      );
    });
  });

  /** Known defect, reported and not fixed here: fails until local/event-router.ts is fixed. */
  describe("rule registration", () => {
    // EventRouter.addRule (local/event-router.ts:165) evaluates the pattern against `{}`, but
    // fieldMatches returns false for a missing field before looking at the matcher, so an
    // unsupported matcher is accepted here and throws out of publish() at the first event.
    it("refuses a rule with an unsupported matcher when it is added, not at the first event", () => {
      const router = new EventRouter();

      assert.throws(
        () =>
          router.addRule({
            name: "r",
            pattern: { source: [{ cidr: "10.0.0.0/24" }] },
            target: () => undefined,
          }),
        /unsupported EventBridge pattern matcher/,
      );
    });
  });
});

describe("task tokens, through the real SFNClient", () => {
  let registry: TaskTokenRegistry;
  let service: SfnService;
  let client: SFNClient;

  beforeEach(async () => {
    registry = new TaskTokenRegistry();
    service = await startSfnService({ registry });
    client = new SFNClient({ endpoint: service.endpoint, region, credentials, maxAttempts: 1 });
  });
  afterEach(async () => {
    client.destroy();
    await service.close();
  });

  const succeed = (taskToken: string, output: string) =>
    client.send(new SendTaskSuccessCommand({ taskToken, output }));

  it("resolves the waiting task with the parsed output of SendTaskSuccess", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);

    await succeed(token, '{"pipeline":"svc-a","status":"Succeeded"}');

    assert.deepEqual(await waiting, { pipeline: "svc-a", status: "Succeeded" });
    assert.deepEqual(registry.pending(), []);
  });

  it("rejects the waiting task with SendTaskFailure's error as the name and its cause as the message", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);

    await client.send(
      new SendTaskFailureCommand({
        taskToken: token,
        error: "PipelineExecutionFailed",
        cause: "svc-a ended Failed",
      }),
    );
    const error = await rejectionOf(waiting);

    assert.equal(error.name, "PipelineExecutionFailed");
    assert.equal(error.message, "svc-a ended Failed");
  });

  it("answers a second completion of one task with the SDK's TaskTimedOut", async () => {
    const token = registry.create();
    await succeed(token, "{}");

    const error = await rejectionOf(succeed(token, "{}"));

    assert.ok(error instanceof TaskTimedOut);
  });

  it("answers a token it never issued with InvalidToken", async () => {
    const error = await rejectionOf(succeed("AAAAKgAAAAIAAAAAAAAAAf0token", "{}"));

    assert.ok(error instanceof InvalidToken);
  });

  it("answers a well-formed token it does not know with TaskDoesNotExist", async () => {
    const tokenOfAnotherRegistry = new TaskTokenRegistry().create();

    const error = await rejectionOf(succeed(tokenOfAnotherRegistry, "{}"));

    assert.ok(error instanceof TaskDoesNotExist);
  });

  it("answers output that is not JSON with InvalidOutput, and the task keeps waiting", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);

    const error = await rejectionOf(succeed(token, "{not json"));

    assert.ok(error instanceof InvalidOutput);
    assert.deepEqual(registry.pending(), [token]);
    await succeed(token, '{"late":true}');
    assert.deepEqual(await waiting, { late: true });
  });

  it("accepts a heartbeat for a waiting task and leaves it waiting", async () => {
    const token = registry.create();

    const response = await client.send(new SendTaskHeartbeatCommand({ taskToken: token }));

    assert.equal(response.$metadata.httpStatusCode, 200);
    assert.deepEqual(registry.pending(), [token]);
  });

  it("rejects the waiter on cancel, after which the task can no longer be completed", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);

    registry.cancel(token, "the release's execution ended");
    const error = await rejectionOf(waiting);
    const late = await rejectionOf(succeed(token, "{}"));

    assert.equal(error.name, "States.TaskCancelled");
    assert.equal(error.message, "the release's execution ended");
    assert.ok(late instanceof TaskTimedOut);
  });
});
