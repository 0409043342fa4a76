/**
 * The release API: an IAM-authorized REST API whose `POST /releases` (and `POST /`, as the original
 * had) validates the body against the manifest JSON Schema and starts the workflow directly, and
 * whose `GET /releases/{releaseId}` answers the release's status through a Lambda.
 */
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type ManifestRules, manifestSchema } from "../handlers/manifest";
import { CONTROL_BODY_SCHEMAS, type ControlBodyModel } from "../handlers/release-control";
import { START_RESPONSES, invalidBodyResponseTemplate, startExecutionTemplate } from "./api-templates";
import { type PolicyStatement, startExecutionStatement } from "./iam";
import { serviceRole } from "./roles";

export interface ReleaseApiArgs {
  stateMachineArn: pulumi.Input<string>;
  statusFunction: aws.lambda.Function;
  /** The release-control Lambda: list, cancel, retry, approvals (handlers/release-control.ts). */
  controlFunction: aws.lambda.Function;
  manifestRules: ManifestRules;
  region: pulumi.Input<string>;
  partition: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  logRetentionDays: number;
  throttleRateLimit: number;
  throttleBurstLimit: number;
  manageAccount: boolean;
}

export interface ReleaseApi {
  api: aws.apigateway.RestApi;
  stage: aws.apigateway.Stage;
  url: pulumi.Output<string>;
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

export function releaseApi(args: ReleaseApiArgs, opts: pulumi.ComponentResourceOptions): ReleaseApi {
  // Every resource that defines the API, by `type::name`, for the redeploy trigger.
  const definition: Record<string, pulumi.Input<object>> = {};
  const defines = <A extends object>(type: string, name: string, resourceArgs: A): A => {
    definition[`aws:apigateway/${type}::${name}`] = resourceArgs;
    return resourceArgs;
  };
  const api = new aws.apigateway.RestApi(
    "api",
    defines("restApi:RestApi", "api", {
      description: "Release Machine: submit and read releases",
      endpointConfiguration: { types: "REGIONAL" },
    }),
    opts,
  );
  // The one manifest schema, as API Gateway's draft-04 model.
  const model = new aws.apigateway.Model(
    "manifest-model",
    defines("model:Model", "manifest-model", {
      restApi: api.id,
      name: "ReleaseManifest",
      contentType: "application/json",
      schema: JSON.stringify({
        $schema: "http://json-schema.org/draft-04/schema#",
        ...manifestSchema(args.manifestRules),
      }),
    }),
    opts,
  );
  const validator = new aws.apigateway.RequestValidator(
    "validator",
    defines("requestValidator:RequestValidator", "validator", {
      restApi: api.id,
      name: "body-and-parameters",
      validateRequestBody: true,
      validateRequestParameters: true,
    }),
    opts,
  );
  const invalidBody = new aws.apigateway.Response(
    "invalid-body",
    defines("response:Response", "invalid-body", {
      restApiId: api.id,
      responseType: "BAD_REQUEST_BODY",
      statusCode: "400",
      responseTemplates: { "application/json": invalidBodyResponseTemplate },
    }),
    opts,
  );

  const { role: startRole, policy: startPolicy } = serviceRole(
    "api-start",
    "apigateway.amazonaws.com",
    args.accountId,
    pulumi.output(args.stateMachineArn).apply((arn) => [startExecutionStatement(arn)]),
    opts,
  );

  const releases = new aws.apigateway.Resource(
    "releases",
    defines("resource:Resource", "releases", {
      restApi: api.id,
      parentId: api.rootResourceId,
      pathPart: "releases",
    }),
    opts,
  );
  const release = new aws.apigateway.Resource(
    "release",
    defines("resource:Resource", "release", {
      restApi: api.id,
      parentId: releases.id,
      pathPart: "{releaseId}",
    }),
    opts,
  );

  const parts: pulumi.Resource[] = [model, validator, invalidBody, startPolicy];
  const startOn = (key: string, resourceId: pulumi.Input<string>) => {
    const method = new aws.apigateway.Method(
      `${key}-post`,
      defines("method:Method", `${key}-post`, {
        restApi: api.id,
        resourceId,
        httpMethod: "POST",
        authorization: "AWS_IAM",
        requestValidatorId: validator.id,
        // $default too: otherwise a body sent with another Content-Type skips validation.
        requestModels: { "application/json": model.name, $default: model.name },
      }),
      opts,
    );
    const integration = new aws.apigateway.Integration(
      `${key}-start-execution`,
      defines("integration:Integration", `${key}-start-execution`, {
        restApi: api.id,
        resourceId,
        httpMethod: method.httpMethod,
        type: "AWS",
        integrationHttpMethod: "POST",
        uri: pulumi.interpolate`arn:${args.partition}:apigateway:${args.region}:states:action/StartExecution`,
        credentials: startRole.arn,
        passthroughBehavior: "NEVER",
        requestTemplates: pulumi.output(args.stateMachineArn).apply((arn) => ({
          "application/json": startExecutionTemplate(arn),
        })),
      }),
      opts,
    );
    // A method response for every status an integration response selects or sets by override.
    const statuses = [...new Set(START_RESPONSES.flatMap((r) => [r.status, ...r.overrides]))].sort();
    const methodResponses = statuses.map(
      (status) =>
        new aws.apigateway.MethodResponse(
          `${key}-post-${status}`,
          defines("methodResponse:MethodResponse", `${key}-post-${status}`, {
            restApi: api.id,
            resourceId,
            httpMethod: method.httpMethod,
            statusCode: status,
          }),
          opts,
        ),
    );
    const responses = START_RESPONSES.map(
      ({ status, selectionPattern, template }) =>
        new aws.apigateway.IntegrationResponse(
          `${key}-post-${status}`,
          defines("integrationResponse:IntegrationResponse", `${key}-post-${status}`, {
            restApi: api.id,
            resourceId,
            httpMethod: method.httpMethod,
            statusCode: status,
            ...(selectionPattern ? { selectionPattern } : {}),
            responseTemplates: { "application/json": template },
          }),
          { ...opts, dependsOn: [integration, ...methodResponses] },
        ),
    );
    parts.push(method, integration, ...methodResponses, ...responses);
  };
  startOn("root", api.rootResourceId);
  startOn("releases", releases.id);

  const getMethod = new aws.apigateway.Method(
    "release-get",
    defines("method:Method", "release-get", {
      restApi: api.id,
      resourceId: release.id,
      httpMethod: "GET",
      authorization: "AWS_IAM",
      requestValidatorId: validator.id,
      requestParameters: { "method.request.path.releaseId": true },
    }),
    opts,
  );
  const getIntegration = new aws.apigateway.Integration(
    "release-get-status",
    defines("integration:Integration", "release-get-status", {
      restApi: api.id,
      resourceId: release.id,
      httpMethod: getMethod.httpMethod,
      type: "AWS_PROXY",
      integrationHttpMethod: "POST",
      uri: args.statusFunction.invokeArn,
    }),
    opts,
  );
  const statusPermission = new aws.lambda.Permission(
    "release-get-invoke",
    {
      action: "lambda:InvokeFunction",
      function: args.statusFunction.name,
      principal: "apigateway.amazonaws.com",
      sourceArn: pulumi.interpolate`${api.executionArn}/*/GET/releases/*`,
    },
    opts,
  );
  parts.push(getMethod, getIntegration, statusPermission);
  parts.push(...controlRoutes(args, { api, releases, release, validator, defines }, opts));

  const accessLogs = new aws.cloudwatch.LogGroup(
    "api-access-logs",
    { retentionInDays: args.logRetentionDays },
    opts,
  );
  if (args.manageAccount) parts.push(apiGatewayAccount(args.accountId, args.partition, opts));

  const deployment = new aws.apigateway.Deployment(
    "api-deployment",
    {
      restApi: api.id,
      triggers: { redeployment: pulumi.output(definition).apply((d) => apiDefinitionHash(d)) },
    },
    { ...opts, dependsOn: parts },
  );
  const stage = new aws.apigateway.Stage(
    "api-stage",
    {
      restApi: api.id,
      deployment: deployment.id,
      stageName: "v1",
      xrayTracingEnabled: true,
      accessLogSettings: {
        destinationArn: accessLogs.arn,
        format: JSON.stringify({
          requestId: "$context.requestId",
          caller: "$context.identity.caller",
          user: "$context.identity.userArn",
          requestTime: "$context.requestTime",
          method: "$context.httpMethod",
          path: "$context.resourcePath",
          status: "$context.status",
          error: "$context.error.message",
          validationError: "$context.error.validationErrorString",
        }),
      },
    },
    { ...opts, dependsOn: parts },
  );
  new aws.apigateway.MethodSettings(
    "api-settings",
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
  return { api, stage, url: stage.invokeUrl };
}

/** What the control routes hang on: the API, its `/releases` and `/releases/{releaseId}`, the validator. */
interface ControlParents {
  api: aws.apigateway.RestApi;
  releases: aws.apigateway.Resource;
  release: aws.apigateway.Resource;
  validator: aws.apigateway.RequestValidator;
  defines: <A extends object>(type: string, name: string, resourceArgs: A) => A;
}

/**
 * The release-control routes, each `AWS_IAM`, each POST body validated against its model (for
 * every content type), all proxied to the control Lambda, which reads the caller's IAM ARN from
 * `requestContext.identity.userArn`:
 * `GET /releases`, `POST /releases/{releaseId}/cancel`, `POST /releases/{releaseId}/retry`,
 * `POST /releases/{releaseId}/approvals/{pipeline}`.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
 */
function controlRoutes(
  args: ReleaseApiArgs,
  { api, releases, release, validator, defines }: ControlParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const parts: pulumi.Resource[] = [];
  const models = Object.fromEntries(
    (Object.keys(CONTROL_BODY_SCHEMAS) as ControlBodyModel[]).map((name) => {
      const model = new aws.apigateway.Model(
        `model-${name}`,
        defines("model:Model", `model-${name}`, {
          restApi: api.id,
          name,
          contentType: "application/json",
          schema: JSON.stringify({
            $schema: "http://json-schema.org/draft-04/schema#",
            title: name,
            ...CONTROL_BODY_SCHEMAS[name],
          }),
        }),
        opts,
      );
      parts.push(model);
      return [name, model];
    }),
  ) as Record<ControlBodyModel, aws.apigateway.Model>;

  const resource = (name: string, parentId: pulumi.Input<string>, pathPart: string) =>
    new aws.apigateway.Resource(
      name,
      defines("resource:Resource", name, { restApi: api.id, parentId, pathPart }),
      opts,
    );
  const cancel = resource("release-cancel", release.id, "cancel");
  const retry = resource("release-retry", release.id, "retry");
  const approvals = resource("release-approvals", release.id, "approvals");
  const approval = resource("release-approval", approvals.id, "{pipeline}");
  parts.push(cancel, retry, approvals, approval);

  const route = (
    key: string,
    resourceId: pulumi.Input<string>,
    httpMethod: "GET" | "POST",
    extra: { model?: ControlBodyModel; parameters: Record<string, boolean> },
  ) => {
    const method = new aws.apigateway.Method(
      key,
      defines("method:Method", key, {
        restApi: api.id,
        resourceId,
        httpMethod,
        authorization: "AWS_IAM",
        requestValidatorId: validator.id,
        requestParameters: extra.parameters,
        ...(extra.model
          ? {
              requestModels: {
                "application/json": models[extra.model].name,
                $default: models[extra.model].name,
              },
            }
          : {}),
      }),
      opts,
    );
    const integration = new aws.apigateway.Integration(
      `${key}-control`,
      defines("integration:Integration", `${key}-control`, {
        restApi: api.id,
        resourceId,
        httpMethod: method.httpMethod,
        type: "AWS_PROXY",
        integrationHttpMethod: "POST",
        uri: args.controlFunction.invokeArn,
      }),
      opts,
    );
    parts.push(method, integration);
  };
  route("releases-get", releases.id, "GET", {
    parameters: {
      "method.request.querystring.status": false,
      "method.request.querystring.limit": false,
      "method.request.querystring.nextToken": false,
    },
  });
  const releaseParameter = { "method.request.path.releaseId": true };
  route("release-cancel-post", cancel.id, "POST", { model: "CancelRequest", parameters: releaseParameter });
  route("release-retry-post", retry.id, "POST", { model: "RetryRequest", parameters: releaseParameter });
  route("release-approval-post", approval.id, "POST", {
    model: "ApprovalDecision",
    parameters: { ...releaseParameter, "method.request.path.pipeline": true },
  });
  for (const [name, path] of [
    ["releases-get-invoke", "GET/releases"],
    ["release-control-invoke", "POST/releases/*/*"],
  ] as const) {
    parts.push(
      new aws.lambda.Permission(
        name,
        {
          action: "lambda:InvokeFunction",
          function: args.controlFunction.name,
          principal: "apigateway.amazonaws.com",
          sourceArn: pulumi.interpolate`${api.executionArn}/*/${path}`,
        },
        opts,
      ),
    );
  }
  return parts;
}

/** API Gateway writes logs only once the account names a CloudWatch role (per account and region). */
function apiGatewayAccount(
  accountId: pulumi.Input<string>,
  partition: pulumi.Input<string>,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource {
  const { role, policy } = serviceRole(
    "api-cloudwatch",
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
    "api-account",
    { cloudwatchRoleArn: role.arn },
    { ...opts, dependsOn: [policy] },
  );
}
