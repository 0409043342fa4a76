/**
 * The IAM engine's decisions for local mode (local/iam-enforcement.ts asks them for every call):
 * @cloud-copilot/iam-simulate, loaded lazily (AGPL: never reachable from shipped code), asked once
 * per role and request, and shown only the parts of the role's statements that can bear on the
 * request, so a role naming hundreds of pipelines is not matched entry by entry on every new one.
 *
 * Both are exact, not approximations, so a denied call still fails as AWS fails it:
 * - A decision depends only on the role's principal and statements and on the request (the
 *   simulation passes no context keys). The memo is keyed by the role and checked against a copy
 *   of its principal and statements on every use: a role whose grants changed in any way (a grant
 *   removed, in place or in a new role) is simulated again, never answered from the old decision.
 * - A statement's `Resource` entries are alternatives: it applies when any one matches. An entry
 *   with no wildcard (`*`, `?`) and no policy variable (`${…}`), written as a full ARN (six or more
 *   `:` parts), matches a request for a resource of the same kind only when the two are equal,
 *   letter case aside (the engine compares partition, service, region and account ignoring case,
 *   and the rest exactly: node_modules/@cloud-copilot/iam-simulate/dist/cjs/resource/resource.js).
 *   Such entries that differ from the request's resource (ignoring case) can never match it, and
 *   are left out of what the engine is shown; every other entry is kept, and so are statements
 *   whose entries all differ (with one entry, which still matches nothing), `NotResource`,
 *   `Condition` and every request whose resource has a wildcard.
 */
import type { RunSimulationResults, Simulation } from "@cloud-copilot/iam-simulate";
import { type PolicyStatement, document } from "../contract/permissions";

/** Where the principal and the resources live: the local stand-ins' region and account. */
export interface IamScope {
  partition: string;
  region: string;
  accountId: string;
}

/** Who calls, and what its role allows. */
export interface IamRole {
  /** The calling session, e.g. `arn:aws:sts::000000000000:assumed-role/release-machine-x/x`. */
  principal: string;
  statements: PolicyStatement[];
  scope: IamScope;
}

/** One authorization AWS makes for a call: an action on a resource ARN, or `*` (no resource-level permissions). */
export interface IamRequest {
  action: string;
  resource: string;
}

export type IamDecision = "Allowed" | "ExplicitlyDenied" | "ImplicitlyDenied";

/** A request the engine could not evaluate (an unknown action, or a resource of the wrong type for it). */
export class UnevaluableRequest extends Error {
  override readonly name = "UnevaluableRequest";
}

type Simulator = (simulation: Simulation) => Promise<RunSimulationResults>;
let simulator: Promise<Simulator> | undefined;

/** The engine, loaded on first use only (AGPL: never reachable from shipped code). */
function loadSimulator(): Promise<Simulator> {
  simulator ??= import("@cloud-copilot/iam-simulate").then(
    ({ runSimulation }) =>
      (simulation) =>
        runSimulation(simulation, { simulationMode: "Strict" }),
  );
  return simulator;
}

/** The grants a memo's decisions were made under (a copy), compared with the role's on every use. */
interface Grants {
  principal: string;
  accountId: string;
  statements: PolicyStatement[];
}

const grantsOf = (role: IamRole): Grants => ({
  principal: role.principal,
  accountId: role.scope.accountId,
  statements: structuredClone(role.statements),
});

const sameList = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && a.every((value, i) => value === b[i]);

/** Field by field: the lists word by word, anything else (conditions, NotResource) as JSON. */
function sameStatement(a: PolicyStatement, b: PolicyStatement): boolean {
  const keys = Object.keys(a);
  if (!sameList(keys, Object.keys(b))) return false;
  return keys.every((key) => {
    const [x, y]: unknown[] = [Reflect.get(a, key), Reflect.get(b, key)];
    if (Array.isArray(x) && Array.isArray(y) && x.every((v) => typeof v === "string"))
      return sameList(x as string[], y as string[]);
    return typeof x === "string" ? x === y : JSON.stringify(x) === JSON.stringify(y);
  });
}

