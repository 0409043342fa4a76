/**
 * The policy pack over the Pulumi program itself (docs/architecture.md, "How the AWS side is verified"): every resource the
 * program registers under strict mocks, with its resolved inputs and provider outputs, passes
 * every policy; and copies of the program's own resources, each changed in one way a careless
 * edit could, are caught by the matching policy with a message naming the resource.
 */
import assert from "node:assert/strict";
import { policies } from "../policy/policies";
import {
  type EngineResource,
  type PolicyRun,
  assertFired,
  assertOnly,
  describeViolations,
  engineStack,
  runPolicies,
} from "./policy-harness";
import { recorded, settle, valueOf } from "./pulumi-mocks";

type Json = Record<string, unknown>;
interface Statement extends Json {
  Sid?: string;
  Action?: string | string[];
  Resource?: string | string[];
}

/** The program's stack as the analyzer sees it after an update (a fresh copy each time). */
const programStack = (): EngineResource[] => engineStack(recorded);

const ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy";

/** The program's stack with one resource (by type and name) changed. */
function changed(type: string, name: string, edit: (props: Json) => void): EngineResource[] {
  const stack = programStack();
  const resource = stack.find((r) => r.type === type && r.name === name);
  if (!resource) throw new Error(`the program has no ${type} named ${name}`);
  edit(resource.props);
  return stack;
}

/** Edits the statements of a policy document held as JSON text in `props.policy`. */
const editStatements =
  (edit: (statements: Statement[]) => void) =>
  (props: Json): void => {
    const document = JSON.parse(String(props.policy)) as { Statement: Statement[] };
    edit(document.Statement);
    props.policy = JSON.stringify(document);
  };

function statementOf(statements: Statement[], sid: string): Statement {
  const found = statements.find((s) => s.Sid === sid);
  if (!found) throw new Error(`no statement ${sid}; have ${statements.map((s) => s.Sid).join(", ")}`);
  return found;
}

/** The program's stack without one resource (by type and name), which must be there. */
function without(type: string, name: string): EngineResource[] {
  const stack = programStack();
  const kept = stack.filter((r) => !(r.type === type && r.name === name));
  if (kept.length !== stack.length - 1) throw new Error(`the program has no ${type} named ${name}`);
  return kept;
}

const check = (stack: EngineResource[]): Promise<PolicyRun> => runPolicies(policies, stack);

