/**
 * Each Lambda role against what its code calls (docs/architecture.md, "How the AWS side is
 * verified"). Every handler runs through its main and error paths with recording clients:
 * DynamoDB calls go to dynalite (real conditional writes, so the scheduler takes its real paths)
 * and are recorded on the way; the other services are recording fakes (a `send` that records the
 * command and answers a minimal valid output; an unexpected command throws). Each SDK command is
 * mapped to the IAM actions and resource ARN AWS authorizes it against, and the result is held
 * against `handlerStatements` in contract/permissions.ts: every call is allowed on its resource, and no
 * action is granted that the code never calls.
 */
import assert from "node:assert/strict";
import type { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import type { S3Client } from "@aws-sdk/client-s3";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import {
  type DynamoDBDocumentClient,
  PutCommand,
  UpdateCommand,
  type UpdateCommandInput,
} from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import {
  DuplicateRelease,
  InvalidManifest,
  ManifestNotFound,
  ReleaseNotRegistered,
} from "../contract/errors";
import type { ExecutionDeps } from "../handlers/executions";
import { loadManifest, validateManifest } from "../handlers/load-manifest";
import { type PlannedPipeline, manifestParser } from "../contract/manifest";
import type { PipelineStateChangeEvent } from "../contract/pipeline-events";
import { handlePipelineEvent, reconcile } from "../handlers/pipeline-events";
import { awsError, executionStatusChange, pipelineEvent as stateChange } from "./event-builders";
import { recordRejection } from "../handlers/rejections";
import { rejectionMessage } from "../contract/rejection";
import { releaseStatusApi } from "../handlers/release-status";
import { stopRelease } from "../handlers/release/failure-policy";
import { failExecution } from "../handlers/release/ended";
import { onExecutionEnded } from "../handlers/release/execution-ended";
import { registerReleaseWaiter } from "../handlers/release/outcome";
import { registerRelease } from "../handlers/release/registration";
import { recordUploader } from "../handlers/release/uploader";
import { cloudTrailUpload } from "./cloudtrail-events";
import { type ControlDeps, releaseControlApi } from "../handlers/release-control";
import { submissionHandler } from "../handlers/submission";
import { freezeHandler } from "../handlers/freezes";
import { DEFAULT_MANIFEST_RULES } from "../contract/manifest-schema";
import { type LocalDynamo, createReleaseTables, startDynamo } from "../local/dynamodb";
import { type HandlerName, type ResourceArns, handlerStatements, pipelineArn } from "../contract/permissions";
import { wildcardMatches } from "../policy/iam-reference";

const PARTITION = "aws";
const REGION = "ap-southeast-2";
const ACCOUNT = "123456789012";
const PIPELINES = ["svc-a-pipeline", "svc-b-pipeline", "svc-c-pipeline"];
const BUCKET = "releases-bucket";
const TABLES = {
  releases: "releases-table",
  executions: "executions-table",
  releasePipelines: "release-pipelines-table",
};
const tableArn = (name: string) => `arn:${PARTITION}:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;

/** The ARNs the program resolves for these names (infra/release-machine.ts). */
const ARNS: ResourceArns = {
  partition: PARTITION,
  region: REGION,
  accountId: ACCOUNT,
  bucketArn: `arn:${PARTITION}:s3:::${BUCKET}`,
  releasesTableArn: tableArn(TABLES.releases),
  executionsTableArn: tableArn(TABLES.executions),
  releasePipelinesTableArn: tableArn(TABLES.releasePipelines),
  pipelineArns: PIPELINES.map((p) => pipelineArn(PARTITION, REGION, ACCOUNT, p)),
  eventBusArn: `arn:${PARTITION}:events:${REGION}:${ACCOUNT}:event-bus/default`,
  stateMachineArn: `arn:${PARTITION}:states:${REGION}:${ACCOUNT}:stateMachine:release-machine`,
};
const STATE_MACHINE_ARN = `arn:${PARTITION}:states:${REGION}:${ACCOUNT}:stateMachine:release-machine`;
const APPROVER = `arn:${PARTITION}:iam::${ACCOUNT}:user/approver`;

type Input = Record<string, unknown>;
interface Call {
  command: string;
  input: Input;
}
interface Permission {
  action: string;
  resource: string;
}

const text = (value: unknown) => String(value);
const dynamoResource = (input: Input) =>
  input.IndexName === undefined
    ? tableArn(text(input.TableName))
    : `${tableArn(text(input.TableName))}/index/${text(input.IndexName)}`;
const pipelineResource = (input: Input) => pipelineArn(PARTITION, REGION, ACCOUNT, text(input.pipelineName));

/**
 * What AWS authorizes each SDK command against (Service Authorization Reference). A command not
 * listed fails the test: add its mapping before the code may call it.
 */
const PERMISSIONS: Record<string, (input: Input) => Permission[]> = {
  GetCommand: (i) => [{ action: "dynamodb:GetItem", resource: dynamoResource(i) }],
  PutCommand: (i) => [{ action: "dynamodb:PutItem", resource: dynamoResource(i) }],
  UpdateCommand: (i) => [{ action: "dynamodb:UpdateItem", resource: dynamoResource(i) }],
  DeleteCommand: (i) => [{ action: "dynamodb:DeleteItem", resource: dynamoResource(i) }],
  QueryCommand: (i) => [{ action: "dynamodb:Query", resource: dynamoResource(i) }],
  ScanCommand: (i) => [{ action: "dynamodb:Scan", resource: dynamoResource(i) }],
  // A batch read is authorized once per table it names.
  BatchGetCommand: (i) =>
    Object.keys(i.RequestItems as Input).map((table) => ({
      action: "dynamodb:BatchGetItem",
      resource: dynamoResource({ TableName: table }),
    })),
  GetObjectCommand: (i) => {
    const object = `arn:${PARTITION}:s3:::${text(i.Bucket)}/${text(i.Key)}`;
    return [
      { action: "s3:GetObject", resource: object },
      // Reading a given version is authorized as s3:GetObjectVersion.
      ...(i.VersionId === undefined ? [] : [{ action: "s3:GetObjectVersion", resource: object }]),
    ];
  },
  // Task tokens are not resources: these actions have no resource-level permissions.
  SendTaskSuccessCommand: () => [{ action: "states:SendTaskSuccess", resource: "*" }],
  SendTaskFailureCommand: () => [{ action: "states:SendTaskFailure", resource: "*" }],
  SendTaskHeartbeatCommand: () => [{ action: "states:SendTaskHeartbeat", resource: "*" }],
  StartExecutionCommand: (i) => [{ action: "states:StartExecution", resource: text(i.stateMachineArn) }],
  DescribeExecutionCommand: (i) => [{ action: "states:DescribeExecution", resource: text(i.executionArn) }],
  // Every entry names its bus; PutEvents is authorized against each bus it writes to.
  PutEventsCommand: (i) =>
    (i.Entries as { EventBusName?: string }[]).map((entry) => ({
      action: "events:PutEvents",
      resource: `arn:${PARTITION}:events:${REGION}:${ACCOUNT}:event-bus/${entry.EventBusName ?? "default"}`,
    })),
  GetPipelineExecutionCommand: (i) => [
    { action: "codepipeline:GetPipelineExecution", resource: pipelineResource(i) },
  ],
  StopPipelineExecutionCommand: (i) => [
    { action: "codepipeline:StopPipelineExecution", resource: pipelineResource(i) },
  ],
  ListActionExecutionsCommand: (i) => [
    { action: "codepipeline:ListActionExecutions", resource: pipelineResource(i) },
  ],
  GetPipelineStateCommand: (i) => [
    {
      action: "codepipeline:GetPipelineState",
      resource: pipelineArn(PARTITION, REGION, ACCOUNT, text(i.name)),
    },
  ],
  StartPipelineExecutionCommand: (i) => [
    {
      action: "codepipeline:StartPipelineExecution",
      resource: pipelineArn(PARTITION, REGION, ACCOUNT, text(i.name)),
    },
  ],
};

type Answer = (input: Input) => unknown;

/** Recording fake clients for one handler: answers by command name; anything unanswered throws. */
class FakeAws {
  readonly calls: Call[] = [];
  answers: Record<string, Answer> = {};

  answer(answers: Record<string, Answer>): this {
    this.answers = answers;
    return this;
  }

  client<T>(): T {
    const send = async (command: { constructor: { name: string }; input: Input }) => {
      const name = command.constructor.name;
      this.calls.push({ command: name, input: command.input });
      const answer = this.answers[name];
      if (!answer) throw new Error(`unexpected call ${name}: answer it in the test`);
      return answer(command.input);
    };
    return { send } as unknown as T;
  }

  /** A document client that records each command, then sends it to dynalite. */
  recordingDdb(): DynamoDBDocumentClient {
    const real = documentClient(dynamo.client);
    const send = async (command: { constructor: { name: string }; input: Input }) => {
      this.calls.push({ command: command.constructor.name, input: command.input });
      return real.send(command as never);
    };
    return { send } as unknown as DynamoDBDocumentClient;
  }

  executionDeps(): ExecutionDeps {
    return {
      ddb: this.recordingDdb(),
      sfn: this.client<SFNClient>(),
      codepipeline: this.client<CodePipelineClient>(),
      events: this.client<EventBridgeClient>(),
      tables: TABLES,
      now: () => new Date("2026-11-27T10:00:00Z"),
    };
  }
}

const fail = (name: string) => () => {
  throw awsError(name);
};
/** dynalite, shared by every handler's paths; each path uses its own releaseIds. */
const dynamo = {
  client: undefined as unknown as DynamoDBClient,
  server: undefined as unknown as LocalDynamo,
};

const pipelineEvent = (state: string, executionId: string): PipelineStateChangeEvent =>
  stateChange({
    id: `event-${state}-${executionId}`,
    pipeline: PIPELINES[0],
    executionId,
    state,
    time: "2026-11-27T10:00:00Z",
  });

/** CodePipeline as the fakes answer it: each start returns `exec-<releaseId>-<pipeline>`. */
const starts = (releaseId: string) => ({
  StartPipelineExecutionCommand: (input: Input) => ({
    pipelineExecutionId: `exec-${releaseId}-${text(input.name)}`,
  }),
  StopPipelineExecutionCommand: () => ({}),
});

/** EventBridge's answer to a release event: every entry accepted. */
const published = () => ({ FailedEntryCount: 0, Entries: [{ EventId: "e" }] });

/** Deps for arranging a test: dynalite unrecorded, and CodePipeline and Step Functions fakes of their own. */
function setupDeps(releaseId: string): ExecutionDeps {
  const other = new FakeAws().answer({
    ...starts(releaseId),
    SendTaskSuccessCommand: () => ({}),
    PutEventsCommand: published,
  });
  return { ...other.executionDeps(), ddb: documentClient(dynamo.client) };
}

/** An end of the first pipeline's execution in release `releaseId`, recorded before its start (an early event). */
async function recordEnd(releaseId: string, status: "Succeeded" | "Failed") {
  await documentClient(dynamo.client).send(
    new PutCommand({
      TableName: TABLES.executions,
      Item: { pipelineExecutionId: `exec-${releaseId}-${PIPELINES[0]}`, status, pipeline: PIPELINES[0] },
    }),
  );
}

/** Changes a release's pipeline item directly, to arrange what the handler under test finds. */
async function updatePipelineItem(
  releaseId: string,
  pipeline: string,
  update: Omit<UpdateCommandInput, "TableName" | "Key">,
) {
  await documentClient(dynamo.client).send(
    new UpdateCommand({ TableName: TABLES.releasePipelines, Key: { releaseId, pipeline }, ...update }),
  );
}

/** A release whose registration failed for good, with one leftover schedule item (arranged unrecorded). */
async function failedForGood(releaseId: string, leftover: string) {
  const ddb = documentClient(dynamo.client);
  const failedArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:release-machine:${releaseId}-failed`;
  await ddb.send(
    new PutCommand({
      TableName: TABLES.releases,
      Item: {
        releaseId,
        status: "FAILED",
        executionArn: failedArn,
        schedulePending: failedArn,
        attempt: 1,
        failurePolicy: "stopRemaining",
        pipelineCount: 2,
        pipelineTimeoutSeconds: 3600,
        settledCount: 1,
      },
    }),
  );
  await ddb.send(
    new PutCommand({
      TableName: TABLES.releasePipelines,
      Item: { releaseId, pipeline: leftover, status: "Skipped", order: 1, dependsOn: [], dependants: [] },
    }),
  );
}

