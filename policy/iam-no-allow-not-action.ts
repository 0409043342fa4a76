/**
 * IAM Access Analyzer security warnings "Allow with NotAction" / "Allow with NotResource": an
 * Allow with NotAction grants every action except a few (including actions AWS adds later), and
 * NotResource grants on every resource except a few. Allow statements say what they grant.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { allowStatements, permissionDocuments, pointAt } from "./iam-documents";

export const iamNoAllowNotAction: ResourceValidationPolicy = {
  name: "iam-no-allow-with-not-action",
  description: "No Allow statement uses NotAction or NotResource.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    const parsed = permissionDocuments(args);
    if (!parsed) return args.notApplicable("only IAM, bucket and queue policy documents");
    for (const { where, statement } of allowStatements(parsed)) {
      const at = pointAt(parsed, where, statement);
      if (statement.notActions !== undefined) {
        reportViolation(
          `${at} is an Allow with NotAction (${statement.notActions.join(", ")}): it grants every other action, including ones AWS adds later. Use Action with the exact actions.`,
        );
      }
      if (statement.notResources !== undefined) {
        reportViolation(
          `${at} is an Allow with NotResource (${statement.notResources.join(", ")}): it grants on every other resource. Use Resource with the exact ARNs.`,
        );
      }
    }
  },
};
