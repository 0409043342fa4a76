/**
 * S3.5 (buckets require requests to use SSL): every bucket has a BucketPolicy with a Deny for
 * all principals and all S3 actions on the bucket and its objects when aws:SecureTransport is
 * false. A stack policy, because in @pulumi/aws v7 the bucket policy is a sibling resource.
 */
import * as aws from "@pulumi/aws";
import type { PolicyResource, StackValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { type Statement, parseDocument } from "./iam-documents";
import { wildcardMatches } from "./iam-reference";
import { bucketsWithSiblings } from "./stack-joins";

const asList = (value: unknown): unknown[] => (Array.isArray(value) ? [...value] : [value]);

function isEveryone(principal: unknown): boolean {
  if (principal === "*") return true;
  return isRecord(principal) && asList(principal.AWS).includes("*");
}

function deniesPlainHttp(condition: unknown): boolean {
  if (!isRecord(condition) || !isRecord(condition.Bool)) return false;
  return asList(condition.Bool["aws:SecureTransport"]).some((v) => v === "false" || v === false);
}

/** Whether a statement is the TLS guard for the bucket with this ARN. */
function isTlsGuard(statement: Statement, bucketArn: string): boolean {
  const covers = (arn: string) => (statement.resources ?? []).some((r) => wildcardMatches(r, arn));
  return (
    statement.effect === "Deny" &&
    isEveryone(statement.principal) &&
    (statement.actions ?? []).some((a) => a === "*" || a.toLowerCase() === "s3:*") &&
    covers(bucketArn) &&
    covers(`${bucketArn}/any-object-key`) &&
    deniesPlainHttp(statement.condition)
  );
}

function bucketArnOf(bucket: PolicyResource): string {
  const arn: unknown = bucket.props.arn;
  return typeof arn === "string" ? arn : `arn:aws:s3:::${String(bucket.props.bucket)}`;
}

const GUARD =
  '{"Effect":"Deny","Principal":"*","Action":"s3:*","Resource":[bucketArn, bucketArn + "/*"],"Condition":{"Bool":{"aws:SecureTransport":"false"}}}';

export const s3TlsOnly: StackValidationPolicy = {
  name: "s3-bucket-tls-only",
  description: "Every bucket's policy denies any request made without TLS (aws:SecureTransport false).",
  enforcementLevel: "mandatory",
  severity: "high",
  validateStack: (args, reportViolation) => {
    for (const { bucket, siblings } of bucketsWithSiblings(args.resources, [aws.s3.BucketPolicy])) {
      // With no bucket policy at all there is nothing to compare, and no need to read the
      // bucket's ARN (unknown at a first preview).
      const arn = siblings.length === 0 ? "" : bucketArnOf(bucket);
      const guarded = siblings.some((policy) => {
        const document = parseDocument("policy", policy.props.policy);
        return typeof document !== "string" && document.statements.some((s) => isTlsGuard(s, arn));
      });
      if (guarded) continue;
      const where =
        siblings.length === 0
          ? "has no bucket policy"
          : `has bucket policy ${siblings.map((s) => `"${s.name}"`).join(", ")} without a TLS guard`;
      reportViolation(
        `bucket "${bucket.name}" ${where}, so plain-HTTP requests are not refused. Add the statement ${GUARD}.`,
        bucket.urn,
      );
    }
  },
};
