/**
 * The ReleaseMachine component built under strict mocks in each configuration that changes its
 * shape: two components in one stack, each failure policy, and both values of
 * manageApiGatewayAccount. index.ts registers once per process (modules are cached), so the cases
 * construct components themselves, record what they registered, and forget it afterwards so the
 * other tests see only the program's stack. Building a component takes seconds (each Lambda is
 * serialized), so the two components of one stack carry one failure policy and one value of
 * manageApiGatewayAccount each, and those cases read their own component's resources.
 */
import assert from "node:assert/strict";
import { isDeepStrictEqual } from "node:util";
import { readSettings } from "../infra/config";
import * as pulumi from "@pulumi/pulumi";
import { ReleaseMachine, aliasUnprefixedChildNames } from "../infra/release-machine";
import { policies } from "../policy/policies";
import { type FailurePolicy, releaseWorkflow } from "../stepfunction/release-workflow";
import { describeViolations, engineStack, runPolicies } from "./policy-harness";
import { DEV_PIPELINES, type RecordedResource, recorded, settle, valueOf } from "./pulumi-mocks";

const STATE_MACHINE = "aws:sfn/stateMachine:StateMachine";
const FUNCTION = "aws:lambda/function:Function";
const ACCOUNT_SETTINGS = "aws:apigateway/account:Account";

/** Builds the components (name → config overrides) in one stack and returns what they registered. */
async function build(
  components: Record<string, Record<string, string>>,
  opts?: pulumi.ComponentResourceOptions,
): Promise<RecordedResource[]> {
  const start = recorded.length;
  const machines = Object.entries(components).map(
    ([name, config]) =>
      new ReleaseMachine(
        name,
        {
          settings: readSettings(
            (key) =>
              ({ pipelines: JSON.stringify(DEV_PIPELINES), deletionProtection: "false", ...config })[key],
          ),
        },
        opts,
      ),
  );
  await Promise.all(machines.map((machine) => valueOf(machine.curlExample)));
  await settle();
  return recorded.slice(start);
}

/** Removes a case's resources from the shared record, so later tests see the program alone. */
function forget(resources: readonly RecordedResource[]): void {
  const gone = new Set(resources);
  const kept = recorded.filter((r) => !gone.has(r));
  recorded.splice(0, recorded.length, ...kept);
}

function find(resources: readonly RecordedResource[], type: string, name: string): RecordedResource {
  const found = resources.find((r) => r.type === type && r.name === name);
  if (!found) throw new Error(`no ${type} named ${name}`);
  return found;
}

const repeated = (values: string[]) => values.filter((v, i) => values.indexOf(v) !== i);

async function assertPolicyPackPasses(resources: RecordedResource[]): Promise<void> {
  const result = await runPolicies(policies, engineStack(resources));
  assert.deepEqual(result.violations, [], describeViolations(result));
  assert.deepEqual(result.notEvaluable, []);
}

/** A component's own resources: itself and its children, each named after it. */
const ownedBy = (resources: readonly RecordedResource[], component: string) =>
  resources.filter((r) => r.name === component || r.name.startsWith(`${component}-`));

/** What each configuration case reads: the component of the shared stack built that way. */
const FAILURE_POLICY_COMPONENT = { stopRemaining: "blue", letFinish: "green" } as const;
const ACCOUNT_COMPONENT = { true: "blue", false: "green" } as const;

