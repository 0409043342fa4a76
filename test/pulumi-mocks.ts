/**
 * Strict Pulumi mocks for the program: every resource is recorded with its resolved inputs, the
 * outputs a real provider would compute (ARNs, names, URLs) are filled in, and an invoke that is
 * not mocked here throws, so the program cannot silently depend on something untested.
 */
import * as pulumi from "@pulumi/pulumi";
import * as pulumiSettings from "@pulumi/pulumi/runtime/settings";
import * as pulumiState from "@pulumi/pulumi/runtime/state";

export const ACCOUNT = "123456789012";
export const REGION = "ap-southeast-2";

export interface RecordedResource {
  type: string;
  name: string;
  urn: string;
  // Resolved plain JSON as the engine would send it.
  inputs: Record<string, unknown>;
  state: Record<string, unknown>;
}

export const recorded: RecordedResource[] = [];

function providerState(type: string, name: string, inputs: Record<string, unknown>): Record<string, unknown> {
  const physical =
    typeof inputs.name === "string" ? inputs.name : `${name}-${type.split(":").pop()?.toLowerCase()}`;
  const arn = (service: string, resource: string) => `arn:aws:${service}:${REGION}:${ACCOUNT}:${resource}`;
  switch (type) {
    case "aws:s3/bucket:Bucket":
      return { bucket: `${name}-bucket`, arn: `arn:aws:s3:::${name}-bucket`, id: `${name}-bucket` };
    case "aws:dynamodb/table:Table":
      return { name: `${name}-table`, arn: arn("dynamodb", `table/${name}-table`) };
    case "aws:lambda/function:Function":
      return {
        name: `${name}-fn`,
        arn: arn("lambda", `function:${name}-fn`),
        invokeArn: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn("lambda", `function:${name}-fn`)}/invocations`,
      };
    case "aws:iam/policy:Policy":
      return { name: `${name}-policy`, arn: `arn:aws:iam::${ACCOUNT}:policy/${name}-policy` };
    case "aws:iam/role:Role":
      return { name: `${name}-role`, arn: `arn:aws:iam::${ACCOUNT}:role/${name}-role` };
    case "aws:cloudwatch/logGroup:LogGroup":
      return { name: `/log/${name}`, arn: arn("logs", `log-group:/log/${name}`) };
    case "aws:sfn/stateMachine:StateMachine":
      return { name: `${name}-machine`, arn: arn("states", `stateMachine:${name}-machine`) };
    case "aws:cloudwatch/eventRule:EventRule":
      return { name: `${name}-rule`, arn: arn("events", `rule/${name}-rule`) };
    case "aws:sqs/queue:Queue":
      return {
        name: `${name}-queue`,
        arn: arn("sqs", `${name}-queue`),
        url: `https://sqs.${REGION}.amazonaws.com/${ACCOUNT}/${name}-queue`,
      };
    case "aws:sns/topic:Topic":
      return { name: `${name}-topic`, arn: arn("sns", `${name}-topic`) };
    case "aws:kms/key:Key":
      return { arn: arn("kms", `key/${name}-key`), keyId: `${name}-key` };
    case "aws:apigateway/restApi:RestApi":
      return { rootResourceId: "root-id", executionArn: arn("execute-api", "api-id") };
    case "aws:apigateway/stage:Stage":
      return { invokeUrl: `https://api-id.execute-api.${REGION}.amazonaws.com/${String(inputs.stageName)}` };
    default:
      return { name: physical };
  }
}

pulumi.runtime.setMocks(
  {
    newResource(args) {
      const state = { ...args.inputs, ...providerState(args.type, args.name, args.inputs) };
      recorded.push({
        type: args.type,
        name: args.name,
        urn: `urn:pulumi:dev::release-machine::${args.type}::${args.name}`,
        inputs: args.inputs,
        state,
      });
      return { id: typeof state.id === "string" ? state.id : `${args.name}-id`, state };
    },
    call(args) {
      switch (args.token) {
        case "aws:index/getCallerIdentity:getCallerIdentity":
          return {
            accountId: ACCOUNT,
            arn: `arn:aws:iam::${ACCOUNT}:user/test`,
            userId: "AIDTEST",
            id: ACCOUNT,
          };
        case "aws:index/getRegion:getRegion":
          return {
            region: REGION,
            name: REGION,
            id: REGION,
            description: "Asia Pacific (Sydney)",
            endpoint: `ec2.${REGION}.amazonaws.com`,
          };
        case "aws:index/getPartition:getPartition":
          return {
            partition: "aws",
            dnsSuffix: "amazonaws.com",
            reverseDnsPrefix: "com.amazonaws",
            id: "aws",
          };
        default:
          throw new Error(`unmocked invoke ${args.token}: mock it in test/pulumi-mocks.ts`);
      }
    },
  },
  "release-machine",
  "dev",
  false,
);

/**
 * The mocks declare no support for `transforms` (a resource with them would never register: the
 * SDK refuses before the mock monitor is called). The audit trail needs one, so the tests let the
 * SDK proceed: it starts its loopback callback server and registers the transform, and the mock
 * monitor records the resource and ignores the callback, as it ignores every engine-side step.
 */
const runtimeState = pulumiState as unknown as { getStore(): { supportsTransforms: boolean } };
runtimeState.getStore().supportsTransforms = true;

export const DEV_PIPELINES = [1, 2, 3, 4, 5].map((n) => `pipeline-for-stepfunctions-pipeline-repo-${n}`);

pulumi.runtime.setAllConfig(
  {
    "release-machine:pipelines": JSON.stringify(DEV_PIPELINES),
    "release-machine:deletionProtection": "false",
    // The program's stack notifies (infra/notifications.ts), so the policy pack judges those resources too.
    "release-machine:notifications": JSON.stringify({ emails: ["release-team@example.com"] }),
  },
  [],
);

/** The value of an Output once the program has resolved it. */
export function valueOf<T>(output: pulumi.Output<T>): Promise<T> {
  return new Promise((resolve) => output.apply((value) => resolve(value)));
}

export function ofType(type: string): RecordedResource[] {
  return recorded.filter((r) => r.type === type);
}

export function named(type: string, name: string): RecordedResource {
  const found = recorded.find((r) => r.type === type && r.name === name);
  if (!found)
    throw new Error(
      `no ${type} named ${name}; have ${ofType(type)
        .map((r) => r.name)
        .join(", ")}`,
    );
  return found;
}

/** The name index.ts gives its ReleaseMachine: every child's name starts with it. */
export const PROGRAM_NAME = "release-machine";

/** A child of the program's component, by its name within the component (e.g. "workflow"). */
export function own(type: string, local: string): RecordedResource {
  return named(type, `${PROGRAM_NAME}-${local}`);
}

/** Runs the program once per process (modules are cached) and waits until its resources settle. */
export async function loadProgram(): Promise<typeof import("../index")> {
  const program = await import("../index");
  await valueOf(program.curlExample);
  await settle();
  return program;
}

/**
 * The Pulumi SDK's own RPC queue: every resource registration and invoke keeps it open until the
 * (mocked) monitor answered. Exported by the SDK at run time but not in its type declarations.
 */
const rpcQueue = pulumiSettings as unknown as { waitForRPCs(): Promise<void> };

/**
 * Outputs resolve over several turns: waits until the SDK's RPC queue has drained and no new
 * resource was recorded while it did (an apply may register more resources once it resolves).
 */
export async function settle(): Promise<void> {
  let count = -1;
  while (count !== recorded.length) {
    count = recorded.length;
    await rpcQueue.waitForRPCs();
    await new Promise((resolve) => setImmediate(resolve));
  }
}
