/**
 * Handler units: each named error and each decision, against dynalite (the real DynamoDB API)
 * and strict fakes for the other services (an unexpected call throws).
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SendTaskSuccessCommand, SFNClient, TaskTimedOut } from "@aws-sdk/client-sfn";
import {
  CodePipelineClient,
  StartPipelineExecutionCommand,
  StopPipelineExecutionCommand,
} from "@aws-sdk/client-codepipeline";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import { manifestRulesFromEnvironment, tableNamesFromEnvironment } from "../handlers/config";
import {
  ConfigurationError,
  DuplicateRelease,
  InvalidManifest,
  ManifestNotFound,
  ReleaseNotRegistered,
} from "../contract/errors";
import type { ExecutionDeps } from "../handlers/executions";
import type { PipelineStateChangeEvent } from "../contract/pipeline-events";
import { handlePipelineEvent, reconcile } from "../handlers/pipeline-events";
import { awsError, pipelineEvent as stateChange } from "./event-builders";
import { registerReleaseWaiter } from "../handlers/release/outcome";
import { pipelinesOfRelease } from "../handlers/release/reads";
import { registerRelease } from "../handlers/release/registration";
import { LAMBDA_ENTRY_POINTS } from "../handlers/index";
import { loadManifest, parseReleaseRequest, validateManifest } from "../handlers/load-manifest";
import { type PlannedPipeline, clientRequestToken, manifestParser } from "../contract/manifest";
import { statusFromEventState } from "../contract/tables";
import type { LocalDynamo } from "../local/dynamodb";
import { startReleaseTables, stopReleaseTables } from "./local-helpers";

type Sent = { name: string; input: unknown };

/** A client whose `send` answers only the commands listed; anything else throws. */
function strictClient<T>(answers: Record<string, (input: never) => unknown>): { client: T; sent: Sent[] } {
  const sent: Sent[] = [];
  const client = {
    send: async (command: { constructor: { name: string }; input: unknown }) => {
      const name = command.constructor.name;
      sent.push({ name, input: command.input });
      const answer = answers[name];
      if (!answer) throw new Error(`unexpected call ${name}`);
      return answer(command.input as never);
    },
  } as unknown as T;
  return { client, sent };
}

const pipelineEvent = (
  executionId: string,
  state: string,
  id: string,
  pipeline = "svc-a",
): PipelineStateChangeEvent => stateChange({ id, pipeline, executionId, state });

