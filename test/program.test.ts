/**
 * The Pulumi program under strict mocks: every resource and its resolved inputs, the rendered
 * definition, and every IAM document.
 */
import { CLAIM_EXPIRY_MARGIN_SECONDS } from "../contract/function-timeouts";
import { STUCK_START_SECONDS } from "../handlers/release/progress";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import {
  manifestUploadedInput,
  manifestUploadRecordedPattern,
  manifestUploadedPattern,
  pipelineStateChangePattern,
} from "../contract/event-patterns";
import { CONTROL_BODY_SCHEMAS } from "../contract/control-routes";
import { executionsTableShape, releasesTableShape } from "../contract/tables";
import { DEFAULT_SETTINGS, SettingsError, readSettings } from "../infra/config";
import { apiDefinitionHash } from "../infra/api-stage";
import { invalidBodyResponseTemplate } from "../infra/api-skeleton";
import { EXCLUDED_PACKAGES } from "../infra/functions";
import {
  HANDLER_NAMES,
  type PolicyDocument,
  type HandlerName,
  handlerStatements,
  pipelineArn,
} from "../contract/permissions";
import { UNSUPPORTED_MEDIA_TYPE } from "../local/server";
import { releaseWorkflow } from "../stepfunction/release-workflow";
import { ACCOUNT, DEV_PIPELINES, REGION, loadProgram, own, ofType, recorded, valueOf } from "./pulumi-mocks";

const DYNAMODB_READ_WRITE = ["dynamodb:GetItem", "dynamodb:UpdateItem"];
const SCHEDULE = ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"];
const READ_MANIFESTS = ["s3:GetObject", "s3:GetObjectVersion"];
const START_AND_STOP = ["codepipeline:StartPipelineExecution", "codepipeline:StopPipelineExecution"];
const FAILURE_DETAILS = ["codepipeline:ListActionExecutions", "codepipeline:GetPipelineState"];

/**
 * What each function may do, written down here independently of contract/permissions.ts: Sid → actions.
 * test/policy-iam-calls.test.ts proves these match the calls the handlers make.
 */
const EXPECTED_GRANTS: Record<HandlerName, Record<string, string[]>> = {
  loadManifest: { ReadManifests: READ_MANIFESTS },
  validateManifest: {},
  recordRejection: {
    RecordRejections: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
  },
  registerRelease: {
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    Schedule: SCHEDULE,
    RecordExecutions: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
    WriteSchedule: ["dynamodb:PutItem", "dynamodb:DeleteItem"],
    ReleasePipelines: [...START_AND_STOP, ...FAILURE_DETAILS],
    PublishReleaseEvents: ["events:PutEvents"],
  },
  // Deciding the outcome re-reads the release when a cancel decided it first.
  awaitRelease: {
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    ConfirmPipelinesSettled: ["dynamodb:Query"],
    CompleteReleaseWait: ["states:SendTaskSuccess"],
  },
  stopRelease: {
    // It reads whose release it is before failing a failed registration's (handlers/release/ended.ts).
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    Schedule: SCHEDULE,
    // Each stop is recorded in its execution's history (handlers/stops.ts).
    RecordExecutions: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
    ReleasePipelines: ["codepipeline:StopPipelineExecution"],
    CompleteReleaseWait: ["states:SendTaskSuccess"],
    PublishReleaseEvents: ["events:PutEvents"],
  },
  pipelineEvent: {
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    Schedule: SCHEDULE,
    RecordExecutions: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
    ReadExecutions: ["dynamodb:GetItem"],
    ReleasePipelines: [...START_AND_STOP, ...FAILURE_DETAILS],
    CompleteReleaseWait: ["states:SendTaskSuccess"],
    PublishReleaseEvents: ["events:PutEvents"],
  },
  reconciler: {
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    Schedule: SCHEDULE,
    RecordExecutions: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
    CompleteReleaseWait: ["states:SendTaskSuccess"],
    FindExpiredGates: ["dynamodb:Scan"],
    ReadWatchedExecutions: ["dynamodb:BatchGetItem"],
    ReleasePipelines: [...START_AND_STOP, "codepipeline:GetPipelineExecution", ...FAILURE_DETAILS],
    PublishReleaseEvents: ["events:PutEvents"],
    // The backstop's pass: RUNNING releases whose execution ended.
    FindRunningReleases: ["dynamodb:Query"],
    DescribeReleaseExecutions: ["states:DescribeExecution"],
  },
  // The backstop: the release an ended execution held, stopped and ended.
  executionEnded: {
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    FindReleaseOfExecution: ["dynamodb:Query"],
    Schedule: SCHEDULE,
    // Each stop it asks for is recorded in the execution's history first (handlers/stops.ts).
    RecordExecutions: ["dynamodb:UpdateItem", "dynamodb:GetItem"],
    ReleasePipelines: ["codepipeline:StopPipelineExecution"],
    PublishReleaseEvents: ["events:PutEvents"],
  },
  releaseControl: {
    ReadAndSettleReleases: DYNAMODB_READ_WRITE,
    ListReleases: ["dynamodb:Query"],
    Schedule: SCHEDULE,
    PublishReleaseEvents: ["events:PutEvents"],
    StartRetries: ["states:StartExecution"],
  },
  releaseStatus: {
    ReadReleases: ["dynamodb:GetItem"],
    ReadSchedule: ["dynamodb:Query"],
    ReadReleaseExecutions: ["dynamodb:BatchGetItem"],
  },
  submitRelease: {
    ClaimAndRecordSubmissions: ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
    StartReleases: ["states:StartExecution"],
  },
  // Four eyes: the upload recorded apart, the manifest's releaseId read, the uploader recorded.
  uploaderEvent: {
    ReadManifests: READ_MANIFESTS,
    RecordUploaders: ["dynamodb:PutItem", "dynamodb:UpdateItem"],
  },
  // Freezes: one Releases item, read whole and written by conditional UpdateItem.
  freezeControl: {
    ReadAndWriteFreezes: ["dynamodb:GetItem", "dynamodb:UpdateItem"],
    ReadSchedule: ["dynamodb:Query"],
    PublishReleaseEvents: ["events:PutEvents"],
  },
};
const EVERY_FUNCTION_GRANTS = {
  WriteOwnLogs: ["logs:CreateLogStream", "logs:PutLogEvents"],
  WriteTraces: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
};
/** Actions without resource-level permissions: the only statements that may name "*". */
const UNSCOPED_SIDS = ["CompleteReleaseWait", "WriteTraces"];

