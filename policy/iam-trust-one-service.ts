/**
 * Least privilege for who may assume a role (docs/architecture.md, "Security defaults"): a role's trust policy names
 * exactly one AWS service principal, e.g. lambda.amazonaws.com, in every Allow statement. A
 * second service, an AWS account or "*" lets something other than the one service the role was
 * made for act with its permissions.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { parseDocument } from "./iam-documents";

/** The services an Allow statement's Principal names, or why it is not a service principal. */
function servicesOf(principal: unknown): string[] | string {
  if (principal === undefined) return "has no Principal";
  if (!isRecord(principal)) return `has Principal ${JSON.stringify(principal)}, which is not a service`;
  const others = Object.keys(principal).filter((key) => key !== "Service");
  if (others.length > 0)
    return `names ${others.join(", ")} principals (${JSON.stringify(principal)}), not only a service`;
  const services = principal.Service;
  return (Array.isArray(services) ? services : [services]).map(String);
}

export const iamTrustOneService: ResourceValidationPolicy = {
  name: "iam-trust-one-service",
  description: "A role's trust policy names exactly one AWS service principal.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:iam/role:Role") return args.notApplicable("only IAM roles");
    const subject = `role "${args.name}" (assumeRolePolicy)`;
    const document = parseDocument("assumeRolePolicy", args.props.assumeRolePolicy);
    if (typeof document === "string") {
      reportViolation(`role "${args.name}": ${document}.`);
      return;
    }
    const services = new Set<string>();
    for (const statement of document.statements) {
      if (statement.notPrincipal !== undefined) {
        reportViolation(
          `${subject}, ${statement.label} uses NotPrincipal. Name the one service with Principal.Service.`,
        );
      }
      if (statement.effect !== "Allow") continue;
      const named = servicesOf(statement.principal);
      if (typeof named === "string") {
        reportViolation(
          `${subject}, ${statement.label} ${named}. Trust exactly one service, e.g. {"Service":"lambda.amazonaws.com"}.`,
        );
      } else {
        named.forEach((service) => services.add(service));
      }
    }
    if (services.size > 1) {
      reportViolation(
        `${subject} trusts ${services.size} service principals (${[...services].join(", ")}). Give each service its own role with only what that service needs.`,
      );
    } else if (services.size === 0 && document.statements.every((s) => s.effect !== "Allow")) {
      reportViolation(`${subject} names no service principal: no Allow statement lets a service assume it.`);
    }
  },
};