/** AwaitRelease's registration of the release's wait under `taskToken`. */
async function waitFor(deps: ExecutionDeps, releaseId: string, executionArn: string, taskToken: string) {
  await registerReleaseWaiter(deps, { taskToken, releaseId, executionArn });
}

async function register(deps: ExecutionDeps, releaseId: string, pipelines: PlannedPipeline[]) {
  const executionArn = `arn:aws:states:${REGION}:${ACCOUNT}:execution:release-machine:${releaseId}`;
  await registerRelease(deps, {
    releaseId,
    executionArn,
    startedAt: "2026-11-27T10:00:00.000Z",
    source: "api",
    failurePolicy: "stopRemaining",
    longestPipelineRunSeconds: 3600,
    pipelines,
  });
  return executionArn;
}

/** Every path of one handler, with the fake clients it runs against. */
type Paths = (aws: FakeAws) => Promise<void>;

const HANDLER_PATHS: Record<HandlerName, Paths> = {
  async loadManifest(aws) {
    const s3 = aws.client<S3Client>();
    const body = (text: string) => ({
      ContentLength: text.length,
      Body: { transformToString: async () => text },
    });
    const deps = { s3, maxBytes: 1000 };
    aws.answer({ GetObjectCommand: () => body('{"releaseId":"5.16","pipelines":["svc-a-pipeline"]}') });
    const loaded = await loadManifest(deps, {
      source: "s3",
      bucket: BUCKET,
      key: "releases/5.16.json",
      versionId: "v1",
    });
    assert.equal(loaded.location, `s3://${BUCKET}/releases/5.16.json?versionId=v1`);
    await loadManifest(deps, { source: "s3", bucket: BUCKET, key: "releases/5.16.json" });
    assert.deepEqual(await loadManifest(deps, { source: "api", body: "{}" }), {
      text: "{}",
      location: "api",
      submittedBy: "unknown",
    });

    aws.answer({ GetObjectCommand: fail("NoSuchKey") });
    await assert.rejects(
      loadManifest(deps, { source: "s3", bucket: BUCKET, key: "gone.json" }),
      ManifestNotFound,
    );
    aws.answer({ GetObjectCommand: () => ({ ContentLength: 5000, Body: { destroy: () => undefined } }) });
    await assert.rejects(
      loadManifest(deps, { source: "s3", bucket: BUCKET, key: "big.json" }),
      InvalidManifest,
    );
  },

  async validateManifest() {
    // Pure: it receives no client, so it cannot call AWS at all.
    const parse = manifestParser({ allowedPipelines: PIPELINES, maxPipelines: 50, maxBytes: 65536 });
    assert.equal(
      validateManifest(parse, { text: '{"releaseId":"5.16","pipelines":["svc-a-pipeline"]}' }).releaseId,
      "5.16",
    );
    assert.throws(() => validateManifest(parse, { text: "{}" }), InvalidManifest);
  },

  async recordRejection(aws) {
    // It records from the error alone: the problems and releaseId travel in the error's message.
    const deps = { ddb: aws.recordingDdb(), tables: TABLES };
    const base = { executionArn: "arn:x", executionName: "x", startedAt: "2026-11-27T10:00:00Z" };
    const problems = [{ path: "/pipelines/0", rule: "allowList", message: "not allowed" }];
    const cause = (message: string) => JSON.stringify({ errorMessage: message });
    const invalid = {
      Error: "InvalidManifest",
      Cause: cause(rejectionMessage("bad", { releaseId: "rej-1", problems })),
    };
    // Under its releaseId (an update), then apart for an unreadable one (a put).
    const s3Request = { source: "s3", bucket: BUCKET, key: "r.json", versionId: "v1" };
    assert.equal(
      (await recordRejection(deps, { ...base, request: s3Request, error: invalid })).recordedAs,
      "rej-1",
    );
    const unreadable = {
      ...base,
      executionName: "y",
      request: { source: "api", body: "[" },
      error: { Error: "InvalidManifest", Cause: cause(rejectionMessage("bad", { problems })) },
    };
    assert.equal((await recordRejection(deps, unreadable)).recordedAs, "rejected:y");
  },

  async registerRelease(aws) {
    const deps = aws.executionDeps();
    aws.answer(starts("iam-reg"));
    // svc-a's end is recorded before its start (an early event): registering it acts on that end,
    // which starts svc-b. svc-c does not exist: its failure stops the rest (stopRemaining).
    await recordEnd("iam-reg", "Succeeded");
    aws.answer({
      ...starts("iam-reg"),
      PutEventsCommand: published,
      StartPipelineExecutionCommand: (input) =>
        text(input.name) === PIPELINES[2]
          ? fail("PipelineNotFoundException")()
          : { pipelineExecutionId: `exec-iam-reg-${text(input.name)}` },
    });
    await register(deps, "iam-reg", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]] },
      { name: PIPELINES[2], dependsOn: [PIPELINES[1]] },
    ]);
    await register(deps, "iam-reg-2", [{ name: PIPELINES[0] }, { name: PIPELINES[2] }]);
    // An early FAILED end: acting on it asks CodePipeline where the pipeline failed.
    aws.answer({ ...starts("iam-reg-3"), PutEventsCommand: published });
    await recordEnd("iam-reg-3", "Failed");
    await register(deps, "iam-reg-3", [{ name: PIPELINES[0] }]);
    // A registration that failed for good (FAILED, schedule pending) left an item: the next
    // submission registers the releaseId again and deletes the leftover.
    await failedForGood("iam-rereg", PIPELINES[2]);
    aws.answer({ ...starts("iam-rereg"), PutEventsCommand: published });
    await register(deps, "iam-rereg", [{ name: PIPELINES[0] }]);
    await assert.rejects(
      registerRelease(deps, {
        releaseId: "iam-reg",
        executionArn: "arn:other",
        startedAt: "2026-11-27T10:00:00.000Z",
        source: "api",
        failurePolicy: "stopRemaining",
        longestPipelineRunSeconds: 3600,
        pipelines: [{ name: PIPELINES[0] }],
      }),
      DuplicateRelease,
    );
  },

  async awaitRelease(aws) {
    const deps = { ...aws.executionDeps(), ddb: documentClient(dynamo.client) };
    aws.answer({ ...starts("iam-await"), PutEventsCommand: published });
    const executionArn = await register(deps, "iam-await", [{ name: PIPELINES[0] }]);
    await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED", `exec-iam-await-${PIPELINES[0]}`));
    aws.answer({ ...starts("iam-await-2"), PutEventsCommand: published });
    const secondArn = await register(deps, "iam-await-2", [{ name: PIPELINES[0] }]);
    // Its pipeline settled (counted and marked) before the wait registers.
    await deps.ddb.send(
      new UpdateCommand({
        TableName: TABLES.releases,
        Key: { releaseId: "iam-await-2" },
        UpdateExpression: "ADD settledCount :one",
        ExpressionAttributeValues: { ":one": 1 },
      }),
    );
    await deps.ddb.send(
      new UpdateCommand({
        TableName: TABLES.releasePipelines,
        Key: { releaseId: "iam-await-2", pipeline: PIPELINES[0] },
        UpdateExpression: "SET settled = :yes",
        ExpressionAttributeValues: { ":yes": true },
      }),
    );
    aws.calls.length = 0; // only the waiter's own calls count
    const recorded = aws.executionDeps();
    aws.answer({ SendTaskSuccessCommand: () => ({}) });
    assert.deepEqual(
      await registerReleaseWaiter(recorded, { taskToken: "t", releaseId: "iam-await", executionArn }),
      {
        completedAtOnce: true,
      },
    );
    await assert.rejects(
      registerReleaseWaiter(recorded, { taskToken: "t", releaseId: "iam-await", executionArn: "arn:other" }),
      ReleaseNotRegistered,
    );
    // A cancel lands between the waiter's read and its outcome write: it reads the winner's.
    const recording = recorded.ddb;
    recorded.ddb = {
      send: async (command: { input: Input }) => {
        if (command.input.UpdateExpression === "SET #outcome = :outcome")
          await deps.ddb.send(
            new UpdateCommand({
              TableName: TABLES.releases,
              Key: { releaseId: "iam-await-2" },
              UpdateExpression: "SET cancelledBy = :who",
              ExpressionAttributeValues: { ":who": "canceller" },
            }),
          );
        return recording.send(command as never);
      },
    } as unknown as DynamoDBDocumentClient;
    await registerReleaseWaiter(recorded, {
      taskToken: "t",
      releaseId: "iam-await-2",
      executionArn: secondArn,
    });
    recorded.ddb = recording;
  },

  async stopRelease(aws) {
    aws.answer(starts("iam-stop"));
    const executionArn = await register(setupDeps("iam-stop"), "iam-stop", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]] },
    ]);
    await waitFor(setupDeps("iam-stop"), "iam-stop", executionArn, "t");
    aws.calls.length = 0;
    aws.answer({ StopPipelineExecutionCommand: () => ({}), SendTaskSuccessCommand: () => ({}) });
    const deps = aws.executionDeps();
    // Between the stop's read and its skip of svc-b: svc-a's end settles it, so the skip settles the
    // release's last pipeline and completes its wait.
    const recording = deps.ddb;
    const raw = documentClient(dynamo.client);
    const racing = (race: () => Promise<unknown>) => {
      let raced = false;
      deps.ddb = {
        send: async (command: { input: Input }) => {
          if (!raced && command.input.ConditionExpression === "#status = :from") {
            raced = true;
            await race();
          }
          return recording.send(command as never);
        },
      } as unknown as DynamoDBDocumentClient;
      return () => raced;
    };
    let raced = racing(() =>
      raw
        .send(
          new UpdateCommand({
            TableName: TABLES.releases,
            Key: { releaseId: "iam-stop" },
            UpdateExpression: "ADD settledCount :one",
            ExpressionAttributeValues: { ":one": 1 },
          }),
        )
        .then(() =>
          raw.send(
            new UpdateCommand({
              TableName: TABLES.releasePipelines,
              Key: { releaseId: "iam-stop", pipeline: PIPELINES[0] },
              UpdateExpression: "SET settled = :yes",
              ExpressionAttributeValues: { ":yes": true },
            }),
          ),
        ),
    );
    assert.deepEqual(await stopRelease(deps, "iam-stop", "timed out"), {
      stopped: [PIPELINES[0]],
      skipped: [PIPELINES[1]],
    });
    assert.ok(raced());
    // A start claims svc-b between the stop's read and its skip: the skip then reads svc-b again.
    await register(setupDeps("iam-stop-2"), "iam-stop-2", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]] },
    ]);
    raced = racing(() =>
      raw.send(
        new UpdateCommand({
          TableName: TABLES.releasePipelines,
          Key: { releaseId: "iam-stop-2", pipeline: PIPELINES[1] },
          UpdateExpression: "SET #status = :starting",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":starting": "Starting" },
        }),
      ),
    );
    await stopRelease(deps, "iam-stop-2", "timed out");
    assert.ok(raced());
    deps.ddb = recording;
    // A failed registration: the release its execution holds is stopped, fails and is announced.
    aws.answer({ ...starts("iam-stop-3"), PutEventsCommand: published });
    const held = await register(setupDeps("iam-stop-3"), "iam-stop-3", [{ name: PIPELINES[0] }]);
    const fault = { error: "States.Timeout", cause: "timed out" };
    const failed = await failExecution(deps, { releaseId: "iam-stop-3", executionArn: held, ...fault });
    assert.deepEqual([failed.recorded, failed.stopped], ["failed", [PIPELINES[0]]]);
  },

  async pipelineEvent(aws) {
    const deps = aws.executionDeps();
    aws.answer({ ...starts("iam-event"), SendTaskSuccessCommand: () => ({}), PutEventsCommand: published });
    const executionArn = await register(setupDeps("iam-event"), "iam-event", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]] },
      { name: PIPELINES[2] },
    ]);
    await waitFor(setupDeps("iam-event"), "iam-event", executionArn, "t");
    aws.calls.length = 0; // only the event handler's own calls count
    const exec = (p: string) => `exec-iam-event-${p}`;
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("STARTED", exec(PIPELINES[0]))), "recorded");
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED", exec(PIPELINES[0]))), "ended");
    assert.equal(
      await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED", exec(PIPELINES[0]))),
      "duplicate",
    );
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("FAILED", exec(PIPELINES[1]))), "ended");
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("STOPPED", exec(PIPELINES[2]))), "ended");
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED", "not-ours")), "recorded");
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("NOT_A_STATE", "x")), "ignored");
    // A gated dependant whose dependency succeeded: its gate opens and is announced.
    await register(setupDeps("iam-event-gate"), "iam-event-gate", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]], approval: { timeoutHours: 1 } },
    ]);
    assert.equal(
      await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED", `exec-iam-event-gate-${PIPELINES[0]}`)),
      "ended",
    );
  },

  async reconciler(aws) {
    const deps = aws.executionDeps();
    aws.answer({ ...starts("iam-rec"), SendTaskSuccessCommand: () => ({}) });
    const executionArn = await register(setupDeps("iam-rec"), "iam-rec", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1] },
    ]);
    await waitFor(setupDeps("iam-rec"), "iam-rec", executionArn, "t");
    // A start whose claimant died long ago: the reconciler takes it over.
    await register(setupDeps("iam-rec-2"), "iam-rec-2", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]] },
    ]);
    await updatePipelineItem("iam-rec-2", PIPELINES[1], {
      UpdateExpression: "SET #status = :starting, claimedBy = :dead, startingSince = :long",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: {
        ":starting": "Starting",
        ":dead": "dead",
        ":long": "2000-01-01T00:00:00.000Z",
      },
    });
    // And a release whose only pipeline ended unnoticed: acting on it completes the release's wait.
    // Its dependant is gated: the reconciler's completion opens the gate.
    const lastArn = await register(setupDeps("iam-rec-3"), "iam-rec-3", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]], approval: { timeoutHours: 1 } },
    ]);
    // And a gate whose deadline passed: the reconciler expires it.
    const gateArn = await register(setupDeps("iam-rec-4"), "iam-rec-4", [
      { name: PIPELINES[0], approval: { timeoutHours: 1 } },
    ]);
    await waitFor(setupDeps("iam-rec-4"), "iam-rec-4", gateArn, "t4");
    await updatePipelineItem("iam-rec-4", PIPELINES[0], {
      UpdateExpression: "SET approvalDeadlineAt = :long",
      ExpressionAttributeValues: { ":long": "2000-01-01T00:00:00.000Z" },
    });
    await waitFor(setupDeps("iam-rec-3"), "iam-rec-3", lastArn, "t3");
    const ended: Record<string, string> = {
      [`exec-iam-rec-${PIPELINES[0]}`]: "Failed",
      [`exec-iam-rec-3-${PIPELINES[0]}`]: "Succeeded",
    };
    const statusOf = (id: string) => ended[id] ?? "InProgress";
    aws.answer({
      StartPipelineExecutionCommand: (input) => ({ pipelineExecutionId: `exec-resumed-${text(input.name)}` }),
      StopPipelineExecutionCommand: () => ({}),
      SendTaskSuccessCommand: () => ({}),
      PutEventsCommand: published,
      GetPipelineExecutionCommand: (input) => ({
        pipelineExecution: {
          pipelineName: input.pipelineName,
          status: statusOf(text(input.pipelineExecutionId)),
        },
      }),
    });
    // And a release whose execution ended without its outcome: the backstop's pass fails it.
    const endedArn = await register(setupDeps("iam-rec-5"), "iam-rec-5", [{ name: PIPELINES[2] }]);
    aws.answer({
      ...aws.answers,
      DescribeExecutionCommand: (input) =>
        input.executionArn === endedArn
          ? { executionArn: endedArn, status: "TIMED_OUT", error: "States.Timeout", cause: "" }
          : { executionArn: input.executionArn, status: "RUNNING" },
    });
    aws.calls.length = 0; // only the reconciler's own calls count
    const report = await reconcile(deps);
    assert.deepEqual(report.failures, []);
    assert.ok(report.completed >= 1);
    assert.equal(report.resumedStarts, 1);
    assert.equal(report.expiredGates, 1);
    assert.ok(report.endedReleases >= 1);
  },

  async executionEnded(aws) {
    aws.answer(starts("iam-end"));
    const executionArn = await register(setupDeps("iam-end"), "iam-end", [{ name: PIPELINES[0] }]);
    const uploaded = await register(setupDeps("iam-end-2"), "iam-end-2", [{ name: PIPELINES[1] }]);
    aws.answer({ StopPipelineExecutionCommand: () => ({}), PutEventsCommand: published });
    aws.calls.length = 0;
    const deps = aws.executionDeps();
    const ended = (arn: string, name: string) =>
      onExecutionEnded(deps, executionStatusChange({ executionArn: arn, name, status: "ABORTED" }));
    // An API submission's name encodes its releaseId; an upload's does not: the index finds it.
    assert.deepEqual(await ended(executionArn, "release-iam-end"), [
      { releaseId: "iam-end", recorded: "failed" },
    ]);
    assert.deepEqual(await ended(uploaded, "0f6e1c2a-upload"), [
      { releaseId: "iam-end-2", recorded: "failed" },
    ]);
  },

  async releaseControl(aws) {
    const executionDeps = aws.executionDeps();
    const deps: ControlDeps = {
      ...executionDeps,
      stateMachineArn: STATE_MACHINE_ARN,
      allowSelfApproval: false,
    };
    const call = (resource: string, pathParameters: Record<string, string>, body?: object) =>
      releaseControlApi(deps, {
        resource,
        httpMethod: "POST",
        pathParameters,
        body: body ? JSON.stringify(body) : null,
        requestContext: { identity: { userArn: APPROVER } },
      });
    aws.answer({
      ...starts("iam-ctl"),
      PutEventsCommand: published,
      SendTaskSuccessCommand: () => ({}),
      StartExecutionCommand: (input) => ({
        executionArn: `${text(input.stateMachineArn)}:${text(input.name)}`,
      }),
      // The approved pipeline's execution already failed: acting on it asks where.
      GetPipelineStateCommand: () => ({ stageStates: [] }),
      ListActionExecutionsCommand: () => ({ actionExecutionDetails: [] }),
    });
    // Cancel: one running pipeline is stopped, one pending is skipped.
    await register(setupDeps("iam-ctl"), "iam-ctl", [
      { name: PIPELINES[0] },
      { name: PIPELINES[1], dependsOn: [PIPELINES[0]] },
    ]);
    assert.equal(
      (await call("/releases/{releaseId}/cancel", { releaseId: "iam-ctl" }, { reason: "r" })).statusCode,
      202,
    );
    // Cancel of a release with only a gate left: the skip settles it and completes its wait.
    const gatedArn = await register(setupDeps("iam-ctl-2"), "iam-ctl-2", [
      { name: PIPELINES[0], approval: { timeoutHours: 1 } },
    ]);
    await waitFor(setupDeps("iam-ctl-2"), "iam-ctl-2", gatedArn, "t");
    assert.equal((await call("/releases/{releaseId}/cancel", { releaseId: "iam-ctl-2" })).statusCode, 202);
    // Approve a gate (its start's execution had already failed) and reject another.
    await register(setupDeps("iam-ctl-3"), "iam-ctl-3", [
      { name: PIPELINES[0], approval: { timeoutHours: 1 } },
    ]);
    await register(setupDeps("iam-ctl-4"), "iam-ctl-4", [
      { name: PIPELINES[1], approval: { timeoutHours: 1 } },
    ]);
    await recordEnd("iam-ctl", "Failed");
    const approvals = "/releases/{releaseId}/approvals/{pipeline}";
    const approved = await call(
      approvals,
      { releaseId: "iam-ctl-3", pipeline: PIPELINES[0] },
      { decision: "approve" },
    );
    assert.equal(approved.statusCode, 200, approved.body);
    const rejected = await call(
      approvals,
      { releaseId: "iam-ctl-4", pipeline: PIPELINES[1] },
      { decision: "reject" },
    );
    assert.equal(rejected.statusCode, 200, rejected.body);
    // Retry a failed release; then list releases, newest first and by status.
    await documentClient(dynamo.client).send(
      new UpdateCommand({
        TableName: TABLES.releases,
        Key: { releaseId: "iam-ctl" },
        UpdateExpression: "SET #status = :failed",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":failed": "FAILED" },
      }),
    );
    assert.equal((await call("/releases/{releaseId}/retry", { releaseId: "iam-ctl" }, {})).statusCode, 202);
    const list = (query: Record<string, string>) =>
      releaseControlApi(deps, { resource: "/releases", httpMethod: "GET", queryStringParameters: query });
    assert.equal((await list({ limit: "2" })).statusCode, 200);
    assert.equal((await list({ status: "FAILED" })).statusCode, 200);
  },

  async submitRelease(aws) {
    const executionDeps = aws.executionDeps();
    const submit = submissionHandler({
      ...executionDeps,
      rules: { ...DEFAULT_MANIFEST_RULES, allowedPipelines: PIPELINES },
      stateMachineArn: STATE_MACHINE_ARN,
    });
    aws.answer({
      StartExecutionCommand: (input) => ({
        executionArn: `${text(input.stateMachineArn)}:${text(input.name)}`,
      }),
    });
    const post = (body: string) =>
      submit({ body, headers: { "Content-Type": "application/json" }, requestContext: { requestId: "r1" } });
    // Started (a claim, then StartExecution); refused and recorded under its releaseId; refused
    // for a releaseId that ran and recorded apart.
    const good = JSON.stringify({ releaseId: "iam-submit", pipelines: [PIPELINES[0]] });
    assert.equal((await post(good)).statusCode, 202);
    assert.equal((await post('{"releaseId":"iam-submit-bad","pipelines":["nope"]}')).statusCode, 400);
    assert.equal((await post('{"releaseId":"iam-event","pipelines":["nope"]}')).statusCode, 400);
  },

  async freezeControl(aws) {
    const deps = { ...aws.executionDeps(), rules: { allowedPipelines: PIPELINES } };
    aws.answer({ PutEventsCommand: published });
    const freezes = freezeHandler(deps);
    const requestContext = { identity: { userArn: APPROVER } };
    const post = (resource: string, body: object, pathParameters?: Record<string, string>) =>
      freezes({ resource, httpMethod: "POST", body: JSON.stringify(body), pathParameters, requestContext });
    const remove = (name: string) =>
      freezes({
        resource: "/freezes/{name}",
        httpMethod: "DELETE",
        pathParameters: { name },
        requestContext,
      });
    // Added (the map, then the entry), refused as taken (read back), listed.
    const freeze = { name: "iam-freeze", pipelines: ["svc-*"], reason: "iam" };
    assert.equal((await post("/freezes", freeze)).statusCode, 201);
    assert.equal((await post("/freezes", freeze)).statusCode, 409);
    assert.equal((await freezes({ resource: "/freezes", httpMethod: "GET" })).statusCode, 200);
    // An override of a release the freeze holds (release and schedule read, override recorded,
    // event published), and one of a release with nothing frozen.
    await register(setupDeps("iam-frz"), "iam-frz", [{ name: PIPELINES[0] }]);
    const override = "/releases/{releaseId}/override-freeze";
    assert.equal((await post(override, { reason: "hotfix" }, { releaseId: "iam-frz" })).statusCode, 202);
    assert.equal((await post(override, { reason: "again" }, { releaseId: "iam-frz" })).statusCode, 202);
    assert.equal((await post(override, { reason: "r" }, { releaseId: "iam-event" })).statusCode, 409);
    // Removed, then not found.
    assert.equal((await remove("iam-freeze")).statusCode, 200);
    assert.equal((await remove("iam-freeze")).statusCode, 404);
  },

  async releaseStatus(aws) {
    const deps = { ddb: aws.recordingDdb(), tables: TABLES };
    const request = (releaseId: string) => ({ pathParameters: { releaseId } });
    assert.equal((await releaseStatusApi(deps, request("iam-event"))).statusCode, 200);
    assert.equal((await releaseStatusApi(deps, request("5.17"))).statusCode, 404);
    assert.equal((await releaseStatusApi(deps, request("../etc"))).statusCode, 400);
  },

  async uploaderEvent(aws) {
    const deps = { ...aws.executionDeps(), s3: aws.client<S3Client>() };
    const manifest = (releaseId: string) => ({
      Body: { transformToString: async () => JSON.stringify({ releaseId, pipelines: [PIPELINES[0]] }) },
    });
    const upload = (releaseId: string) =>
      cloudTrailUpload({ bucket: BUCKET, key: `releases/${releaseId}.json`, versionId: "v1", arn: APPROVER });
    // Its release is not registered yet: the uploader is recorded apart.
    aws.answer({ GetObjectCommand: () => manifest("iam-upl") });
    assert.equal((await recordUploader(deps, upload("iam-upl"))).recorded, "pending");
    // Its release was registered from exactly that upload: the uploader is recorded on it.
    await registerRelease(setupDeps("iam-upl-2"), {
      releaseId: "iam-upl-2",
      executionArn: "arn:aws:states:x:1:execution:m:iam-upl-2",
      startedAt: "2026-11-27T10:00:00.000Z",
      source: `s3://${BUCKET}/releases/iam-upl-2.json?versionId=v1`,
      failurePolicy: "stopRemaining",
      longestPipelineRunSeconds: 3600,
      pipelines: [{ name: PIPELINES[0] }],
    });
    aws.answer({ GetObjectCommand: () => manifest("iam-upl-2") });
    assert.deepEqual(await recordUploader(deps, upload("iam-upl-2")), {
      recorded: "release",
      releaseId: "iam-upl-2",
    });
  },
};

