/**
 * docs/architecture.md, "Security defaults" "state machine tracing on" (no Security Hub control): X-Ray tracing on the
 * state machine joins each release's trace with its Lambda functions' traces.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const sfnTracing: ResourceValidationPolicy = {
  name: "sfn-tracing-enabled",
  description: "Every state machine has X-Ray tracing enabled.",
  enforcementLevel: "mandatory",
  severity: "low",
  validateResource: validateResourceOfType(aws.sfn.StateMachine, (machine, args, reportViolation) => {
    if (machine.tracingConfiguration?.enabled !== true) {
      reportViolation(
        `state machine "${args.name}" has X-Ray tracing off. Set tracingConfiguration: { enabled: true }.`,
      );
    }
  }),
};
