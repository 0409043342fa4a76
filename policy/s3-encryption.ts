/**
 * S3.4 (default server-side encryption configured; S3.17 for KMS keys): every bucket has a
 * BucketServerSideEncryptionConfiguration whose default rule names an algorithm (AES256,
 * aws:kms or aws:kms:dsse). S3 has encrypted new objects with SSE-S3 since January 2023 anyway;
 * the explicit configuration makes the choice visible and reviewable, as docs/architecture.md, "Parts" asks.
 */
import * as aws from "@pulumi/aws";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { bucketsWithSiblings } from "./stack-joins";

const ENCRYPTION = [
  aws.s3.BucketServerSideEncryptionConfiguration,
  aws.s3.BucketServerSideEncryptionConfigurationV2,
];
const ALGORITHMS = ["AES256", "aws:kms", "aws:kms:dsse"];

function algorithms(configuration: PolicyResource): unknown[] {
  const rules: unknown = configuration.props.rules;
  return (Array.isArray(rules) ? [...rules] : []).map((rule) => {
    const byDefault = isRecord(rule) ? rule.applyServerSideEncryptionByDefault : undefined;
    return isRecord(byDefault) ? byDefault.sseAlgorithm : undefined;
  });
}

export const s3Encryption: StackValidationPolicy = {
  name: "s3-bucket-encryption-configured",
  description:
    "Every bucket has a default server-side encryption configuration (AES256, aws:kms or aws:kms:dsse).",
  enforcementLevel: "mandatory",
  severity: "high",
  validateStack: (args, reportViolation) => {
    for (const configuration of args.resources.filter((r) => ENCRYPTION.some((c) => r.isType(c)))) {
      const named = algorithms(configuration);
      if (!named.some((algorithm) => typeof algorithm === "string" && ALGORITHMS.includes(algorithm))) {
        reportViolation(
          `bucket encryption "${configuration.name}" sets no default algorithm (found ${JSON.stringify(named)}). Give it rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" } }] (or "aws:kms" with a key).`,
          configuration.urn,
        );
      }
    }
    for (const { bucket, siblings } of bucketsWithSiblings(args.resources, ENCRYPTION)) {
      if (siblings.length === 0) {
        reportViolation(
          `bucket "${bucket.name}" has no BucketServerSideEncryptionConfiguration. Add one with applyServerSideEncryptionByDefault.sseAlgorithm "AES256" or "aws:kms".`,
          bucket.urn,
        );
      }
    }
  },
};
