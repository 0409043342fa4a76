/**
 * Confused-deputy conditions in trust policies, exactly where AWS documents them (contract/trust-facts.ts):
 * a service that sends aws:SourceAccount / aws:SourceArn when it assumes the role must be limited
 * by one of them; a service not documented to send them must not be, because the condition would
 * never match and the role could not be assumed at all.
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { parseDocument } from "./iam-documents";
import { SOURCE_KEYS, TRUST_FACTS } from "../contract/trust-facts";

/** The aws:Source* keys a statement's Condition tests, under any operator. */
function sourceKeysIn(condition: unknown): string[] {
  if (!isRecord(condition)) return [];
  return Object.values(condition).flatMap((block) =>
    isRecord(block)
      ? Object.keys(block).filter((key) => SOURCE_KEYS.some((k) => k.toLowerCase() === key.toLowerCase()))
      : [],
  );
}

function servicesOf(principal: unknown): string[] {
  if (!isRecord(principal) || principal.Service === undefined) return [];
  return (Array.isArray(principal.Service) ? principal.Service : [principal.Service]).map(String);
}

export const iamTrustSourceConditions: ResourceValidationPolicy = {
  name: "iam-trust-source-conditions",
  description:
    "A trust policy limits a service by aws:SourceAccount/aws:SourceArn exactly where AWS documents that the service sends them.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    if (args.type !== "aws:iam/role:Role") return args.notApplicable("only IAM roles");
    const document = parseDocument("assumeRolePolicy", args.props.assumeRolePolicy);
    if (typeof document === "string") return; // iam-trust-one-service reports it
    for (const statement of document.statements) {
      if (statement.effect !== "Allow") continue;
      const keys = sourceKeysIn(statement.condition);
      for (const service of servicesOf(statement.principal)) {
        const fact = TRUST_FACTS[service];
        const where = `role "${args.name}" (assumeRolePolicy), ${statement.label}`;
        if (!fact) {
          reportViolation(
            `${where} trusts ${service}, for which no fact says whether it sends aws:SourceAccount/aws:SourceArn. Add it to contract/trust-facts.ts with the AWS page that says so.`,
          );
          continue;
        }
        const unsent = keys.filter((key) => !fact.sends.some((k) => k.toLowerCase() === key.toLowerCase()));
        if (unsent.length > 0) {
          reportViolation(
            `${where} requires ${unsent.join(", ")}, which AWS does not document ${service} as sending when it assumes a role (${fact.page}); the role could never be assumed. Remove the condition.`,
          );
        }
        if (fact.sends.length > 0 && keys.length === 0) {
          reportViolation(
            `${where} trusts ${service} without ${fact.sends.join(" or ")}, which ${service} sends (${fact.page}). Add {"StringEquals":{"aws:SourceAccount":"<this account>"}} against confused deputies.`,
          );
        }
      }
    }
  },
};
