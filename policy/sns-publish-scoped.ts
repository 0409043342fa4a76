/**
 * Scoped publish: a topic policy lets a service publish only from named sources (aws:SourceArn,
 * e.g. this stack's notification rules), never anyone ("*"); a KMS key policy lets a service use
 * the key only for this account (aws:SourceAccount) or named sources. Without them, any rule of
 * any account's EventBridge could publish to the topic (the confused deputy).
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-use-resource-based.html#eb-sns-permissions
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html
 */
import type { ResourceValidationPolicy } from "@pulumi/policy";
import { isRecord } from "../contract/json";
import { type Statement, parseDocument } from "./iam-documents";

const SCOPED_BY = {
  "aws:sns/topicPolicy:TopicPolicy": { kind: "topic policy", keys: ["aws:sourcearn"] },
  "aws:kms/key:Key": { kind: "key policy", keys: ["aws:sourcearn", "aws:sourceaccount"] },
} as const;

function conditionKeys(condition: unknown): string[] {
  if (!isRecord(condition)) return [];
  return Object.values(condition).flatMap((block) => (isRecord(block) ? Object.keys(block) : []));
}

const isAnyone = (principal: unknown) =>
  principal === "*" || (isRecord(principal) && [principal.AWS].flat().includes("*"));
const isService = (principal: unknown) => isRecord(principal) && principal.Service !== undefined;

function problem(statement: Statement, keys: readonly string[]): string | undefined {
  if (statement.effect !== "Allow") return undefined;
  if (isAnyone(statement.principal)) return 'allows principal "*"';
  const tested = conditionKeys(statement.condition).map((k) => k.toLowerCase());
  if (isService(statement.principal) && !keys.some((k) => tested.includes(k)))
    return `allows a service without ${keys.join(" or ")}`;
  return undefined;
}

export const snsPublishScoped: ResourceValidationPolicy = {
  name: "sns-publish-scoped",
  description:
    "Topic policies let services publish only from named sources (aws:SourceArn); key policies scope services by account or source.",
  enforcementLevel: "mandatory",
  severity: "high",
  validateResource: (args, reportViolation) => {
    const shape = (SCOPED_BY as Record<string, { kind: string; keys: readonly string[] }>)[args.type];
    if (!shape) return args.notApplicable("only SNS topic policies and KMS keys");
    if (args.props.policy === undefined && args.type === "aws:kms/key:Key") return;
    const document = parseDocument("policy", args.props.policy);
    if (typeof document === "string") {
      reportViolation(`${shape.kind} "${args.name}": ${document}.`);
      return;
    }
    for (const statement of document.statements) {
      const found = problem(statement, shape.keys);
      if (found) {
        reportViolation(
          `${shape.kind} "${args.name}", ${statement.label} ${found}. Name the publishing rules with {"ArnEquals":{"aws:SourceArn":[...]}} (a key: {"StringEquals":{"aws:SourceAccount":"<account>"}}).`,
        );
      }
    }
  },
};
