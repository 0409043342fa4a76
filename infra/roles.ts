/**
 * A role for one AWS service with one inline policy: the shape of every role in this program
 * (each function's, the workflow's, EventBridge's and API Gateway's), named `<base>-role` and
 * `<base>-policy`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TRUST_FACTS } from "../policy/trust-facts";
import { type PolicyDocument, type PolicyStatement, document } from "./iam";

/** A trust statement: Principal and no Resource, unlike the permission statements. */
export interface TrustStatement {
  Sid: string;
  Effect: "Allow";
  Principal: { Service: string };
  Action: ["sts:AssumeRole"];
  Condition?: { StringEquals: { "aws:SourceAccount": string } };
}

/**
 * A trust policy for exactly one service principal. It is limited to this account by
 * aws:SourceAccount only where AWS documents that the service sends the key when it assumes the
 * role (policy/trust-facts.ts, which cites the page per service); elsewhere the condition would
 * never match and the service could not assume the role.
 */
export function trustPolicy(
  service: string,
  accountId: string,
): Omit<PolicyDocument, "Statement"> & { Statement: TrustStatement[] } {
  const fact = TRUST_FACTS[service];
  if (!fact)
    throw new Error(`no trust fact for ${service}: add it to policy/trust-facts.ts with its AWS page`);
  const statement: TrustStatement = {
    Sid: "AssumedByOneService",
    Effect: "Allow",
    Principal: { Service: service },
    Action: ["sts:AssumeRole"],
  };
  if (fact.sends.includes("aws:SourceAccount"))
    statement.Condition = { StringEquals: { "aws:SourceAccount": accountId } };
  return { Version: "2012-10-17", Statement: [statement] };
}

export interface ServiceRole {
  role: aws.iam.Role;
  policy: aws.iam.RolePolicy;
}

export function serviceRole(
  base: string,
  service: string,
  accountId: pulumi.Input<string>,
  statements: pulumi.Input<PolicyStatement[]>,
  opts: pulumi.CustomResourceOptions,
): ServiceRole {
  const role = new aws.iam.Role(
    `${base}-role`,
    { assumeRolePolicy: pulumi.output(accountId).apply((id) => JSON.stringify(trustPolicy(service, id))) },
    opts,
  );
  const policy = new aws.iam.RolePolicy(
    `${base}-policy`,
    { role: role.id, policy: pulumi.output(statements).apply((s) => JSON.stringify(document(s))) },
    opts,
  );
  return { role, policy };
}
