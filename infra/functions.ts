/**
 * One Lambda function per handler: a CallbackFunction serialized from the handler's factory
 * (clients built once per container), with its own role carrying only its statements, a log
 * group with retention, X-Ray, the current Node.js LTS runtime on arm64, and an archive without what the runtime
 * already has (the AWS SDK v3) or what only local mode uses.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  type HandlerName,
  type PolicyStatement,
  type ResourceArns,
  handlerStatements,
} from "../contract/permissions";
import { XRAY, logWriting } from "./iam";
import { type PipelineGrants, serviceRole } from "./roles";

/** Stand-in ARNs to learn, before any ARN is known, which handlers grant on the pipelines. */
const PIPELINE_PLACEHOLDER = "arn:placeholder:codepipeline:pipeline";
const PLACEHOLDER_ARNS: ResourceArns = {
  partition: "aws",
  region: "placeholder",
  accountId: "000000000000",
  bucketArn: "arn:placeholder:bucket",
  releasesTableArn: "arn:placeholder:releases",
  executionsTableArn: "arn:placeholder:executions",
  releasePipelinesTableArn: "arn:placeholder:release-pipelines",
  pipelineArns: [PIPELINE_PLACEHOLDER],
  eventBusArn: "arn:placeholder:bus",
  stateMachineArn: "arn:placeholder:states",
};
const grantsOnPipelines = (name: HandlerName) =>
  handlerStatements(name, PLACEHOLDER_ARNS).some((s) => s.Resource.includes(PIPELINE_PLACEHOLDER));

/** The AWS SDK packages the handlers use, which the Lambda Node.js runtime provides. */
export const RUNTIME_PROVIDED_PACKAGES = [
  "@aws-sdk/client-codepipeline",
  "@aws-sdk/client-dynamodb",
  "@aws-sdk/client-eventbridge",
  "@aws-sdk/client-s3",
  "@aws-sdk/client-sfn",
  "@aws-sdk/lib-dynamodb",
];

/**
 * Packages left out of every archive: the Lambda runtime provides the AWS SDK; the rest serve only
 * local mode and the CLI.
 */
export const EXCLUDED_PACKAGES = [
  "@aws-crypto/sha256-js",
  "@aws-sdk/credential-provider-node",
  "@smithy/signature-v4",
  ...RUNTIME_PROVIDED_PACKAGES,
  "aws-local-stepfunctions",
  "dynalite",
  "s3rver",
];

/**
 * Every function's runtime: Node.js 24, the current LTS Lambda offers (nodejs22.x reaches end of
 * support in 2027). The archive tests run the serialized code on the same Node major.
 * https://docs.aws.amazon.com/lambda/latest/dg/lambda-runtimes.html
 */
export const LAMBDA_RUNTIME = aws.lambda.Runtime.NodeJS24dX;

/** Only functions that parse manifests carry the parser's packages. */
export const MANIFEST_PARSER_PACKAGES = ["ajv", "ajv-draft-04", "jsonc-parser"];

export interface HandlerFunctionArgs<E, R> {
  /** The function's Pulumi name (the component's name and the handler's), the base of its children's. */
  resourceName: string;
  /** Whether the handler parses manifests (and so needs MANIFEST_PARSER_PACKAGES). */
  parsesManifests?: boolean;
  factory: () => (event: E) => Promise<R>;
  environment: Record<string, pulumi.Input<string>>;
  /** Files (relative to the project root) the archive carries at the same path, e.g. the allow-list. */
  files?: string[];
  statements: pulumi.Input<PolicyStatement[]>;
  /** The allow-list, so a handler granting on every pipeline gets room for hundreds of them. */
  pipelines?: PipelineGrants;
  accountId: pulumi.Input<string>;
  logRetentionDays: number;
  timeoutSeconds: number;
  /** Caps the function's concurrent executions (the reconciler runs one at a time). */
  reservedConcurrentExecutions?: number;
}

export interface HandlerFunction<E, R> {
  fn: aws.lambda.CallbackFunction<E, R>;
  role: aws.iam.Role;
  policy: aws.iam.RolePolicy;
  attachments: aws.iam.RolePolicyAttachment[];
  logGroup: aws.cloudwatch.LogGroup;
}

export function handlerFunction<E, R>(
  name: HandlerName,
  args: HandlerFunctionArgs<E, R>,
  opts: pulumi.ComponentResourceOptions,
): HandlerFunction<E, R> {
  const logGroup = new aws.cloudwatch.LogGroup(
    `${args.resourceName}-logs`,
    { retentionInDays: args.logRetentionDays },
    opts,
  );
  const { role, policy, attachments } = serviceRole(
    args.resourceName,
    "lambda.amazonaws.com",
    args.accountId,
    pulumi
      .all([pulumi.output(args.statements), logGroup.arn])
      .apply(([statements, logArn]) => [...statements, logWriting(logArn), XRAY]),
    opts,
    grantsOnPipelines(name) ? args.pipelines : undefined,
  );
  const fn = new aws.lambda.CallbackFunction<E, R>(
    args.resourceName,
    {
      role,
      callbackFactory: args.factory as unknown as aws.lambda.CallbackFactory<E, R>,
      runtime: LAMBDA_RUNTIME,
      architectures: ["arm64"],
      memorySize: 256,
      timeout: args.timeoutSeconds,
      ...(args.reservedConcurrentExecutions === undefined
        ? {}
        : { reservedConcurrentExecutions: args.reservedConcurrentExecutions }),
      tracingConfig: { mode: "Active" },
      loggingConfig: { logFormat: "JSON", logGroup: logGroup.name },
      environment: { variables: { NODE_OPTIONS: "--enable-source-maps", ...args.environment } },
      codePathOptions: {
        extraIncludePaths: args.files ?? [],
        extraExcludePackages: args.parsesManifests
          ? EXCLUDED_PACKAGES
          : [...EXCLUDED_PACKAGES, ...MANIFEST_PARSER_PACKAGES],
      },
    },
    // The role's policies must exist before the first invocation.
    { ...opts, dependsOn: [policy, ...attachments] },
  );
  return { fn, role, policy, attachments, logGroup };
}