/** Whether an IAM resource names something this stack created (or the default bus, or its pipelines). */
function ownResource(resource: string, logGroupArn: string): boolean {
  const tables = ["releases", "executions", "release-pipelines"].map((t) => arnOf(TABLE, t));
  return (
    resource === `${arnOf("aws:s3/bucket:Bucket", "releases")}/*` ||
    tables.some((table) => resource === table || resource.startsWith(`${table}/index/`)) ||
    DEV_PIPELINES.some((p) => resource === pipelineArn("aws", REGION, ACCOUNT, p)) ||
    resource === `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default` ||
    resource === arnOf("aws:sfn/stateMachine:StateMachine", "workflow") ||
    // Its executions (DescribeExecution): `…:execution:<state machine name>:*`.
    resource ===
      `${arnOf("aws:sfn/stateMachine:StateMachine", "workflow").replace(":stateMachine:", ":execution:")}:*` ||
    resource === `${logGroupArn}:*`
  );
}

type Program = typeof import("../index");
let program: Program;

const arnOf = (type: string, name: string) => String(own(type, name).state.arn);
const policyOf = (resource: { inputs: Record<string, unknown> }): PolicyDocument =>
  JSON.parse(String(resource.inputs.policy)) as PolicyDocument;
const FUNCTION = "aws:lambda/function:Function";
const TABLE = "aws:dynamodb/table:Table";
const HANDLERS = HANDLER_NAMES;

