/**
 * A role for one AWS service with one inline policy: the shape of every role in this program
 * (each function's, the workflow's, EventBridge's and API Gateway's), named `<base>-role` and
 * `<base>-policy`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { type PolicyStatement, document, trustPolicy } from "./iam";

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
