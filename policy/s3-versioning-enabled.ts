/**
 * S3.14 (buckets have versioning enabled): every bucket has a BucketVersioning (or the
 * deprecated BucketVersioningV2) with status "Enabled", and no versioning resource in the stack
 * suspends it. Versioning is also what lets the workflow read exactly the uploaded manifest version.
 */
import * as aws from "@pulumi/aws";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { bucketsWithSiblings } from "./stack-joins";

const VERSIONING = [aws.s3.BucketVersioning, aws.s3.BucketVersioningV2];

function status(versioning: PolicyResource): unknown {
  const configuration: unknown = versioning.props.versioningConfiguration;
  return isRecord(configuration) ? configuration.status : undefined;
}

export const s3VersioningEnabled: StackValidationPolicy = {
  name: "s3-bucket-versioning-enabled",
  description: 'Every bucket has versioning with status "Enabled".',
  enforcementLevel: "mandatory",
  severity: "medium",
  validateStack: (args, reportViolation) => {
    for (const versioning of args.resources.filter((r) => VERSIONING.some((c) => r.isType(c)))) {
      if (status(versioning) !== "Enabled") {
        reportViolation(
          `bucket versioning "${versioning.name}" has status ${JSON.stringify(status(versioning))}. Set versioningConfiguration.status to "Enabled".`,
          versioning.urn,
        );
      }
    }
    for (const { bucket, siblings } of bucketsWithSiblings(args.resources, VERSIONING)) {
      if (siblings.length === 0) {
        reportViolation(
          `bucket "${bucket.name}" has no BucketVersioning. Add aws.s3.BucketVersioning { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } }.`,
          bucket.urn,
        );
      }
    }
  },
};
