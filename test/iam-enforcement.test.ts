/**
 * IAM enforced at run time in local mode (local/iam-enforcement.ts): each call a role's clients
 * send is evaluated by the IAM engine against the statements the program deploys for that role,
 * rendered over the local ARNs, and a denied call fails as AWS fails it. Against dynalite, the
 * CodePipeline stand-in, the task-token service, the EventBridge stand-in and s3rver: an allowed
 * call reaches the stand-in, a denied one never does.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  CodePipelineClient,
  CodePipelineServiceException,
  GetPipelineStateCommand,
} from "@aws-sdk/client-codepipeline";
import { DescribeTableCommand, DynamoDBClient, DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { AccessDeniedException, EventBridgeClient, PutEventsCommand } from "@aws-sdk/client-eventbridge";
import { GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { SFNClient, SFNServiceException, SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { GetCommand, PutCommand, QueryCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { MetadataBearer } from "@smithy/types";
import {
  HANDLER_NAMES,
  type HandlerName,
  type PolicyStatement,
  type ResourceArns,
} from "../contract/permissions";
import { documentClient } from "../handlers/clients";
import type { ExecutionDeps } from "../handlers/executions";
import { registerReleaseWaiter } from "../handlers/release/outcome";
import { registerRelease } from "../handlers/release/registration";
import { type CodePipelineService, startCodePipelineService } from "../local/codepipeline-service";
import { type LocalDynamo, createReleaseTables, startDynamo } from "../local/dynamodb";
import { type EventsService, startEventsService } from "../local/events-service";
import {
  type IamRole,
  UnmappedCommand,
  deniedMessage,
  enforceIam,
  enforceIamOnClients,
  evaluate,
  localHandlerRole,
  localResourceArns,
  localStateMachineRole,
} from "../local/iam-enforcement";
import {
  LOCAL_ACCOUNT,
  LOCAL_REFS,
  LOCAL_REGION,
  LOCAL_STATE_MACHINE_ARN,
  LOCAL_TABLES,
} from "../local/release-machine";
import { type LocalS3, startS3 } from "../local/s3";
import { LOCAL_BUCKET } from "../local/server";
import { TaskTokenRegistry, type SfnService, startSfnService } from "../local/sfn-service";
import { localS3ClientConfig } from "../contract/local-s3-config";
import { DEFAULT_WORKFLOW_OPTIONS, releaseWorkflow } from "../stepfunction/release-workflow";
import { newReleaseId } from "./local-helpers";

const PIPELINES = ["svc-a", "svc-b"];
const ARNS: ResourceArns = localResourceArns({
  partition: "aws",
  region: LOCAL_REGION,
  accountId: LOCAL_ACCOUNT,
  tables: LOCAL_TABLES,
  bucket: LOCAL_BUCKET,
  eventBusName: "default",
  pipelines: PIPELINES,
  stateMachineArn: LOCAL_STATE_MACHINE_ARN,
});
const table = (name: string) => `arn:aws:dynamodb:us-east-1:000000000000:table/${name}`;
const principal = (handler: string) =>
  `arn:aws:sts::000000000000:assumed-role/release-machine-${handler}/${handler}`;
const denial = (handler: string, action: string, resource: string) =>
  `User: ${principal(handler)} is not authorized to perform: ${action} on resource: ${resource} because no identity-based policy allows the ${action} action`;

/** A role's statements without one action (a grant removed from the program). */
const without = (statements: PolicyStatement[], action: string): PolicyStatement[] =>
  statements
    .map((s) => ({ ...s, Action: s.Action.filter((a) => a !== action) }))
    .filter((s) => s.Action.length > 0);

const servers = {
  dynamo: undefined as unknown as LocalDynamo,
  codepipeline: undefined as unknown as CodePipelineService,
  sfn: undefined as unknown as SfnService,
  events: undefined as unknown as EventsService,
  s3: undefined as unknown as LocalS3,
  s3Dir: "",
};
const config = {
  region: LOCAL_REGION,
  credentials: { accessKeyId: "x", secretAccessKey: "x" },
  maxAttempts: 1,
};
/** Unenforced DynamoDB, to arrange and inspect what the enforced clients find. */
let raw: ReturnType<typeof documentClient>;
const published: unknown[] = [];

