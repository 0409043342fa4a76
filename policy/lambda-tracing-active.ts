/**
 * Lambda.7 (functions have AWS X-Ray active tracing enabled): tracingConfig.mode is "Active", so
 * every invocation is sampled and traced, not only those that arrive with a trace header.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const lambdaTracingActive: ResourceValidationPolicy = {
  name: "lambda-tracing-active",
  description: 'Every Lambda function has tracingConfig.mode "Active".',
  enforcementLevel: "mandatory",
  severity: "low",
  validateResource: validateResourceOfType(aws.lambda.Function, (fn, args, reportViolation) => {
    const mode = fn.tracingConfig?.mode;
    if (mode !== "Active") {
      reportViolation(
        `Lambda function "${args.name}" has tracing mode ${JSON.stringify(mode ?? "unset (PassThrough)")}. Set tracingConfig: { mode: "Active" }.`,
      );
    }
  }),
};