function permissionsOf(calls: Call[]): Permission[] {
  return calls.flatMap((call) => {
    const map = PERMISSIONS[call.command];
    if (!map) throw new Error(`no IAM mapping for ${call.command}: add it to PERMISSIONS`);
    return map(call.input);
  });
}

describe("each Lambda role against what its code calls", () => {
  before(async () => {
    dynamo.server = await startDynamo();
    dynamo.client = new DynamoDBClient({
      endpoint: dynamo.server.endpoint,
      region: REGION,
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    await createReleaseTables(dynamo.client, TABLES);
  });
  after(async () => {
    dynamo.client.destroy();
    await dynamo.server.close();
  });

  for (const handler of Object.keys(HANDLER_PATHS) as HandlerName[]) {
    describe(handler, () => {
      const aws = new FakeAws();
      let needed: Permission[];
      before(async () => {
        await HANDLER_PATHS[handler](aws);
        needed = permissionsOf(aws.calls);
      });
      const granted = () => handlerStatements(handler, ARNS);

      it("is allowed every call it makes, on the resource it makes it on", () => {
        const denied = needed.filter(
          ({ action, resource }) =>
            !granted().some(
              (s) =>
                s.Action.some((a) => a.toLowerCase() === action.toLowerCase()) &&
                s.Resource.some((pattern) => wildcardMatches(pattern, resource)),
            ),
        );
        assert.deepEqual(denied, []);
      });

      it("is granted no action its code never calls", () => {
        const called = [...new Set(needed.map((p) => p.action))].sort();
        const grantedActions = [...new Set(granted().flatMap((s) => s.Action))].sort();
        assert.deepEqual(grantedActions, called);
      });
    });
  }

  it("covers every handler the program gives a role", () => {
    // HandlerName is the union the program builds roles from; a new handler must get paths here.
    const handlers: Record<HandlerName, true> = {
      loadManifest: true,
      validateManifest: true,
      recordRejection: true,
      registerRelease: true,
      awaitRelease: true,
      stopRelease: true,
      pipelineEvent: true,
      reconciler: true,
      executionEnded: true,
      releaseStatus: true,
      releaseControl: true,
      submitRelease: true,
      uploaderEvent: true,
      freezeControl: true,
    };
    assert.deepEqual(Object.keys(HANDLER_PATHS).sort(), Object.keys(handlers).sort());
  });
});
