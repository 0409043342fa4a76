/**
 * What every route of the release API hangs on: the REST API, its `/releases` and
 * `/releases/{releaseId}` resources, the request validator and API Gateway's own error answers,
 * each recorded for the redeploy trigger (infra/api-stage.ts).
 */
import * as aws from "@pulumi/aws";
import type * as pulumi from "@pulumi/pulumi";
import { ReleaseErrors } from "../contract/errors";
import { UNSUPPORTED_MEDIA_TYPE } from "../handlers/submission";

/**
 * A body that fails a control route's model. Gateway responses are not run through VTL (only
 * `$context` variables are substituted), and `validationErrorString` holds unescaped double
 * quotes; so the body carries `$context.error.messageString`, which API Gateway quotes, and the
 * request id under which the access log records the schema problems (`validationError`).
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gatewayResponse-definition.html
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference
 */
export const invalidBodyResponseTemplate = `{"error": "${ReleaseErrors.InvalidManifest}", "message": $context.error.messageString, "requestId": "$context.requestId"}`;

/**
 * The UNSUPPORTED_MEDIA_TYPE gateway response (415), should API Gateway itself refuse a media
 * type: the submission function's 415 body (handlers/submission.ts); no variable in it.
 */
export const unsupportedMediaTypeResponseTemplate = JSON.stringify(UNSUPPORTED_MEDIA_TYPE);

/** Records every resource that defines the API, by `type::name`, for the redeploy trigger. */
export type Defines = <A extends object>(type: string, name: string, resourceArgs: A) => A;

/** What the routes hang on: the API, its `/releases` and `/releases/{releaseId}`, the validator. */
export interface ApiParents {
  api: aws.apigateway.RestApi;
  releases: aws.apigateway.Resource;
  release: aws.apigateway.Resource;
  validator: aws.apigateway.RequestValidator;
  /** The component's name: every child's name starts with it. */
  prefix: string;
  defines: Defines;
}

/** The REST API, its `/releases` and `/releases/{releaseId}` resources and the request validator. */
export function apiSkeleton(
  prefix: string,
  defines: Defines,
  opts: pulumi.ComponentResourceOptions,
): ApiParents {
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
export function gatewayResponses(
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
