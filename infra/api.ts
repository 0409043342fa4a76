/**
 * The release API: an IAM-authorized REST API whose `POST /releases` (and `POST /`, kept for
 * clients that post to the API's root) invokes the submission function, the one submission path
 * of every door (handlers/submission.ts), and whose `GET /releases/{releaseId}` answers the
 * release's status through a Lambda. The skeleton, the control routes and the stage live beside it
 * (infra/api-skeleton.ts, infra/api-control.ts, infra/api-stage.ts).
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { SELF_VALIDATED_OPERATIONS } from "../contract/manifest-schema";
import { controlRoutes } from "./api-control";
import { type ApiParents, type Defines, apiSkeleton, gatewayResponses } from "./api-skeleton";
import { type ApiStageSettings, apiGatewayAccount, apiStage } from "./api-stage";
import { freezeRoutes } from "./freezes";

export interface ReleaseApiArgs extends ApiStageSettings {
  /** The submission function: `POST /releases` and `POST /` (handlers/submission.ts). */
  submitFunction: aws.lambda.Function;
  statusFunction: aws.lambda.Function;
  /** The release-control Lambda: list, cancel, retry, approvals (handlers/release-control.ts). */
  controlFunction: aws.lambda.Function;
  /** The freeze function: `POST /freezes`, `GET /freezes`, `DELETE /freezes/{name}` (handlers/freezes.ts). */
  freezeFunction: aws.lambda.Function;
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
    // Freezes (issue 20): their own routes, so IAM grants them apart (infra/freezes.ts).
    ...freezeRoutes(args.freezeFunction, parents, opts),
  ];
  if (args.manageAccount) parts.push(apiGatewayAccount(args.name, args.accountId, args.partition, opts));
  const stage = apiStage(args, parents.api, definition, parts, opts);
  return { api: parents.api, stage, url: stage.invokeUrl };
}

/**
 * `POST /` and `POST /releases`: the submission function through a Lambda proxy integration
 * (handlers/submission.ts checks the body, claims the releaseId and starts the workflow), invoked
 * only by this API's POST on those paths.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html
 */
function startRoutes(
  args: ReleaseApiArgs,
  { api, releases, prefix, defines }: ApiParents,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Resource[] {
  const routes = [
    { key: "root", resourceId: api.rootResourceId, path: "" },
    { key: "releases", resourceId: releases.id, path: "releases" },
  ];
  const parts = routes.flatMap(({ key, resourceId, path }) => {
    const name = `${prefix}-${key}`;
    const method = new aws.apigateway.Method(
      `${name}-post`,
      defines("method:Method", `${name}-post`, {
        restApi: api.id,
        resourceId,
        httpMethod: "POST",
        authorization: "AWS_IAM",
        // No model: the function checks the body, so every door answers and records alike.
        operationName: SELF_VALIDATED_OPERATIONS[0],
      }),
      opts,
    );
    const integration = new aws.apigateway.Integration(
      `${name}-submit`,
      defines("integration:Integration", `${name}-submit`, {
        restApi: api.id,
        resourceId,
        httpMethod: method.httpMethod,
        type: "AWS_PROXY",
        integrationHttpMethod: "POST",
        uri: args.submitFunction.invokeArn,
      }),
      opts,
    );
    const permission = new aws.lambda.Permission(
      `${name}-post-invoke`,
      {
        action: "lambda:InvokeFunction",
        function: args.submitFunction.name,
        principal: "apigateway.amazonaws.com",
        sourceArn: pulumi.interpolate`${api.executionArn}/*/POST/${path}`,
      },
      opts,
    );
    return [method, integration, permission];
  });
  return parts;
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
