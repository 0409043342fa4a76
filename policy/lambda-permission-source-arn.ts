/**
 * Lambda.1 (function policies prohibit public access): every Lambda permission names the one
 * caller it admits with sourceArn, and never the principal "*". Without sourceArn, any rule,
 * API or bucket of the principal service (in any account, for some services) may invoke the function.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const lambdaPermissionSourceArn: ResourceValidationPolicy = {
  name: "lambda-permission-source-arn",
  description: 'Every Lambda permission has a sourceArn and a principal other than "*".',
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: validateResourceOfType(aws.lambda.Permission, (permission, args, reportViolation) => {
    if (permission.principal === "*") {
      reportViolation(
        `Lambda permission "${args.name}" grants ${String(permission.action)} to principal "*". Name the calling service, e.g. "events.amazonaws.com".`,
      );
    }
    if (!permission.sourceArn) {
      reportViolation(
        `Lambda permission "${args.name}" lets ${String(permission.principal)} call ${String(permission.action)} with no sourceArn, i.e. from any of its resources. Set sourceArn to the rule, API or bucket ARN that calls it.`,
      );
    }
  }),
};
