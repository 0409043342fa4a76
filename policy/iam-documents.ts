/**
 * IAM policy documents as the least-privilege policies see them: every permission document a
 * resource carries (identity policies, a role's inline policies, bucket and queue policies), and
 * any single document such as a role's trust policy, parsed into statements whose
 * Action/Resource lists are always arrays, with the words every message uses to point at them.
 *
 * Values are read straight from the engine's props: a document that is unknown at preview throws
 * UnknownValueError there, which the engine reports as "can't run during preview" and evaluates
 * again on update. Nothing here catches it.
 */
import type { ResourceValidationArgs } from "@pulumi/policy";
import { isRecord } from "../contract/json";

export interface Statement {
  /** `statement "Sid"`, or `statement #n` when it has no Sid: how every message names it. */
  label: string;
  effect: string;
  actions?: string[];
  notActions?: string[];
  resources?: string[];
  notResources?: string[];
  principal?: unknown;
  notPrincipal?: unknown;
  condition?: unknown;
}

export interface Document {
  /** Which property of the resource holds it, e.g. `policy` or `inlinePolicies "ops"`. */
  where: string;
  statements: Statement[];
}

export interface ParsedDocuments {
  /** e.g. `role policy "loadManifest-policy"`. */
  subject: string;
  documents: Document[];
  /** Documents that could not be read at all (not JSON, no Statement). */
  problems: string[];
}

type Props = Record<string, unknown>;

/** Resource types that carry permission documents, and where. */
const PERMISSION_DOCUMENTS: Record<
  string,
  { kind: string; documents: (props: Props) => [string, unknown][] }
> = {
  "aws:iam/rolePolicy:RolePolicy": { kind: "role policy", documents: (p) => [["policy", p.policy]] },
  "aws:iam/policy:Policy": { kind: "IAM policy", documents: (p) => [["policy", p.policy]] },
  "aws:iam/role:Role": {
    kind: "role",
    documents: (p) =>
      list(p.inlinePolicies).map((inline, i): [string, unknown] => {
        const named = isRecord(inline) && typeof inline.name === "string" ? `"${inline.name}"` : `#${i + 1}`;
        return [`inlinePolicies ${named}`, isRecord(inline) ? inline.policy : undefined];
      }),
  },
  "aws:s3/bucketPolicy:BucketPolicy": { kind: "bucket policy", documents: (p) => [["policy", p.policy]] },
  "aws:sqs/queuePolicy:QueuePolicy": { kind: "queue policy", documents: (p) => [["policy", p.policy]] },
  "aws:sns/topicPolicy:TopicPolicy": { kind: "topic policy", documents: (p) => [["policy", p.policy]] },
};

function list(value: unknown): unknown[] {
  if (value === undefined || value === null) return [];
  return Array.isArray(value) ? [...value] : [value];
}

/** Action/Resource lists: IAM accepts one string or an array of them. */
function strings(value: unknown): string[] | undefined {
  if (value === undefined) return undefined;
  return list(value).map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
}

/** A document given as JSON text (what `JSON.stringify` in the program produces) or as an object. */
export function parseDocument(where: string, raw: unknown): Document | string {
  let value = raw;
  if (typeof raw === "string") {
    try {
      value = JSON.parse(raw);
    } catch (error) {
      return `${where} is not valid JSON (${error instanceof Error ? error.message : String(error)})`;
    }
  }
  if (!isRecord(value) || value.Statement === undefined) {
    return `${where} has no Statement; give it {"Version":"2012-10-17","Statement":[...]}`;
  }
  const statements = list(value.Statement).map((s, i): Statement => {
    const statement = isRecord(s) ? s : {};
    return {
      label:
        typeof statement.Sid === "string" && statement.Sid !== ""
          ? `statement "${statement.Sid}"`
          : `statement #${i + 1}`,
      effect: String(statement.Effect),
      actions: strings(statement.Action),
      notActions: strings(statement.NotAction),
      resources: strings(statement.Resource),
      notResources: strings(statement.NotResource),
      principal: statement.Principal,
      notPrincipal: statement.NotPrincipal,
      condition: statement.Condition,
    };
  });
  return { where, statements };
}

/**
 * The permission documents of a resource, or undefined when its type carries none (the policy
 * then calls `notApplicable`). A role's trust policy is not a permission document: it has no
 * Resource, and iam-trust-one-service reads it with parseDocument.
 */
export function permissionDocuments(args: ResourceValidationArgs): ParsedDocuments | undefined {
  const shape = PERMISSION_DOCUMENTS[args.type];
  if (!shape) return undefined;
  const parsed: ParsedDocuments = { subject: `${shape.kind} "${args.name}"`, documents: [], problems: [] };
  for (const [where, raw] of shape.documents(args.props)) {
    const document = parseDocument(where, raw);
    if (typeof document === "string") parsed.problems.push(document);
    else parsed.documents.push(document);
  }
  return parsed;
}

/** Every Allow statement with where it sits, for the rules that only restrict what is granted. */
export function allowStatements(parsed: ParsedDocuments): { where: string; statement: Statement }[] {
  return parsed.documents.flatMap((d) =>
    d.statements.filter((s) => s.effect === "Allow").map((statement) => ({ where: d.where, statement })),
  );
}

/** "role policy "x" (policy), statement "Sid"": the start of every message about a statement. */
export function pointAt(parsed: ParsedDocuments, where: string, statement: Statement): string {
  return `${parsed.subject} (${where}), ${statement.label}`;
}
