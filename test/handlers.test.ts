/**
 * Handler units: each named error and each decision, against dynalite (the real DynamoDB API)
 * and strict fakes for the other services (an unexpected call throws).
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient, TaskTimedOut } from "@aws-sdk/client-sfn";
import { CodePipelineClient, GetPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import { manifestRulesFromEnvironment, tableNamesFromEnvironment } from "../handlers/config";
import {
  ConfigurationError,
  ExecutionNotRecorded,
  InvalidManifest,
  ManifestNotFound,
  PipelineExecutionFailed,
} from "../handlers/errors";
import {
  type ExecutionDeps,
  type PipelineStateChangeEvent,
  completeWaiter,
  handlePipelineEvent,
  reconcile,
  registerWaiter,
} from "../handlers/executions";
import { releaseStatusHandler } from "../handlers/index";
import { loadManifest, parseReleaseRequest, validateManifest } from "../handlers/load-manifest";
import { manifestParser } from "../handlers/manifest";
import { statusFromEventState } from "../handlers/model";
import { createReleaseTables, type LocalDynamo, startDynamo } from "../local/dynamodb";

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

function awsError(name: string, message = name): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

const pipelineEvent = (
  executionId: string,
  state: string,
  id: string,
  pipeline = "svc-a",
): PipelineStateChangeEvent => ({
  id,
  "detail-type": "CodePipeline Pipeline Execution State Change",
  source: "aws.codepipeline",
  time: new Date().toISOString(),
  detail: { pipeline, "execution-id": executionId, state },
});

describe("handlers", () => {
  let dynamo: LocalDynamo;
  let raw: DynamoDBClient;
  const tables = { releases: "releases", executions: "executions" };

  before(async () => {
    dynamo = await startDynamo();
    raw = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    await createReleaseTables(raw, tables);
  });
  after(async () => {
    raw.destroy();
    await dynamo.close();
  });

  function deps(overrides: Partial<ExecutionDeps> = {}): ExecutionDeps {
    return {
      ddb: documentClient(raw),
      sfn: strictClient<SFNClient>({}).client,
      codepipeline: strictClient<CodePipelineClient>({}).client,
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
      assert.deepEqual(loaded, { text: "{}", location: "s3://b/r.json?versionId=v1" });
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
    it("returns the release plan and the pipeline list in manifest order for the release record", () => {
      const output = validateManifest(manifestParser({ maxPipelines: 5, maxBytes: 1000 }), {
        text: '{"releaseId":"r1","pipelines":["b","a"]}',
      });
      assert.equal(output.releaseId, "r1");
      assert.deepEqual(output.pipelinesAttribute, { L: [{ S: "b" }, { S: "a" }] });
      assert.deepEqual(
        output.pipelines.map((p) => p.start.Name),
        ["b", "a"],
      );
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

  describe("registerWaiter", () => {
    it("throws ExecutionNotRecorded for an execution RecordStart never wrote", async () => {
      await assert.rejects(
        registerWaiter(deps(), {
          taskToken: "t",
          releaseId: "r",
          pipeline: "svc-a",
          pipelineExecutionId: "never-recorded",
        }),
        (e: Error) => e instanceof ExecutionNotRecorded && e.name === "ExecutionNotRecorded",
      );
    });

    it("stores the token and waits while the pipeline runs", async () => {
      await claim("exec-running", "r-running");
      const result = await registerWaiter(deps(), {
        taskToken: "tok-1",
        releaseId: "r-running",
        pipeline: "svc-a",
        pipelineExecutionId: "exec-running",
      });
      assert.deepEqual(result, { completedAtOnce: false });
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-running" } }),
      );
      assert.equal(Item?.taskToken, "tok-1");
      assert.equal(Item?.awaitingRelease, "r-running");
    });

    it("completes at once when the terminal event arrived first", async () => {
      await claim("exec-early", "r-early");
      await handlePipelineEvent(deps(), pipelineEvent("exec-early", "SUCCEEDED", "ev-early"));
      const sfn = strictClient<SFNClient>({ SendTaskSuccessCommand: () => ({}) });
      const result = await registerWaiter(deps({ sfn: sfn.client }), {
        taskToken: "tok-early",
        releaseId: "r-early",
        pipeline: "svc-a",
        pipelineExecutionId: "exec-early",
      });
      assert.deepEqual(result, { completedAtOnce: true });
      assert.equal(sfn.sent[0].name, SendTaskSuccessCommand.name);
      assert.deepEqual(JSON.parse((sfn.sent[0].input as { output: string }).output), {
        pipeline: "svc-a",
        pipelineExecutionId: "exec-early",
        status: "Succeeded",
      });
    });
  });

  describe("handlePipelineEvent", () => {
    it("sends PipelineExecutionFailed with the final status for a failed pipeline", async () => {
      await claim("exec-fail", "r-fail");
      await documentClient(raw).send(
        new PutCommand({
          TableName: tables.executions,
          Item: {
            pipelineExecutionId: "exec-fail",
            releaseId: "r-fail",
            pipeline: "svc-a",
            status: "InProgress",
            taskToken: "tok-f",
            awaitingRelease: "r-fail",
          },
        }),
      );
      const sfn = strictClient<SFNClient>({ SendTaskFailureCommand: () => ({}) });
      const outcome = await handlePipelineEvent(
        deps({ sfn: sfn.client }),
        pipelineEvent("exec-fail", "CANCELED", "ev-f"),
      );
      assert.equal(outcome, "completed");
      assert.deepEqual(sfn.sent, [
        {
          name: SendTaskFailureCommand.name,
          input: {
            taskToken: "tok-f",
            error: new PipelineExecutionFailed().name,
            cause: "execution exec-fail ended Cancelled",
          },
        },
      ]);
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-fail" } }),
      );
      assert.equal(Item?.status, "Cancelled");
      assert.equal(Item?.awaitingRelease, undefined, "the waiter is cleared");
    });

    it("records an event once, however often it is delivered", async () => {
      await claim("exec-dup", "r-dup");
      assert.equal(
        await handlePipelineEvent(deps(), pipelineEvent("exec-dup", "STARTED", "ev-1")),
        "recorded",
      );
      assert.equal(
        await handlePipelineEvent(deps(), pipelineEvent("exec-dup", "STARTED", "ev-1")),
        "duplicate",
      );
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-dup" } }),
      );
      assert.deepEqual(
        Item?.history.map((h: { state: string }) => h.state),
        ["STARTED"],
      );
    });

    it("never lets a late event overwrite a terminal status, but keeps it in the history", async () => {
      await claim("exec-late", "r-late");
      await handlePipelineEvent(deps(), pipelineEvent("exec-late", "SUCCEEDED", "ev-end"));
      await handlePipelineEvent(deps(), pipelineEvent("exec-late", "STARTED", "ev-start"));
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-late" } }),
      );
      assert.equal(Item?.status, "Succeeded");
      assert.deepEqual(
        Item?.history.map((h: { state: string }) => h.state),
        ["SUCCEEDED", "STARTED"],
      );
    });

    it("completes nothing for an execution this machine did not start", async () => {
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
  });

  describe("completeWaiter", () => {
    it("treats a token that no longer waits (TaskTimedOut) as done and clears it", async () => {
      await documentClient(raw).send(
        new PutCommand({
          TableName: tables.executions,
          Item: {
            pipelineExecutionId: "exec-stale",
            releaseId: "r-stale",
            pipeline: "svc-a",
            status: "Succeeded",
            taskToken: "old",
            awaitingRelease: "r-stale",
          },
        }),
      );
      const sfn = strictClient<SFNClient>({
        SendTaskSuccessCommand: () =>
          Promise.reject(new TaskTimedOut({ message: "Task Timed Out", $metadata: {} })),
      });
      const done = await completeWaiter(deps({ sfn: sfn.client }), {
        pipelineExecutionId: "exec-stale",
        releaseId: "r-stale",
        pipeline: "svc-a",
        status: "Succeeded",
        taskToken: "old",
      });
      assert.equal(done, true);
      const { Item } = await documentClient(raw).send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-stale" } }),
      );
      assert.equal(Item?.taskToken, undefined);
    });

    it("lets other SendTask errors through so the caller retries", async () => {
      const sfn = strictClient<SFNClient>({
        SendTaskSuccessCommand: () => Promise.reject(awsError("ThrottlingException")),
      });
      await assert.rejects(
        completeWaiter(deps({ sfn: sfn.client }), {
          pipelineExecutionId: "e",
          releaseId: "r",
          status: "Succeeded",
          taskToken: "t",
        }),
        /ThrottlingException/,
      );
    });
  });

  describe("reconcile", () => {
    it("completes waiters whose pipeline ended without an event and leaves running ones waiting", async () => {
      const d = documentClient(raw);
      for (const [id, status] of [
        ["exec-r1", "InProgress"],
        ["exec-r2", "InProgress"],
      ] as const) {
        await d.send(
          new PutCommand({
            TableName: tables.executions,
            Item: {
              pipelineExecutionId: id,
              releaseId: "r-rec",
              pipeline: "svc-a",
              status,
              taskToken: `tok-${id}`,
              awaitingRelease: "r-rec",
            },
          }),
        );
      }
      const codepipeline = strictClient<CodePipelineClient>({
        GetPipelineExecutionCommand: (input: { pipelineExecutionId: string }) => ({
          pipelineExecution: {
            pipelineName: "svc-a",
            pipelineExecutionId: input.pipelineExecutionId,
            status: input.pipelineExecutionId === "exec-r1" ? "Failed" : "InProgress",
          },
        }),
      });
      const sfn = strictClient<SFNClient>({ SendTaskFailureCommand: () => ({}) });
      // Waiters left by earlier tests in this file are answered as still running.
      const report = await reconcile(deps({ codepipeline: codepipeline.client, sfn: sfn.client }));
      assert.equal(report.completed, 1);
      assert.deepEqual(report.failures, []);
      assert.ok(codepipeline.sent.every((s) => s.name === GetPipelineExecutionCommand.name));
      assert.deepEqual(
        sfn.sent.map((s) => (s.input as { taskToken: string }).taskToken),
        ["tok-exec-r1"],
      );
      const { Item } = await d.send(
        new GetCommand({ TableName: tables.executions, Key: { pipelineExecutionId: "exec-r1" } }),
      );
      assert.equal(Item?.status, "Failed");
      assert.deepEqual(
        Item?.history.map((h: { state: string; eventId: string }) => [h.state, h.eventId]),
        [["FAILED", "reconciler:exec-r1:Failed"]],
      );
    });
  });

  describe("releaseStatusHandler", () => {
    it("answers 404 for an unknown releaseId and 400 for a malformed one, through clients built from the environment", async () => {
      const variables = {
        RELEASES_TABLE: tables.releases,
        EXECUTIONS_TABLE: tables.executions,
        AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
        AWS_REGION: "us-east-1",
        AWS_ACCESS_KEY_ID: "x",
        AWS_SECRET_ACCESS_KEY: "x",
      };
      const saved = Object.fromEntries(Object.keys(variables).map((k) => [k, process.env[k]]));
      Object.assign(process.env, variables);
      try {
        const handler = releaseStatusHandler();
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
