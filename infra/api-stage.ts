/**
 * How the release API is deployed and operated: the deployment redeployed whenever any resource
 * that defines the API changes, the v1 stage with its access log, metrics and throttling, and the
 * account setting that lets API Gateway write logs at all.
 */
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import type { PolicyStatement } from "../contract/permissions";
import { serviceRole } from "./roles";

/** The stage's settings, from the component's arguments. */
export interface ApiStageSettings {
  /** The component's name: every child's name starts with it. */
  name: string;
  logRetentionDays: number;
  throttleRateLimit: number;
  throttleBurstLimit: number;
}

/**
 * The redeploy trigger: a SHA-256 over every input of every resource that defines the API
 * (resources, methods, integrations and their templates, selection patterns, method responses,
 * models, validators, gateway responses), keyed by type and name and canonicalized (sorted keys),
 * so any change to any of them deploys the stage again.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-deploy-api.html
 */
export function apiDefinitionHash(definition: Record<string, unknown>): string {
  const canonical = (value: unknown): unknown => {
    if (Array.isArray(value)) return value.map(canonical);
    if (value !== null && typeof value === "object") {
      return Object.fromEntries(
        Object.keys(value)
          .sort()
          .filter((key) => (value as Record<string, unknown>)[key] !== undefined)
          .map((key) => [key, canonical((value as Record<string, unknown>)[key])]),
      );
    }
    return value;
  };
  return createHash("sha256")
    .update(JSON.stringify(canonical(definition)))
    .digest("hex");
}

/** The deployment (redeployed whenever the definition changes), the v1 stage, its logs and settings. */
export function apiStage(
  args: ApiStageSettings,
  api: aws.apigateway.RestApi,
  definition: Record<string, pulumi.Input<object>>,
  parts: pulumi.Resource[],
  opts: pulumi.ComponentResourceOptions,
): aws.apigateway.Stage {
  const prefix = args.name;
  const accessLogs = new aws.cloudwatch.LogGroup(
    `${prefix}-api-access-logs`,
    { retentionInDays: args.logRetentionDays },
    opts,
  );
  const deployment = new aws.apigateway.Deployment(
    `${prefix}-api-deployment`,
    {
      restApi: api.id,
      triggers: { redeployment: pulumi.output(definition).apply((d) => apiDefinitionHash(d)) },
    },
    { ...opts, dependsOn: parts },
  );
  const stage = new aws.apigateway.Stage(
    `${prefix}-api-stage`,
    {
      restApi: api.id,
      deployment: deployment.id,
      stageName: "v1",
      xrayTracingEnabled: true,
      accessLogSettings: { destinationArn: accessLogs.arn, format: ACCESS_LOG_FORMAT },
    },
    { ...opts, dependsOn: parts },
  );
  new aws.apigateway.MethodSettings(
    `${prefix}-api-settings`,
    {
      restApi: api.id,
      stageName: stage.stageName,
      methodPath: "*/*",
      settings: {
        metricsEnabled: true,
        loggingLevel: "INFO",
        dataTraceEnabled: false,
        throttlingRateLimit: args.throttleRateLimit,
        throttlingBurstLimit: args.throttleBurstLimit,
      },
    },
    opts,
  );
  return stage;
}

/** One JSON line per request in the access log. */
const ACCESS_LOG_FORMAT = JSON.stringify({
  requestId: "$context.requestId",
  caller: "$context.identity.caller",
  user: "$context.identity.userArn",
  requestTime: "$context.requestTime",
  method: "$context.httpMethod",
  path: "$context.resourcePath",
  status: "$context.status",
  error: "$context.error.message",
  validationError: "$context.error.validationErrorString",
});

/** API Gateway writes logs only once the account names a CloudWatch role (per account and region). */
export function apiGatewayAccount(
  prefix: string,
  accountId: pulumi.Input<string>,
  partition: pulumi.Input<string>,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource {
  const { role, policy } = serviceRole(
    `${prefix}-api-cloudwatch`,
    "apigateway.amazonaws.com",
    accountId,
    pulumi.all([accountId, partition]).apply(([id, part]): PolicyStatement[] => [
      {
        Sid: "WriteApiLogs",
        Effect: "Allow",
        Action: [
          "logs:CreateLogGroup",
          "logs:CreateLogStream",
          "logs:DescribeLogStreams",
          "logs:PutLogEvents",
          "logs:GetLogEvents",
          "logs:FilterLogEvents",
        ],
        Resource: [`arn:${part}:logs:*:${id}:log-group:*`],
      },
      // DescribeLogGroups has no resource-level permissions (checked by the policy pack against iam-data).
      { Sid: "ListLogGroups", Effect: "Allow", Action: ["logs:DescribeLogGroups"], Resource: ["*"] },
    ]),
    opts,
  );
  return new aws.apigateway.Account(
    `${prefix}-api-account`,
    { cloudwatchRoleArn: role.arn },
    { ...opts, dependsOn: [policy] },
  );
}
