/**
 * Runs CrossGuard policies the way the Pulumi engine's analyzer does (@pulumi/policy's
 * server.js), without an engine: every resource policy once per resource with that resource's
 * props, every stack policy once over all resources; props wrapped in `unknownCheckingProxy`,
 * so reading a preview-time unknown throws UnknownValueError exactly as in `pulumi preview`;
 * `isType`/`asType` by the class's Pulumi type token; violations, "can't run during preview"
 * and "not applicable" outcomes collected instead of sent over gRPC. There is no official test
 * helper, and the pack's index.ts cannot be imported (it starts the gRPC server), so tests run
 * the list from policy/policies.ts through this.
 */
import assert from "node:assert/strict";
import * as policySdk from "@pulumi/policy";
import type {
  Policies,
  PolicyResource,
  PolicyResourceOptions,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationPolicy,
} from "@pulumi/policy";
import * as rpc from "@pulumi/pulumi/runtime/rpc";
import { awsxTrailChildren } from "./awsx-children";
import type { RecordedResource } from "./pulumi-mocks";

/**
 * @pulumi/policy 1.21 re-exports these from its index, but its proxy.d.ts declares nothing (they
 * are @internal there), so TypeScript sees them untyped; these are their runtime shapes.
 */
const sdk = policySdk as unknown as {
  UnknownValueError: new (sentinel: unknown, props: string[]) => Error;
  unknownCheckingProxy: (props: object) => object;
};
export const UnknownValueError = sdk.UnknownValueError;
const unknownCheckingProxy = sdk.unknownCheckingProxy;

/** The engine's marker for a string (or any value) not known until the update: use it in props. */
export const UNKNOWN: string = rpc.unknownValue;

/** A resource as the analyzer receives it. */
export interface EngineResource {
  type: string;
  name: string;
  props: Record<string, unknown>;
  /** Per property, the names of the resources its value was computed from (as the engine records). */
  propertyDependencies?: Record<string, string[]>;
}

export interface Violation {
  policy: string;
  message: string;
  urn?: string;
}

export interface PolicyRun {
  violations: Violation[];
  /** What the engine reports as "can't run policy ... during preview" (advisory), then re-runs on update. */
  notEvaluable: { policy: string; urn?: string; message: string }[];
  notApplicable: { policy: string; urn?: string; reason?: string }[];
}

/** Per policy name, the config `pulumi` would pass (PulumiPolicy config or --policy-pack-config). */
export type PolicyConfig = Record<string, Record<string, unknown>>;

export const urnOf = (type: string, name: string) => `urn:pulumi:dev::release-machine::${type}::${name}`;

type ResourceClass = Parameters<ResourceValidationArgs["isType"]>[0];

/** The engine's check: the class's `__pulumiType` token, else its `isInstance`. */
function isTypeOf(type: string, resourceClass: ResourceClass): boolean {
  const token: unknown = (resourceClass as unknown as { __pulumiType?: unknown }).__pulumiType;
  if (typeof token === "string" && token !== "") return token === type;
  const isInstance = (resourceClass as unknown as { isInstance?: (o: unknown) => boolean }).isInstance;
  return typeof isInstance === "function" && isInstance({ __pulumiType: type }) === true;
}

class NotApplicable extends Error {
  override readonly name = "NotApplicable";
  constructor(readonly reason?: string) {
    super(reason ?? "Policy does not apply");
  }
}

const notApplicable = (reason?: string): never => {
  throw new NotApplicable(reason);
};

const OPTIONS: PolicyResourceOptions = {
  protect: false,
  ignoreChanges: [],
  aliases: [],
  customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 },
  additionalSecretOutputs: [],
};

const proxied = (props: Record<string, unknown>): Record<string, unknown> =>
  unknownCheckingProxy(props) as Record<string, unknown>;

/** What the engine tells a policy about any resource: identity, unknown-checking props, type tests. */
function described(resource: EngineResource) {
  const { type } = resource;
  const props = proxied(resource.props);
  return {
    type,
    props,
    urn: urnOf(type, resource.name),
    name: resource.name,
    opts: OPTIONS,
    isType: (resourceClass: ResourceClass) => isTypeOf(type, resourceClass),
    asType: ((resourceClass: ResourceClass) =>
      isTypeOf(type, resourceClass) ? props : undefined) as ResourceValidationArgs["asType"],
  };
}

/** The arguments one resource validation receives. */
export function resourceArgs(
  resource: EngineResource,
  config: Record<string, unknown> = {},
): ResourceValidationArgs {
  return {
    ...described(resource),
    stackTags: new Map(),
    getConfig: <T extends object>() => config as T,
    notApplicable,
  };
}

