/**
 * docs/architecture.md, "Security defaults" "tables with SSE" (no Security Hub control: DynamoDB always encrypts at rest
 * with an AWS-owned key): every table sets serverSideEncryption.enabled, i.e. a KMS key (the
 * AWS-managed aws/dynamodb key or a customer key) whose every use CloudTrail records.
 */
import * as aws from "@pulumi/aws";
import { type ResourceValidationPolicy, validateResourceOfType } from "@pulumi/policy";

export const dynamodbEncryption: ResourceValidationPolicy = {
  name: "dynamodb-kms-encryption",
  description: "Every DynamoDB table encrypts with a KMS key (serverSideEncryption.enabled).",
  enforcementLevel: "mandatory",
  severity: "medium",
  validateResource: validateResourceOfType(aws.dynamodb.Table, (table, args, reportViolation) => {
    if (table.serverSideEncryption?.enabled !== true) {
      reportViolation(
        `table "${args.name}" does not enable server-side encryption with KMS. Set serverSideEncryption: { enabled: true } (optionally with kmsKeyArn).`,
      );
    }
  }),
};
