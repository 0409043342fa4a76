/**
 * IAM.1 (no full "*" administrative privileges) and IAM.21 (no wildcard service actions):
 * an Allow statement names exact actions, never `*`, `service:*` or a pattern such as `s3:Get*`
 * that silently grows whenever AWS adds an action. Deny statements may use wildcards.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { allowStatements, permissionDocuments, pointAt } from "./iam-documents";
import { parseAction } from "./iam-reference";

export const iamNoWildcardActions: ResourceValidationPolicy = {
  name: "iam-no-wildcard-actions",
  description:
    "Allow statements name exact IAM actions: no *, no service:*, no wildcards inside action names.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    const parsed = permissionDocuments(args);
    if (!parsed) return args.notApplicable("only IAM, bucket and queue policy documents");
    for (const { where, statement } of allowStatements(parsed)) {
      for (const action of statement.actions ?? []) {
        if (!/[*?]/.test(action)) continue;
        const at = pointAt(parsed, where, statement);
        const parts = parseAction(action);
        if (action === "*") {
          reportViolation(
            `${at} allows action "*", i.e. every action of every service (IAM.1). List the exact actions this principal calls.`,
          );
        } else if (parts && parts.name === "*") {
          reportViolation(
            `${at} allows "${action}", every action of ${parts.service} (IAM.21). List the exact ${parts.service} actions this principal calls.`,
          );
        } else {
          reportViolation(
            `${at} allows "${action}", a wildcard pattern that covers any action AWS adds to it later. List the exact actions instead.`,
          );
        }
      }
    }
  },
};
