/**
 * IAM.1's companion for AWS-managed policies (docs/architecture.md, "Security defaults"): no AdministratorAccess,
 * PowerUser or *FullAccess attachment, whether by RolePolicyAttachment, PolicyAttachment,
 * RolePolicyAttachmentsExclusive or a role's managedPolicyArns. These are what
 * aws.lambda.CallbackFunction attaches when given no role; each grants far beyond one function's needs.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";

/** Where each resource type keeps the managed policy ARNs it attaches. */
const ATTACHMENTS: Record<string, { kind: string; property: string }> = {
  "aws:iam/rolePolicyAttachment:RolePolicyAttachment": {
    kind: "role policy attachment",
    property: "policyArn",
  },
  "aws:iam/policyAttachment:PolicyAttachment": { kind: "policy attachment", property: "policyArn" },
  "aws:iam/rolePolicyAttachmentsExclusive:RolePolicyAttachmentsExclusive": {
    kind: "exclusive role policy attachments",
    property: "policyArns",
  },
  "aws:iam/role:Role": { kind: "role", property: "managedPolicyArns" },
};

/** An AWS-managed policy (account "aws") whose name marks it as broad. */
export function broadManagedPolicy(arn: string): string | undefined {
  const match = /^arn:[^:]+:iam::aws:policy\/(?:.*\/)?([^/]+)$/.exec(arn);
  if (!match) return undefined;
  return /AdministratorAccess|PowerUser|FullAccess/.test(match[1]) ? match[1] : undefined;
}

export const iamNoBroadManagedPolicies: ResourceValidationPolicy = {
  name: "iam-no-broad-managed-policies",
  description: "No AWS-managed AdministratorAccess, PowerUser or *FullAccess policy is attached.",
  enforcementLevel: "mandatory",
  severity: "critical",
  validateResource: (args, reportViolation) => {
    const attachment = ATTACHMENTS[args.type];
    if (!attachment) return args.notApplicable("only IAM policy attachments and roles");
    const value: unknown = args.props[attachment.property];
    const arns = value === undefined || value === null ? [] : Array.isArray(value) ? [...value] : [value];
    for (const arn of arns) {
      const name = typeof arn === "string" ? broadManagedPolicy(arn) : undefined;
      if (!name) continue;
      reportViolation(
        `${attachment.kind} "${args.name}" attaches the AWS-managed policy ${name} (${attachment.property}: ${String(arn)}). Replace it with an inline policy naming the exact actions and ARNs the principal needs.`,
      );
    }
  },
};
