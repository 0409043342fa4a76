/**
 * The audit trail: who wrote which object to the release bucket (S3 data events: PutObject,
 * CopyObject, multipart uploads, deletes), recorded by CloudTrail through @pulumi/awsx's
 * `cloudtrail.Trail`, into a log bucket that meets the policy pack (private, owner-enforced,
 * encrypted, versioned, TLS-only).
 * https://docs.aws.amazon.com/awscloudtrail/latest/userguide/logging-data-events-with-cloudtrail.html
 * The same data events reach EventBridge as "AWS API Call via CloudTrail" (only for a trail that
 * records them), where a rule hands each upload to the uploaderEvent function: four eyes learns an
 * S3 submission's uploader from it (infra/events.ts, handlers/release/uploader.ts).
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html
 *
 * awsx's component always puts its own BucketPolicy on the log bucket (CloudTrail's GetBucketAcl
 * and PutObject statements), and a bucket has one policy: a second one of ours would overwrite it.
 * So the TLS-only statement is added to awsx's policy through Pulumi's `transforms` option, which
 * reaches the children of packaged components. Under mocks those children are invisible; the
 * tests run the transform on awsx's policy as awsx builds it, and a deploy is where it is proven.
 * https://www.pulumi.com/docs/iac/concepts/options/transforms/
 */
import * as aws from "@pulumi/aws";
import * as awsx from "@pulumi/awsx";
import * as pulumi from "@pulumi/pulumi";

export interface AuditTrailArgs {
  /** The release bucket whose object writes are recorded. */
  releaseBucketArn: pulumi.Input<string>;
}

export interface AuditTrail {
  trail: awsx.cloudtrail.Trail;
  logBucket: aws.s3.Bucket;
}

interface PolicyJson {
  Version?: string;
  Statement: Record<string, unknown>[];
}

/** The S3 data events the trail records: writes to objects of the release bucket only. */
export function manifestWriteSelectors(releaseBucketArn: pulumi.Input<string>) {
  return [
    {
      name: "Writes to the release bucket's objects",
      fieldSelectors: [
        { field: "eventCategory", equals: ["Data"] },
        { field: "resources.type", equals: ["AWS::S3::Object"] },
        { field: "readOnly", equals: ["false"] },
        { field: "resources.ARN", startsWiths: [pulumi.interpolate`${releaseBucketArn}/`] },
      ],
    },
  ];
}

/**
 * awsx's CloudTrail bucket policy with the TLS-only deny added. The bucket ARN is read from
 * CloudTrail's GetBucketAcl statement, which names exactly the bucket. A policy not yet known
 * (a first preview) is left as it is.
 */
export function withTlsOnly(policy: unknown): unknown {
  const document: unknown = typeof policy === "string" ? JSON.parse(policy) : policy;
  if (typeof document !== "object" || document === null || !Array.isArray((document as PolicyJson).Statement))
    return policy;
  const statements = (document as PolicyJson).Statement;
  const aclCheck = statements.find((s) => s.Sid === "AWSCloudTrailAclCheck");
  const resource = aclCheck?.Resource;
  const bucketArn = Array.isArray(resource) ? resource[0] : resource;
  if (typeof bucketArn !== "string" || statements.some((s) => s.Sid === "DenyInsecureTransport"))
    return policy;
  const guarded: PolicyJson = {
    ...(document as PolicyJson),
    Statement: [
      ...statements,
      {
        Sid: "DenyInsecureTransport",
        Effect: "Deny",
        Principal: "*",
        Action: "s3:*",
        Resource: [bucketArn, `${bucketArn}/*`],
        Condition: { Bool: { "aws:SecureTransport": "false" } },
      },
    ],
  };
  return typeof policy === "string" ? JSON.stringify(guarded) : guarded;
}

/** Adds the TLS-only statement to the bucket policy awsx creates inside the Trail component. */
export const tlsOnlyBucketPolicy: pulumi.ResourceTransform = (args) => {
  if (args.type !== "aws:s3/bucketPolicy:BucketPolicy") return undefined;
  return { props: { ...args.props, policy: withTlsOnly(args.props.policy) }, opts: args.opts };
};

export function auditTrail(
  name: string,
  args: AuditTrailArgs,
  opts: pulumi.CustomResourceOptions,
): AuditTrail {
  const logBucket = new aws.s3.Bucket(`${name}-logs`, { forceDestroy: false }, opts);
  const protections = [
    new aws.s3.BucketPublicAccessBlock(
      `${name}-logs-public-access`,
      {
        bucket: logBucket.id,
        blockPublicAcls: true,
        blockPublicPolicy: true,
        ignorePublicAcls: true,
        restrictPublicBuckets: true,
      },
      opts,
    ),
    // CloudTrail's PutObject carries bucket-owner-full-control, which buckets without ACLs accept.
    new aws.s3.BucketOwnershipControls(
      `${name}-logs-ownership`,
      { bucket: logBucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
      opts,
    ),
    new aws.s3.BucketServerSideEncryptionConfiguration(
      `${name}-logs-encryption`,
      {
        bucket: logBucket.id,
        rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
      },
      opts,
    ),
    new aws.s3.BucketVersioning(
      `${name}-logs-versioning`,
      { bucket: logBucket.id, versioningConfiguration: { status: "Enabled" } },
      opts,
    ),
  ];
  const trail = new awsx.cloudtrail.Trail(
    name,
    {
      s3Bucket: { existing: { name: logBucket.bucket } },
      cloudWatchLogsGroup: { enable: false },
      advancedEventSelectors: manifestWriteSelectors(args.releaseBucketArn),
      includeGlobalServiceEvents: false,
      isMultiRegionTrail: false,
      enableLogFileValidation: true,
    },
    { ...opts, dependsOn: protections, transforms: [tlsOnlyBucketPolicy] },
  );
  return { trail, logBucket };
}
