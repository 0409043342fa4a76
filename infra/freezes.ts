/**
 * The freeze routes (issue 20, items 3-4): `POST /freezes`, `GET /freezes` and
 * `DELETE /freezes/{name}`, each `AWS_IAM` and proxied to the freeze function
 * (handlers/freezes.ts), which reads the caller from `requestContext.identity.userArn`. Each
 * route is its own method, so an IAM policy can grant `execute-api:Invoke` on
 * `…/POST/freezes` and `…/DELETE/freezes/*` to release managers alone (README, "Guard rails").
 * Each Lambda permission names its route's method and path alone.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html,
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/arn-format-reference.html
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { FREEZE_ROUTES } from "../handlers/freezes";
import type { ApiParents } from "./api-skeleton";

/** `POST /freezes` names this operation: the function validates its body (contract/manifest-schema.ts). */
const ADD_FREEZE_OPERATION = "AddFreeze";

/** `POST /releases/{releaseId}/override-freeze` names this operation: the function checks its body. */
const OVERRIDE_FREEZE_OPERATION = "OverrideFreeze";

export function freezeRoutes(
  freezeFunction: aws.lambda.Function,
  { api, release, validator, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const freezes = new aws.apigateway.Resource(
    `${prefix}-freezes`,
    defines("resource:Resource", `${prefix}-freezes`, {
      restApi: api.id,
      parentId: api.rootResourceId,
      pathPart: "freezes",
    }),
    opts,
  );
  const freeze = new aws.apigateway.Resource(
    `${prefix}-freeze`,
    defines("resource:Resource", `${prefix}-freeze`, {
      restApi: api.id,
      parentId: freezes.id,
      pathPart: "{name}",
    }),
    opts,
  );
  const override = new aws.apigateway.Resource(
    `${prefix}-release-override-freeze`,
    defines("resource:Resource", `${prefix}-release-override-freeze`, {
      restApi: api.id,
      parentId: release.id,
      pathPart: "override-freeze",
    }),
    opts,
  );
  const resources: Record<(typeof FREEZE_ROUTES)[number]["resource"], RouteResource> = {
    "/freezes": { id: freezes.id, key: "freezes", operationName: ADD_FREEZE_OPERATION },
    "/freezes/{name}": { id: freeze.id, key: "freeze", parameter: "name" },
    "/releases/{releaseId}/override-freeze": {
      id: override.id,
      key: "release-override-freeze",
      parameter: "releaseId",
      operationName: OVERRIDE_FREEZE_OPERATION,
    },
  };
  const routes = FREEZE_ROUTES.flatMap(({ method, resource }) =>
    freezeRoute(
      freezeFunction,
      { api, validator, prefix, defines },
      { method, resource, ...resources[resource] },
      opts,
    ),
  );
  return [freezes, freeze, override, ...routes];
}

interface RouteResource {
  id: pulumi.Output<string>;
  key: string;
  parameter?: string;
  /** POST only: the operation the policy pack admits without a model (contract/manifest-schema.ts). */
  operationName?: string;
}

/** One route: its method, its Lambda proxy integration, and a Lambda permission for it alone. */
function freezeRoute(
  freezeFunction: aws.lambda.Function,
  { api, validator, prefix, defines }: Pick<ApiParents, "api" | "validator" | "prefix" | "defines">,
  route: RouteResource & { method: string; resource: string },
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const { method: httpMethod, resource, id: resourceId, parameter, operationName } = route;
  const key = `${prefix}-${route.key}-${httpMethod.toLowerCase()}`;
  const method = new aws.apigateway.Method(
    key,
    defines("method:Method", key, {
      restApi: api.id,
      resourceId,
      httpMethod,
      authorization: "AWS_IAM",
      ...(httpMethod === "POST" && operationName ? { operationName } : {}),
      ...(parameter
        ? {
            requestValidatorId: validator.id,
            requestParameters: { [`method.request.path.${parameter}`]: true },
          }
        : {}),
    }),
    opts,
  );
  const integration = new aws.apigateway.Integration(
    `${key}-freeze`,
    defines("integration:Integration", `${key}-freeze`, {
      restApi: api.id,
      resourceId,
      httpMethod: method.httpMethod,
      type: "AWS_PROXY",
      integrationHttpMethod: "POST",
      uri: freezeFunction.invokeArn,
    }),
    opts,
  );
  const permission = new aws.lambda.Permission(
    `${key}-invoke`,
    {
      action: "lambda:InvokeFunction",
      function: freezeFunction.name,
      principal: "apigateway.amazonaws.com",
      sourceArn: pulumi.interpolate`${api.executionArn}/*/${httpMethod}${resource.replace(/\{[^}]+\}/g, "*")}`,
    },
    opts,
  );
  return [method, integration, permission];
}
