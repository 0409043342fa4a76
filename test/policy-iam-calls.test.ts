/**
 * Each Lambda role against what its code calls (ARCHITECTURE §8 point 6). Every handler runs
 * through its main and error paths with recording fake clients (a `send` that records the
 * command and answers a minimal valid output; an unexpected command throws); each SDK command is
 * mapped to the IAM actions and resource ARN AWS authorizes it against; and the result is held
 * against `handlerStatements` in infra/iam.ts: every call is allowed on its resource, and no
 * action is granted that the code never calls.
 */
import assert from "node:assert/strict";
import type { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SFNClient } from "@aws-sdk/client-sfn";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { ExecutionNotRecorded, InvalidManifest, ManifestNotFound } from "../handlers/errors";
import {
  type ExecutionDeps,
  type PipelineStateChangeEvent,
  handlePipelineEvent,
  reconcile,
  registerWaiter,
  stopRemaining,
} from "../handlers/executions";
import { loadManifest, validateManifest } from "../handlers/load-manifest";
import { manifestParser } from "../handlers/manifest";
import { releaseStatusApi } from "../handlers/release-status";
import { type HandlerName, type ResourceArns, handlerStatements, pipelineArn } from "../infra/iam";
import { wildcardMatches } from "../policy/iam-reference";

const PARTITION = "aws";
const REGION = "ap-southeast-2";
const ACCOUNT = "123456789012";
const PIPELINES = ["svc-a-pipeline", "svc-b-pipeline", "svc-c-pipeline"];
const BUCKET = "releases-bucket";
const TABLES = { releases: "releases-table", executions: "executions-table" };
const tableArn = (name: string) => `arn:${PARTITION}:dynamodb:${REGION}:${ACCOUNT}:table/${name}`;

/** The ARNs the program resolves for these names (infra/release-machine.ts). */
const ARNS: ResourceArns = {
  partition: PARTITION,
  region: REGION,
  accountId: ACCOUNT,
  bucketArn: `arn:${PARTITION}:s3:::${BUCKET}`,
  releasesTableArn: tableArn(TABLES.releases),
  executionsTableArn: tableArn(TABLES.executions),
  pipelineArns: PIPELINES.map((p) => pipelineArn(PARTITION, REGION, ACCOUNT, p)),
  eventBusArn: `arn:${PARTITION}:events:${REGION}:${ACCOUNT}:event-bus/default`,
};

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
  GetPipelineExecutionCommand: (i) => [
    { action: "codepipeline:GetPipelineExecution", resource: pipelineResource(i) },
  ],
  StopPipelineExecutionCommand: (i) => [
    { action: "codepipeline:StopPipelineExecution", resource: pipelineResource(i) },
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
  private answers: Record<string, Answer> = {};

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

  executionDeps(): ExecutionDeps {
    return {
      ddb: this.client<DynamoDBDocumentClient>(),
      sfn: this.client<SFNClient>(),
      codepipeline: this.client<CodePipelineClient>(),
      tables: TABLES,
      now: () => new Date("2026-11-27T10:00:00Z"),
    };
  }
}

function awsError(name: string): Error {
  const error = new Error(name);
  error.name = name;
  return error;
}
const fail = (name: string) => () => {
  throw awsError(name);
};
/** Answers from a queue, for a command called several times (pages, retries). */
const inTurn = (...answers: Answer[]): Answer => {
  let next = 0;
  return (input) => answers[Math.min(next++, answers.length - 1)](input);
};

const waiting = (id: string, status: string, pipeline = PIPELINES[0]) => ({
  pipelineExecutionId: id,
  releaseId: "5.16",
  pipeline,
  status,
  taskToken: `token-${id}`,
  awaitingRelease: "5.16",
});

