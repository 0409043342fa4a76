/**
 * Which service principals AWS documents as sending `aws:SourceAccount` / `aws:SourceArn` when they
 * assume a role: a trust-policy condition on a key the service does not send makes the role
 * impossible to assume (the first deploy or the first release fails), and leaving it out where it
 * is sent gives up confused-deputy protection. One table for the program (infra/roles.ts) and for
 * the pack (iam-trust-source-conditions); each entry cites the page it rests on.
 */
export type SourceKey = "aws:SourceAccount" | "aws:SourceArn";

export interface TrustFact {
  /** The keys the service sends when it assumes a role for this program's use of it. */
  sends: readonly SourceKey[];
  page: string;
}

export const TRUST_FACTS: Readonly<Record<string, TrustFact>> = {
  // "Prevent cross-service confused deputy issue": a state machine role's trust policy with
  // aws:SourceAccount and aws:SourceArn (arn:…:states:region:account:stateMachine:*).
  "states.amazonaws.com": {
    sends: ["aws:SourceAccount", "aws:SourceArn"],
    page: "https://docs.aws.amazon.com/step-functions/latest/dg/procedure-create-iam-role.html",
  },
  // "For EventBridge event bus rule targets, the value of aws:SourceArn must be the rule ARN",
  // with aws:SourceAccount in the role's trust policy.
  "events.amazonaws.com": {
    sends: ["aws:SourceAccount", "aws:SourceArn"],
    page: "https://docs.aws.amazon.com/eventbridge/latest/userguide/cross-service-confused-deputy-prevention.html",
  },
  // The execution role's trust policy names lambda.amazonaws.com with no condition; Lambda scopes
  // the credentials it vends with lambda:SourceFunctionArn instead.
  "lambda.amazonaws.com": {
    sends: [],
    page: "https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html",
  },
  // API Gateway's CloudWatch role and integration credentials roles: trust policies with no
  // condition; no confused-deputy keys are documented for these assumptions.
  "apigateway.amazonaws.com": {
    sends: [],
    page: "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html",
  },
};

export const SOURCE_KEYS: readonly SourceKey[] = ["aws:SourceAccount", "aws:SourceArn"];