describe("the Pulumi program under mocks", function () {
  this.timeout(60000);

  before(async () => {
    program = await loadProgram();
  });

  it("gives every resource a unique type and name, so URNs never collide", () => {
    const urns = recorded.map((r) => r.urn);
    assert.equal(new Set(urns).size, urns.length, urns.filter((u, i) => urns.indexOf(u) !== i).join(", "));
  });

  it("exports the bucket, API URL, state machine, tables and a signed curl example", async () => {
    assert.equal(await valueOf(program.bucketName), "release-machine-releases-bucket");
    assert.equal(await valueOf(program.apiUrl), `https://api-id.execute-api.${REGION}.amazonaws.com/v1`);
    assert.equal(
      await valueOf(program.stateMachineArn),
      `arn:aws:states:${REGION}:${ACCOUNT}:stateMachine:release-machine-workflow-machine`,
    );
    assert.equal(await valueOf(program.releasesTableName), "release-machine-releases-table");
    assert.equal(await valueOf(program.executionsTableName), "release-machine-executions-table");
    const curl = await valueOf(program.curlExample);
    assert.match(curl, new RegExp(`^curl --aws-sigv4 "aws:amz:${REGION}:execute-api"`));
    assert.match(
      curl,
      /-d @release-manifest.json https:\/\/api-id\.execute-api\.ap-southeast-2\.amazonaws\.com\/v1\/releases$/,
    );
  });

  describe("release bucket", () => {
    it("blocks every kind of public access and disables ACLs", () => {
      const block = own(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "releases-public-access",
      ).inputs;
      assert.deepEqual(
        [
          block.blockPublicAcls,
          block.blockPublicPolicy,
          block.ignorePublicAcls,
          block.restrictPublicBuckets,
          block.bucket,
        ],
        [true, true, true, true, "release-machine-releases-bucket"],
      );
      const ownership = own(
        "aws:s3/bucketOwnershipControls:BucketOwnershipControls",
        "releases-ownership",
      ).inputs;
      assert.deepEqual(ownership.rule, { objectOwnership: "BucketOwnerEnforced" });
    });

    it("encrypts, versions, refuses plain HTTP and notifies EventBridge", () => {
      const sse = own(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "releases-encryption",
      ).inputs;
      assert.deepEqual(sse.rules, [
        { applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true },
      ]);
      assert.deepEqual(
        own("aws:s3/bucketVersioning:BucketVersioning", "releases-versioning").inputs.versioningConfiguration,
        { status: "Enabled" },
      );
      const policy = JSON.parse(
        String(own("aws:s3/bucketPolicy:BucketPolicy", "releases-tls-only").inputs.policy),
      );
      assert.deepEqual(policy.Statement, [
        {
          Sid: "DenyInsecureTransport",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [
            "arn:aws:s3:::release-machine-releases-bucket",
            "arn:aws:s3:::release-machine-releases-bucket/*",
          ],
          Condition: { Bool: { "aws:SecureTransport": "false" } },
        },
      ]);
      assert.equal(
        own("aws:s3/bucketNotification:BucketNotification", "releases-to-eventbridge").inputs.eventbridge,
        true,
      );
    });
  });

  describe("tables", () => {
    for (const [name, shape] of [
      ["releases", releasesTableShape],
      ["executions", executionsTableShape],
    ] as const) {
      it(`creates ${name} on demand with its keys, indexes, PITR, encryption and configured deletion protection`, () => {
        const table = own(TABLE, name).inputs;
        assert.equal(table.billingMode, "PAY_PER_REQUEST");
        assert.equal(table.hashKey, shape.hashKey);
        assert.deepEqual(table.attributes, shape.attributes);
        assert.deepEqual(
          ((table.globalSecondaryIndexes as object[] | undefined) ?? []).map((i) => i),
          shape.globalSecondaryIndexes.map((i) => ({
            name: i.name,
            hashKey: i.hashKey,
            ...(i.rangeKey ? { rangeKey: i.rangeKey } : {}),
            ...(i.projection === undefined || typeof i.projection === "string"
              ? { projectionType: i.projection ?? "ALL" }
              : { projectionType: "INCLUDE", nonKeyAttributes: [...i.projection] }),
          })),
        );
        assert.deepEqual(table.pointInTimeRecovery, { enabled: true });
        assert.deepEqual(table.serverSideEncryption, { enabled: true });
        assert.equal(table.deletionProtectionEnabled, false, "Pulumi.dev.yaml turns it off for dev");
      });
    }
  });

  it("projects only what GET /releases shows into the Releases listing indexes, so a settle writes no index", () => {
    const indexes = own(TABLE, "releases").inputs.globalSecondaryIndexes as {
      name: string;
      projectionType: string;
      nonKeyAttributes?: string[];
    }[];
    // Keys (releaseId, listed, statusShard, startedAt) are projected anyway and never named.
    const expected: Record<string, string[]> = {
      newest: ["attempt", "cancelledBy", "endedAt", "status", "submittedBy"],
      byStatus: ["attempt", "cancelledBy", "endedAt", "status", "submittedBy"],
    };
    for (const [name, attributes] of Object.entries(expected)) {
      const index = indexes.find((i) => i.name === name);
      assert.equal(index?.projectionType, "INCLUDE");
      assert.deepEqual([...(index?.nonKeyAttributes ?? [])].sort(), attributes);
    }
  });

  describe("state machine", () => {
    it("deploys exactly the release workflow rendered with the real function ARNs and table names", () => {
      const machine = own("aws:sfn/stateMachine:StateMachine", "workflow").inputs;
      const expected = releaseWorkflow(
        {
          functions: {
            loadManifest: arnOf(FUNCTION, "loadManifest"),
            validateManifest: arnOf(FUNCTION, "validateManifest"),
            recordRejection: arnOf(FUNCTION, "recordRejection"),
            registerRelease: arnOf(FUNCTION, "registerRelease"),
            awaitRelease: arnOf(FUNCTION, "awaitRelease"),
            stopRelease: arnOf(FUNCTION, "stopRelease"),
          },
          releasesTable: "release-machine-releases-table",
          eventBusName: "default",
        },
        { longestPipelineRunSeconds: 168 * 3600, failurePolicy: "stopRemaining" },
      );
      assert.deepEqual(JSON.parse(String(machine.definition)), expected);
      assert.equal(machine.type, "STANDARD");
      assert.deepEqual(machine.tracingConfiguration, { enabled: true });
      assert.deepEqual(machine.loggingConfiguration, {
        level: "ALL",
        includeExecutionData: true,
        logDestination: `${arnOf("aws:cloudwatch/logGroup:LogGroup", "workflow-logs")}:*`,
      });
    });

    it("may call exactly what its Task states call: its functions, the release item and the event bus", () => {
      const statements = policyOf(own("aws:iam/rolePolicy:RolePolicy", "workflow-policy")).Statement;
      const byAction = (action: string) =>
        statements.filter((s) => s.Action.includes(action)).flatMap((s) => s.Resource);
      assert.deepEqual(
        byAction("codepipeline:StartPipelineExecution"),
        [],
        "pipelines start in the scheduler",
      );
      assert.deepEqual(
        byAction("lambda:InvokeFunction"),
        [
          "awaitRelease",
          "loadManifest",
          "recordRejection",
          "registerRelease",
          "stopRelease",
          "validateManifest",
        ]
          .map((f) => arnOf(FUNCTION, f))
          .sort(),
      );
      assert.deepEqual(byAction("dynamodb:PutItem"), []);
      assert.deepEqual(byAction("dynamodb:UpdateItem"), [arnOf(TABLE, "releases")]);
      assert.deepEqual(byAction("events:PutEvents"), [
        `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
      ]);
      const wildcard = statements.filter((s) => s.Resource.includes("*")).map((s) => s.Sid);
      assert.deepEqual(wildcard, ["DeliverExecutionLogs", "WriteTraces"]);
    });
  });

  describe("functions", () => {
    it("expires a start claim only after the deployed timeout of every function that can hold one, plus a margin", () => {
      // The functions whose role may start a pipeline are the ones that claim starts.
      const claimants = HANDLERS.filter((handler) =>
        policyOf(own("aws:iam/rolePolicy:RolePolicy", `${handler}-policy`)).Statement.some((s) =>
          s.Action.includes("codepipeline:StartPipelineExecution"),
        ),
      );
      // releaseControl's approval takes a claim that the pipeline-event function takes over and starts.
      assert.deepEqual([...claimants].sort(), ["pipelineEvent", "reconciler", "registerRelease"]);
      for (const handler of claimants) {
        const timeout = Number(own(FUNCTION, handler).inputs.timeout);
        assert.ok(
          timeout + CLAIM_EXPIRY_MARGIN_SECONDS <= STUCK_START_SECONDS,
          `${handler} runs up to ${timeout} s; a claim expires after ${STUCK_START_SECONDS} s`,
        );
      }
      assert.equal(
        Number(own(FUNCTION, "reconciler").inputs.timeout) + CLAIM_EXPIRY_MARGIN_SECONDS,
        STUCK_START_SECONDS,
      );
    });

    it("runs one reconciler at a time (reserved concurrency 1), and leaves every other function unreserved", () => {
      for (const handler of HANDLERS) {
        const reserved = own(FUNCTION, handler).inputs.reservedConcurrentExecutions;
        assert.equal(reserved, handler === "reconciler" ? 1 : undefined, handler);
      }
    });

    for (const handler of HANDLERS) {
      it(`runs ${handler} on nodejs24.x arm64 with X-Ray, its own log group and its own role`, () => {
        const fn = own(FUNCTION, handler).inputs;
        assert.equal(fn.runtime, "nodejs24.x");
        assert.deepEqual(fn.architectures, ["arm64"]);
        assert.deepEqual(fn.tracingConfig, { mode: "Active" });
        assert.equal(fn.role, arnOf("aws:iam/role:Role", `${handler}-role`));
        assert.deepEqual(fn.loggingConfig, {
          logFormat: "JSON",
          logGroup: `/log/release-machine-${handler}-logs`,
        });
        assert.equal(own("aws:cloudwatch/logGroup:LogGroup", `${handler}-logs`).inputs.retentionInDays, 30);
        const env = (fn.environment as { variables: Record<string, string> }).variables;
        assert.equal(env.RELEASES_TABLE, "release-machine-releases-table");
        assert.equal(env.EXECUTIONS_TABLE, "release-machine-executions-table");
        assert.equal(env.ALLOWED_PIPELINES, undefined, "the allow-list does not travel in the environment");
        assert.match(env.ALLOWED_PIPELINES_FILE, /^\.pulumi-build\/allowed-pipelines-[0-9a-f]{16}\.json$/);
      });

      it(`grants ${handler} exactly its own Sids and actions, on this stack's own ARNs`, () => {
        const statements = policyOf(own("aws:iam/rolePolicy:RolePolicy", `${handler}-policy`)).Statement;
        assert.deepEqual(Object.fromEntries(statements.map((s) => [s.Sid, s.Action])), {
          ...EXPECTED_GRANTS[handler],
          ...EVERY_FUNCTION_GRANTS,
        });
        assert.equal(new Set(statements.map((s) => s.Sid)).size, statements.length, "one Sid per purpose");
        const logGroup = arnOf("aws:cloudwatch/logGroup:LogGroup", `${handler}-logs`);
        for (const statement of statements) {
          assert.equal(statement.Effect, "Allow");
          for (const resource of statement.Resource) {
            assert.ok(
              ownResource(resource, logGroup) ||
                (resource === "*" && UNSCOPED_SIDS.includes(statement.Sid ?? "")),
              `${handler} ${statement.Sid} names ${resource}, not an ARN of this stack`,
            );
          }
        }
        const pipelines = statements.find((s) => s.Sid === "ReleasePipelines");
        if (pipelines)
          assert.deepEqual(
            pipelines.Resource,
            DEV_PIPELINES.map((p) => pipelineArn("aws", REGION, ACCOUNT, p)),
          );
      });

      it(`wires ${handler}'s role to handlerStatements over the mocked resources' ARNs`, () => {
        const statements = policyOf(own("aws:iam/rolePolicy:RolePolicy", `${handler}-policy`)).Statement;
        const arns = {
          partition: "aws",
          region: REGION,
          accountId: ACCOUNT,
          bucketArn: arnOf("aws:s3/bucket:Bucket", "releases"),
          releasesTableArn: arnOf(TABLE, "releases"),
          executionsTableArn: arnOf(TABLE, "executions"),
          releasePipelinesTableArn: arnOf(TABLE, "release-pipelines"),
          pipelineArns: DEV_PIPELINES.map((p) => pipelineArn("aws", REGION, ACCOUNT, p)),
          eventBusArn: `arn:aws:events:${REGION}:${ACCOUNT}:event-bus/default`,
          stateMachineArn: arnOf("aws:sfn/stateMachine:StateMachine", "workflow"),
        };
        assert.deepEqual(statements.slice(0, -2), handlerStatements(handler, arns));
      });
    }

    it("carries the allow-list in every archive, at the path the environment names", async () => {
      for (const handler of HANDLERS) {
        const fn = own(FUNCTION, handler).inputs;
        const file = (fn.environment as { variables: Record<string, string> }).variables
          .ALLOWED_PIPELINES_FILE;
        const assets = await (
          fn.code as { assets: Promise<Record<string, { path: Promise<string> | string }>> }
        ).assets;
        assert.ok(assets[file], `${handler} archive lacks ${file}`);
        const onDisk = path.resolve(path.join(__dirname, ".."), String(await assets[file].path));
        assert.deepEqual(JSON.parse(readFileSync(onDisk, "utf8")), DEV_PIPELINES);
      }
    });

    it("attaches no managed policy to any role (CallbackFunction's FullAccess defaults are never used)", () => {
      assert.deepEqual(ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment"), []);
    });

    it("has every role trusted by one service, limited to this account only where the service sends aws:SourceAccount", () => {
      const conditioned: string[] = [];
      for (const role of ofType("aws:iam/role:Role")) {
        const trust = JSON.parse(String(role.inputs.assumeRolePolicy));
        assert.equal(trust.Statement.length, 1, role.name);
        const service = trust.Statement[0].Principal.Service as string;
        if (service === "states.amazonaws.com" || service === "events.amazonaws.com") {
          assert.deepEqual(trust.Statement[0].Condition, { StringEquals: { "aws:SourceAccount": ACCOUNT } });
          conditioned.push(role.name);
        } else {
          assert.ok(["lambda.amazonaws.com", "apigateway.amazonaws.com"].includes(service), role.name);
          assert.equal(trust.Statement[0].Condition, undefined, role.name);
        }
      }
      assert.deepEqual(conditioned.sort(), [
        "release-machine-events-start-role",
        "release-machine-workflow-role",
      ]);
    });

    it("serializes each handler into an archive without the AWS SDK and without local-mode packages", async () => {
      for (const handler of HANDLERS) {
        const code = own(FUNCTION, handler).inputs.code as {
          assets: Promise<Record<string, unknown>> | Record<string, unknown>;
        };
        const files = Object.keys(await code.assets);
        assert.ok(files.includes("__index.js"), handler);
        const packages = new Set(
          files
            .filter((f) => f.startsWith("node_modules/"))
            .map((f) =>
              f
                .split("/")
                .slice(1, f.split("/")[1].startsWith("@") ? 3 : 2)
                .join("/"),
            ),
        );
        for (const excluded of EXCLUDED_PACKAGES)
          assert.ok(!packages.has(excluded), `${handler} archive has ${excluded}`);
        assert.ok(
          ![...packages].some((p) => p.startsWith("@pulumi/") || p.startsWith("@aws-sdk/") || p === "koa"),
          [...packages].join(", "),
        );
      }
    });
  });

  describe("events", () => {
    it("starts the workflow for *.json uploads to this bucket, with retries and a dead-letter queue", () => {
      const rule = own("aws:cloudwatch/eventRule:EventRule", "manifest-uploaded").inputs;
      assert.deepEqual(
        JSON.parse(String(rule.eventPattern)),
        manifestUploadedPattern("release-machine-releases-bucket"),
      );
      const target = own("aws:cloudwatch/eventTarget:EventTarget", "manifest-uploaded-start").inputs;
      assert.equal(target.arn, arnOf("aws:sfn/stateMachine:StateMachine", "workflow"));
      assert.deepEqual(target.inputTransformer, {
        inputPaths: manifestUploadedInput.inputPaths,
        inputTemplate: manifestUploadedInput.inputTemplate,
      });
      assert.deepEqual(target.retryPolicy, { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 });
      assert.deepEqual(target.deadLetterConfig, { arn: arnOf("aws:sqs/queue:Queue", "undelivered-events") });
      assert.equal(own("aws:sqs/queue:Queue", "undelivered-events").inputs.sqsManagedSseEnabled, true);
      const startPolicy = policyOf(own("aws:iam/rolePolicy:RolePolicy", "events-start-policy"));
      assert.deepEqual(startPolicy.Statement, [
        {
          Sid: "StartReleases",
          Effect: "Allow",
          Action: ["states:StartExecution"],
          Resource: [arnOf("aws:sfn/stateMachine:StateMachine", "workflow")],
        },
      ]);
    });

    it("routes CloudTrail's records of objects stored in this bucket to the uploader function, with retries and the dead-letter queue", () => {
      const rule = own("aws:cloudwatch/eventRule:EventRule", "upload-recorded").inputs;
      assert.deepEqual(
        JSON.parse(String(rule.eventPattern)),
        manifestUploadRecordedPattern("release-machine-releases-bucket"),
      );
      const target = own("aws:cloudwatch/eventTarget:EventTarget", "upload-recorded-handler").inputs;
      assert.equal(target.arn, arnOf(FUNCTION, "uploaderEvent"));
      assert.deepEqual(target.deadLetterConfig, { arn: arnOf("aws:sqs/queue:Queue", "undelivered-events") });
      const permission = own("aws:lambda/permission:Permission", "upload-recorded-invoke").inputs;
      assert.equal(permission.sourceArn, arnOf("aws:cloudwatch/eventRule:EventRule", "upload-recorded"));
    });

    it("routes state changes of exactly the managed pipelines to the pipeline-event function", () => {
      const rule = own("aws:cloudwatch/eventRule:EventRule", "pipeline-state-changed").inputs;
      assert.deepEqual(JSON.parse(String(rule.eventPattern)), pipelineStateChangePattern(DEV_PIPELINES));
      assert.equal(
        own("aws:cloudwatch/eventTarget:EventTarget", "pipeline-state-changed-handler").inputs.arn,
        arnOf(FUNCTION, "pipelineEvent"),
      );
      const permission = own("aws:lambda/permission:Permission", "pipeline-event-invoke").inputs;
      assert.equal(
        permission.sourceArn,
        arnOf("aws:cloudwatch/eventRule:EventRule", "pipeline-state-changed"),
      );
      assert.equal(permission.principal, "events.amazonaws.com");
    });

    it("sends what the asynchronously invoked functions finally fail on to an encrypted queue kept as long as the DLQ", () => {
      const queue = own("aws:sqs/queue:Queue", "failed-invocations").inputs;
      const deadLetters = own("aws:sqs/queue:Queue", "undelivered-events").inputs;
      assert.equal(queue.sqsManagedSseEnabled, true);
      assert.equal(queue.messageRetentionSeconds, 1_209_600);
      assert.equal(queue.messageRetentionSeconds, deadLetters.messageRetentionSeconds);
      const configs = ofType("aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig");
      assert.deepEqual(configs.map((c) => c.name).sort(), [
        "release-machine-executionEnded-async",
        "release-machine-pipelineEvent-async",
        "release-machine-reconciler-async",
        "release-machine-uploaderEvent-async",
      ]);
      for (const handler of ["pipelineEvent", "reconciler", "executionEnded", "uploaderEvent"]) {
        const config = own(
          "aws:lambda/functionEventInvokeConfig:FunctionEventInvokeConfig",
          `${handler}-async`,
        ).inputs;
        assert.equal(config.functionName, `release-machine-${handler}-fn`);
        assert.deepEqual(config.destinationConfig, {
          onFailure: { destination: arnOf("aws:sqs/queue:Queue", "failed-invocations") },
        });
        assert.deepEqual(policyOf(own("aws:iam/rolePolicy:RolePolicy", `${handler}-failure-destination`)), {
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "SendFailedEvents",
              Effect: "Allow",
              Action: ["sqs:SendMessage"],
              Resource: [arnOf("aws:sqs/queue:Queue", "failed-invocations")],
            },
          ],
        });
        assert.equal(
          own("aws:iam/rolePolicy:RolePolicy", `${handler}-failure-destination`).inputs.role,
          `release-machine-${handler}-role-id`,
        );
      }
    });

    it("alarms on the first message in either queue, and exports both alarms", async () => {
      for (const queue of ["undelivered-events", "failed-invocations"]) {
        const alarm = own("aws:cloudwatch/metricAlarm:MetricAlarm", `${queue}-depth`).inputs;
        assert.deepEqual(
          [
            alarm.namespace,
            alarm.metricName,
            alarm.dimensions,
            alarm.statistic,
            alarm.threshold,
            alarm.comparisonOperator,
          ],
          [
            "AWS/SQS",
            "ApproximateNumberOfMessagesVisible",
            { QueueName: `release-machine-${queue}-queue` },
            "Maximum",
            0,
            "GreaterThanThreshold",
          ],
        );
        assert.equal(alarm.treatMissingData, "notBreaching");
      }
      assert.deepEqual(await valueOf(program.queueDepthAlarms), [
        "release-machine-undelivered-events-depth-metricalarm",
        "release-machine-failed-invocations-depth-metricalarm",
      ]);
      assert.equal(
        await valueOf(program.failedInvocationsQueueUrl),
        `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/release-machine-failed-invocations-queue`,
      );
    });

    it("runs the reconciler on the configured schedule", () => {
      assert.equal(
        own("aws:cloudwatch/eventRule:EventRule", "reconcile-schedule").inputs.scheduleExpression,
        "rate(5 minutes)",
      );
      assert.equal(
        own("aws:cloudwatch/eventTarget:EventTarget", "reconcile-schedule-run").inputs.arn,
        arnOf(FUNCTION, "reconciler"),
      );
      assert.equal(
        own("aws:lambda/permission:Permission", "reconciler-invoke").inputs.sourceArn,
        arnOf("aws:cloudwatch/eventRule:EventRule", "reconcile-schedule"),
      );
    });
  });

  describe("API", () => {
    it("authorizes every method with AWS_IAM", () => {
      const methods = ofType("aws:apigateway/method:Method");
      assert.deepEqual(methods.map((m) => [m.name, m.inputs.authorization]).sort(), [
        ["release-machine-freeze-delete", "AWS_IAM"],
        ["release-machine-freezes-get", "AWS_IAM"],
        ["release-machine-freezes-post", "AWS_IAM"],
        ["release-machine-release-approval-post", "AWS_IAM"],
        ["release-machine-release-cancel-post", "AWS_IAM"],
        ["release-machine-release-get", "AWS_IAM"],
        ["release-machine-release-override-freeze-post", "AWS_IAM"],
        ["release-machine-release-retry-post", "AWS_IAM"],
        ["release-machine-releases-get", "AWS_IAM"],
        ["release-machine-releases-post", "AWS_IAM"],
        ["release-machine-root-post", "AWS_IAM"],
      ]);
    });

    it("gives each freeze route its own method and Lambda permission, so IAM can grant them apart", () => {
      const post = own("aws:apigateway/method:Method", "freezes-post").inputs;
      assert.equal(post.operationName, "AddFreeze");
      const remove = own("aws:apigateway/method:Method", "freeze-delete").inputs;
      assert.deepEqual(remove.requestParameters, { "method.request.path.name": true });
      const permissions = ofType("aws:lambda/permission:Permission")
        .filter((p) => p.name.includes("freeze"))
        .map((p) => p.name)
        .sort();
      assert.deepEqual(permissions, [
        "release-machine-freeze-delete-invoke",
        "release-machine-freezes-get-invoke",
        "release-machine-freezes-post-invoke",
        "release-machine-release-override-freeze-post-invoke",
      ]);
      const override = own("aws:apigateway/method:Method", "release-override-freeze-post").inputs;
      assert.equal(override.operationName, "OverrideFreeze");
    });

    it("validates each control route's body against its model, the handler's own schema, for every content type", () => {
      for (const [method, model] of [
        ["release-cancel-post", "CancelRequest"],
        ["release-retry-post", "RetryRequest"],
        ["release-approval-post", "ApprovalDecision"],
      ] as const) {
        const inputs = own("aws:apigateway/method:Method", method).inputs;
        assert.deepEqual(inputs.requestModels, { "application/json": model, $default: model });
        assert.ok(inputs.requestValidatorId, method);
        const schema = JSON.parse(String(own("aws:apigateway/model:Model", `model-${model}`).inputs.schema));
        assert.deepEqual(schema, {
          $schema: "http://json-schema.org/draft-04/schema#",
          title: model,
          ...CONTROL_BODY_SCHEMAS[model],
        });
      }
    });

    it("proxies the control routes to the control function, which alone may start the workflow", () => {
      const integrations = ofType("aws:apigateway/integration:Integration").filter((i) =>
        i.name.endsWith("-control"),
      );
      assert.deepEqual(integrations.map((i) => [i.name, i.inputs.type]).sort(), [
        ["release-machine-release-approval-post-control", "AWS_PROXY"],
        ["release-machine-release-cancel-post-control", "AWS_PROXY"],
        ["release-machine-release-retry-post-control", "AWS_PROXY"],
        ["release-machine-releases-get-control", "AWS_PROXY"],
      ]);
      const statements = policyOf(own("aws:iam/rolePolicy:RolePolicy", "releaseControl-policy")).Statement;
      const start = statements.find((s) => s.Action.includes("states:StartExecution"));
      assert.deepEqual(start?.Resource, [arnOf("aws:sfn/stateMachine:StateMachine", "workflow")]);
    });

    it("lets API Gateway invoke the control function for each declared route's method and path alone", () => {
      const permissions = ofType("aws:lambda/permission:Permission").filter((p) =>
        /-(releases-get|release-(cancel|retry|approval)-post)-invoke$/.test(p.name),
      );
      const apiArn = "arn:aws:execute-api:ap-southeast-2:123456789012:api-id";
      assert.deepEqual(permissions.map((p) => [p.name, String(p.inputs.sourceArn)]).sort(), [
        ["release-machine-release-approval-post-invoke", `${apiArn}/*/POST/releases/*/approvals/*`],
        ["release-machine-release-cancel-post-invoke", `${apiArn}/*/POST/releases/*/cancel`],
        ["release-machine-release-retry-post-invoke", `${apiArn}/*/POST/releases/*/retry`],
        ["release-machine-releases-get-invoke", `${apiArn}/*/GET/releases`],
      ]);
      const paths = ofType("aws:apigateway/resource:Resource").map((r) => [r.name, r.inputs.pathPart]);
      for (const resource of [
        ["release-machine-release-cancel", "cancel"],
        ["release-machine-release-retry", "retry"],
        ["release-machine-release-approvals", "approvals"],
        ["release-machine-release-approval", "{pipeline}"],
      ])
        assert.ok(
          paths.some(([n, p]) => n === resource[0] && p === resource[1]),
          resource.join(" "),
        );
    });

    it("submits through the submission function on POST / and POST /releases, invoked only by those routes of this API", () => {
      const apiArn = `arn:aws:execute-api:${REGION}:${ACCOUNT}:api-id`;
      for (const [key, path] of [
        ["root", ""],
        ["releases", "releases"],
      ]) {
        const method = own("aws:apigateway/method:Method", `${key}-post`).inputs;
        assert.equal(method.authorization, "AWS_IAM");
        assert.equal(method.httpMethod, "POST");
        // No model: the function checks the body (every problem, 413, 415), named as exempted.
        assert.equal(method.requestModels, undefined);
        assert.equal(method.operationName, "SubmitRelease");
        const integration = own("aws:apigateway/integration:Integration", `${key}-submit`).inputs;
        assert.equal(integration.type, "AWS_PROXY");
        assert.equal(integration.uri, own(FUNCTION, "submitRelease").state.invokeArn);
        assert.equal(integration.requestTemplates, undefined);
        const permission = own("aws:lambda/permission:Permission", `${key}-post-invoke`).inputs;
        assert.equal(permission.sourceArn, `${apiArn}/*/POST/${path}`);
        assert.equal(permission.principal, "apigateway.amazonaws.com");
      }
      const invalid = own("aws:apigateway/response:Response", "invalid-body").inputs;
      assert.equal(invalid.responseType, "BAD_REQUEST_BODY");
      assert.deepEqual(invalid.responseTemplates, { "application/json": invalidBodyResponseTemplate });
      const unsupported = own("aws:apigateway/response:Response", "unsupported-media-type").inputs;
      assert.equal(unsupported.statusCode, "415");
      assert.deepEqual(
        JSON.parse(String((unsupported.responseTemplates as Record<string, string>)["application/json"])),
        { ...UNSUPPORTED_MEDIA_TYPE },
      );
    });

    it("gives the submission function the state machine it starts and the manifest rules it checks", () => {
      const environment = (
        own(FUNCTION, "submitRelease").inputs.environment as { variables: Record<string, string> }
      ).variables;
      assert.equal(environment.STATE_MACHINE_ARN, arnOf("aws:sfn/stateMachine:StateMachine", "workflow"));
      assert.equal(environment.MAX_MANIFEST_BYTES, "65536");
      assert.ok(environment.ALLOWED_PIPELINES_FILE);
    });

    it("redeploys the stage whenever any input of any resource defining the API changes", () => {
      const trigger = String(
        (
          own("aws:apigateway/deployment:Deployment", "api-deployment").inputs.triggers as Record<
            string,
            string
          >
        ).redeployment,
      );
      const defining = recorded.filter(
        (r) =>
          r.type.startsWith("aws:apigateway/") && !/(deployment|stage|methodSettings|account):/.test(r.type),
      );
      const definition = Object.fromEntries(defining.map((r) => [`${r.type}::${r.name}`, r.inputs]));
      assert.equal(apiDefinitionHash(definition), trigger, "the trigger covers exactly these resources");
      for (const [type, name, edit] of [
        [
          "aws:apigateway/integration:Integration",
          "root-submit",
          (i: Record<string, unknown>) => (i.uri = "arn:aws:lambda:other"),
        ],
        [
          "aws:apigateway/method:Method",
          "releases-post",
          (i: Record<string, unknown>) => (i.authorization = "NONE"),
        ],
        [
          "aws:apigateway/method:Method",
          "release-get",
          (i: Record<string, unknown>) => (i.authorization = "NONE"),
        ],
        [
          "aws:apigateway/response:Response",
          "invalid-body",
          (i: Record<string, unknown>) => (i.statusCode = "422"),
        ],
        [
          "aws:apigateway/response:Response",
          "unsupported-media-type",
          (i: Record<string, unknown>) => (i.responseTemplates = { "application/json": "{}" }),
        ],
      ] as const) {
        const changed = structuredClone(definition);
        edit(changed[`${type}::release-machine-${name}`]);
        assert.notEqual(apiDefinitionHash(changed), trigger, `${type} ${name}`);
      }
    });

    it("answers GET /releases/{releaseId} through the status function, invoked only by this API", () => {
      const integration = own("aws:apigateway/integration:Integration", "release-get-status").inputs;
      assert.equal(integration.type, "AWS_PROXY");
      assert.equal(integration.uri, own(FUNCTION, "releaseStatus").state.invokeArn);
      const permission = own("aws:lambda/permission:Permission", "release-get-invoke").inputs;
      assert.equal(permission.sourceArn, `arn:aws:execute-api:${REGION}:${ACCOUNT}:api-id/*/GET/releases/*`);
    });

    it("throttles the stage and logs every access", () => {
      const stage = own("aws:apigateway/stage:Stage", "api-stage").inputs;
      assert.equal(stage.xrayTracingEnabled, true);
      assert.equal(
        (stage.accessLogSettings as { destinationArn: string }).destinationArn,
        arnOf("aws:cloudwatch/logGroup:LogGroup", "api-access-logs"),
      );
      const settings = own("aws:apigateway/methodSettings:MethodSettings", "api-settings").inputs;
      assert.deepEqual(settings.settings, {
        metricsEnabled: true,
        loggingLevel: "INFO",
        dataTraceEnabled: false,
        throttlingRateLimit: 10,
        throttlingBurstLimit: 20,
      });
    });
  });
});

