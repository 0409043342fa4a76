/**
 * StepFunctions.1 (state machines have logging turned on): the logging level is not OFF and a
 * CloudWatch Logs destination is named, so a failed release can be traced state by state.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const sfnLogging: ResourceValidationPolicy = {
  name: "sfn-logging-enabled",
  description: "Every state machine logs (level not OFF) to a CloudWatch Logs destination.",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateResource: validateResourceOfType(aws.sfn.StateMachine, (machine, args, reportViolation) => {
    const logging = machine.loggingConfiguration;
    const level = logging?.level ?? "OFF";
    if (level === "OFF") {
      reportViolation(
        `state machine "${args.name}" has logging level ${level}. Set loggingConfiguration.level to "ALL" or "ERROR".`,
      );
    }
    if (!logging?.logDestination) {
      reportViolation(
        `state machine "${args.name}" names no log destination. Set loggingConfiguration.logDestination to "<log group ARN>:*".`,
      );
    }
  }),
};