/** The resources one stack validation receives, property dependencies linked as the engine does. */
export function stackResources(resources: EngineResource[]): PolicyResource[] {
  const built = resources.map((resource): PolicyResource => ({
    ...described(resource),
    dependencies: [],
    propertyDependencies: {},
  }));
  const byName = new Map(built.map((r) => [r.name, r]));
  resources.forEach((resource, i) => {
    for (const [property, names] of Object.entries(resource.propertyDependencies ?? {})) {
      const dependencies = names.map((name) => {
        const found = byName.get(name);
        if (!found)
          throw new Error(`${resource.name}.${property} depends on ${name}, which is not in the stack`);
        return found;
      });
      built[i].propertyDependencies[property] = dependencies;
      built[i].dependencies.push(...dependencies.filter((d) => !built[i].dependencies.includes(d)));
    }
  });
  return built;
}

const isStackPolicy = (policy: Policies[number]): policy is StackValidationPolicy =>
  "validateStack" in policy;

/** Runs one validation and files its outcome as the engine would; any other error fails the run. */
async function outcome(
  run: PolicyRun,
  policy: string,
  urn: string | undefined,
  validate: () => void | Promise<void>,
): Promise<void> {
  try {
    await validate();
  } catch (error) {
    if (error instanceof UnknownValueError) {
      run.notEvaluable.push({
        policy,
        urn,
        message: `can't run policy '${policy}' during preview: ${error.message}`,
      });
    } else if (error instanceof NotApplicable) {
      run.notApplicable.push({ policy, urn, reason: error.reason });
    } else {
      throw error;
    }
  }
}

/** Runs every policy over the resources: resource policies per resource, stack policies over all. */
export async function runPolicies(
  policies: Policies,
  resources: EngineResource[],
  config: PolicyConfig = {},
): Promise<PolicyRun> {
  const run: PolicyRun = { violations: [], notEvaluable: [], notApplicable: [] };
  for (const policy of policies) {
    if (policy.enforcementLevel === "disabled") continue;
    if (isStackPolicy(policy)) {
      const report = (message: string, urn?: string) =>
        run.violations.push({ policy: policy.name, message, urn });
      await outcome(run, policy.name, undefined, () =>
        policy.validateStack(
          {
            resources: stackResources(resources),
            stackTags: new Map(),
            getConfig: <T extends object>() => (config[policy.name] ?? {}) as T,
            notApplicable,
          },
          report,
        ),
      );
      continue;
    }
    const validations = [(policy as ResourceValidationPolicy).validateResource ?? []].flat();
    for (const resource of resources) {
      const urn = urnOf(resource.type, resource.name);
      const report = (message: string) => run.violations.push({ policy: policy.name, message, urn });
      for (const validate of validations) {
        await outcome(run, policy.name, urn, () =>
          validate(resourceArgs(resource, config[policy.name]), report),
        );
      }
    }
  }
  return run;
}

/** "policy: message" lines, for assertion messages that show what did fire. */
export function describeViolations(run: PolicyRun): string {
  return run.violations.map((v) => `${v.policy}: ${v.message}`).join("\n") || "(no violations)";
}

/** Exactly one violation, from that policy, on that resource, its message matching every pattern. */
export function assertOnly(result: PolicyRun, policy: string, resource: string, ...patterns: RegExp[]): void {
  const [violation, ...others] = result.violations;
  assert.ok(
    violation && others.length === 0,
    `expected one violation of ${policy}, got:\n${describeViolations(result)}`,
  );
  assert.equal(violation.policy, policy, describeViolations(result));
  assert.ok(violation.urn?.endsWith(`::${resource}`), `violation is on ${violation.urn}, not ${resource}`);
  for (const pattern of patterns) assert.match(violation.message, pattern);
  assert.deepEqual(result.notEvaluable, []);
}

/** Exactly these violations, in policy order: [policy, resource, message pattern]. */
export function assertFired(result: PolicyRun, expected: [string, string, RegExp][]): void {
  assert.deepEqual(
    result.violations.map((v) => [v.policy, v.urn?.split("::").pop()]),
    expected.map(([policy, resource]) => [policy, resource]),
    describeViolations(result),
  );
  result.violations.forEach((v, i) => assert.match(v.message, expected[i][2]));
  assert.deepEqual(result.notEvaluable, []);
}

/**
 * Resources recorded under the mocks (test/pulumi-mocks.ts) as the analyzer sees them after an
 * update: each resource's state (resolved inputs plus the provider outputs the mocks compute) and
 * its id, which the engine always adds to outputs; plus what awsx's Trail registers inside its
 * plugin (test/awsx-children.ts). A fresh JSON copy each time, so a test can change it freely.
 */
export function engineStack(resources: readonly RecordedResource[]): EngineResource[] {
  const own = resources.map((r) => {
    const props = JSON.parse(JSON.stringify(r.state)) as Record<string, unknown>;
    return {
      type: r.type,
      name: r.name,
      props: { ...props, id: typeof props.id === "string" ? props.id : `${r.name}-id` },
    };
  });
  return [...own, ...awsxTrailChildren(resources)];
}
