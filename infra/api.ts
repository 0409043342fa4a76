/**
 * The release API: an IAM-authorized REST API whose `POST /releases` (and `POST /`, kept for
 * clients that post to the API's root) validates the body against the manifest JSON Schema and
 * starts the workflow directly, and whose `GET /releases/{releaseId}` answers the release's status
 * through a Lambda. The skeleton, the control routes and the stage live beside it
 * (infra/api-skeleton.ts, infra/api-control.ts, infra/api-stage.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type ManifestRules, manifestSchema } from "../contract/manifest-schema";
import { controlRoutes } from "./api-control";
import { type ApiParents, type Defines, apiSkeleton, gatewayResponses } from "./api-skeleton";
import { type ApiStageSettings, apiGatewayAccount, apiStage } from "./api-stage";
import { START_RESPONSES, startExecutionTemplate } from "./api-templates";
import { startExecutionStatement } from "./iam";
import { serviceRole } from "./roles";

export interface ReleaseApiArgs extends ApiStageSettings {
  stateMachineArn: pulumi.Input<string>;
  statusFunction: aws.lambda.Function;
  /** The release-control Lambda: list, cancel, retry, approvals (handlers/release-control.ts). */
  controlFunction: aws.lambda.Function;
  manifestRules: ManifestRules;
  region: pulumi.Input<string>;
  partition: pulumi.Input<string>;
  accountId: pulumi.Input<string>;
  manageAccount: boolean;
}

export interface ReleaseApi {
  api: aws.apigateway.RestApi;
  stage: aws.apigateway.Stage;
  url: pulumi.Output<string>;
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
    ...controlRoutes(args.controlFunction, parents, opts),
  ];
  if (args.manageAccount) parts.push(apiGatewayAccount(args.name, args.accountId, args.partition, opts));
  const stage = apiStage(args, parents.api, definition, parts, opts);
  return { api: parents.api, stage, url: stage.invokeUrl };
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
