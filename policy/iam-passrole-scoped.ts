/**
 * Least privilege for iam:PassRole (IAM Access Analyzer security warning "PassRole with star in
 * resource"): a principal allowed to pass any role can hand a service any permissions in the
 * account. iam:PassRole, named or reached through a wildcard, names the roles it may pass.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { allowStatements, permissionDocuments, pointAt } from "./iam-documents";
import { wildcardMatches } from "./iam-reference";

/** "*", or a role ARN whose role part is only a wildcard (`arn:aws:iam::123456789012:role/*`). */
function isAnyRole(resource: string): boolean {
  return resource === "*" || /^arn:[^:]*:iam::[^:]*:role\/\*$/.test(resource);
}

export const iamPassRoleScoped: ResourceValidationPolicy = {
  name: "iam-passrole-not-on-wildcard",
  description: 'iam:PassRole names the roles it may pass; never Resource "*" or role/*.',
  enforcementLevel: "mandatory",
  severity: "critical",
  validateResource: (args, reportViolation) => {
    const parsed = permissionDocuments(args);
    if (!parsed) return args.notApplicable("only IAM, bucket and queue policy documents");
    for (const { where, statement } of allowStatements(parsed)) {
      const passRole = (statement.actions ?? []).find((action) => wildcardMatches(action, "iam:PassRole"));
      const anyRole = (statement.resources ?? []).find(isAnyRole);
      if (passRole === undefined || anyRole === undefined) continue;
      reportViolation(
        `${pointAt(parsed, where, statement)} allows iam:PassRole${passRole === "iam:PassRole" ? "" : ` (through "${passRole}")`} on "${anyRole}": it could pass any role in the account to a service. Name the role ARNs, and add an iam:PassedToService condition.`,
      );
    }
  },
};
