/**
 * A role for one AWS service with one inline policy: the shape of every role in this program
 * (each function's, the workflow's, EventBridge's and API Gateway's), named `<base>-role` and
 * `<base>-policy`.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { TRUST_FACTS } from "../contract/trust-facts";
import { type PolicyDocument, type PolicyStatement, document } from "../contract/permissions";
import { pipelinePolicyChunks, splitPipelineStatements } from "./pipeline-policies";

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
 * role (contract/trust-facts.ts, which cites the page per service); elsewhere the condition would
 * never match and the service could not assume the role.
 */
export function trustPolicy(
  service: string,
  accountId: string,
): Omit<PolicyDocument, "Statement"> & { Statement: TrustStatement[] } {
  const fact = TRUST_FACTS[service];
  if (!fact)
    throw new Error(`no trust fact for ${service}: add it to contract/trust-facts.ts with its AWS page`);
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
  /** Customer-managed policies holding the pipeline statements of a large allow-list, attached. */
  attachments: aws.iam.RolePolicyAttachment[];
}

/** The allow-list a role grants on: the names now (to size the policies) and their ARNs later. */
export interface PipelineGrants {
  names: readonly string[];
  arns: pulumi.Input<string[]>;
}

export function serviceRole(
  base: string,
  service: string,
  accountId: pulumi.Input<string>,
  statements: pulumi.Input<PolicyStatement[]>,
  opts: pulumi.CustomResourceOptions,
  pipelines?: PipelineGrants,
): ServiceRole {
  const role = new aws.iam.Role(
    `${base}-role`,
    { assumeRolePolicy: pulumi.output(accountId).apply((id) => JSON.stringify(trustPolicy(service, id))) },
    opts,
  );
  const chunks = pipelines && pipelinePolicyChunks(pipelines.names);
  if (!pipelines || !chunks) {
    const policy = new aws.iam.RolePolicy(
      `${base}-policy`,
      { role: role.id, policy: pulumi.output(statements).apply((s) => JSON.stringify(document(s))) },
      opts,
    );
    return { role, policy, attachments: [] };
  }
  // A large allow-list: the pipeline statements go to managed policies (infra/pipeline-policies.ts).
  const split = pulumi
    .all([pulumi.output(statements), pulumi.output(pipelines.arns)])
    .apply(([all, arns]) => splitPipelineStatements(all, arns, chunks));
  const policy = new aws.iam.RolePolicy(
    `${base}-policy`,
    { role: role.id, policy: split.apply((s) => JSON.stringify(document(s.inline))) },
    opts,
  );
  const attachments = chunks.map((_, i) => {
    const managed = new aws.iam.Policy(
      `${base}-pipelines-${i + 1}`,
      {
        description: `${base}: the release pipelines, part ${i + 1} of ${chunks.length}`,
        policy: split.apply((s) => JSON.stringify(document([s.managed[i]]))),
      },
      opts,
    );
    return new aws.iam.RolePolicyAttachment(
      `${base}-pipelines-${i + 1}`,
      { role: role.name, policyArn: managed.arn },
      opts,
    );
  });
  return { role, policy, attachments };
}