function sameGrants(role: IamRole, grants: Grants): boolean {
  if (role.principal !== grants.principal || role.scope.accountId !== grants.accountId) return false;
  const { statements } = role;
  return (
    statements.length === grants.statements.length &&
    statements.every((statement, i) => sameStatement(statement, grants.statements[i]))
  );
}

/** Decisions per role, valid while the role's grants are the ones they were made under. */
interface Memo {
  grants: Grants;
  resources: ResourceIndex[];
  byRequest: Map<string, Promise<IamDecision>>;
}
const decided = new WeakMap<IamRole, Memo>();

/** The engine's decision on one request by `role`, identity policies only (no SCPs, boundaries, resource policies). */
export function evaluate(role: IamRole, request: IamRequest): Promise<IamDecision> {
  let memo = decided.get(role);
  if (!memo || !sameGrants(role, memo.grants)) {
    const grants = grantsOf(role);
    memo = { grants, resources: indexResources(grants.statements), byRequest: new Map() };
    decided.set(role, memo);
  }
  const { byRequest } = memo;
  const key = `${request.action} ${request.resource}`;
  const decision = byRequest.get(key) ?? simulate(role, memo.resources, request);
  byRequest.set(key, decision);
  decision.catch(() => byRequest.delete(key)); // an error is no decision: ask again next time
  return decision;
}

const PATTERN = /[*?]|\$\{/;

/** A full ARN with no wildcard or variable: it matches only a resource equal to it, letter case aside. */
function isLiteralArn(entry: string): boolean {
  if (!entry.startsWith("arn:") || PATTERN.test(entry)) return false;
  let colons = 0;
  for (let at = entry.indexOf(":"); at !== -1 && colons < 5; at = entry.indexOf(":", at + 1)) colons += 1;
  return colons >= 5;
}

/** A statement's `Resource` entries, the literal ARNs by their lower case apart from the rest. */
interface ResourceIndex {
  statement: PolicyStatement;
  literal: Map<string, string[]>;
  others: string[];
}

function indexResources(statements: readonly PolicyStatement[]): ResourceIndex[] {
  return statements.map((statement) => {
    const literal = new Map<string, string[]>();
    const others: string[] = [];
    for (const entry of statement.Resource) {
      if (!isLiteralArn(entry)) others.push(entry);
      else literal.set(entry.toLowerCase(), [...(literal.get(entry.toLowerCase()) ?? []), entry]);
    }
    return { statement, literal, others };
  });
}

/**
 * The statements as the engine needs them for a request on `resource`: the literal ARN entries
 * that can never match it left out (see the head of this file). Statements are copied, never changed.
 */
function statementsFor(indexed: readonly ResourceIndex[], resource: string): PolicyStatement[] {
  if (!isLiteralArn(resource)) return indexed.map((i) => i.statement);
  const wanted = resource.toLowerCase();
  return indexed.map(({ statement, literal, others }) => {
    const kept = [...others, ...(literal.get(wanted) ?? [])];
    if (kept.length === statement.Resource.length) return statement;
    return { ...statement, Resource: kept.length > 0 ? kept : statement.Resource.slice(0, 1) };
  });
}

async function simulate(
  role: IamRole,
  resources: readonly ResourceIndex[],
  request: IamRequest,
): Promise<IamDecision> {
  const run = await loadSimulator();
  const result = await run({
    request: {
      principal: role.principal,
      action: request.action,
      resource: { resource: request.resource, accountId: role.scope.accountId },
      contextVariables: {},
    },
    identityPolicies: [{ name: "role", policy: document(statementsFor(resources, request.resource)) }],
    serviceControlPolicies: [],
    resourceControlPolicies: [],
  });
  if (result.resultType === "error")
    throw new UnevaluableRequest(
      `${request.action} on ${request.resource}: ${result.errors.message} ${JSON.stringify(result.errors)}`,
    );
  return result.overallResult;
}
