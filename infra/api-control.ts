/**
 * The release API's control routes (list, cancel, retry, approval decisions): IAM-authorized
 * methods whose bodies API Gateway validates against the control handler's own schemas, proxied
 * to the control Lambda (handlers/release-control.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { CONTROL_BODY_SCHEMAS, type ControlBodyModel } from "../handlers/release-control";
import type { ApiParents } from "./api-skeleton";

/**
 * The release-control routes, each `AWS_IAM`, each POST body validated against its model (for
 * every content type), all proxied to the control Lambda, which reads the caller's IAM ARN from
 * `requestContext.identity.userArn`:
 * `GET /releases`, `POST /releases/{releaseId}/cancel`, `POST /releases/{releaseId}/retry`,
 * `POST /releases/{releaseId}/approvals/{pipeline}`.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
 */
export function controlRoutes(
  controlFunction: aws.lambda.Function,
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
  ) => controlRoute(controlFunction, parents, { key, resourceId, httpMethod, ...extra, models }, opts);
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
          function: controlFunction.name,
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
  controlFunction: aws.lambda.Function,
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
      uri: controlFunction.invokeArn,
    }),
    opts,
  );
  return [method, integration];
}
