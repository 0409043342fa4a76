/**
 * The release API's control routes (list, cancel, retry, approval decisions): IAM-authorized
 * methods whose bodies API Gateway validates against the control handler's own schemas, proxied
 * to the control Lambda (handlers/release-control.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  CONTROL_BODY_SCHEMAS,
  CONTROL_ROUTES,
  CONTROL_ROUTE_NAMES,
  type ControlBodyModel,
  type ControlRouteSpec,
  pathParameterNames,
} from "../contract/control-routes";
import type { ApiParents } from "./api-skeleton";

/**
 * The release-control routes (contract/control-routes.ts), each `AWS_IAM`, each POST body
 * validated against its model (for every content type), all proxied to the control Lambda, which
 * reads the caller's IAM ARN from `requestContext.identity.userArn`. Each route's Lambda permission
 * names that route's method and path alone.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
 */
export function controlRoutes(
  controlFunction: aws.lambda.Function,
  parents: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const { api, prefix } = parents;
  const models = controlModels(parents, opts);
  const resources = routeResources(parents, opts);
  const routes = CONTROL_ROUTE_NAMES.map((name) => {
    const route: ControlRouteSpec = CONTROL_ROUTES[name];
    const { id, name: resourceName } = resources.of(route.resource);
    const key = `${resourceName}-${route.method.toLowerCase()}`;
    const methodResources = controlRoute(
      controlFunction,
      parents,
      {
        key,
        resourceId: id,
        httpMethod: route.method,
        model: route.model,
        parameters: parametersOf(route),
        models,
      },
      opts,
    );
    const permission = new aws.lambda.Permission(
      `${prefix}-${key}-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: controlFunction.name,
        principal: "apigateway.amazonaws.com",
        // `*/METHOD/path`: any stage, this method, this route's path with each parameter as `*`.
        sourceArn: pulumi.interpolate`${api.executionArn}/*/${route.method}${route.resource.replace(/\{[^}]+\}/g, "*")}`,
      },
      opts,
    );
    return [...methodResources, permission];
  });
  return [...Object.values(models), ...resources.created, ...routes.flat()];
}

/** A route's request parameters: its path parameters required, its query parameters optional. */
function parametersOf(route: ControlRouteSpec): Record<string, boolean> {
  return {
    ...Object.fromEntries(pathParameterNames(route.resource).map((p) => [`method.request.path.${p}`, true])),
    ...Object.fromEntries((route.query ?? []).map((q) => [`method.request.querystring.${q}`, false])),
  };
}

/**
 * The API resources under the skeleton's `/releases` and `/releases/{releaseId}`, one per path the
 * routes use, created once each. A resource's name is `release-` and its literal segments below
 * `{releaseId}`; an item of a collection (`approvals/{pipeline}`) is named by the collection's
 * singular (`release-approval`), the names deployed stacks already have.
 */
function routeResources(
  { api, releases, release, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
) {
  const known = new Map<string, { id: pulumi.Input<string>; name: string }>([
    ["/releases", { id: releases.id, name: "releases" }],
    ["/releases/{releaseId}", { id: release.id, name: "release" }],
  ]);
  const created: aws.apigateway.Resource[] = [];
  const of = (path: string): { id: pulumi.Input<string>; name: string } => {
    const found = known.get(path);
    if (found) return found;
    const cut = path.lastIndexOf("/");
    const parent = of(path.slice(0, cut));
    const pathPart = path.slice(cut + 1);
    const name = pathPart.startsWith("{")
      ? parent.name.replace(/s$/, "")
      : `${parent.name === "releases" ? "releases" : parent.name}-${pathPart}`;
    const resource = new aws.apigateway.Resource(
      `${prefix}-${name}`,
      defines("resource:Resource", `${prefix}-${name}`, { restApi: api.id, parentId: parent.id, pathPart }),
      opts,
    );
    created.push(resource);
    const entry = { id: resource.id, name };
    known.set(path, entry);
    return entry;
  };
  for (const name of CONTROL_ROUTE_NAMES) of(CONTROL_ROUTES[name].resource);
  return { of, created };
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