const pipelineEvent = (state: string, executionId = "exec-1"): PipelineStateChangeEvent => ({
  id: `event-${state}-${executionId}`,
  "detail-type": "CodePipeline Pipeline Execution State Change",
  source: "aws.codepipeline",
  time: "2026-11-27T10:00:00Z",
  detail: { pipeline: PIPELINES[0], "execution-id": executionId, state },
});

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

  async registerWaiter(aws) {
    const deps = aws.executionDeps();
    const request = (id: string) => ({
      taskToken: `token-${id}`,
      releaseId: "5.16",
      pipeline: PIPELINES[0],
      pipelineExecutionId: id,
    });
    const updated = (status: string) => (input: Input) => ({
      Attributes: { ...waiting(text((input.Key as Input).pipelineExecutionId), status) },
    });
    const completions = { SendTaskSuccessCommand: () => ({}), SendTaskFailureCommand: () => ({}) };

    aws.answer({ UpdateCommand: updated("InProgress") });
    assert.deepEqual(await registerWaiter(deps, request("exec-1")), { completedAtOnce: false });
    aws.answer({ UpdateCommand: inTurn(updated("Succeeded"), () => ({})), ...completions });
    assert.deepEqual(await registerWaiter(deps, request("exec-2")), { completedAtOnce: true });
    aws.answer({ UpdateCommand: inTurn(updated("Failed"), () => ({})), ...completions });
    assert.deepEqual(await registerWaiter(deps, request("exec-3")), { completedAtOnce: true });
    aws.answer({
      UpdateCommand: inTurn(updated("Succeeded"), () => ({})),
      SendTaskSuccessCommand: fail("TaskTimedOut"),
    });
    assert.deepEqual(await registerWaiter(deps, request("exec-4")), { completedAtOnce: true });
    aws.answer({ UpdateCommand: fail("ConditionalCheckFailedException") });
    await assert.rejects(registerWaiter(deps, request("exec-5")), ExecutionNotRecorded);
    // stopRemaining policy: the release already failed, so the new execution stops itself.
    aws.answer({
      UpdateCommand: updated("InProgress"),
      GetCommand: () => ({ Item: { firstFailure: "Pipeline svc-b failed" } }),
      StopPipelineExecutionCommand: () => ({ pipelineExecutionId: "exec-6" }),
    });
    assert.deepEqual(await registerWaiter(deps, { ...request("exec-6"), stopIfReleaseFailed: true }), {
      completedAtOnce: false,
    });
  },

  async pipelineEvent(aws) {
    const deps = aws.executionDeps();
    const stored =
      (status: string, extra: Input = {}) =>
      () => ({ Attributes: { ...waiting("exec-1", status), ...extra } });
    const completions = { SendTaskSuccessCommand: () => ({}), SendTaskFailureCommand: () => ({}) };

    aws.answer({ UpdateCommand: inTurn(stored("Succeeded"), () => ({})), ...completions });
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED")), "completed");
    aws.answer({ UpdateCommand: inTurn(stored("Failed"), () => ({})), ...completions });
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("FAILED")), "completed");
    aws.answer({ UpdateCommand: stored("InProgress") });
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("STARTED")), "recorded");
    aws.answer({ UpdateCommand: stored("Succeeded", { releaseId: undefined, taskToken: undefined }) });
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED", "not-ours")), "recorded");
    // Already ended: the status stays, the history is still appended by the second update.
    aws.answer({
      UpdateCommand: inTurn(
        fail("ConditionalCheckFailedException"),
        stored("Succeeded", { taskToken: undefined }),
      ),
    });
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("FAILED")), "recorded");
    aws.answer({ UpdateCommand: fail("ConditionalCheckFailedException") });
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("SUCCEEDED")), "duplicate");
    assert.equal(await handlePipelineEvent(deps, pipelineEvent("NOT_A_STATE")), "ignored");
  },

  async reconciler(aws) {
    const deps = aws.executionDeps();
    const statusOf: Record<string, string> = {
      "exec-1": "Succeeded",
      "exec-3": "Failed",
      "exec-4": "InProgress",
    };
    aws.answer({
      ScanCommand: inTurn(
        () => ({
          Items: [waiting("exec-1", "InProgress"), waiting("exec-2", "Succeeded")],
          LastEvaluatedKey: { k: 1 },
        }),
        () => ({
          Items: [
            waiting("exec-3", "InProgress", PIPELINES[1]),
            waiting("exec-4", "InProgress", PIPELINES[2]),
          ],
        }),
      ),
      GetPipelineExecutionCommand: (input) => ({
        pipelineExecution: {
          pipelineName: input.pipelineName,
          status: statusOf[text(input.pipelineExecutionId)],
        },
      }),
      UpdateCommand: (input) => ({
        Attributes: waiting(
          text((input.Key as Input).pipelineExecutionId),
          statusOf[text((input.Key as Input).pipelineExecutionId)],
        ),
      }),
      SendTaskSuccessCommand: () => ({}),
      SendTaskFailureCommand: () => ({}),
    });
    assert.deepEqual(await reconcile(deps), { checked: 4, completed: 3, failures: [] });
  },

  async stopRemaining(aws) {
    const deps = aws.executionDeps();
    aws.answer({
      QueryCommand: () => ({
        Items: [
          waiting("exec-1", "InProgress", PIPELINES[0]),
          waiting("exec-2", "Succeeded", PIPELINES[1]),
          waiting("exec-3", "Stopping", PIPELINES[2]),
        ],
      }),
      StopPipelineExecutionCommand: inTurn(
        () => ({ pipelineExecutionId: "exec-1" }),
        fail("PipelineExecutionNotStoppableException"),
      ),
      UpdateCommand: () => ({}),
    });
    assert.deepEqual(await stopRemaining(deps, { releaseId: "5.16", reason: "svc-b failed" }), {
      stopped: [PIPELINES[0]],
    });
  },

  async releaseStatus(aws) {
    const deps = { ddb: aws.client<DynamoDBDocumentClient>(), tables: TABLES };
    const request = (releaseId: string) => ({ pathParameters: { releaseId } });
    aws.answer({
      GetCommand: () => ({ Item: { releaseId: "5.16", status: "RUNNING", pipelines: [PIPELINES[0]] } }),
      QueryCommand: () => ({ Items: [waiting("exec-1", "InProgress")] }),
    });
    assert.equal((await releaseStatusApi(deps, request("5.16"))).statusCode, 200);
    aws.answer({ GetCommand: () => ({}) });
    assert.equal((await releaseStatusApi(deps, request("5.17"))).statusCode, 404);
    assert.equal((await releaseStatusApi(deps, request("../etc"))).statusCode, 400);
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
      registerWaiter: true,
      pipelineEvent: true,
      reconciler: true,
      stopRemaining: true,
      releaseStatus: true,
    };
    assert.deepEqual(Object.keys(HANDLER_PATHS).sort(), Object.keys(handlers).sort());
  });
});