describe("the policy pack over the program", function () {
  this.timeout(30000);

  before(async () => {
    const program = await import("../index");
    await valueOf(program.curlExample);
    await settle();
  });

  it("finds zero violations in the program, and can evaluate every policy on it", async () => {
    const result = await check(programStack());
    assert.deepEqual(result.violations, [], describeViolations(result));
    assert.deepEqual(result.notEvaluable, []);
  });

  it("applies every resource policy to some resource of the program (no policy checks nothing)", async () => {
    const stack = programStack();
    const result = await check(stack);
    for (const policy of policies.filter((p) => !("validateStack" in p))) {
      const skipped = result.notApplicable.filter((n) => n.policy === policy.name).length;
      assert.ok(skipped < stack.length, `${policy.name} applies to none of the program's resources`);
    }
    const types = new Set(stack.map((r) => r.type));
    for (const type of [
      "aws:s3/bucket:Bucket",
      "aws:iam/role:Role",
      "aws:iam/rolePolicy:RolePolicy",
      "aws:s3/bucketPolicy:BucketPolicy",
      "aws:sqs/queuePolicy:QueuePolicy",
      "aws:apigateway/stage:Stage",
      "aws:apigateway/methodSettings:MethodSettings",
      "aws:apigateway/requestValidator:RequestValidator",
    ]) {
      assert.ok(types.has(type), `the program has no ${type}: the stack policies would check nothing`);
    }
  });

  describe("catches a careless edit of the program's own resources", () => {
    it("a wildcard statement added to a function's role policy", async () => {
      const stack = changed(
        ROLE_POLICY,
        "release-machine-reconciler-policy",
        editStatements((statements) => {
          const pipelines = statementOf(statements, "ReleasePipelines").Resource;
          statements.push({
            Sid: "AnythingOnPipelines",
            Effect: "Allow",
            Action: ["codepipeline:*"],
            Resource: pipelines,
          });
        }),
      );
      assertOnly(
        await check(stack),
        "iam-no-wildcard-actions",
        "release-machine-reconciler-policy",
        /role policy "release-machine-reconciler-policy" \(policy\), statement "AnythingOnPipelines" allows "codepipeline:\*"/,
      );
    });

    it("a wildcard in the dead-letter queue's resource policy", async () => {
      const stack = changed(
        "aws:sqs/queuePolicy:QueuePolicy",
        "release-machine-undelivered-events-policy",
        editStatements((statements) => {
          statementOf(statements, "EventBridgeDeadLetters").Action = "sqs:*";
        }),
      );
      assertOnly(
        await check(stack),
        "iam-no-wildcard-actions",
        "release-machine-undelivered-events-policy",
        /queue policy/,
        /"sqs:\*"/,
      );
    });

    it("a misspelt action", async () => {
      const stack = changed(
        ROLE_POLICY,
        "release-machine-registerRelease-policy",
        editStatements((statements) => {
          statementOf(statements, "RecordExecutions").Action = ["dynamodb:UpdateItems"];
        }),
      );
      assertOnly(
        await check(stack),
        "iam-known-actions",
        "release-machine-registerRelease-policy",
        /statement "RecordExecutions" names "dynamodb:UpdateItems", which is not an action of dynamodb/,
      );
    });

    it('Resource "*" on dynamodb:UpdateItem', async () => {
      const stack = changed(
        ROLE_POLICY,
        "release-machine-pipelineEvent-policy",
        editStatements((statements) => {
          const statement = statementOf(statements, "RecordExecutions");
          statement.Resource = ["*"];
          statement.Action = ["dynamodb:UpdateItem"];
        }),
      );
      assertOnly(
        await check(stack),
        "iam-resource-wildcard-only-for-unscoped-actions",
        "release-machine-pipelineEvent-policy",
        /statement "RecordExecutions" allows "dynamodb:UpdateItem" on Resource "\*"/,
        /resource types: table/,
      );
    });

    it('iam:PassRole on "*" in the workflow role', async () => {
      const stack = changed(
        ROLE_POLICY,
        "release-machine-workflow-policy",
        editStatements((statements) => {
          statements.push({ Sid: "PassRoles", Effect: "Allow", Action: ["iam:PassRole"], Resource: ["*"] });
        }),
      );
      assertFired(await check(stack), [
        [
          "iam-resource-wildcard-only-for-unscoped-actions",
          "release-machine-workflow-policy",
          /"iam:PassRole" on Resource "\*"/,
        ],
        [
          "iam-passrole-not-on-wildcard",
          "release-machine-workflow-policy",
          /statement "PassRoles" allows iam:PassRole on "\*"/,
        ],
      ]);
    });

    it("an Allow with NotAction", async () => {
      const stack = changed(
        ROLE_POLICY,
        "release-machine-stopRelease-policy",
        editStatements((statements) => {
          const stop = statementOf(statements, "ReleasePipelines");
          stop.NotAction = stop.Action;
          delete stop.Action;
        }),
      );
      assertOnly(
        await check(stack),
        "iam-no-allow-with-not-action",
        "release-machine-stopRelease-policy",
        /statement "ReleasePipelines" is an Allow with NotAction \(codepipeline:StopPipelineExecution\)/,
      );
    });

    it("an AWS-managed AdministratorAccess attachment", async () => {
      const stack: EngineResource[] = [
        ...programStack(),
        {
          type: "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
          name: "workflow-admin",
          props: {
            role: "release-machine-workflow-role-role",
            policyArn: "arn:aws:iam::aws:policy/AdministratorAccess",
          },
        },
      ];
      assertOnly(
        await check(stack),
        "iam-no-broad-managed-policies",
        "workflow-admin",
        /attaches the AWS-managed policy AdministratorAccess/,
      );
    });

    it("a trust policy naming two services", async () => {
      const stack = changed("aws:iam/role:Role", "release-machine-workflow-role", (props) => {
        const trust = JSON.parse(String(props.assumeRolePolicy)) as { Statement: { Principal: Json }[] };
        trust.Statement[0].Principal = { Service: ["states.amazonaws.com", "lambda.amazonaws.com"] };
        props.assumeRolePolicy = JSON.stringify(trust);
      });
      assertFired(await check(stack), [
        [
          "iam-trust-one-service",
          "release-machine-workflow-role",
          /trusts 2 service principals \(states\.amazonaws\.com, lambda\.amazonaws\.com\)/,
        ],
        [
          "iam-trust-source-conditions",
          "release-machine-workflow-role",
          /requires aws:SourceAccount, which AWS does not document lambda/,
        ],
      ]);
    });

    it("aws:SourceAccount required of Lambda, which never sends it (the function could not start)", async () => {
      const stack = changed("aws:iam/role:Role", "release-machine-pipelineEvent-role", (props) => {
        const trust = JSON.parse(String(props.assumeRolePolicy)) as { Statement: Json[] };
        trust.Statement[0].Condition = { StringEquals: { "aws:SourceAccount": "123456789012" } };
        props.assumeRolePolicy = JSON.stringify(trust);
      });
      assertOnly(
        await check(stack),
        "iam-trust-source-conditions",
        "release-machine-pipelineEvent-role",
        /requires aws:SourceAccount, which AWS does not document lambda\.amazonaws\.com as sending .*lambda-intro-execution-role/,
      );
    });

    it("the workflow role's aws:SourceAccount condition dropped (confused deputy)", async () => {
      const stack = changed("aws:iam/role:Role", "release-machine-workflow-role", (props) => {
        const trust = JSON.parse(String(props.assumeRolePolicy)) as { Statement: Json[] };
        delete trust.Statement[0].Condition;
        props.assumeRolePolicy = JSON.stringify(trust);
      });
      assertOnly(
        await check(stack),
        "iam-trust-source-conditions",
        "release-machine-workflow-role",
        /trusts states\.amazonaws\.com without aws:SourceAccount or aws:SourceArn/,
      );
    });

    it("the bucket's public access block loosened", async () => {
      const stack = changed(
        "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
        "release-machine-releases-public-access",
        (props) => {
          props.restrictPublicBuckets = false;
        },
      );
      assertOnly(
        await check(stack),
        "s3-bucket-public-access-blocked",
        "release-machine-releases-public-access",
        /leaves restrictPublicBuckets not true/,
      );
    });

    it("the bucket's TLS-only policy removed", async () => {
      const stack = without("aws:s3/bucketPolicy:BucketPolicy", "release-machine-releases-tls-only");
      assertOnly(
        await check(stack),
        "s3-bucket-tls-only",
        "release-machine-releases",
        /bucket "release-machine-releases" has no bucket policy/,
      );
    });

    it("the bucket's versioning suspended", async () => {
      const stack = changed(
        "aws:s3/bucketVersioning:BucketVersioning",
        "release-machine-releases-versioning",
        (props) => {
          props.versioningConfiguration = { status: "Suspended" };
        },
      );
      assertOnly(
        await check(stack),
        "s3-bucket-versioning-enabled",
        "release-machine-releases-versioning",
        /"Suspended"/,
      );
    });

    it("the bucket's encryption configuration removed", async () => {
      const stack = without(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "release-machine-releases-encryption",
      );
      assertOnly(
        await check(stack),
        "s3-bucket-encryption-configured",
        "release-machine-releases",
        /has no BucketServerSideEncryptionConfiguration/,
      );
    });

    it("point-in-time recovery off on the Releases table", async () => {
      const stack = changed("aws:dynamodb/table:Table", "release-machine-releases", (props) => {
        props.pointInTimeRecovery = { enabled: false };
      });
      assertOnly(
        await check(stack),
        "dynamodb-point-in-time-recovery",
        "release-machine-releases",
        /table "release-machine-releases"/,
      );
    });

    it("KMS encryption off on the Executions table", async () => {
      const stack = changed("aws:dynamodb/table:Table", "release-machine-executions", (props) => {
        props.serverSideEncryption = { enabled: false };
      });
      assertOnly(
        await check(stack),
        "dynamodb-kms-encryption",
        "release-machine-executions",
        /table "release-machine-executions"/,
      );
    });

    it('the status method set to "NONE"', async () => {
      const stack = changed("aws:apigateway/method:Method", "release-machine-release-get", (props) => {
        props.authorization = "NONE";
      });
      assertOnly(
        await check(stack),
        "apigateway-method-authorized",
        "release-machine-release-get",
        /has authorization "NONE"/,
      );
    });

    it("a POST without its request validator", async () => {
      const stack = changed(
        "aws:apigateway/method:Method",
        "release-machine-release-cancel-post",
        (props) => {
          delete props.requestValidatorId;
        },
      );
      assertOnly(
        await check(stack),
        "apigateway-request-validation",
        "release-machine-release-cancel-post",
        /API method "release-machine-release-cancel-post" \(POST\) has no request validator/,
      );
    });

    it("the submission's POST without its self-validated operation name", async () => {
      const stack = changed("aws:apigateway/method:Method", "release-machine-releases-post", (props) => {
        delete props.operationName;
      });
      assertFired(await check(stack), [
        ["apigateway-request-validation", "release-machine-releases-post", /has no request validator/],
        ["apigateway-request-validation", "release-machine-releases-post", /has no request model/],
      ]);
    });

    it("the stage's execution logging turned off", async () => {
      const stack = changed(
        "aws:apigateway/methodSettings:MethodSettings",
        "release-machine-api-settings",
        (props) => {
          props.settings = { ...(props.settings as Json), loggingLevel: "OFF" };
        },
      );
      assertOnly(
        await check(stack),
        "apigateway-stage-logging",
        "release-machine-api-stage",
        /logs executions at "OFF"/,
      );
    });

    it("state machine logging OFF", async () => {
      const stack = changed("aws:sfn/stateMachine:StateMachine", "release-machine-workflow", (props) => {
        props.loggingConfiguration = { ...(props.loggingConfiguration as Json), level: "OFF" };
      });
      assertOnly(
        await check(stack),
        "sfn-logging-enabled",
        "release-machine-workflow",
        /has logging level OFF/,
      );
    });

    it("state machine tracing off", async () => {
      const stack = changed("aws:sfn/stateMachine:StateMachine", "release-machine-workflow", (props) => {
        props.tracingConfiguration = { enabled: false };
      });
      assertOnly(await check(stack), "sfn-tracing-enabled", "release-machine-workflow", /X-Ray tracing off/);
    });

    it("a function's tracing set to PassThrough", async () => {
      const stack = changed("aws:lambda/function:Function", "release-machine-reconciler", (props) => {
        props.tracingConfig = { mode: "PassThrough" };
      });
      assertOnly(await check(stack), "lambda-tracing-active", "release-machine-reconciler", /"PassThrough"/);
    });

    it("a Lambda permission without sourceArn", async () => {
      const stack = changed(
        "aws:lambda/permission:Permission",
        "release-machine-pipeline-event-invoke",
        (props) => {
          delete props.sourceArn;
        },
      );
      assertOnly(
        await check(stack),
        "lambda-permission-source-arn",
        "release-machine-pipeline-event-invoke",
        /lets events\.amazonaws\.com call lambda:InvokeFunction with no sourceArn/,
      );
    });

    it("a log group without retention", async () => {
      const stack = changed("aws:cloudwatch/logGroup:LogGroup", "release-machine-workflow-logs", (props) => {
        delete props.retentionInDays;
      });
      assertOnly(
        await check(stack),
        "cloudwatch-log-group-retention",
        "release-machine-workflow-logs",
        /never expires/,
      );
    });
  });
});