/** One role's clients, new ones (a DocumentClient shares its DynamoDBClient's stack), each enforcing `role`. */
function enforcedClients(role: IamRole) {
  return enforceIamOnClients(
    {
      ddb: documentClient(new DynamoDBClient({ ...config, endpoint: servers.dynamo.endpoint })),
      sfn: new SFNClient({ ...config, endpoint: servers.sfn.endpoint }),
      codepipeline: new CodePipelineClient({ ...config, endpoint: servers.codepipeline.endpoint }),
      events: new EventBridgeClient({ ...config, endpoint: servers.events.endpoint }),
      s3: new S3Client(localS3ClientConfig(servers.s3.endpoint, LOCAL_REGION)),
    },
    role,
  );
}

function handlerDeps(role: IamRole): ExecutionDeps {
  const { ddb, sfn, codepipeline, events } = enforcedClients(role);
  return { ddb, sfn, codepipeline, events, tables: LOCAL_TABLES };
}

const asHandler = (handler: HandlerName) => enforcedClients(localHandlerRole(handler, ARNS));

/** What a denied call must look like: the service's error name and status, and AWS's message. */
async function assertDenied(
  call: Promise<unknown>,
  expected: { name: string; status: number; message: string; type: abstract new (...args: never[]) => Error },
) {
  const error = await call.then(
    () => assert.fail("the call was allowed"),
    (e: unknown) => e as Error & MetadataBearer,
  );
  assert.ok(error instanceof expected.type, `${error.name} is a ${expected.type.name}`);
  assert.deepEqual(
    { name: error.name, status: error.$metadata.httpStatusCode, message: error.message },
    { name: expected.name, status: expected.status, message: expected.message },
  );
}

const dynamoDenied = (handler: string, action: string, resource: string) => ({
  name: "AccessDeniedException",
  status: 400,
  message: denial(handler, action, resource),
  type: DynamoDBServiceException,
});

/** A release registered (unenforced) with its pipelines started on the stand-in. */
async function registered(releaseId: string, pipelines = [PIPELINES[0]]) {
  const executionArn = `${LOCAL_STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${releaseId}`;
  const deps: ExecutionDeps = {
    ddb: raw,
    sfn: new SFNClient({ ...config, endpoint: servers.sfn.endpoint }),
    codepipeline: new CodePipelineClient({ ...config, endpoint: servers.codepipeline.endpoint }),
    events: new EventBridgeClient({ ...config, endpoint: servers.events.endpoint }),
    tables: LOCAL_TABLES,
  };
  await registerRelease(deps, registration(releaseId, executionArn, pipelines));
  return executionArn;
}

const registration = (releaseId: string, executionArn: string, pipelines: string[]) => ({
  releaseId,
  executionArn,
  startedAt: new Date().toISOString(),
  source: "api",
  failurePolicy: "stopRemaining" as const,
  longestPipelineRunSeconds: 3600,
  pipelines: pipelines.map((name) => ({ name })),
});

