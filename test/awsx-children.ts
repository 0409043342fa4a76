/**
 * What @pulumi/awsx's `cloudtrail.Trail` registers inside its plugin at deploy time, which the
 * mocks cannot see: the BucketPolicy on the log bucket, as awsx 3.9's `awsx/cloudtrail/trail.ts`
 * builds it (CloudTrail's GetBucketAcl and PutObject statements, named like the component), after
 * the program's `transforms` ran on it. The policy-pack tests add it to the mocked stack, so the
 * pack judges the bucket as it will be deployed.
 */
import { withTlsOnly } from "../infra/audit-trail";
import type { EngineResource } from "./policy-harness";
import type { RecordedResource } from "./pulumi-mocks";

/** awsx's `defaultCloudTrailPolicy(bucketArn)`. */
export function awsxCloudTrailPolicy(bucketArn: string) {
  return {
    Version: "2012-10-17",
    Statement: [
      {
        Sid: "AWSCloudTrailAclCheck",
        Effect: "Allow",
        Principal: { Service: "cloudtrail.amazonaws.com" },
        Action: ["s3:GetBucketAcl"],
        Resource: [bucketArn],
      },
      {
        Sid: "AWSCloudTrailWrite",
        Effect: "Allow",
        Principal: { Service: "cloudtrail.amazonaws.com" },
        Action: ["s3:PutObject"],
        Resource: [`${bucketArn}/*`],
        Condition: { StringEquals: { "s3:x-amz-acl": "bucket-owner-full-control" } },
      },
    ],
  };
}

/** The awsx BucketPolicy child of every Trail in the recorded stack, transformed as deployed. */
export function awsxTrailChildren(recorded: readonly RecordedResource[]): EngineResource[] {
  const children: EngineResource[] = [];
  for (const trail of recorded.filter((r) => r.type === "awsx:cloudtrail:Trail")) {
    const bucketName = (trail.inputs.s3Bucket as { existing: { name: string } }).existing.name;
    const bucket = recorded.find((r) => r.type === "aws:s3/bucket:Bucket" && r.state.bucket === bucketName);
    if (!bucket)
      throw new Error(`trail ${trail.name} logs to ${bucketName}, which the program does not create`);
    const policy = withTlsOnly(JSON.stringify(awsxCloudTrailPolicy(String(bucket.state.arn))));
    children.push({
      type: "aws:s3/bucketPolicy:BucketPolicy",
      name: trail.name,
      props: { bucket: bucketName, policy, id: bucketName },
      propertyDependencies: { bucket: [bucket.name] },
    });
  }
  return children;
}
