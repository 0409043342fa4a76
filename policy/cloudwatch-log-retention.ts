/**
 * CloudWatch.16 (log groups are retained for a specified period): every log group sets
 * retentionInDays (0 or unset means never expire). Security Hub's default minimum is 365 days;
 * this pack asks for at least `minimumRetentionDays` (policy config, default 1), because how long
 * a release's logs are kept is the stack's own setting (logRetentionDays).
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const cloudwatchLogRetention: ResourceValidationPolicy = {
  name: "cloudwatch-log-group-retention",
  description:
    "Every CloudWatch log group has a retention period (retentionInDays set, at least the configured minimum).",
  enforcementLevel: "mandatory",
  severity: "low",
  configSchema: {
    properties: {
      minimumRetentionDays: { type: "integer", minimum: 1, default: 1 },
    },
  },
  validateResource: validateResourceOfType(aws.cloudwatch.LogGroup, (group, args, reportViolation) => {
    const minimum = args.getConfig<{ minimumRetentionDays?: number }>().minimumRetentionDays ?? 1;
    const days = group.retentionInDays;
    if (days === undefined || days === null || days === 0) {
      reportViolation(
        `log group "${args.name}" never expires its logs. Set retentionInDays (e.g. the stack's logRetentionDays, 30).`,
      );
    } else if (days < minimum) {
      reportViolation(
        `log group "${args.name}" keeps logs ${days} days; this pack requires at least ${minimum}.`,
      );
    }
  }),
};