describe("IAM enforced at run time in local mode", function () {
  this.timeout(30_000);

  before(async () => {
    servers.dynamo = await startDynamo();
    const client = new DynamoDBClient({ ...config, endpoint: servers.dynamo.endpoint });
    await createReleaseTables(client, LOCAL_TABLES);
    raw = documentClient(client);
    servers.codepipeline = await startCodePipelineService({
      pipelines: PIPELINES.map((name) => ({ name, durationMs: null, outcome: "Succeeded" })),
      onEvent: () => undefined,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
    });
    servers.sfn = await startSfnService({ registry: new TaskTokenRegistry() });
    servers.events = await startEventsService({
      putEvents: (entries) => {
        published.push(...entries);
        return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: "e" })) };
      },
    });
    servers.s3Dir = mkdtempSync(path.join(tmpdir(), "rm-iam-s3-"));
    servers.s3 = await startS3({
      directory: servers.s3Dir,
      buckets: [LOCAL_BUCKET],
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
    });
    await servers.s3
      .client()
      .send(new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: "release.json", Body: '{"pipelines":[]}' }));
  });

  after(async () => {
    await servers.codepipeline.close();
    await servers.sfn.close();
    await servers.events.close();
    await servers.s3.close();
    await servers.dynamo.close();
    rmSync(servers.s3Dir, { recursive: true, force: true });
  });

  describe("DynamoDB, the DocumentClient's commands included", () => {
    it("lets a call the role allows through to dynalite", async () => {
      const releaseId = newReleaseId("iam-read");
      await raw.send(
        new PutCommand({ TableName: LOCAL_TABLES.releases, Item: { releaseId, status: "RUNNING" } }),
      );
      const { ddb } = asHandler("releaseStatus");
      const read = await ddb.send(new GetCommand({ TableName: LOCAL_TABLES.releases, Key: { releaseId } }));
      assert.deepEqual(read.Item, { releaseId, status: "RUNNING" });
    });

    it("refuses a call outside the role's statements with AccessDeniedException naming the principal, action and resource, before it reaches dynalite", async () => {
      const releaseId = newReleaseId("iam-write");
      const { ddb } = asHandler("releaseStatus");
      await assertDenied(
        ddb.send(new PutCommand({ TableName: LOCAL_TABLES.releases, Item: { releaseId } })),
        dynamoDenied("releaseStatus", "dynamodb:PutItem", table("releases")),
      );
      const stored = await raw.send(new GetCommand({ TableName: LOCAL_TABLES.releases, Key: { releaseId } }));
      assert.equal(stored.Item, undefined);
    });

    it("refuses an allowed action on another table than the one granted", async () => {
      const { ddb } = asHandler("releaseStatus");
      await assertDenied(
        ddb.send(new GetCommand({ TableName: LOCAL_TABLES.executions, Key: { pipelineExecutionId: "x" } })),
        dynamoDenied("releaseStatus", "dynamodb:GetItem", table("executions")),
      );
    });

    it("authorizes a Query on an index against the index's ARN, not the table's", async () => {
      const { ddb } = asHandler("releaseControl");
      // Granted on releases/index/byStatus (and newest) only.
      const byStatus = await ddb.send(
        new QueryCommand({
          TableName: LOCAL_TABLES.releases,
          IndexName: "byStatus",
          KeyConditionExpression: "statusShard = :s",
          ExpressionAttributeValues: { ":s": "RUNNING#0" },
        }),
      );
      assert.deepEqual(byStatus.Items, []);
      await assertDenied(
        ddb.send(
          new QueryCommand({
            TableName: LOCAL_TABLES.releases,
            KeyConditionExpression: "releaseId = :r",
            ExpressionAttributeValues: { ":r": "none" },
          }),
        ),
        dynamoDenied("releaseControl", "dynamodb:Query", table("releases")),
      );
      // Granted on the release-pipelines table: not on its indexes.
      await assertDenied(
        ddb.send(
          new QueryCommand({
            TableName: LOCAL_TABLES.releasePipelines,
            IndexName: "starting",
            KeyConditionExpression: "startingSince = :s",
            ExpressionAttributeValues: { ":s": "none" },
          }),
        ),
        dynamoDenied("releaseControl", "dynamodb:Query", `${table("release-pipelines")}/index/starting`),
      );
    });

    it("refuses a command it has no IAM mapping for, rather than let it through", async () => {
      const client = new DynamoDBClient({ ...config, endpoint: servers.dynamo.endpoint });
      enforceIam(client, "dynamodb", localHandlerRole("releaseStatus", ARNS));
      await assert.rejects(client.send(new DescribeTableCommand({ TableName: LOCAL_TABLES.releases })), {
        name: UnmappedCommand.name,
        message: /no IAM mapping for dynamodb DescribeTable/,
      });
    });

    it("refuses a second role on a client that already enforces one", () => {
      const client = new DynamoDBClient({ ...config, endpoint: servers.dynamo.endpoint });
      enforceIam(client, "dynamodb", localHandlerRole("releaseStatus", ARNS));
      assert.throws(() => enforceIam(client, "dynamodb", localHandlerRole("reconciler", ARNS)), RangeError);
    });
  });

  describe("CodePipeline, Step Functions and EventBridge", () => {
    it("lets an allowed CodePipeline call through to the stand-in and refuses one on a pipeline the role does not name", async () => {
      const { codepipeline } = asHandler("registerRelease");
      const state = await codepipeline.send(new GetPipelineStateCommand({ name: "svc-a" }));
      assert.equal(state.pipelineName, "svc-a");
      const before = servers.codepipeline.callCount("GetPipelineState");
      await assertDenied(codepipeline.send(new GetPipelineStateCommand({ name: "not-allowed" })), {
        name: "AccessDeniedException",
        status: 400,
        message: denial(
          "registerRelease",
          "codepipeline:GetPipelineState",
          "arn:aws:codepipeline:us-east-1:000000000000:not-allowed",
        ),
        type: CodePipelineServiceException,
      });
      assert.equal(servers.codepipeline.callCount("GetPipelineState"), before);
    });

    it("authorizes SendTaskSuccess on any resource for a role that completes waits, and refuses it for one that does not", async () => {
      const send = (handler: HandlerName) =>
        asHandler(handler).sfn.send(new SendTaskSuccessCommand({ taskToken: "not-a-token", output: "{}" }));
      // Allowed: the task-token service itself answers (the token is not one of its tasks).
      await assert.rejects(send("pipelineEvent"), (error: Error) => error.name !== "AccessDeniedException");
      await assertDenied(send("registerRelease"), {
        name: "AccessDeniedException",
        status: 400,
        message: denial("registerRelease", "states:SendTaskSuccess", "*"),
        type: SFNServiceException,
      });
    });

    it("authorizes PutEvents against the bus each entry names", async () => {
      const { events } = asHandler("registerRelease");
      const entry = { Source: "release-machine", DetailType: "test", Detail: "{}" };
      const count = published.length;
      const sent = await events.send(
        new PutEventsCommand({ Entries: [{ ...entry, EventBusName: "default" }] }),
      );
      assert.equal(sent.FailedEntryCount, 0);
      assert.equal(published.length, count + 1);
      await assertDenied(
        events.send(new PutEventsCommand({ Entries: [{ ...entry, EventBusName: "other" }] })),
        {
          name: "AccessDeniedException",
          status: 400,
          message: denial(
            "registerRelease",
            "events:PutEvents",
            "arn:aws:events:us-east-1:000000000000:event-bus/other",
          ),
          type: AccessDeniedException,
        },
      );
    });
  });

  describe("S3", () => {
    const s3Denied = (handler: string, action: string, key: string) => ({
      name: "AccessDenied",
      status: 403,
      message: denial(handler, action, `arn:aws:s3:::${LOCAL_BUCKET}/${key}`),
      type: S3ServiceException,
    });

    it("reads an object the role may read, and refuses it to a role without s3:GetObject", async () => {
      const read = await asHandler("loadManifest").s3.send(
        new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: "release.json" }),
      );
      assert.equal(await read.Body?.transformToString(), '{"pipelines":[]}');
      await assertDenied(
        asHandler("releaseStatus").s3.send(
          new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: "release.json" }),
        ),
        s3Denied("releaseStatus", "s3:GetObject", "release.json"),
      );
    });

    it("authorizes a read of a given version as s3:GetObjectVersion", async () => {
      const role = localHandlerRole("loadManifest", ARNS);
      const { s3 } = enforcedClients({
        ...role,
        statements: without(role.statements, "s3:GetObjectVersion"),
      });
      await assertDenied(
        s3.send(new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: "release.json", VersionId: "v1" })),
        s3Denied("loadManifest", "s3:GetObjectVersion", "release.json"),
      );
    });

    it("answers a missing key with 403 AccessDenied unless the role may list the bucket, as S3 does", async () => {
      const missing = new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: "missing.json" });
      await assert.rejects(asHandler("loadManifest").s3.send(missing), (error: Error & MetadataBearer) => {
        assert.deepEqual([error.name, error.$metadata.httpStatusCode], ["AccessDenied", 403]);
        return true;
      });
      const role = localHandlerRole("loadManifest", ARNS);
      const listing: PolicyStatement = {
        Sid: "List",
        Effect: "Allow",
        Action: ["s3:ListBucket"],
        Resource: [ARNS.bucketArn],
      };
      const { s3 } = enforcedClients({ ...role, statements: [...role.statements, listing] });
      await assert.rejects(s3.send(missing), { name: "NoSuchKey" });
    });
  });

  describe("the deployed statements, as the engine reads them", () => {
    it("allows every handler each action its statements grant, on each resource they name", async () => {
      const refused: string[] = [];
      for (const handler of HANDLER_NAMES) {
        const role = localHandlerRole(handler, ARNS);
        for (const statement of role.statements)
          for (const action of statement.Action)
            for (const resource of statement.Resource)
              if ((await evaluate(role, { action, resource })) !== "Allowed")
                refused.push(`${handler} ${action} ${resource}`);
      }
      assert.deepEqual(refused, []);
    });
  });

  describe("the handlers' real code under their real roles", () => {
    it("registerRelease registers a release and starts its pipelines under its role", async () => {
      const releaseId = newReleaseId("iam-register");
      const deps = handlerDeps(localHandlerRole("registerRelease", ARNS));
      const executionArn = `${LOCAL_STATE_MACHINE_ARN}:${releaseId}`;
      const starts = servers.codepipeline.callCount("StartPipelineExecution");
      assert.deepEqual(await registerRelease(deps, registration(releaseId, executionArn, PIPELINES)), {
        releaseId,
        pipelineCount: 2,
        startsFrom: null,
      });
      const statuses = await Promise.all(
        PIPELINES.map(async (pipeline) => {
          const item = await raw.send(
            new GetCommand({ TableName: LOCAL_TABLES.releasePipelines, Key: { releaseId, pipeline } }),
          );
          return item.Item?.status;
        }),
      );
      assert.deepEqual(statuses, ["Started", "Started"]);
      assert.equal(servers.codepipeline.callCount("StartPipelineExecution"), starts + 2);
    });

    it("registerRelease fails the pipeline with CodePipeline's AccessDeniedException as its cause when its role loses codepipeline:StartPipelineExecution", async () => {
      const releaseId = newReleaseId("iam-register-denied");
      const role = localHandlerRole("registerRelease", ARNS);
      const deps = handlerDeps({
        ...role,
        statements: without(role.statements, "codepipeline:StartPipelineExecution"),
      });
      const starts = servers.codepipeline.callCount("StartPipelineExecution");
      await registerRelease(
        deps,
        registration(releaseId, `${LOCAL_STATE_MACHINE_ARN}:${releaseId}`, ["svc-b"]),
      );
      // A refused start fails its pipeline with the service's answer (handlers/release/progress.ts startClaimed).
      const item = await raw.send(
        new GetCommand({ TableName: LOCAL_TABLES.releasePipelines, Key: { releaseId, pipeline: "svc-b" } }),
      );
      const refused = denial(
        "registerRelease",
        "codepipeline:StartPipelineExecution",
        "arn:aws:codepipeline:us-east-1:000000000000:svc-b",
      );
      assert.deepEqual(
        [item.Item?.status, item.Item?.cause],
        ["Failed", `Pipeline svc-b could not start: AccessDeniedException: ${refused}`],
      );
      assert.equal(servers.codepipeline.callCount("StartPipelineExecution"), starts);
    });
  });

  describe("the outcome re-read after a lost conditional write", () => {
    // awaitRelease and stopRelease re-read the release with GetItem when another writer decided
    // its outcome first (handlers/release/outcome.ts decideOutcome): both roles grant it.
    it("the awaitRelease and stopRelease roles may read the releases table", async () => {
      const read = { action: "dynamodb:GetItem", resource: ARNS.releasesTableArn };
      assert.deepEqual(
        [
          await evaluate(localHandlerRole("awaitRelease", ARNS), read),
          await evaluate(localHandlerRole("stopRelease", ARNS), read),
        ],
        ["Allowed", "Allowed"],
      );
    });

    it("awaitRelease's real code, under its role, sends the CANCELLED outcome when a cancel decides it first", async () => {
      const releaseId = newReleaseId("iam-await");
      const executionArn = await registered(releaseId);
      // Its only pipeline settled: counted on the release, marked on its item.
      await raw.send(
        new UpdateCommand({
          TableName: LOCAL_TABLES.releases,
          Key: { releaseId },
          UpdateExpression: "ADD settledCount :one",
          ExpressionAttributeValues: { ":one": 1 },
        }),
      );
      await raw.send(
        new UpdateCommand({
          TableName: LOCAL_TABLES.releasePipelines,
          Key: { releaseId, pipeline: PIPELINES[0] },
          UpdateExpression: "SET settled = :yes",
          ExpressionAttributeValues: { ":yes": true },
        }),
      );
      const deps = handlerDeps(localHandlerRole("awaitRelease", ARNS));
      const enforced = deps.ddb;
      let cancelled = false;
      // A cancel lands between the waiter's read and its outcome write: the write loses.
      deps.ddb = {
        send: async (command: { input: { UpdateExpression?: string } }) => {
          if (!cancelled && String(command.input.UpdateExpression).includes("#outcome = :outcome")) {
            cancelled = true;
            await raw.send(
              new UpdateCommand({
                TableName: LOCAL_TABLES.releases,
                Key: { releaseId },
                UpdateExpression: "SET cancelledBy = :who",
                ExpressionAttributeValues: { ":who": "arn:aws:iam::000000000000:user/canceller" },
              }),
            );
          }
          return enforced.send(command as never);
        },
      } as unknown as ExecutionDeps["ddb"];
      await registerReleaseWaiter(deps, { taskToken: "t", releaseId, executionArn });
      const { Item } = await raw.send(
        new GetCommand({ TableName: LOCAL_TABLES.releases, Key: { releaseId } }),
      );
      assert.equal((Item?.outcome as { status?: string } | undefined)?.status, "CANCELLED");
    });
  });

  describe("the state machine's role", () => {
    const role = () =>
      localStateMachineRole(releaseWorkflow(LOCAL_REFS, DEFAULT_WORKFLOW_OPTIONS), ARNS, {
        [LOCAL_TABLES.releases]: ARNS.releasesTableArn,
        [LOCAL_TABLES.executions]: ARNS.executionsTableArn,
      });
    const other = "arn:aws:lambda:us-east-1:000000000000:function:release-machine-other";

    it("allows the engine's Task calls the definition has, and nothing else", async () => {
      const decide = (action: string, resource: string) => evaluate(role(), { action, resource });
      assert.deepEqual(
        await Promise.all([
          decide("lambda:InvokeFunction", LOCAL_REFS.functions.registerRelease),
          decide("dynamodb:UpdateItem", ARNS.releasesTableArn),
          decide("events:PutEvents", ARNS.eventBusArn),
          decide("dynamodb:DeleteItem", ARNS.releasesTableArn),
          decide("lambda:InvokeFunction", other),
        ]),
        ["Allowed", "Allowed", "Allowed", "ImplicitlyDenied", "ImplicitlyDenied"],
      );
    });

    it("tells the engine, for a call made without an SDK client, AWS's message when its role denies it", async () => {
      const invoke = (resource: string) =>
        deniedMessage(role(), { action: "lambda:InvokeFunction", resource });
      assert.deepEqual(
        [await invoke(LOCAL_REFS.functions.loadManifest), await invoke(other)],
        [
          undefined,
          `User: arn:aws:sts::000000000000:assumed-role/release-machine-state-machine/states is not authorized to perform: lambda:InvokeFunction on resource: ${other} because no identity-based policy allows the lambda:InvokeFunction action`,
        ],
      );
    });
  });

  it("keeps the AGPL engine out of the program's dependencies: a development dependency only", () => {
    const manifest = JSON.parse(readFileSync(path.join(__dirname, "..", "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
      devDependencies: Record<string, string>;
    };
    assert.deepEqual(
      [
        manifest.dependencies["@cloud-copilot/iam-simulate"],
        manifest.devDependencies["@cloud-copilot/iam-simulate"],
      ],
      [undefined, "0.1.173"],
    );
  });

  it("loads the AGPL engine only when a call is first evaluated, never by importing the module", async () => {
    const probe = `require(${JSON.stringify(path.join(__dirname, "..", "local", "iam-enforcement.ts"))});
process.stdout.write(String(Object.keys(require.cache).some((k) => k.includes("@cloud-copilot"))));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ["-r", "ts-node/register/transpile-only", "-e", probe],
      {
        cwd: path.join(__dirname, ".."),
      },
    );
    assert.equal(stdout, "false");
  });
});
