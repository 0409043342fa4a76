/**
 * Each policy of the pack on hand-built resources: a known-good stack passes every policy, and
 * each test changes one field of it and gets exactly the violation that change deserves, with a
 * message that names the resource, the statement and the fix.
 */
import assert from "node:assert/strict";
import { handlerStatements } from "../contract/permissions";
import { LOG_DELIVERY, XRAY_WITH_SAMPLING } from "../infra/iam";
import { policies } from "../policy/policies";
import {
  type EngineResource,
  type PolicyConfig,
  type PolicyRun,
  UNKNOWN,
  UnknownValueError,
  assertFired,
  assertOnly,
  describeViolations,
  resourceArgs,
  runPolicies,
} from "./policy-harness";

const ACCOUNT = "123456789012";
const TABLE_ARN = `arn:aws:dynamodb:ap-southeast-2:${ACCOUNT}:table/executions-table`;
const BUCKET_ARN = "arn:aws:s3:::releases-bucket";
const ROLE_ARN = `arn:aws:iam::${ACCOUNT}:role/workflow-role`;

type Json = Record<string, unknown>;

const statement = (sid: string, action: string[], resource: string[], extra: Json = {}): Json => ({
  Sid: sid,
  Effect: "Allow",
  Action: action,
  Resource: resource,
  ...extra,
});
const documentOf = (...statements: Json[]) =>
  JSON.stringify({ Version: "2012-10-17", Statement: statements });
const trust = (principal: unknown, extra: Json = {}) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AssumedByOneService",
        Effect: "Allow",
        Principal: principal,
        Action: "sts:AssumeRole",
        ...extra,
      },
    ],
  });

const GOOD_STATEMENTS = [
  statement("RecordExecutions", ["dynamodb:UpdateItem"], [TABLE_ARN]),
  statement("CompleteWaitingTasks", ["states:SendTaskSuccess", "states:SendTaskFailure"], ["*"]),
];

/** A small stack with one of everything the pack checks, every setting as the policies want it. */
function goodStack(): EngineResource[] {
  const tlsGuard = {
    Sid: "DenyInsecureTransport",
    Effect: "Deny",
    Principal: "*",
    Action: "s3:*",
    Resource: [BUCKET_ARN, `${BUCKET_ARN}/*`],
    Condition: { Bool: { "aws:SecureTransport": "false" } },
  };
  return [
    {
      type: "aws:s3/bucket:Bucket",
      name: "releases",
      props: { bucket: "releases-bucket", id: "releases-bucket", arn: BUCKET_ARN },
    },
    {
      type: "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      name: "releases-public-access",
      props: {
        bucket: "releases-bucket",
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
    },
    {
      type: "aws:s3/bucketPolicy:BucketPolicy",
      name: "releases-tls-only",
      props: { bucket: "releases-bucket", policy: documentOf(tlsGuard) },
    },
    {
      type: "aws:s3/bucketVersioning:BucketVersioning",
      name: "releases-versioning",
      props: { bucket: "releases-bucket", versioningConfiguration: { status: "Enabled" } },
    },
    {
      type: "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
      name: "releases-encryption",
      props: {
        bucket: "releases-bucket",
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }],
      },
    },
    {
      type: "aws:dynamodb/table:Table",
      name: "executions",
      props: {
        hashKey: "pipelineExecutionId",
        pointInTimeRecovery: { enabled: true },
        serverSideEncryption: { enabled: true },
      },
    },
    {
      type: "aws:iam/role:Role",
      name: "fn-role",
      props: { assumeRolePolicy: trust({ Service: "lambda.amazonaws.com" }) },
    },
    {
      type: "aws:iam/rolePolicy:RolePolicy",
      name: "fn-policy",
      props: { role: "fn-role", policy: documentOf(...GOOD_STATEMENTS) },
    },
    {
      type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
      name: "fn-xray",
      props: { role: "fn-role", policyArn: "arn:aws:iam::aws:policy/AWSXRayDaemonWriteAccess" },
    },
    {
      type: "aws:sqs/queuePolicy:QueuePolicy",
      name: "dlq-policy",
      props: {
        queueUrl: "https://sqs/dlq",
        policy: documentOf({
          Sid: "EventBridgeDeadLetters",
          Effect: "Allow",
          Principal: { Service: "events.amazonaws.com" },
          Action: "sqs:SendMessage",
          Resource: `arn:aws:sqs:ap-southeast-2:${ACCOUNT}:dlq`,
        }),
      },
    },
    {
      type: "aws:lambda/function:Function",
      name: "releaseStatus",
      props: { runtime: "nodejs24.x", tracingConfig: { mode: "Active" } },
    },
    {
      type: "aws:lambda/permission:Permission",
      name: "release-get-invoke",
      props: {
        action: "lambda:InvokeFunction",
        function: "releaseStatus-fn",
        principal: "apigateway.amazonaws.com",
        sourceArn: `arn:aws:execute-api:ap-southeast-2:${ACCOUNT}:api-id/*/GET/releases/*`,
      },
    },
    { type: "aws:cloudwatch/logGroup:LogGroup", name: "releaseStatus-logs", props: { retentionInDays: 30 } },
    {
      type: "aws:sfn/stateMachine:StateMachine",
      name: "workflow",
      props: {
        roleArn: ROLE_ARN,
        loggingConfiguration: {
          level: "ALL",
          includeExecutionData: true,
          logDestination: "arn:aws:logs:x:y:log-group:/w:*",
        },
        tracingConfiguration: { enabled: true },
      },
    },
    {
      type: "aws:apigateway/requestValidator:RequestValidator",
      name: "validator",
      props: {
        id: "validator-id",
        restApi: "api-id",
        validateRequestBody: true,
        validateRequestParameters: true,
      },
    },
    {
      type: "aws:apigateway/method:Method",
      name: "releases-post",
      props: {
        restApi: "api-id",
        httpMethod: "POST",
        authorization: "AWS_IAM",
        requestValidatorId: "validator-id",
        requestModels: { "application/json": "ReleaseManifest", $default: "ReleaseManifest" },
      },
    },
    {
      type: "aws:apigateway/method:Method",
      name: "release-get",
      props: { restApi: "api-id", httpMethod: "GET", authorization: "AWS_IAM" },
    },
    {
      type: "aws:apigateway/stage:Stage",
      name: "api-stage",
      props: {
        restApi: "api-id",
        stageName: "v1",
        accessLogSettings: { destinationArn: "arn:aws:logs:x:y:log-group:/api", format: "{}" },
      },
    },
    {
      type: "aws:apigateway/methodSettings:MethodSettings",
      name: "api-settings",
      props: {
        restApi: "api-id",
        stageName: "v1",
        methodPath: "*/*",
        settings: { loggingLevel: "INFO", metricsEnabled: true },
      },
    },
  ];
}

