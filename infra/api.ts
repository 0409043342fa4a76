/**
 * The release API: an IAM-authorized REST API whose `POST /releases` (and `POST /`, as the original
 * had) validates the body against the manifest JSON Schema and starts the workflow directly, and
 * whose `GET /releases/{releaseId}` answers the release's status through a Lambda.
 */
import { createHash } from "node:crypto";
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type ManifestRules, manifestSchema } from "../contract/manifest-schema";
import { CONTROL_BODY_SCHEMAS, type ControlBodyModel } from "../handlers/release-control";
import {
  START_RESPONSES,
  invalidBodyResponseTemplate,
  startExecutionTemplate,
  unsupportedMediaTypeResponseTemplate,
} from "./api-templates";
import { type PolicyStatement, startExecutionStatement } from "./iam";
import { serviceRole } from "./roles";

export interface ReleaseApiArgs {
  /** The component's name: every child's name starts with it. */
  name: string;
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

/** Records every resource that defines the API, by `type::name`, for the redeploy trigger. */
type Defines = <A extends object>(type: string, name: string, resourceArgs: A) => A;

/** What the routes hang on: the API, its `/releases` and `/releases/{releaseId}`, the validator. */
interface ApiParents {
  api: aws.apigateway.RestApi;
  releases: aws.apigateway.Resource;
  release: aws.apigateway.Resource;
  validator: aws.apigateway.RequestValidator;
  /** The component's name: every child's name starts with it. */
  prefix: string;
  defines: Defines;
}

export function releaseApi(args: ReleaseApiArgs, opts: pulumi.ComponentResourceOptions): ReleaseApi {
  const definition: Record<string, pulumi.Input<object>> = {};
  const defines: Defines = (type, name, resourceArgs) => {
    definition[`aws:apigateway/${type}::${name}`] = resourceArgs;
    return resourceArgs;
  };
  const parents = apiSkeleton(args.name, defines, opts);
  const parts: pulumi.Resource[] = [
    parents.validator,
    ...gatewayResponses(parents, opts),
    ...startRoutes(args, parents, opts),
    ...statusRoute(args, parents, opts),
    ...controlRoutes(args, parents, opts),
  ];
  if (args.manageAccount) parts.push(apiGatewayAccount(args.name, args.accountId, args.partition, opts));
  const stage = apiStage(args, parents.api, definition, parts, opts);
  return { api: parents.api, stage, url: stage.invokeUrl };
}

/** The REST API, its `/releases` and `/releases/{releaseId}` resources and the request validator. */
function apiSkeleton(prefix: string, defines: Defines, opts: pulumi.ComponentResourceOptions): ApiParents {
  const api = new aws.apigateway.RestApi(
    `${prefix}-api`,
    defines("restApi:RestApi", `${prefix}-api`, {
      description: "Release Machine: submit and read releases",
      endpointConfiguration: { types: "REGIONAL" },
    }),
    opts,
  );
  const validator = new aws.apigateway.RequestValidator(
    `${prefix}-validator`,
    defines("requestValidator:RequestValidator", `${prefix}-validator`, {
      restApi: api.id,
      name: "body-and-parameters",
      validateRequestBody: true,
      validateRequestParameters: true,
    }),
    opts,
  );
  const releases = new aws.apigateway.Resource(
    `${prefix}-releases`,
    defines("resource:Resource", `${prefix}-releases`, {
      restApi: api.id,
      parentId: api.rootResourceId,
      pathPart: "releases",
    }),
    opts,
  );
  const release = new aws.apigateway.Resource(
    `${prefix}-release`,
    defines("resource:Resource", `${prefix}-release`, {
      restApi: api.id,
      parentId: releases.id,
      pathPart: "{releaseId}",
    }),
    opts,
  );
  return { api, releases, release, validator, prefix, defines };
}

/**
 * API Gateway's own answers in the API's JSON shape: a body the model refuses (400) and a
 * Content-Type with no mapping template (415, as the local API answers).
 */
function gatewayResponses(
  { api, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  return [
    ["invalid-body", "BAD_REQUEST_BODY", "400", invalidBodyResponseTemplate],
    ["unsupported-media-type", "UNSUPPORTED_MEDIA_TYPE", "415", unsupportedMediaTypeResponseTemplate],
  ].map(
    ([key, responseType, statusCode, template]) =>
      new aws.apigateway.Response(
        `${prefix}-${key}`,
        defines("response:Response", `${prefix}-${key}`, {
          restApiId: api.id,
          responseType,
          statusCode,
          responseTemplates: { "application/json": template },
        }),
        opts,
      ),
  );
}

/**
 * `POST /` and `POST /releases`: the body validated against the manifest model (for every content
 * type), then StartExecution called directly with the API's own role.
 */
function startRoutes(
  args: ReleaseApiArgs,
  { api, releases, validator, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  // The one manifest schema, as API Gateway's draft-04 model.
  const model = new aws.apigateway.Model(
    `${prefix}-manifest-model`,
    defines("model:Model", `${prefix}-manifest-model`, {
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
  const { role, policy } = serviceRole(
    `${prefix}-api-start`,
    "apigateway.amazonaws.com",
    args.accountId,
    pulumi.output(args.stateMachineArn).apply((arn) => [startExecutionStatement(arn)]),
    opts,
  );
  const target = { api, validator, model, role, prefix, defines };
  return [
    model,
    policy,
    ...startOn(args, target, "root", api.rootResourceId, opts),
    ...startOn(args, target, "releases", releases.id, opts),
  ];
}

/** One POST route starting the workflow: method, integration, and a response per StartExecution answer. */
function startOn(
  args: ReleaseApiArgs,
  target: {
    api: aws.apigateway.RestApi;
    validator: aws.apigateway.RequestValidator;
    model: aws.apigateway.Model;
    role: aws.iam.Role;
    prefix: string;
    defines: Defines;
  },
  route: string,
  resourceId: pulumi.Input<string>,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const { api, validator, model, role, defines } = target;
  const key = `${target.prefix}-${route}`;
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
      credentials: role.arn,
      // NEVER: a Content-Type without a template (only application/json has one) is refused with
      // 415; a request without Content-Type is read as application/json (docs/aws-facts.md).
      passthroughBehavior: "NEVER",
      requestTemplates: pulumi.output(args.stateMachineArn).apply((arn) => ({
        "application/json": startExecutionTemplate(arn),
      })),
    }),
    opts,
  );
  return [method, integration, ...startResponses(key, { api, defines }, method, integration, opts)];
}

/** The method and integration responses of one start route, one per StartExecution answer. */
function startResponses(
  key: string,
  { api, defines }: { api: aws.apigateway.RestApi; defines: Defines },
  method: aws.apigateway.Method,
  integration: aws.apigateway.Integration,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const on = { restApi: api.id, resourceId: method.resourceId, httpMethod: method.httpMethod };
  // A method response for every status an integration response selects or sets by override.
  const statuses = [...new Set(START_RESPONSES.flatMap((r) => [r.status, ...r.overrides]))].sort();
  const methodResponses = statuses.map(
    (status) =>
      new aws.apigateway.MethodResponse(
        `${key}-post-${status}`,
        defines("methodResponse:MethodResponse", `${key}-post-${status}`, { ...on, statusCode: status }),
        opts,
      ),
  );
  const responses = START_RESPONSES.map(
    ({ status, selectionPattern, template }) =>
      new aws.apigateway.IntegrationResponse(
        `${key}-post-${status}`,
        defines("integrationResponse:IntegrationResponse", `${key}-post-${status}`, {
          ...on,
          statusCode: status,
          ...(selectionPattern ? { selectionPattern } : {}),
          responseTemplates: { "application/json": template },
        }),
        { ...opts, dependsOn: [integration, ...methodResponses] },
      ),
  );
  return [...methodResponses, ...responses];
}

/** `GET /releases/{releaseId}`: the status function, through a Lambda proxy only this API may invoke. */
function statusRoute(
  args: ReleaseApiArgs,
  { api, release, validator, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const method = new aws.apigateway.Method(
    `${prefix}-release-get`,
    defines("method:Method", `${prefix}-release-get`, {
      restApi: api.id,
      resourceId: release.id,
      httpMethod: "GET",
      authorization: "AWS_IAM",
      requestValidatorId: validator.id,
      requestParameters: { "method.request.path.releaseId": true },
    }),
    opts,
  );
  const integration = new aws.apigateway.Integration(
    `${prefix}-release-get-status`,
    defines("integration:Integration", `${prefix}-release-get-status`, {
      restApi: api.id,
      resourceId: release.id,
      httpMethod: method.httpMethod,
      type: "AWS_PROXY",
      integrationHttpMethod: "POST",
      uri: args.statusFunction.invokeArn,
    }),
    opts,
  );
  const permission = new aws.lambda.Permission(
    `${prefix}-release-get-invoke`,
    {
      action: "lambda:InvokeFunction",
      function: args.statusFunction.name,
      principal: "apigateway.amazonaws.com",
      sourceArn: pulumi.interpolate`${api.executionArn}/*/GET/releases/*`,
    },
    opts,
  );
  return [method, integration, permission];
}

/** The deployment (redeployed whenever the definition changes), the v1 stage, its logs and settings. */
function apiStage(
  args: ReleaseApiArgs,
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
  parents: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const { api, releases, release, prefix, defines } = parents;
  const models = controlModels(parents, opts);
  const resource = (name: string, parentId: pulumi.Input<string>, pathPart: string) =>
    new aws.apigateway.Resource(
      `${prefix}-${name}`,
      defines("resource:Resource", `${prefix}-${name}`, { restApi: api.id, parentId, pathPart }),
      opts,
    );
  const cancel = resource("release-cancel", release.id, "cancel");
  const retry = resource("release-retry", release.id, "retry");
  const approvals = resource("release-approvals", release.id, "approvals");
  const approval = resource("release-approval", approvals.id, "{pipeline}");
  const route = (
    key: string,
    resourceId: pulumi.Input<string>,
    httpMethod: "GET" | "POST",
    extra: { model?: ControlBodyModel; parameters: Record<string, boolean> },
  ) => controlRoute(args, parents, { key, resourceId, httpMethod, ...extra, models }, opts);
  const releaseParameter = { "method.request.path.releaseId": true };
  const routes = [
    route("releases-get", releases.id, "GET", {
      parameters: {
        "method.request.querystring.status": false,
        "method.request.querystring.limit": false,
        "method.request.querystring.nextToken": false,
      },
    }),
    route("release-cancel-post", cancel.id, "POST", { model: "CancelRequest", parameters: releaseParameter }),
    route("release-retry-post", retry.id, "POST", { model: "RetryRequest", parameters: releaseParameter }),
    route("release-approval-post", approval.id, "POST", {
      model: "ApprovalDecision",
      parameters: { ...releaseParameter, "method.request.path.pipeline": true },
    }),
  ].flat();
  const permissions = (
    [
      ["releases-get-invoke", "GET/releases"],
      ["release-control-invoke", "POST/releases/*/*"],
    ] as const
  ).map(
    ([name, path]) =>
      new aws.lambda.Permission(
        `${prefix}-${name}`,
        {
          action: "lambda:InvokeFunction",
          function: args.controlFunction.name,
          principal: "apigateway.amazonaws.com",
          sourceArn: pulumi.interpolate`${api.executionArn}/*/${path}`,
        },
        opts,
      ),
  );
  return [...Object.values(models), cancel, retry, approvals, approval, ...routes, ...permissions];
}

/** One model per control request body, from the handler's own schemas. */
function controlModels(
  { api, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): Record<ControlBodyModel, aws.apigateway.Model> {
  return Object.fromEntries(
    (Object.keys(CONTROL_BODY_SCHEMAS) as ControlBodyModel[]).map((name) => [
      name,
      new aws.apigateway.Model(
        `${prefix}-model-${name}`,
        defines("model:Model", `${prefix}-model-${name}`, {
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
      ),
    ]),
  ) as Record<ControlBodyModel, aws.apigateway.Model>;
}

/** One control route: an `AWS_IAM` method (its body validated if it has a model) proxied to the control Lambda. */
function controlRoute(
  args: ReleaseApiArgs,
  { api, validator, prefix, defines }: ApiParents,
  route: {
    key: string;
    resourceId: pulumi.Input<string>;
    httpMethod: "GET" | "POST";
    model?: ControlBodyModel;
    parameters: Record<string, boolean>;
    models: Record<ControlBodyModel, aws.apigateway.Model>;
  },
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const key = `${prefix}-${route.key}`;
  const model = route.model && route.models[route.model];
  const method = new aws.apigateway.Method(
    key,
    defines("method:Method", key, {
      restApi: api.id,
      resourceId: route.resourceId,
      httpMethod: route.httpMethod,
      authorization: "AWS_IAM",
      requestValidatorId: validator.id,
      requestParameters: route.parameters,
      ...(model ? { requestModels: { "application/json": model.name, $default: model.name } } : {}),
    }),
    opts,
  );
  const integration = new aws.apigateway.Integration(
    `${key}-control`,
    defines("integration:Integration", `${key}-control`, {
      restApi: api.id,
      resourceId: route.resourceId,
      httpMethod: method.httpMethod,
      type: "AWS_PROXY",
      integrationHttpMethod: "POST",
      uri: args.controlFunction.invokeArn,
    }),
    opts,
  );
  return [method, integration];
}

/** API Gateway writes logs only once the account names a CloudWatch role (per account and region). */
function apiGatewayAccount(
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