describe("stack settings", () => {
  const config = (values: Record<string, string>) => (key: string) => values[key];

  it("declares in Pulumi.yaml every setting with a description and the same default the code uses", () => {
    const project = parseYaml(readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { description?: string; default?: unknown }>;
    };
    assert.deepEqual(
      Object.keys(project.config).sort(),
      ["pipelines", ...Object.keys(DEFAULT_SETTINGS)].sort(),
    );
    for (const [key, declared] of Object.entries(project.config)) {
      assert.ok(declared.description, `${key} has a description`);
      if (key !== "pipelines")
        assert.deepEqual(declared.default, DEFAULT_SETTINGS[key as keyof typeof DEFAULT_SETTINGS], key);
    }
  });

  it("says which key to set when the pipelines are missing", () => {
    assert.throws(
      () => readSettings(config({})),
      (e: Error) => e instanceof SettingsError && /release-machine:pipelines is not set/.test(e.message),
    );
  });

  it("lists every invalid setting at once", () => {
    assert.throws(
      () =>
        readSettings(
          config({
            pipelines: '["ok", "bad name"]',
            maxPipelines: "501",
            failurePolicy: "retry",
            logRetentionDays: "10",
            reconcileSchedule: "often",
          }),
        ),
      (e: Error) =>
        /pipelines has names CodePipeline does not allow: bad name/.test(e.message) &&
        /maxPipelines must be an integer from 1 to 500/.test(e.message) &&
        /failurePolicy must be stopRemaining or letFinish/.test(e.message) &&
        /logRetentionDays must be one of/.test(e.message) &&
        /reconcileSchedule must be an EventBridge schedule/.test(e.message),
    );
  });

  it("refuses a longestPipelineRunHours that would reach the execution's one-year limit, naming the limit", () => {
    const pipelines = JSON.stringify(DEV_PIPELINES);
    assert.equal(
      readSettings(config({ pipelines, longestPipelineRunHours: "8712" })).longestPipelineRunHours,
      8712,
    );
    assert.throws(
      () => readSettings(config({ pipelines, longestPipelineRunHours: "8760" })),
      (e: Error) =>
        e instanceof SettingsError &&
        /longestPipelineRunHours must be an integer from 1 to 8712, the limit 8712 hours \(a STANDARD execution's one-year limit/.test(
          e.message,
        ),
    );
  });

  it("reads the dev stack's pipelines and keeps defaults for the rest", () => {
    const settings = readSettings(config({ pipelines: JSON.stringify(DEV_PIPELINES) }));
    assert.deepEqual(settings, { pipelines: DEV_PIPELINES, ...DEFAULT_SETTINGS });
  });
});