describe("handlers", () => {
  let dynamo: LocalDynamo;
  let raw: DynamoDBClient;
  const tables = { releases: "releases", executions: "executions", releasePipelines: "release-pipelines" };

  before(async () => {
    ({ dynamo, raw } = await startReleaseTables(tables));
  });
  after(() => stopReleaseTables({ dynamo, raw }));

  function deps(overrides: Partial<ExecutionDeps> = {}): ExecutionDeps {
    return {
      ddb: documentClient(raw),
      sfn: strictClient<SFNClient>({}).client,
      codepipeline: strictClient<CodePipelineClient>({}).client,
      // Release events are published and not the subject here: accepted, each one recorded.
      events: strictClient<EventBridgeClient>({ PutEventsCommand: () => ({ FailedEntryCount: 0 }) }).client,
      tables,
      ...overrides,
    };
  }

  async function claim(pipelineExecutionId: string, releaseId: string, pipeline = "svc-a") {
    await documentClient(raw).send(
      new PutCommand({
        TableName: tables.executions,
        Item: { pipelineExecutionId, releaseId, pipeline, status: "Started" },
      }),
    );
  }

  describe("loadManifest", () => {
    it("reads the manifest object at the event's version and says where it came from", async () => {
      const s3 = strictClient<S3Client>({
        GetObjectCommand: () => ({ ContentLength: 2, Body: { transformToString: async () => "{}" } }),
      });
      const loaded = await loadManifest(
        { s3: s3.client, maxBytes: 100 },
        { source: "s3", bucket: "b", key: "r.json", versionId: "v1" },
      );
      assert.deepEqual(loaded, {
        text: "{}",
        location: "s3://b/r.json?versionId=v1",
        submittedBy: "unknown",
      });
      assert.deepEqual(s3.sent, [
        { name: GetObjectCommand.name, input: { Bucket: "b", Key: "r.json", VersionId: "v1" } },
      ]);
    });

    it("throws ManifestNotFound when the object or version is gone", async () => {
      const s3 = strictClient<S3Client>({
        GetObjectCommand: () => Promise.reject(awsError("NoSuchVersion")),
      });
      await assert.rejects(
        loadManifest(
          { s3: s3.client, maxBytes: 100 },
          { source: "s3", bucket: "b", key: "r.json", versionId: "v9" },
        ),
        (e: Error) =>
          e instanceof ManifestNotFound &&
          e.name === "ManifestNotFound" &&
          /s3:\/\/b\/r.json\?versionId=v9/.test(e.message),
      );
    });

    it("throws InvalidManifest (maxBytes) for an object over the limit without reading it", async () => {
      let destroyed = false;
      const s3 = strictClient<S3Client>({
        GetObjectCommand: () => ({ ContentLength: 101, Body: { destroy: () => (destroyed = true) } }),
      });
      await assert.rejects(
        loadManifest({ s3: s3.client, maxBytes: 100 }, { source: "s3", bucket: "b", key: "big.json" }),
        (e: Error) => e instanceof InvalidManifest && e.problems[0].rule === "maxBytes",
      );
      assert.equal(destroyed, true);
    });

    it("rejects an execution input that is neither an S3 reference nor an API body", () => {
      assert.throws(
        () => parseReleaseRequest({ source: "ftp" }),
        (e: Error) => e instanceof InvalidManifest && /execution input must be/.test(e.message),
      );
      assert.throws(() => parseReleaseRequest({ source: "s3", bucket: "b" }), /bucket and key/);
    });
  });

  describe("validateManifest", () => {
    it("returns the release plan in manifest order and carries the manifest's location on", () => {
      const output = validateManifest(manifestParser({ maxPipelines: 5, maxBytes: 1000 }), {
        text: '{"releaseId":"r1","pipelines":["b",{"name":"a","dependsOn":["b"]}]}',
        location: "s3://bucket/r1.json",
      });
      assert.deepEqual(output, {
        releaseId: "r1",
        location: "s3://bucket/r1.json",
        submittedBy: "unknown",
        pipelines: [{ name: "b" }, { name: "a", dependsOn: ["b"] }],
        options: {},
      });
    });

    it("throws InvalidManifest for a missing text", () => {
      assert.throws(
        () => validateManifest(manifestParser({ maxPipelines: 5, maxBytes: 1000 }), { text: undefined }),
        InvalidManifest,
      );
    });
  });

  describe("configuration", () => {
    it("throws ConfigurationError naming the variable to set", () => {
      assert.throws(
        () => tableNamesFromEnvironment({ EXECUTIONS_TABLE: "e" }),
        (e: Error) => e instanceof ConfigurationError && /RELEASES_TABLE is not set/.test(e.message),
      );
      assert.throws(
        () => manifestRulesFromEnvironment({ MAX_PIPELINES: "many" }),
        /MAX_PIPELINES must be a positive integer/,
      );
    });

    it("reads the allow-list and limits from the environment", () => {
      assert.deepEqual(
        manifestRulesFromEnvironment({
          ALLOWED_PIPELINES: "a, b,,c",
          MAX_PIPELINES: "3",
          MAX_MANIFEST_BYTES: "999",
        }),
        {
          allowedPipelines: ["a", "b", "c"],
          maxPipelines: 3,
          maxBytes: 999,
        },
      );
    });
  });

  /** Registers a one-execution release whose pipelines CodePipeline starts as `exec-<pipeline>`. */
  async function registered(
    releaseId: string,
    pipelines: PlannedPipeline[],
    overrides: Partial<ExecutionDeps> = {},
  ): Promise<{ codepipeline: { sent: Sent[] }; executionArn: string }> {
    const codepipeline = strictClient<CodePipelineClient>({
      StartPipelineExecutionCommand: (input: { name: string }) => ({
        pipelineExecutionId: `exec-${releaseId}-${input.name}`,
      }),
    });
    const executionArn = `arn:aws:states:us-east-1:1:execution:m:${releaseId}`;
    await registerRelease(deps({ codepipeline: codepipeline.client, ...overrides }), {
      releaseId,
      executionArn,
      startedAt: "2026-11-30T12:00:00.000Z",
      source: "api",
      failurePolicy: "stopRemaining",
      longestPipelineRunSeconds: 3600,
      pipelines,
    });
    return { codepipeline, executionArn };
  }

  describe("registerRelease", () => {
    it("starts only the pipelines that depend on nothing, each with its attempt's token and variables", async () => {
      const { codepipeline } = await registered("r-roots", [
        { name: "svc-a", variables: { v: "1" } },
        { name: "svc-b", dependsOn: ["svc-a"] },
        { name: "svc-c" },
      ]);
      assert.deepEqual(codepipeline.sent, [
        {
          name: StartPipelineExecutionCommand.name,
          input: {
            name: "svc-a",
            clientRequestToken: clientRequestToken("r-roots", "svc-a", 1),
            variables: [{ name: "v", value: "1" }],
          },
        },
        {
          name: StartPipelineExecutionCommand.name,
          input: { name: "svc-c", clientRequestToken: clientRequestToken("r-roots", "svc-c", 1) },
        },
      ]);
      const schedule = await pipelinesOfRelease(deps(), "r-roots");
      assert.deepEqual(
        schedule.map((p) => [p.pipeline, p.status, p.dependants]),
        [
          ["svc-a", "Started", ["svc-b"]],
          ["svc-b", "Pending", []],
          ["svc-c", "Started", []],
        ],
      );
    });

    it("throws DuplicateRelease when another execution registered the releaseId, and starts nothing", async () => {
      await registered("r-dup-reg", [{ name: "svc-a" }]);
      const codepipeline = strictClient<CodePipelineClient>({});
      await assert.rejects(
        registerRelease(deps({ codepipeline: codepipeline.client }), {
          releaseId: "r-dup-reg",
          executionArn: "arn:aws:states:us-east-1:1:execution:m:other",
          startedAt: "2026-11-30T12:00:00.000Z",
          source: "api",
          failurePolicy: "stopRemaining",
          longestPipelineRunSeconds: 3600,
          pipelines: [{ name: "svc-a" }],
        }),
        (e: Error) => e instanceof DuplicateRelease && /r-dup-reg was already submitted/.test(e.message),
      );
      assert.deepEqual(codepipeline.sent, []);
    });

    it("repeats nothing already done when the same execution registers again (a retried task)", async () => {
      const first = await registered("r-retry", [{ name: "svc-a" }]);
      const again = await registered("r-retry", [{ name: "svc-a" }]);
      assert.equal(first.codepipeline.sent.length, 1);
      assert.deepEqual(again.codepipeline.sent, [], "the claimed start is not claimed twice");
    });
  });

  describe("registerReleaseWaiter", () => {
    it("throws ReleaseNotRegistered for a release another execution registered", async () => {
      await registered("r-other-wait", [{ name: "svc-a" }]);
      await assert.rejects(
        registerReleaseWaiter(deps(), {
          taskToken: "t",
          releaseId: "r-other-wait",
          executionArn: "arn:other",
        }),
        (e: Error) => e instanceof ReleaseNotRegistered && e.name === "ReleaseNotRegistered",
      );
    });

    it("stores the token and waits while a pipeline runs", async () => {
      const { executionArn } = await registered("r-wait", [{ name: "svc-a" }]);
      const request = { taskToken: "tok-1", releaseId: "r-wait", executionArn };
      assert.deepEqual(await registerReleaseWaiter(deps(), request), { completedAtOnce: false });
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.releases, Key: { releaseId: "r-wait" } }),
      );
      assert.equal(Item?.taskToken, "tok-1");
    });

    it("completes at once when every pipeline settled before the wait registered", async () => {
      const { executionArn } = await registered("r-early-wait", [{ name: "svc-a" }]);
      await handlePipelineEvent(deps(), pipelineEvent("exec-r-early-wait-svc-a", "SUCCEEDED", "ev-early"));
      const sfn = strictClient<SFNClient>({ SendTaskSuccessCommand: () => ({}) });
      const request = { taskToken: "tok-2", releaseId: "r-early-wait", executionArn };
      assert.deepEqual(await registerReleaseWaiter(deps({ sfn: sfn.client }), request), {
        completedAtOnce: true,
      });
      assert.deepEqual(
        sfn.sent.map((s) => s.input),
        [{ taskToken: "tok-2", output: JSON.stringify({ status: "SUCCEEDED", causedBy: "unknown" }) }],
      );
    });
  });

  describe("handlePipelineEvent", () => {
    it("sends the release's outcome, naming the failed pipeline, when its last pipeline ends", async () => {
      const { executionArn } = await registered("r-fail", [{ name: "svc-a" }]);
      const sfn = strictClient<SFNClient>({ SendTaskSuccessCommand: () => ({}) });
      await registerReleaseWaiter(deps(), { taskToken: "tok-f", releaseId: "r-fail", executionArn });

      const outcome = await handlePipelineEvent(
        deps({ sfn: sfn.client }),
        pipelineEvent("exec-r-fail-svc-a", "CANCELED", "ev-f"),
      );

      assert.equal(outcome, "ended");
      assert.deepEqual(sfn.sent, [
        {
          name: SendTaskSuccessCommand.name,
          input: {
            taskToken: "tok-f",
            output: JSON.stringify({
              status: "FAILED",
              error: "PipelineFailed",
              cause: "Pipeline svc-a did not succeed: execution exec-r-fail-svc-a ended Cancelled",
              causedBy: "release-machine",
            }),
          },
        },
      ]);
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-r-fail-svc-a" } }),
      );
      assert.equal(Item?.status, "Cancelled");
    });

    it("records an event once, however often it is delivered", async () => {
      await claim("exec-dup", "r-dup");
      assert.equal(
        await handlePipelineEvent(deps(), pipelineEvent("exec-dup", "STOPPING", "ev-1")),
        "recorded",
      );
      assert.equal(
        await handlePipelineEvent(deps(), pipelineEvent("exec-dup", "STOPPING", "ev-1")),
        "duplicate",
      );
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-dup" } }),
      );
      assert.deepEqual(
        Item?.history.map((h: { state: string }) => h.state),
        ["STOPPING"],
      );
    });

    it("writes nothing for a first attempt's STARTED, before or after the start record: the record says it", async () => {
      assert.equal(
        await handlePipelineEvent(deps(), pipelineEvent("exec-early", "STARTED", "ev-1")),
        "recorded",
      );
      const early = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-early" } }),
      );
      assert.equal(early.Item, undefined);
      await claim("exec-known", "r-known");
      assert.equal(
        await handlePipelineEvent(deps(), pipelineEvent("exec-known", "STARTED", "ev-2")),
        "recorded",
      );
      const known = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-known" } }),
      );
      assert.deepEqual(known.Item, {
        pipelineExecutionId: "exec-known",
        releaseId: "r-known",
        pipeline: "svc-a",
        status: "Started",
      });
    });

    it("never lets a late event overwrite a terminal status, and records one end per execution", async () => {
      await handlePipelineEvent(deps(), pipelineEvent("exec-late", "FAILED", "ev-end"));
      await handlePipelineEvent(deps(), pipelineEvent("exec-late", "STOPPING", "ev-stopping"));
      await handlePipelineEvent(deps(), pipelineEvent("exec-late", "STOPPED", "ev-stopped"));
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-late" } }),
      );
      assert.equal(Item?.status, "Failed");
      assert.deepEqual(
        Item?.history.map((h: { state: string }) => h.state),
        ["FAILED", "STOPPING"],
      );
    });

    it("acts on nothing for an execution this machine did not start", async () => {
      const outcome = await handlePipelineEvent(
        deps(),
        pipelineEvent("exec-foreign", "SUCCEEDED", "ev-foreign"),
      );
      assert.equal(outcome, "recorded");
    });

    it("ignores events of other kinds and unknown states", async () => {
      assert.equal(
        await handlePipelineEvent(deps(), {
          ...pipelineEvent("x", "SUCCEEDED", "e"),
          "detail-type": "CodePipeline Stage Execution State Change",
        }),
        "ignored",
      );
      assert.equal(await handlePipelineEvent(deps(), pipelineEvent("x", "EXPLODED", "e2")), "ignored");
    });

    it("normalises CANCELED to the API's Cancelled", () => {
      assert.equal(statusFromEventState("CANCELED"), "Cancelled");
      assert.equal(statusFromEventState("nonsense"), undefined);
    });

    it("treats a release wait that no longer waits (TaskTimedOut) as done, and lets other SendTask errors through", async () => {
      for (const [releaseId, error, expected] of [
        ["r-stale", new TaskTimedOut({ message: "Task Timed Out", $metadata: {} }), undefined],
        ["r-throttled", awsError("ThrottlingException"), /ThrottlingException/],
      ] as const) {
        const { executionArn } = await registered(releaseId, [{ name: "svc-a" }]);
        await registerReleaseWaiter(deps(), { taskToken: "old", releaseId, executionArn });
        const sfn = strictClient<SFNClient>({ SendTaskSuccessCommand: () => Promise.reject(error) });
        const handled = handlePipelineEvent(
          deps({ sfn: sfn.client }),
          pipelineEvent(`exec-${releaseId}-svc-a`, "SUCCEEDED", `ev-${releaseId}`),
        );
        if (expected) await assert.rejects(handled, expected);
        else assert.equal(await handled, "ended");
      }
    });
  });

  describe("reconcile", () => {
    it("acts on executions that ended without an event and leaves running ones waiting", async () => {
      await registered("r-rec", [{ name: "svc-a" }, { name: "svc-b" }]);
      const codepipeline = strictClient<CodePipelineClient>({
        GetPipelineExecutionCommand: (input: { pipelineExecutionId: string }) => ({
          pipelineExecution: {
            pipelineName: "svc-a",
            pipelineExecutionId: input.pipelineExecutionId,
            status: input.pipelineExecutionId === "exec-r-rec-svc-a" ? "Failed" : "InProgress",
          },
        }),
        // stopRemaining: the failure stops the release's other running pipeline.
        StopPipelineExecutionCommand: () => ({}),
      });
      // Releases left waiting by earlier tests in this file may settle too.
      // Their executions still run: the backstop's pass leaves their releases alone.
      const sfn = strictClient<SFNClient>({
        SendTaskSuccessCommand: () => ({}),
        DescribeExecutionCommand: (input: { executionArn: string }) => ({ ...input, status: "RUNNING" }),
      });
      const report = await reconcile(deps({ codepipeline: codepipeline.client, sfn: sfn.client }));
      assert.ok(report.completed >= 1);
      assert.deepEqual(report.failures, []);
      assert.deepEqual(
        codepipeline.sent.filter((s) => s.name === StopPipelineExecutionCommand.name).map((s) => s.input),
        [
          {
            pipelineName: "svc-b",
            pipelineExecutionId: "exec-r-rec-svc-b",
            abandon: false,
            reason:
              "Release r-rec failed: Pipeline svc-a did not succeed: execution exec-r-rec-svc-a ended Failed",
          },
        ],
      );
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-r-rec-svc-a" } }),
      );
      assert.equal(Item?.status, "Failed");
      assert.deepEqual(
        Item?.history.map((h: { state: string; eventId: string }) => [h.state, h.eventId]),
        [["FAILED", "reconciler:exec-r-rec-svc-a:Failed"]],
      );
    });
  });

  describe("the releaseStatus entry point", () => {
    it("answers 404 for an unknown releaseId and 400 for a malformed one, through clients built from the environment", async () => {
      const variables = {
        RELEASES_TABLE: tables.releases,
        EXECUTIONS_TABLE: tables.executions,
        RELEASE_PIPELINES_TABLE: tables.releasePipelines,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "x",
        AWS_SECRET_ACCESS_KEY: "x",
      };
      const saved = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
      Object.assign(process.env, variables);
      try {
        const handler = LAMBDA_ENTRY_POINTS.releaseStatus();
        const missing = await handler({ pathParameters: { releaseId: "no-such-release" } });
        assert.equal(missing.statusCode, 404);
        assert.deepEqual(JSON.parse(missing.body), {
          error: "ReleaseNotFound",
          message: "no release has releaseId no-such-release",
        });
        const malformed = await handler({ pathParameters: { releaseId: "bad id" } });
        assert.equal(malformed.statusCode, 400);
        assert.equal(JSON.parse(malformed.body).error, "InvalidReleaseId");
      } finally {
        for (const [key, value] of Object.entries(saved)) {
          if (value === undefined) delete process.env[key];
          else process.env[key] = value;
        }
      }
    });
  });
});
