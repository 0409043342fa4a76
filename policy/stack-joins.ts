/**
 * Joins between resources for the stack policies. In @pulumi/aws v7 a bucket's protections are
 * sibling resources (public access block, policy, versioning, encryption) that name the bucket
 * in their `bucket` property; API method settings name their stage, methods their validator.
 *
 * A reference is resolved first by the engine's property dependencies (`bucket: bucket.id`
 * records that `bucket` depends on that Bucket): they are known even at preview, when the id
 * itself is not. Only when they do not single out one target is the value compared; reading a
 * value that is unknown at preview throws UnknownValueError, so the engine reports the policy
 * as not evaluable at preview and runs it again on update. Nothing here catches it.
 */
import * as aws from "@pulumi/aws";
import type { PolicyResource } from "@pulumi/policy";

/** A resource class as `isType` takes it, e.g. aws.s3.Bucket. */
type ResourceClass = Parameters<PolicyResource["isType"]>[0];

export function referencedTarget(
  resource: PolicyResource,
  property: string,
  targets: PolicyResource[],
  matchesValue: (target: PolicyResource, value: unknown) => boolean,
): PolicyResource | undefined {
  const byDependency = (resource.propertyDependencies[property] ?? []).filter((d) => targets.includes(d));
  if (byDependency.length === 1) return byDependency[0];
  const value: unknown = resource.props[property];
  if (value === undefined || value === null || value === "") return undefined;
  return targets.find((target) => matchesValue(target, value));
}

/** A bucket's names as siblings refer to it: its id (the bucket name in v7) or `bucket`. */
export function isSameBucket(bucket: PolicyResource, value: unknown): boolean {
  return value === bucket.props.bucket || value === bucket.props.id;
}

const isAnyOf = (resource: PolicyResource, classes: ResourceClass[]) =>
  classes.some((c) => resource.isType(c));

/** The buckets of the stack, and for each the siblings of the given classes that configure it. */
export function bucketsWithSiblings(
  resources: PolicyResource[],
  siblingClasses: ResourceClass[],
): { bucket: PolicyResource; siblings: PolicyResource[] }[] {
  const buckets = resources.filter((r) => isAnyOf(r, [aws.s3.Bucket, aws.s3.BucketV2]));
  const siblings = resources.filter((r) => isAnyOf(r, siblingClasses));
  const targets = new Map(siblings.map((s) => [s, referencedTarget(s, "bucket", buckets, isSameBucket)]));
  return buckets.map((bucket) => ({ bucket, siblings: siblings.filter((s) => targets.get(s) === bucket) }));
}
