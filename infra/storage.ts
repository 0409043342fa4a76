/**
 * The release bucket (private, encrypted, versioned, TLS-only, notifying EventBridge) and the
 * Releases and Executions tables (on-demand, point-in-time recovery, encryption), built from the
 * same table shapes the handlers and the local runtime use.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  type Projection,
  type TableShape,
  executionsTableShape,
  releasePipelinesTableShape,
  releasesTableShape,
} from "../contract/tables";

export interface ReleaseBucket {
  bucket: aws.s3.Bucket;
  /** Completes once every protection is in place; depend on it before using the bucket. */
  ready: pulumi.Resource[];
}

export function releaseBucket(name: string, opts: pulumi.CustomResourceOptions): ReleaseBucket {
  const bucket = new aws.s3.Bucket(name, { forceDestroy: false }, opts);
  const child = { ...opts, parent: opts.parent };
  const publicAccess = new aws.s3.BucketPublicAccessBlock(
    `${name}-public-access`,
    {
      bucket: bucket.id,
      blockPublicAcls: true,
      blockPublicPolicy: true,
      ignorePublicAcls: true,
      restrictPublicBuckets: true,
    },
    child,
  );
  const ownership = new aws.s3.BucketOwnershipControls(
    `${name}-ownership`,
    { bucket: bucket.id, rule: { objectOwnership: "BucketOwnerEnforced" } },
    child,
  );
  const encryption = new aws.s3.BucketServerSideEncryptionConfiguration(
    `${name}-encryption`,
    {
      bucket: bucket.id,
      rules: [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    },
    child,
  );
  // Versioning lets the workflow read exactly the uploaded version named in the event.
  const versioning = new aws.s3.BucketVersioning(
    `${name}-versioning`,
    { bucket: bucket.id, versioningConfiguration: { status: "Enabled" } },
    child,
  );
  const policy = new aws.s3.BucketPolicy(
    `${name}-tls-only`,
    {
      bucket: bucket.id,
      policy: bucket.arn.apply((arn) =>
        JSON.stringify({
          Version: "2012-10-17",
          Statement: [
            {
              Sid: "DenyInsecureTransport",
              Effect: "Deny",
              Principal: "*",
              Action: "s3:*",
              Resource: [arn, `${arn}/*`],
              Condition: { Bool: { "aws:SecureTransport": "false" } },
            },
          ],
        }),
      ),
    },
    { ...child, dependsOn: [publicAccess] },
  );
  const notification = new aws.s3.BucketNotification(
    `${name}-to-eventbridge`,
    { bucket: bucket.id, eventbridge: true },
    child,
  );
  return { bucket, ready: [publicAccess, ownership, encryption, versioning, policy, notification] };
}

/** An index's projection as the provider takes it. */
function projectionOf(projection: Projection = "ALL"): {
  projectionType: string;
  nonKeyAttributes?: string[];
} {
  return typeof projection === "string"
    ? { projectionType: projection }
    : { projectionType: "INCLUDE", nonKeyAttributes: [...projection] };
}

export function releaseTable(
  name: string,
  shape: TableShape,
  deletionProtection: boolean,
  opts: pulumi.CustomResourceOptions,
): aws.dynamodb.Table {
  return new aws.dynamodb.Table(
    name,
    {
      billingMode: "PAY_PER_REQUEST",
      hashKey: shape.hashKey,
      ...(shape.rangeKey ? { rangeKey: shape.rangeKey } : {}),
      attributes: shape.attributes.map((a) => ({ name: a.name, type: a.type })),
      globalSecondaryIndexes: shape.globalSecondaryIndexes.map((index) => ({
        name: index.name,
        hashKey: index.hashKey,
        ...(index.rangeKey ? { rangeKey: index.rangeKey } : {}),
        ...projectionOf(index.projection),
      })),
      pointInTimeRecovery: { enabled: true },
      serverSideEncryption: { enabled: true },
      deletionProtectionEnabled: deletionProtection,
    },
    opts,
  );
}

export function releaseTables(
  prefix: string,
  deletionProtection: boolean,
  opts: pulumi.CustomResourceOptions,
) {
  return {
    releases: releaseTable(`${prefix}-releases`, releasesTableShape, deletionProtection, opts),
    executions: releaseTable(`${prefix}-executions`, executionsTableShape, deletionProtection, opts),
    releasePipelines: releaseTable(
      `${prefix}-release-pipelines`,
      releasePipelinesTableShape,
      deletionProtection,
      opts,
    ),
  };
}
