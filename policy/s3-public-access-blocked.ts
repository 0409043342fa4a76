/**
 * S3.8 (bucket-level Block Public Access; S3.1 is its account-level twin): every bucket has a
 * BucketPublicAccessBlock with all four settings on, and no public access block in the stack
 * leaves one off. A stack policy, because in @pulumi/aws v7 the block is a sibling resource.
 */
import * as aws from "@pulumi/aws";
import type { StackValidationPolicy } from "@pulumi/policy";
import { bucketsWithSiblings } from "./stack-joins";

const SETTINGS = [
  "blockPublicAcls",
  "blockPublicPolicy",
  "ignorePublicAcls",
  "restrictPublicBuckets",
] as const;

export const s3PublicAccessBlocked: StackValidationPolicy = {
  name: "s3-bucket-public-access-blocked",
  description: "Every bucket has a public access block with all four settings true.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateStack: (args, reportViolation) => {
    for (const block of args.resources) {
      const props = block.asType(aws.s3.BucketPublicAccessBlock);
      if (!props) continue;
      const off = SETTINGS.filter((setting) => props[setting] !== true);
      if (off.length > 0) {
        reportViolation(
          `bucket public access block "${block.name}" leaves ${off.map((s) => `${s}`).join(", ")} not true. Set all four of ${SETTINGS.join(", ")} to true.`,
          block.urn,
        );
      }
    }
    for (const { bucket, siblings } of bucketsWithSiblings(args.resources, [
      aws.s3.BucketPublicAccessBlock,
    ])) {
      if (siblings.length === 0) {
        reportViolation(
          `bucket "${bucket.name}" has no BucketPublicAccessBlock. Add aws.s3.BucketPublicAccessBlock { bucket: bucket.id, ${SETTINGS.map((s) => `${s}: true`).join(", ")} }.`,
          bucket.urn,
        );
      }
    }
  },
};
