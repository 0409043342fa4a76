/**
 * IAM room for large allow-lists. Statements granting an action on every allow-listed pipeline
 * name each pipeline's ARN; 500 ARNs (about 46,000 characters) pass a role's 10,240 characters of
 * inline policies. Such statements stay inline while the ARNs are short enough, and otherwise move
 * into customer-managed policies of at most 6,144 characters each, at most 10 per role, still
 * naming exactly the allow-listed pipelines. The cut is decided before the ARNs are known (the
 * region and account are outputs), from an upper bound of each ARN's length.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
 */
import type { PolicyDocument, PolicyStatement } from "../contract/permissions";

/** IAM's defaults (characters exclude whitespace). */
export const IAM_LIMITS = {
  inlinePoliciesPerRole: 10_240,
  managedPolicy: 6_144,
  managedPoliciesPerRole: 10,
  trustPolicy: 2_048,
} as const;

/** What IAM counts of a policy document: its JSON without whitespace (JSON.stringify adds none). */
export const policyCharacters = (document: PolicyDocument | object): number =>
  JSON.stringify(document).length;

/**
 * The longest `arn:<partition>:codepipeline:<region>:<account>:` prefix: partition `aws-us-gov`,
 * a region code of up to 16 characters, a 12-digit account.
 */
const ARN_PREFIX_BOUND = "arn:aws-us-gov:codepipeline::123456789012:".length + 16;
/** `"<arn>",` in a Resource list. */
const arnCharacters = (name: string) => ARN_PREFIX_BOUND + name.length + 3;
/** Room in a managed policy for Version, Statement, Sid, Effect and an Action list of a few actions. */
const MANAGED_POLICY_ARN_BUDGET = IAM_LIMITS.managedPolicy - 300;
/** Pipeline ARNs stay inline while they need at most this, leaving the rest for other statements. */
const INLINE_PIPELINE_BUDGET = 4_096;

/** Thrown when even managed policies cannot hold the allow-list; the message says what to change. */
export class AllowListTooLarge extends Error {
  override readonly name = "AllowListTooLarge";
}

/**
 * How a role's pipeline statements are placed: inline (undefined), or as [start, end) index ranges
 * of the allow-list, one managed policy each.
 */
export function pipelinePolicyChunks(pipelines: readonly string[]): [number, number][] | undefined {
  const total = pipelines.reduce((sum, name) => sum + arnCharacters(name), 0);
  if (total <= INLINE_PIPELINE_BUDGET) return undefined;
  const chunks: [number, number][] = [];
  let start = 0;
  let used = 0;
  pipelines.forEach((name, i) => {
    if (used + arnCharacters(name) > MANAGED_POLICY_ARN_BUDGET) {
      chunks.push([start, i]);
      start = i;
      used = 0;
    }
    used += arnCharacters(name);
  });
  chunks.push([start, pipelines.length]);
  if (chunks.length > IAM_LIMITS.managedPoliciesPerRole) {
    throw new AllowListTooLarge(
      `${pipelines.length} pipelines need ${chunks.length} managed policies per role to name each pipeline's ARN; ` +
        `IAM allows ${IAM_LIMITS.managedPoliciesPerRole} by default. Shorten the list, or raise the ` +
        `"Managed policies per role" quota and this limit together.`,
    );
  }
  return chunks;
}

/** Whether a statement grants on exactly the allow-listed pipelines (and nothing else). */
function isPipelineStatement(statement: PolicyStatement, pipelineArns: readonly string[]): boolean {
  const arns = new Set(pipelineArns);
  return (
    statement.Resource.length === pipelineArns.length &&
    statement.Resource.every((resource) => arns.has(resource))
  );
}

/**
 * A role's statements split into the inline ones and, per chunk, one managed-policy statement
 * granting every pipeline action of the role on that chunk's pipelines.
 */
export function splitPipelineStatements(
  statements: readonly PolicyStatement[],
  pipelineArns: readonly string[],
  chunks: readonly [number, number][],
): { inline: PolicyStatement[]; managed: PolicyStatement[] } {
  const pipeline = statements.filter((s) => pipelineArns.length > 0 && isPipelineStatement(s, pipelineArns));
  if (pipeline.length === 0)
    throw new Error("a role given pipeline policies grants nothing on the pipelines");
  const actions = [...new Set(pipeline.flatMap((s) => s.Action))].sort();
  const managed = chunks.map(([start, end]) => ({
    Sid: "ReleasePipelines",
    Effect: "Allow" as const,
    Action: actions,
    Resource: pipelineArns.slice(start, end),
  }));
  // The cut was sized from bounds; check the real documents before IAM would refuse them.
  for (const statement of managed) {
    const size = policyCharacters({ Version: "2012-10-17", Statement: [statement] });
    if (size > IAM_LIMITS.managedPolicy) {
      throw new AllowListTooLarge(
        `a pipeline policy of ${size} characters passes IAM's ${IAM_LIMITS.managedPolicy}`,
      );
    }
  }
  return { inline: statements.filter((s) => !pipeline.includes(s)), managed };
}