describe("the ReleaseMachine component, built per configuration", function () {
  this.timeout(120000);

  /** The two components of one stack, built once for every case below that reads them. */
  let shared: Promise<RecordedResource[]> | undefined;
  const sharedStack = () =>
    (shared ??= build({
      // The API Gateway account settings are one per account and region: one component owns them.
      [FAILURE_POLICY_COMPONENT.stopRemaining]: {
        manageApiGatewayAccount: "true",
        failurePolicy: "stopRemaining",
      },
      [FAILURE_POLICY_COMPONENT.letFinish]: { manageApiGatewayAccount: "false", failurePolicy: "letFinish" },
    }));
  after(async () => {
    if (shared) forget(await shared);
  });

  describe("two components in one stack", () => {
    let resources: RecordedResource[] = [];
    before(async () => {
      resources = await sharedStack();
    });

    it("create no notification topic, key or rule without the notifications setting", () => {
      const notifying = resources.filter(
        (r) => r.type.startsWith("aws:sns/") || r.type === "aws:kms/key:Key" || r.name.includes("-notify-"),
      );
      assert.deepEqual(
        notifying.map((r) => r.name),
        [],
      );
    });

    it("register no two resources with one URN or one name of a type", () => {
      assert.deepEqual(repeated(resources.map((r) => r.urn)), []);
      assert.deepEqual(repeated(resources.map((r) => `${r.type}::${r.name}`)), []);
    });

    it("name every child after its own component", () => {
      const strays = resources.filter(
        (r) =>
          r.type !== "release-machine:index:ReleaseMachine" &&
          !r.name.startsWith("blue-") &&
          !r.name.startsWith("green-"),
      );
      assert.deepEqual(
        strays.map((r) => `${r.type}::${r.name}`),
        [],
      );
      for (const name of ["blue", "green"]) {
        assert.ok(find(resources, STATE_MACHINE, `${name}-workflow`));
        assert.ok(find(resources, FUNCTION, `${name}-registerRelease`));
      }
    });

    it("give no two resources one physical name or name prefix", () => {
      // Names scoped to their own REST API (models, validators, stages) may repeat across APIs.
      const scopedToTheirApi = /^aws:apigateway\/(model|requestValidator|stage|methodSettings):/;
      const physical = resources
        .filter((r) => !scopedToTheirApi.test(r.type))
        .flatMap((r) =>
          (["name", "namePrefix", "bucket"] as const)
            .map((key) => r.inputs[key])
            .filter((value): value is string => typeof value === "string")
            .map((value) => `${r.type}::${value}`),
        );
      assert.deepEqual(repeated(physical), []);
      const workflowLogs = ["blue", "green"].map((name) =>
        String(
          find(resources, "aws:cloudwatch/logGroup:LogGroup", `${name}-workflow-logs`).inputs.namePrefix,
        ),
      );
      assert.deepEqual(workflowLogs, ["/aws/vendedlogs/states/blue-", "/aws/vendedlogs/states/green-"]);
    });

    it("leave the account-wide API Gateway settings to the one component that manages them", () => {
      assert.deepEqual(
        resources.filter((r) => r.type === ACCOUNT_SETTINGS).map((r) => r.name),
        ["blue-api-account"],
      );
    });

    it("pass the policy pack together", async () => {
      await assertPolicyPackPasses(resources);
    });
  });

  for (const failurePolicy of ["stopRemaining", "letFinish"] as const satisfies readonly FailurePolicy[]) {
    describe(`under the failure policy ${failurePolicy}`, () => {
      const name = FAILURE_POLICY_COMPONENT[failurePolicy];
      let resources: RecordedResource[] = [];
      before(async () => {
        resources = ownedBy(await sharedStack(), name);
      });

      it("deploys the workflow rendered for that policy, whose RegisterRelease carries it", () => {
        const deployed = JSON.parse(
          String(find(resources, STATE_MACHINE, `${name}-workflow`).inputs.definition),
        );
        const arn = (handler: string) => String(find(resources, FUNCTION, `${name}-${handler}`).state.arn);
        const expected = releaseWorkflow(
          {
            functions: {
              loadManifest: arn("loadManifest"),
              validateManifest: arn("validateManifest"),
              recordRejection: arn("recordRejection"),
              registerRelease: arn("registerRelease"),
              awaitRelease: arn("awaitRelease"),
              stopRelease: arn("stopRelease"),
            },
            releasesTable: String(find(resources, "aws:dynamodb/table:Table", `${name}-releases`).state.name),
            eventBusName: "default",
          },
          { longestPipelineRunSeconds: 168 * 3600, failurePolicy },
        );
        assert.deepEqual(deployed, JSON.parse(JSON.stringify(expected)));
        assert.equal(deployed.States.RegisterRelease.Parameters.Payload.failurePolicy, failurePolicy);
      });

      it("passes the policy pack", async () => {
        await assertPolicyPackPasses(resources);
      });
    });
  }

  for (const manage of [true, false]) {
    describe(`with manageApiGatewayAccount ${manage}`, () => {
      const name = ACCOUNT_COMPONENT[`${manage}`];
      let resources: RecordedResource[] = [];
      before(async () => {
        resources = ownedBy(await sharedStack(), name);
      });

      it(
        manage
          ? "sets the account's CloudWatch role for API Gateway, with its own role and policy"
          : "creates no account settings, and no role or policy for them",
        () => {
          const account = resources.filter((r) => r.type === ACCOUNT_SETTINGS);
          const roles = resources.filter(
            (r) => r.type.startsWith("aws:iam/") && r.name.startsWith(`${name}-api-cloudwatch`),
          );
          if (!manage) {
            assert.deepEqual([...account, ...roles], []);
            return;
          }
          assert.deepEqual(roles.map((r) => `${r.type}::${r.name}`).sort(), [
            `aws:iam/role:Role::${name}-api-cloudwatch-role`,
            `aws:iam/rolePolicy:RolePolicy::${name}-api-cloudwatch-policy`,
          ]);
          assert.deepEqual(
            account.map((r) => [r.name, r.inputs.cloudwatchRoleArn]),
            [
              [
                `${name}-api-account`,
                find(resources, "aws:iam/role:Role", `${name}-api-cloudwatch-role`).state.arn,
              ],
            ],
          );
        },
      );

      it("passes the policy pack", async () => {
        await assertPolicyPackPasses(resources);
      });
    });
  }

  describe("a stack deployed before child names carried the component's name", () => {
    const seen: { name: string; aliases: unknown }[] = [];
    let resources: RecordedResource[] = [];
    before(async () => {
      const record: pulumi.ResourceTransformation = ({ name, opts }) => {
        seen.push({ name, aliases: opts.aliases });
        return undefined;
      };
      resources = await build(
        { legacy: {} },
        { transformations: [aliasUnprefixedChildNames("legacy"), record] },
      );
    });
    after(() => forget(resources));

    it("aliases every child to its old, bare name, so an update renames instead of replacing", () => {
      const children = resources.filter((r) => r.name !== "legacy");
      assert.ok(children.length > 100, `only ${children.length} children`);
      for (const child of children) {
        // Some types bring aliases of their own (aws.s3.Bucket: its BucketV2 type); ours is added.
        const aliases = seen.find((s) => s.name === child.name)?.aliases;
        const bare = { name: child.name.slice("legacy-".length) };
        assert.ok(
          Array.isArray(aliases) && aliases.some((alias) => isDeepStrictEqual(alias, bare)),
          `${child.name}: ${JSON.stringify(aliases)}`,
        );
      }
    });

    it("leaves a resource whose name the component did not prefix alone", () => {
      const transform = aliasUnprefixedChildNames("legacy");
      const args = { resource: undefined as never, type: "aws:s3/bucket:Bucket", props: {}, opts: {} };
      assert.equal(transform({ ...args, name: "other-bucket" }), undefined);
      assert.deepEqual(transform({ ...args, name: "legacy-releases" })?.opts.aliases, [{ name: "releases" }]);
    });
  });
});
