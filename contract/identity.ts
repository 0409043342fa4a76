/**
 * Who a caller is, for four eyes: the person as far as AWS vouches for it, read from the
 * principal's ARN (API Gateway's `requestContext.identity.userArn` under AWS_IAM, or CloudTrail's
 * `userIdentity.arn` for an upload) and, where AWS gives it, the session's source identity.
 *
 * - An IAM user (`arn:aws:iam::<account>:user/<path/>name`) is that user.
 * - An IAM Identity Center role session (`arn:aws:sts::<account>:assumed-role/AWSReservedSSO_<set>_<id>/<user>`)
 *   is the Identity Center user: Identity Center creates the role from the permission set and
 *   assumes it for the signed-in user, naming the session after that user, who cannot choose it
 *   (https://docs.aws.amazon.com/singlesignon/latest/userguide/permissionsetsconcept.html,
 *   https://docs.aws.amazon.com/singlesignon/latest/userguide/sso-info-in-cloudtrail.html). So two
 *   people sharing a permission set are two people. Only Identity Center may assume these roles
 *   (their trust policy names its SAML provider), so nobody else can pick such a session name.
 * - Any other role session is the role: whoever may assume it picks the session name
 *   (RoleSessionName is the caller's choice:
 *   https://docs.aws.amazon.com/STS/latest/APIReference/API_AssumeRole.html), so the name vouches
 *   for nobody, and a second session of the submitter's role is the submitter.
 * - A role session that carries an `sts:SourceIdentity` is the role and that source identity: it is
 *   set once by the first assumer (from the identity provider), and cannot be changed by later
 *   role chaining (https://docs.aws.amazon.com/IAM/latest/UserGuide/id_credentials_temp_control-access_monitor.html).
 *   CloudTrail records it as `userIdentity.sessionContext.sourceIdentity`
 *   (https://docs.aws.amazon.com/awscloudtrail/latest/userguide/cloudtrail-event-reference-user-identity.html).
 *   API Gateway's `requestContext.identity` (`userArn`, `caller`, `user`, `accountId`, ...) has no
 *   such field (https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference,
 *   https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-lambda-proxy-integrations.html#api-gateway-simple-proxy-for-lambda-input-format),
 *   so an API caller is known only by its ARN: it is the role alone. A role alone and the same
 *   role with a source identity are taken for the same person (AWS cannot tell them apart), and
 *   two sessions of one role are two people only when both carry different source identities.
 * - A federated user (`sts::<account>:federated-user/<name>`) names itself through
 *   GetFederationToken, so it vouches for nobody but its account's federation.
 * - Anything else (the root user, a local mode user name) is its own text.
 */

export type Person =
  | { kind: "user"; id: string }
  | { kind: "identityCenter"; role: string; user: string }
  | { kind: "role"; role: string; sourceIdentity?: string }
  | { kind: "federation"; account: string }
  | { kind: "other"; id: string };

/** The role-name prefix IAM Identity Center gives the roles it creates for permission sets. */
export const IDENTITY_CENTER_ROLE_PREFIX = "AWSReservedSSO_";

const ARN = /^arn:([^:]+):(iam|sts)::(\d{12}):(.+)$/;

/** The person a principal ARN (and its session's source identity, when known) stands for. */
export function personOf(arn: string, sourceIdentity?: string): Person {
  const match = ARN.exec(arn);
  if (!match) return { kind: "other", id: arn };
  const [, partition, service, account, resource] = match;
  const [type, ...rest] = resource.split("/");
  if (service === "iam" && type === "user" && rest.length > 0) return { kind: "user", id: arn };
  if (service === "sts" && type === "assumed-role" && rest.length >= 2) {
    // The session ARN drops the role's path; the account and name identify the role.
    const role = `arn:${partition}:iam::${account}:role/${rest[0]}`;
    const session = rest.slice(1).join("/");
    if (rest[0].startsWith(IDENTITY_CENTER_ROLE_PREFIX))
      return { kind: "identityCenter", role, user: session };
    return sourceIdentity ? { kind: "role", role, sourceIdentity } : { kind: "role", role };
  }
  if (service === "sts" && type === "federated-user") return { kind: "federation", account };
  return { kind: "other", id: arn };
}

/** Whether two callers are, as far as AWS vouches, the same person (see the rules above). */
export function samePerson(a: Person, b: Person): boolean {
  switch (a.kind) {
    case "role":
      return (
        b.kind === "role" &&
        a.role === b.role &&
        (a.sourceIdentity === undefined ||
          b.sourceIdentity === undefined ||
          a.sourceIdentity === b.sourceIdentity)
      );
    case "identityCenter":
      return b.kind === "identityCenter" && a.role === b.role && a.user === b.user;
    case "federation":
      return b.kind === "federation" && a.account === b.account;
    default:
      return b.kind === a.kind && a.id === b.id;
  }
}

/** The person in words, for a refusal. */
export function describePerson(person: Person): string {
  switch (person.kind) {
    case "user":
      return `IAM user ${person.id}`;
    case "identityCenter":
      return `Identity Center user ${person.user} (${person.role})`;
    case "role":
      return person.sourceIdentity
        ? `role ${person.role} with source identity ${person.sourceIdentity}`
        : `role ${person.role} (any session: a role session is known by its role)`;
    case "federation":
      return `a federated user of account ${person.account} (federated users name themselves)`;
    default:
      return person.id;
  }
}

/** The S3 calls that store an object, whose CloudTrail record names the uploader of a manifest. */
export const UPLOAD_EVENT_NAMES = ["PutObject", "CopyObject", "CompleteMultipartUpload"];

/** EventBridge's detail type of CloudTrail's records (management and, with a trail, data events). */
export const CLOUDTRAIL_DETAIL_TYPE = "AWS API Call via CloudTrail";
