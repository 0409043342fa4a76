/**
 * The IAM engine's remembered decisions (local/iam-decisions.ts): exact, never stale. A role whose
 * grant was removed, in place or as a new role, is denied again; and a request decided on the
 * statements' relevant entries is decided as the engine decides it on the whole policy (or is,
 * like there, unevaluable).
 */
import assert from "node:assert/strict";
import { CodePipelineClient, StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { runSimulation } from "@cloud-copilot/iam-simulate";
import { type PolicyStatement, type ResourceArns, document } from "../contract/permissions";
import {
  type IamRole,
  enforceIam,
  evaluate,
  localHandlerRole,
  localResourceArns,
} from "../local/iam-enforcement";
import { LOCAL_ACCOUNT, LOCAL_REGION, LOCAL_STATE_MACHINE_ARN, LOCAL_TABLES } from "../local/release-machine";

const PIPELINES = Array.from({ length: 60 }, (_, i) => `dec-${String(i).padStart(3, "0")}`);
const ARNS: ResourceArns = localResourceArns({
  partition: "aws",
  region: LOCAL_REGION,
  accountId: LOCAL_ACCOUNT,
  tables: LOCAL_TABLES,
  bucket: "release-manifests",
  eventBusName: "default",
  pipelines: PIPELINES,
  stateMachineArn: LOCAL_STATE_MACHINE_ARN,
});
const START = "codepipeline:StartPipelineExecution";
const arnOf = (pipeline: string) => `arn:aws:codepipeline:${LOCAL_REGION}:${LOCAL_ACCOUNT}:${pipeline}`;

/** The statements without one action (a grant removed from the program). */
const without = (statements: PolicyStatement[], action: string): PolicyStatement[] =>
  statements
    .map((s) => ({ ...s, Action: s.Action.filter((a) => a !== action) }))
    .filter((s) => s.Action.length > 0);

/** The engine's answer on the role's whole policy, asked directly: what a remembered decision must equal. */
async function wholePolicyDecision(role: IamRole, action: string, resource: string) {
  const result = await runSimulation(
    {
      request: {
        principal: role.principal,
        action,
        resource: { resource, accountId: role.scope.accountId },
        contextVariables: {},
      },
      identityPolicies: [{ name: "role", policy: document(role.statements) }],
      serviceControlPolicies: [],
      resourceControlPolicies: [],
    },
    { simulationMode: "Strict" },
  );
  return result.resultType === "error" ? "UnevaluableRequest" : result.overallResult;
}

/** A CodePipeline client enforcing `role` that never reaches a service: only IAM answers. */
function enforcedCodePipeline(role: IamRole) {
  const client = new CodePipelineClient({
    region: LOCAL_REGION,
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    endpoint: "http://127.0.0.1:9",
    maxAttempts: 1,
  });
  return enforceIam(client, "codepipeline", role);
}

const denial = (role: IamRole, resource: string) =>
  `User: ${role.principal} is not authorized to perform: ${START} on resource: ${resource} because no identity-based policy allows the ${START} action`;

describe("the IAM engine's remembered decisions", function () {
  this.timeout(20000);

  it("denies a call again, with AccessDeniedException naming action and resource, once its grant is removed from the role in place", async () => {
    const role = localHandlerRole("registerRelease", ARNS);
    const resource = arnOf("dec-007");
    assert.equal(await evaluate(role, { action: START, resource }), "Allowed");
    // The grant is taken out of the very statements the allow was decided on.
    const granting = role.statements.find((s) => s.Action.includes(START));
    assert.ok(granting);
    granting.Action.splice(granting.Action.indexOf(START), 1);
    assert.equal(await evaluate(role, { action: START, resource }), "ImplicitlyDenied");
    const client = enforcedCodePipeline(role);
    await assert.rejects(
      client.send(new StartPipelineExecutionCommand({ name: "dec-007" })),
      (error: Error) => {
        assert.equal(error.name, "AccessDeniedException");
        assert.equal(error.message, denial(role, resource));
        return true;
      },
    );
    client.destroy();
  });

  it("denies a call to a new role without the grant that an earlier role was allowed, and allows it again once the grant is back", async () => {
    const role = localHandlerRole("registerRelease", ARNS);
    const resource = arnOf("dec-023");
    assert.equal(await evaluate(role, { action: START, resource }), "Allowed");
    const removed: IamRole = { ...role, statements: without(role.statements, START) };
    assert.equal(await evaluate(removed, { action: START, resource }), "ImplicitlyDenied");
    // The same role object given its grants back (a new statements list) is allowed again.
    removed.statements = role.statements;
    assert.equal(await evaluate(removed, { action: START, resource }), "Allowed");
    // A resource dropped from the role's list, in place: denied for that pipeline only.
    const list = role.statements.find((s) => s.Resource.includes(resource));
    assert.ok(list);
    list.Resource.splice(list.Resource.indexOf(resource), 1);
    assert.equal(await evaluate(role, { action: START, resource }), "ImplicitlyDenied");
    assert.equal(await evaluate(role, { action: START, resource: arnOf("dec-024") }), "Allowed");
  });

  it("decides every request as the engine does on the role's whole policy", async () => {
    const role = localHandlerRole("pipelineEvent", ARNS);
    const base = `arn:aws:codepipeline:${LOCAL_REGION}:${LOCAL_ACCOUNT}:`;
    const resources = [
      arnOf("dec-000"),
      arnOf("dec-059"),
      arnOf("dec-060"), // not among the role's pipelines
      arnOf("DEC-001"), // letter case: the engine's own rule decides
      arnOf("dec-00"), // a prefix of listed names
      `${base}dec-0*`, // a wildcard request
      `arn:AWS:codepipeline:${LOCAL_REGION}:${LOCAL_ACCOUNT}:dec-002`,
      "*",
      ARNS.releasesTableArn, // of another service: the engine cannot evaluate it, either way
    ];
    const remembered = (action: string, resource: string) =>
      evaluate(role, { action, resource }).catch((error: Error) => error.name);
    const actions = ["codepipeline:StopPipelineExecution", "codepipeline:GetPipelineExecution", START];
    for (const action of actions)
      for (const resource of resources)
        assert.equal(
          await remembered(action, resource),
          await wholePolicyDecision(role, action, resource),
          `${action} on ${resource}`,
        );
  });
});
