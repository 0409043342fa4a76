/**
 * DynamoDB.2 (tables have point-in-time recovery enabled): a table can be restored to any
 * second of the last 35 days, so a bad write or a deleted release record is recoverable.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const dynamodbPointInTimeRecovery: ResourceValidationPolicy = {
  name: "dynamodb-point-in-time-recovery",
  description: "Every DynamoDB table has point-in-time recovery enabled.",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateResource: validateResourceOfType(aws.dynamodb.Table, (table, args, reportViolation) => {
    if (table.pointInTimeRecovery?.enabled !== true) {
      reportViolation(
        `table "${args.name}" has no point-in-time recovery. Set pointInTimeRecovery: { enabled: true }.`,
      );
    }
  }),
};