/** The good stack with one resource changed (props edited in place on a fresh copy). */
function changed(name: string, edit: (props: Json) => void, stack = goodStack()): EngineResource[] {
  const resource = stack.find((r) => r.name === name);
  if (!resource) throw new Error(`no resource ${name} in the good stack`);
  edit(resource.props);
  return stack;
}

const withPolicy =
  (...statements: Json[]) =>
  (props: Json) => {
    props.policy = documentOf(...statements);
  };

async function run(stack: EngineResource[], config?: PolicyConfig): Promise<PolicyRun> {
  return runPolicies(policies, stack, config);
}

describe("policy pack rules", () => {
  it("names each policy once, every one mandatory and described", () => {
    const names = policies.map((p) => p.name);
    assert.equal(new Set(names).size, names.length);
    for (const policy of policies) {
      assert.equal(policy.enforcementLevel, "mandatory", policy.name);
      assert.ok(policy.description.length > 20, policy.name);
    }
  });

  it("passes the known-good stack with no violation and nothing left unevaluated", async () => {
    const result = await run(goodStack());
    assert.deepEqual(result.violations, [], describeViolations(result));
    assert.deepEqual(result.notEvaluable, []);
  });

  describe("iam-no-wildcard-actions", () => {
    it('rejects Action "*" (IAM.1), naming the policy and statement', async () => {
      const stack = changed("fn-policy", withPolicy(statement("Everything", ["*"], [TABLE_ARN])));
      assertOnly(
        await run(stack),
        "iam-no-wildcard-actions",
        "fn-policy",
        /role policy "fn-policy"/,
        /statement "Everything"/,
        /"\*"/,
        /IAM\.1/,
      );
    });

    it('rejects a service wildcard "dynamodb:*" (IAM.21)', async () => {
      const stack = changed("fn-policy", withPolicy(statement("AllOfDynamo", ["dynamodb:*"], [TABLE_ARN])));
      assertOnly(
        await run(stack),
        "iam-no-wildcard-actions",
        "fn-policy",
        /"dynamodb:\*", every action of dynamodb/,
        /IAM\.21/,
      );
    });

    it('rejects a wildcard inside an action name ("dynamodb:Update*")', async () => {
      const stack = changed("fn-policy", withPolicy(statement("Updates", ["dynamodb:Update*"], [TABLE_ARN])));
      assertOnly(
        await run(stack),
        "iam-no-wildcard-actions",
        "fn-policy",
        /"dynamodb:Update\*", a wildcard pattern/,
      );
    });

    it("accepts wildcards in Deny statements", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(...GOOD_STATEMENTS, {
          Sid: "NoDeletes",
          Effect: "Deny",
          Action: "dynamodb:Delete*",
          Resource: "*",
        }),
      );
      assert.deepEqual((await run(stack)).violations, []);
    });

    it("reads every kind of document: managed and inline role policies, bucket and queue policies", async () => {
      const wildcard = statement("Wild", ["sqs:*"], ["*"]);
      const stack: EngineResource[] = [
        { type: "aws:iam/policy:Policy", name: "managed", props: { policy: documentOf(wildcard) } },
        {
          type: "aws:iam/role:Role",
          name: "inline-role",
          props: {
            assumeRolePolicy: trust({ Service: "lambda.amazonaws.com" }),
            inlinePolicies: [{ name: "ops", policy: documentOf(wildcard) }],
          },
        },
        {
          type: "aws:sqs/queuePolicy:QueuePolicy",
          name: "queue",
          props: { policy: documentOf({ ...wildcard, Principal: { Service: "events.amazonaws.com" } }) },
        },
        {
          type: "aws:s3/bucketPolicy:BucketPolicy",
          name: "bucket",
          props: { bucket: "b", policy: documentOf({ ...wildcard, Principal: "*" }) },
        },
      ];
      const result = await runPolicies(
        policies.filter((p) => p.name === "iam-no-wildcard-actions"),
        stack,
      );
      assert.deepEqual(
        result.violations.map((v) => v.message.split(",")[0]),
        [
          'IAM policy "managed" (policy)',
          'role "inline-role" (inlinePolicies "ops")',
          'queue policy "queue" (policy)',
          'bucket policy "bucket" (policy)',
        ],
      );
    });
  });

  describe("iam-known-actions", () => {
    it("rejects an action its service does not have, naming it", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("RecordExecutions", ["dynamodb:UpdateItems"], [TABLE_ARN])),
      );
      assertOnly(
        await run(stack),
        "iam-known-actions",
        "fn-policy",
        /statement "RecordExecutions" names "dynamodb:UpdateItems", which is not an action of dynamodb/,
      );
    });

    it("rejects an unknown service prefix", async () => {
      const stack = changed("fn-policy", withPolicy(statement("Record", ["dynamo:UpdateItem"], [TABLE_ARN])));
      assertOnly(await run(stack), "iam-known-actions", "fn-policy", /"dynamo" is not an IAM service prefix/);
    });

    it("rejects an action without a service prefix", async () => {
      const stack = changed("fn-policy", withPolicy(statement("Record", ["UpdateItem"], [TABLE_ARN])));
      assertOnly(
        await run(stack),
        "iam-known-actions",
        "fn-policy",
        /"UpdateItem", which is not of the form service:Action/,
      );
    });

    it('rejects names that only exist as JavaScript object keys ("s3:constructor", "s3:__proto__")', async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("Odd", ["s3:constructor", "s3:__proto__"], [BUCKET_ARN])),
      );
      const result = await run(stack);
      assert.deepEqual(
        result.violations.map((v) => [v.policy, /names "(.*?)"/.exec(v.message)?.[1]]),
        [
          ["iam-known-actions", "s3:constructor"],
          ["iam-known-actions", "s3:__proto__"],
        ],
      );
    });

    it("accepts IAM's case-insensitive spelling of a real action", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("Record", ["DynamoDB:updateitem"], [TABLE_ARN])),
      );
      assert.deepEqual((await run(stack)).violations, []);
    });

    it("rejects a Deny pattern that matches no action (it would deny nothing)", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(...GOOD_STATEMENTS, {
          Sid: "NoDeletes",
          Effect: "Deny",
          Action: "dynamodb:Delte*",
          Resource: "*",
        }),
      );
      assertOnly(
        await run(stack),
        "iam-known-actions",
        "fn-policy",
        /"dynamodb:Delte\*", a pattern that matches no dynamodb action/,
      );
    });

    it("rejects a statement without any Action", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy({ Sid: "Nothing", Effect: "Allow", Resource: TABLE_ARN }),
      );
      assertOnly(await run(stack), "iam-known-actions", "fn-policy", /statement "Nothing" names no Action/);
    });

    it("rejects a document that is not JSON", async () => {
      const stack = changed("fn-policy", (props) => {
        props.policy = "{ not json";
      });
      assertOnly(
        await run(stack),
        "iam-known-actions",
        "fn-policy",
        /role policy "fn-policy": policy is not valid JSON/,
      );
    });
  });

  describe("iam-resource-wildcard-only-for-unscoped-actions", () => {
    it('rejects Resource "*" for an action that supports resource-level permissions, naming its resource type', async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("RecordExecutions", ["dynamodb:UpdateItem"], ["*"])),
      );
      assertOnly(
        await run(stack),
        "iam-resource-wildcard-only-for-unscoped-actions",
        "fn-policy",
        /statement "RecordExecutions" allows "dynamodb:UpdateItem" on Resource "\*"/,
        /resource types: table/,
      );
    });

    it('rejects a scoped action mixed into a statement of unscoped ones on "*"', async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("Traces", ["xray:PutTraceSegments", "s3:GetObject"], ["*"])),
      );
      assertOnly(
        await run(stack),
        "iam-resource-wildcard-only-for-unscoped-actions",
        "fn-policy",
        /"s3:GetObject" on Resource "\*"/,
      );
    });

    it('accepts "*" for every action the program grants on "*" (none has resource-level permissions)', async () => {
      const arns = {
        partition: "aws",
        region: "ap-southeast-2",
        accountId: ACCOUNT,
        bucketArn: BUCKET_ARN,
        releasesTableArn: TABLE_ARN.replace("executions", "releases"),
        executionsTableArn: TABLE_ARN,
        releasePipelinesTableArn: `${TABLE_ARN}-pipelines`,
        pipelineArns: [`arn:aws:codepipeline:ap-southeast-2:${ACCOUNT}:svc-a`],
        eventBusArn: `arn:aws:events:ap-southeast-2:${ACCOUNT}:event-bus/default`,
        stateMachineArn: `arn:aws:states:ap-southeast-2:${ACCOUNT}:stateMachine:release-machine`,
      };
      const unscoped = [LOG_DELIVERY, XRAY_WITH_SAMPLING, ...handlerStatements("reconciler", arns)].filter(
        (s) => s.Resource.includes("*"),
      );
      assert.deepEqual(unscoped.flatMap((s) => s.Action).sort(), [
        "logs:CreateLogDelivery",
        "logs:DeleteLogDelivery",
        "logs:DescribeLogGroups",
        "logs:DescribeResourcePolicies",
        "logs:GetLogDelivery",
        "logs:ListLogDeliveries",
        "logs:PutResourcePolicy",
        "logs:UpdateLogDelivery",
        "states:SendTaskSuccess",
        "xray:GetSamplingRules",
        "xray:GetSamplingTargets",
        "xray:PutTelemetryRecords",
        "xray:PutTraceSegments",
      ]);
      const stack = changed("fn-policy", withPolicy(...(unscoped as unknown as Json[])));
      assert.deepEqual((await run(stack)).violations, []);
    });
  });

  describe("iam-passrole-not-on-wildcard", () => {
    it('rejects iam:PassRole on "*" (which is also "*" for an action with resource-level permissions)', async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(...GOOD_STATEMENTS, statement("PassAnything", ["iam:PassRole"], ["*"])),
      );
      assertFired(await run(stack), [
        ["iam-resource-wildcard-only-for-unscoped-actions", "fn-policy", /"iam:PassRole" on Resource "\*"/],
        ["iam-passrole-not-on-wildcard", "fn-policy", /statement "PassAnything" allows iam:PassRole on "\*"/],
      ]);
    });

    it("rejects iam:PassRole on every role of the account (role/*)", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("Pass", ["iam:PassRole"], [`arn:aws:iam::${ACCOUNT}:role/*`])),
      );
      assertOnly(
        await run(stack),
        "iam-passrole-not-on-wildcard",
        "fn-policy",
        /iam:PassRole on "arn:aws:iam::123456789012:role\/\*"/,
        /Name the role ARNs/,
      );
    });

    it("rejects iam:PassRole reached through a pattern", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("Pass", ["iam:Pass*"], [`arn:aws:iam::${ACCOUNT}:role/*`])),
      );
      assertFired(await run(stack), [
        ["iam-no-wildcard-actions", "fn-policy", /"iam:Pass\*", a wildcard pattern/],
        ["iam-passrole-not-on-wildcard", "fn-policy", /allows iam:PassRole \(through "iam:Pass\*"\)/],
      ]);
    });

    it("accepts iam:PassRole on a named role", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(statement("PassWorkflowRole", ["iam:PassRole"], [ROLE_ARN])),
      );
      assert.deepEqual((await run(stack)).violations, []);
    });
  });

  describe("iam-no-allow-with-not-action", () => {
    it("rejects an Allow with NotAction", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy({ Sid: "AllButIam", Effect: "Allow", NotAction: "iam:*", Resource: TABLE_ARN }),
      );
      assertOnly(
        await run(stack),
        "iam-no-allow-with-not-action",
        "fn-policy",
        /statement "AllButIam" is an Allow with NotAction \(iam:\*\)/,
      );
    });

    it("rejects an Allow with NotResource", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy({ Sid: "Elsewhere", Effect: "Allow", Action: "dynamodb:GetItem", NotResource: TABLE_ARN }),
      );
      assertOnly(
        await run(stack),
        "iam-no-allow-with-not-action",
        "fn-policy",
        /is an Allow with NotResource/,
      );
    });

    it("accepts NotAction in a Deny", async () => {
      const stack = changed(
        "fn-policy",
        withPolicy(...GOOD_STATEMENTS, {
          Sid: "OnlyThese",
          Effect: "Deny",
          NotAction: ["dynamodb:UpdateItem"],
          Resource: TABLE_ARN,
        }),
      );
      assert.deepEqual((await run(stack)).violations, []);
    });
  });

  describe("iam-no-broad-managed-policies", () => {
    for (const [resource, policyArn] of [
      ["RolePolicyAttachment", "arn:aws:iam::aws:policy/AdministratorAccess"],
      ["RolePolicyAttachment", "arn:aws:iam::aws:policy/PowerUserAccess"],
      ["RolePolicyAttachment", "arn:aws:iam::aws:policy/AWSLambda_FullAccess"],
      ["RolePolicyAttachment", "arn:aws:iam::aws:policy/AmazonCognitoPowerUser"],
    ]) {
      it(`rejects a ${resource} of ${policyArn.split("/").pop()}`, async () => {
        const stack = changed("fn-xray", (props) => {
          props.policyArn = policyArn;
        });
        assertOnly(
          await run(stack),
          "iam-no-broad-managed-policies",
          "fn-xray",
          new RegExp(
            `role policy attachment "fn-xray" attaches the AWS-managed policy ${policyArn.split("/").pop()}`,
          ),
        );
      });
    }

    it("rejects broad policies in a PolicyAttachment, a role's managedPolicyArns and RolePolicyAttachmentsExclusive", async () => {
      const stack: EngineResource[] = [
        {
          type: "aws:iam/policyAttachment:PolicyAttachment",
          name: "shared",
          props: { policyArn: "arn:aws:iam::aws:policy/AmazonS3FullAccess", roles: ["r"] },
        },
        {
          type: "aws:iam/role:Role",
          name: "old-style",
          props: {
            assumeRolePolicy: trust({ Service: "lambda.amazonaws.com" }),
            managedPolicyArns: ["arn:aws:iam::aws:policy/AmazonDynamoDBFullAccess"],
          },
        },
        {
          type: "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive",
          name: "exclusive",
          props: {
            roleName: "r",
            policyArns: [
              "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole",
              "arn:aws:iam::aws:policy/AdministratorAccess",
            ],
          },
        },
      ];
      const result = await run(stack);
      assert.deepEqual(
        result.violations.map((v) => [
          v.policy,
          /^(.*?) attaches the AWS-managed policy (\S+)/.exec(v.message)?.slice(1),
        ]),
        [
          ["iam-no-broad-managed-policies", ['policy attachment "shared"', "AmazonS3FullAccess"]],
          ["iam-no-broad-managed-policies", ['role "old-style"', "AmazonDynamoDBFullAccess"]],
          [
            "iam-no-broad-managed-policies",
            ['exclusive role policy attachments "exclusive"', "AdministratorAccess"],
          ],
        ],
      );
    });

    it("accepts a customer-managed policy whose name merely says FullAccess", async () => {
      const stack = changed("fn-xray", (props) => {
        props.policyArn = `arn:aws:iam::${ACCOUNT}:policy/ReleasesFullAccess`;
      });
      assert.deepEqual((await run(stack)).violations, []);
    });
  });

  describe("iam-trust-one-service", () => {
    it("rejects a trust policy naming two services", async () => {
      const stack = changed("fn-role", (props) => {
        props.assumeRolePolicy = trust({ Service: ["lambda.amazonaws.com", "states.amazonaws.com"] });
      });
      assertFired(await run(stack), [
        [
          "iam-trust-one-service",
          "fn-role",
          /role "fn-role" \(assumeRolePolicy\) trusts 2 service principals \(lambda\.amazonaws\.com, states\.amazonaws\.com\)/,
        ],
        ["iam-trust-source-conditions", "fn-role", /trusts states\.amazonaws\.com without aws:SourceAccount/],
      ]);
    });

    it("rejects two statements trusting different services", async () => {
      const stack = changed("fn-role", (props) => {
        props.assumeRolePolicy = JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            { Effect: "Allow", Principal: { Service: "lambda.amazonaws.com" }, Action: "sts:AssumeRole" },
            { Effect: "Allow", Principal: { Service: "ec2.amazonaws.com" }, Action: "sts:AssumeRole" },
          ],
        });
      });
      assertFired(await run(stack), [
        ["iam-trust-one-service", "fn-role", /trusts 2 service principals/],
        ["iam-trust-source-conditions", "fn-role", /trusts ec2\.amazonaws\.com, for which no fact says/],
      ]);
    });

    it("rejects an account principal beside the service", async () => {
      const stack = changed("fn-role", (props) => {
        props.assumeRolePolicy = trust({
          Service: "lambda.amazonaws.com",
          AWS: `arn:aws:iam::${ACCOUNT}:root`,
        });
      });
      assertOnly(
        await run(stack),
        "iam-trust-one-service",
        "fn-role",
        /statement "AssumedByOneService" names AWS principals/,
      );
    });

    it('rejects Principal "*"', async () => {
      const stack = changed("fn-role", (props) => {
        props.assumeRolePolicy = trust("*");
      });
      assertOnly(
        await run(stack),
        "iam-trust-one-service",
        "fn-role",
        /has Principal "\*", which is not a service/,
      );
    });
  });

  describe("iam-trust-source-conditions", () => {
    const conditioned = (service: string, condition: Json) =>
      trust({ Service: service }, { Condition: condition });

    it("accepts Step Functions and EventBridge limited to this account, Lambda and API Gateway without a condition", async () => {
      for (const assumeRolePolicy of [
        conditioned("states.amazonaws.com", { StringEquals: { "aws:SourceAccount": ACCOUNT } }),
        conditioned("events.amazonaws.com", {
          ArnLike: { "aws:SourceArn": `arn:aws:events:*:${ACCOUNT}:rule/*` },
        }),
        trust({ Service: "lambda.amazonaws.com" }),
        trust({ Service: "apigateway.amazonaws.com" }),
      ]) {
        const stack = changed("fn-role", (props) => {
          props.assumeRolePolicy = assumeRolePolicy;
        });
        assert.deepEqual((await run(stack)).violations, [], assumeRolePolicy);
      }
    });

    it("rejects aws:SourceAccount or aws:SourceArn (any operator, any case) where the service does not send it", async () => {
      for (const [service, condition] of [
        ["lambda.amazonaws.com", { StringEquals: { "aws:SourceAccount": ACCOUNT } }],
        ["apigateway.amazonaws.com", { ArnLike: { "AWS:SourceArn": "arn:aws:execute-api:*" } }],
      ] as const) {
        const stack = changed("fn-role", (props) => {
          props.assumeRolePolicy = conditioned(service, condition);
        });
        assertOnly(
          await run(stack),
          "iam-trust-source-conditions",
          "fn-role",
          new RegExp(`which AWS does not document ${service.replace(/\./g, "\\.")} as sending`),
        );
      }
    });

    it("rejects a Step Functions trust without a source condition, naming the page", async () => {
      const stack = changed("fn-role", (props) => {
        props.assumeRolePolicy = trust({ Service: "states.amazonaws.com" });
      });
      assertOnly(
        await run(stack),
        "iam-trust-source-conditions",
        "fn-role",
        /without aws:SourceAccount or aws:SourceArn, .*procedure-create-iam-role\.html/,
      );
    });
  });

  describe("s3-bucket-public-access-blocked", () => {
    it("rejects a public access block that leaves a setting off, naming it", async () => {
      const stack = changed("releases-public-access", (props) => {
        props.ignorePublicAcls = false;
      });
      assertOnly(
        await run(stack),
        "s3-bucket-public-access-blocked",
        "releases-public-access",
        /leaves ignorePublicAcls not true/,
      );
    });

    it("rejects a bucket without a public access block", async () => {
      const stack = goodStack().filter((r) => r.name !== "releases-public-access");
      assertOnly(
        await run(stack),
        "s3-bucket-public-access-blocked",
        "releases",
        /bucket "releases" has no BucketPublicAccessBlock/,
      );
    });

    it("does not count a block that configures another bucket", async () => {
      const stack = changed("releases-public-access", (props) => {
        props.bucket = "some-other-bucket";
      });
      assertOnly(
        await run(stack),
        "s3-bucket-public-access-blocked",
        "releases",
        /has no BucketPublicAccessBlock/,
      );
    });
  });

  describe("s3-bucket-tls-only", () => {
    it("rejects a bucket without a bucket policy", async () => {
      const stack = goodStack().filter((r) => r.name !== "releases-tls-only");
      assertOnly(
        await run(stack),
        "s3-bucket-tls-only",
        "releases",
        /bucket "releases" has no bucket policy/,
        /aws:SecureTransport/,
      );
    });

    it("rejects a bucket policy whose deny has no aws:SecureTransport condition", async () => {
      const stack = changed(
        "releases-tls-only",
        withPolicy({
          Sid: "DenyAll",
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: [BUCKET_ARN, `${BUCKET_ARN}/*`],
        }),
      );
      assertOnly(
        await run(stack),
        "s3-bucket-tls-only",
        "releases",
        /has bucket policy "releases-tls-only" without a TLS guard/,
      );
    });

    it("rejects a TLS guard that covers the bucket but not its objects", async () => {
      const stack = changed(
        "releases-tls-only",
        withPolicy({
          Effect: "Deny",
          Principal: "*",
          Action: "s3:*",
          Resource: BUCKET_ARN,
          Condition: { Bool: { "aws:SecureTransport": false } },
        }),
      );
      assertOnly(await run(stack), "s3-bucket-tls-only", "releases", /without a TLS guard/);
    });
  });

  describe("s3-bucket-versioning-enabled", () => {
    it("rejects suspended versioning", async () => {
      const stack = changed("releases-versioning", (props) => {
        props.versioningConfiguration = { status: "Suspended" };
      });
      assertOnly(
        await run(stack),
        "s3-bucket-versioning-enabled",
        "releases-versioning",
        /has status "Suspended"/,
        /"Enabled"/,
      );
    });

    it("rejects a bucket without versioning", async () => {
      const stack = goodStack().filter((r) => r.name !== "releases-versioning");
      assertOnly(
        await run(stack),
        "s3-bucket-versioning-enabled",
        "releases",
        /bucket "releases" has no BucketVersioning/,
      );
    });
  });

  describe("s3-bucket-encryption-configured", () => {
    it("rejects a bucket without an encryption configuration", async () => {
      const stack = goodStack().filter((r) => r.name !== "releases-encryption");
      assertOnly(
        await run(stack),
        "s3-bucket-encryption-configured",
        "releases",
        /has no BucketServerSideEncryptionConfiguration/,
      );
    });

    it("rejects a configuration whose rule sets no default algorithm", async () => {
      const stack = changed("releases-encryption", (props) => {
        props.rules = [{ bucketKeyEnabled: true }];
      });
      assertOnly(
        await run(stack),
        "s3-bucket-encryption-configured",
        "releases-encryption",
        /sets no default algorithm/,
      );
    });
  });

  describe("dynamodb-point-in-time-recovery", () => {
    it("rejects a table with point-in-time recovery off", async () => {
      const stack = changed("executions", (props) => {
        props.pointInTimeRecovery = { enabled: false };
      });
      assertOnly(
        await run(stack),
        "dynamodb-point-in-time-recovery",
        "executions",
        /table "executions" has no point-in-time recovery/,
      );
    });
  });

  describe("dynamodb-kms-encryption", () => {
    it("rejects a table without KMS encryption", async () => {
      const stack = changed("executions", (props) => {
        delete props.serverSideEncryption;
      });
      assertOnly(
        await run(stack),
        "dynamodb-kms-encryption",
        "executions",
        /serverSideEncryption: \{ enabled: true \}/,
      );
    });
  });

  describe("apigateway-method-authorized", () => {
    it('rejects a method with authorization "NONE"', async () => {
      const stack = changed("release-get", (props) => {
        props.authorization = "NONE";
      });
      assertOnly(
        await run(stack),
        "apigateway-method-authorized",
        "release-get",
        /API method "release-get" \(GET\) has authorization "NONE"/,
        /AWS_IAM/,
      );
    });
  });

  describe("apigateway-request-validation", () => {
    it("rejects a POST without a request validator", async () => {
      const stack = changed("releases-post", (props) => {
        delete props.requestValidatorId;
      });
      assertOnly(
        await run(stack),
        "apigateway-request-validation",
        "releases-post",
        /API method "releases-post" \(POST\) has no request validator/,
      );
    });

    it("admits a POST without validator or model only under a self-validated operation name (the submission function's)", async () => {
      const exempted = changed("releases-post", (props) => {
        delete props.requestValidatorId;
        delete props.requestModels;
        props.operationName = "SubmitRelease";
      });
      assert.deepEqual(
        (await run(exempted)).violations.filter((v) => v.policy === "apigateway-request-validation"),
        [],
      );
      const other = changed("releases-post", (props) => {
        delete props.requestValidatorId;
        props.operationName = "SubmitAnything";
      });
      assertOnly(
        await run(other),
        "apigateway-request-validation",
        "releases-post",
        /has no request validator/,
      );
    });

    it("rejects an ANY method (which takes POST bodies) without a request validator", async () => {
      const stack = changed("releases-post", (props) => {
        props.httpMethod = "ANY";
        delete props.requestValidatorId;
      });
      assertOnly(
        await run(stack),
        "apigateway-request-validation",
        "releases-post",
        /\(ANY\) has no request validator/,
      );
    });

    it("rejects a POST whose validator does not validate bodies", async () => {
      const stack = changed("validator", (props) => {
        props.validateRequestBody = false;
      });
      assertOnly(
        await run(stack),
        "apigateway-request-validation",
        "releases-post",
        /uses request validator "validator", which does not validate bodies/,
      );
    });

    it('rejects a POST without a "$default" model (other content types skip validation)', async () => {
      const stack = changed("releases-post", (props) => {
        props.requestModels = { "application/json": "ReleaseManifest" };
      });
      assertOnly(
        await run(stack),
        "apigateway-request-validation",
        "releases-post",
        /models only for application\/json/,
        /"\$default"/,
      );
    });
  });

  describe("apigateway-stage-logging", () => {
    it("rejects a stage whose execution logging is OFF", async () => {
      const stack = changed("api-settings", (props) => {
        props.settings = { loggingLevel: "OFF" };
      });
      assertOnly(
        await run(stack),
        "apigateway-stage-logging",
        "api-stage",
        /API stage "api-stage" logs executions at "OFF"/,
      );
    });

    it("rejects a stage without method settings for every method", async () => {
      const stack = changed("api-settings", (props) => {
        props.methodPath = "releases/POST";
      });
      assertOnly(
        await run(stack),
        "apigateway-stage-logging",
        "api-stage",
        /has no method settings for "\*\/\*"/,
      );
    });

    it("rejects a stage without access logs", async () => {
      const stack = changed("api-stage", (props) => {
        delete props.accessLogSettings;
      });
      assertOnly(await run(stack), "apigateway-stage-logging", "api-stage", /has no access logs/);
    });
  });

  describe("sfn-logging-enabled", () => {
    it("rejects logging level OFF", async () => {
      const stack = changed("workflow", (props) => {
        props.loggingConfiguration = { level: "OFF", logDestination: "arn:aws:logs:x:y:log-group:/w:*" };
      });
      assertOnly(
        await run(stack),
        "sfn-logging-enabled",
        "workflow",
        /state machine "workflow" has logging level OFF/,
      );
    });

    it("rejects logging without a destination", async () => {
      const stack = changed("workflow", (props) => {
        props.loggingConfiguration = { level: "ERROR" };
      });
      assertOnly(await run(stack), "sfn-logging-enabled", "workflow", /names no log destination/);
    });
  });

  describe("sfn-tracing-enabled", () => {
    it("rejects tracing off", async () => {
      const stack = changed("workflow", (props) => {
        props.tracingConfiguration = { enabled: false };
      });
      assertOnly(
        await run(stack),
        "sfn-tracing-enabled",
        "workflow",
        /state machine "workflow" has X-Ray tracing off/,
      );
    });
  });

  describe("lambda-tracing-active", () => {
    it("rejects PassThrough tracing", async () => {
      const stack = changed("releaseStatus", (props) => {
        props.tracingConfig = { mode: "PassThrough" };
      });
      assertOnly(
        await run(stack),
        "lambda-tracing-active",
        "releaseStatus",
        /Lambda function "releaseStatus" has tracing mode "PassThrough"/,
      );
    });
  });

  describe("lambda-permission-source-arn", () => {
    it("rejects a permission without sourceArn", async () => {
      const stack = changed("release-get-invoke", (props) => {
        delete props.sourceArn;
      });
      assertOnly(
        await run(stack),
        "lambda-permission-source-arn",
        "release-get-invoke",
        /lets apigateway\.amazonaws\.com call lambda:InvokeFunction with no sourceArn/,
      );
    });

    it('rejects principal "*"', async () => {
      const stack = changed("release-get-invoke", (props) => {
        props.principal = "*";
      });
      assertOnly(await run(stack), "lambda-permission-source-arn", "release-get-invoke", /to principal "\*"/);
    });
  });

  describe("cloudwatch-log-group-retention", () => {
    it("rejects a log group without retention", async () => {
      const stack = changed("releaseStatus-logs", (props) => {
        delete props.retentionInDays;
      });
      assertOnly(
        await run(stack),
        "cloudwatch-log-group-retention",
        "releaseStatus-logs",
        /log group "releaseStatus-logs" never expires its logs/,
      );
    });

    it("rejects retention 0 (never expire)", async () => {
      const stack = changed("releaseStatus-logs", (props) => {
        props.retentionInDays = 0;
      });
      assertOnly(await run(stack), "cloudwatch-log-group-retention", "releaseStatus-logs", /never expires/);
    });

    it("rejects retention below the configured minimum (CloudWatch.16's default is 365 days)", async () => {
      const result = await run(goodStack(), {
        "cloudwatch-log-group-retention": { minimumRetentionDays: 365 },
      });
      assertOnly(
        result,
        "cloudwatch-log-group-retention",
        "releaseStatus-logs",
        /keeps logs 30 days; this pack requires at least 365/,
      );
    });
  });

  describe("values unknown at preview", () => {
    it("a resource policy reading an unknown value throws UnknownValueError instead of passing", async () => {
      const policy = policies.find((p) => p.name === "sfn-tracing-enabled");
      assert.ok(policy && "validateResource" in policy && typeof policy.validateResource === "function");
      const validate = policy.validateResource;
      const machine: EngineResource = {
        type: "aws:sfn/stateMachine:StateMachine",
        name: "workflow",
        props: { tracingConfiguration: { enabled: UNKNOWN } },
      };
      const reported: string[] = [];
      await assert.rejects(
        async () => validate(resourceArgs(machine), (message) => reported.push(message)),
        (error: unknown) =>
          error instanceof UnknownValueError && /\.tracingConfiguration\.enabled/.test(error.message),
      );
      assert.deepEqual(reported, []);
    });

    it("an IAM document unknown at preview is reported as not evaluable, never as a pass", async () => {
      const stack = changed("fn-policy", (props) => {
        props.policy = UNKNOWN;
      });
      const result = await run(stack);
      assert.deepEqual(result.violations, []);
      assert.deepEqual(
        result.notEvaluable.map((n) => [n.policy, n.urn?.split("::").pop()]),
        [
          ["iam-no-wildcard-actions", "fn-policy"],
          ["iam-known-actions", "fn-policy"],
          ["iam-resource-wildcard-only-for-unscoped-actions", "fn-policy"],
          ["iam-passrole-not-on-wildcard", "fn-policy"],
          ["iam-no-allow-with-not-action", "fn-policy"],
        ],
      );
      assert.match(
        result.notEvaluable[0].message,
        /can't run policy 'iam-no-wildcard-actions' during preview: .*\.policy/,
      );
    });

    it("a stack policy joins a bucket's siblings by property dependencies when the bucket's name is unknown", async () => {
      const atPreview = (stack: EngineResource[]) =>
        stack.map((r) =>
          r.props.bucket === "releases-bucket"
            ? {
                ...r,
                props: { ...r.props, bucket: UNKNOWN, id: UNKNOWN, arn: UNKNOWN },
                propertyDependencies: r.type === "aws:s3/bucket:Bucket" ? {} : { bucket: ["releases"] },
              }
            : r,
        );
      const s3Policies = policies.filter(
        (p) => p.name === "s3-bucket-public-access-blocked" || p.name === "s3-bucket-versioning-enabled",
      );
      const good = await runPolicies(s3Policies, atPreview(goodStack()));
      assert.deepEqual([good.violations, good.notEvaluable], [[], []]);
      const loosened = await runPolicies(
        s3Policies,
        atPreview(
          changed("releases-public-access", (props) => {
            props.blockPublicPolicy = false;
          }),
        ),
      );
      assert.deepEqual(
        loosened.violations.map((v) => [v.policy, v.urn?.split("::").pop()]),
        [["s3-bucket-public-access-blocked", "releases-public-access"]],
      );
    });

    it("a stack policy that must compare an unknown bucket name is not evaluable, never a pass", async () => {
      const stack = changed("releases", (props) => {
        props.bucket = UNKNOWN;
        props.id = UNKNOWN;
      });
      const result = await runPolicies(
        policies.filter((p) => p.name === "s3-bucket-versioning-enabled"),
        stack,
      );
      assert.deepEqual(result.violations, []);
      assert.deepEqual(
        result.notEvaluable.map((n) => n.policy),
        ["s3-bucket-versioning-enabled"],
      );
    });
  });
});
