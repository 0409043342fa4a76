/**
 * APIGateway.8's rule (routes specify an authorization type; Security Hub checks it on HTTP and
 * WebSocket routes) applied to REST API methods, docs/architecture.md, "Security defaults": no method is open with
 * authorization "NONE". API keys are not authentication; the release API uses AWS_IAM.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const apigatewayMethodAuthorization: ResourceValidationPolicy = {
  name: "apigateway-method-authorized",
  description: 'No API Gateway method has authorization "NONE".',
  enforcementLevel: "mandatory",
  severity: "critical",
  validateResource: validateResourceOfType(aws.apigateway.Method, (method, args, reportViolation) => {
    const authorization = String(method.authorization ?? "NONE");
    if (authorization.toUpperCase() === "NONE") {
      reportViolation(
        `API method "${args.name}" (${String(method.httpMethod)}) has authorization "${authorization}": anyone who finds the URL can call it. Use "AWS_IAM" (or a Cognito/custom authorizer).`,
      );
    }
  }),
};
