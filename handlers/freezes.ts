/**
 * The freeze function (issue 20, items 3-4): `POST /freezes`, `GET /freezes` and
 * `DELETE /freezes/{name}`, an API Gateway Lambda proxy behind AWS_IAM on AWS and the local
 * server's routes alike (handlers/wiring.ts, `freezeControl`). Every freeze is one entry of one
 * Releases-table item (contract/freeze.ts, FREEZES_KEY), written by single conditional writes:
 *
 * - 201 `{freeze, warnings}`: globs that match no allowed pipeline are accepted with a warning.
 * - 400 every problem of the body (field as JSON Pointer, rule); 403 a request without a caller.
 * - 409 `FreezeExists` (the name is taken) or `TooManyFreezes` (MAX_FREEZES held).
 * - 404 `FreezeNotFound` on deleting a name no freeze has.
 *
 * A write that loses its condition is read back to say which rule refused it.
 */
import { ConditionalCheckFailedException } from "@aws-sdk/client-dynamodb";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import {
  FREEZES_KEY,
  FREEZE_NAME_PATTERN,
  type FreezeRecord,
  MAX_FREEZES,
  activeUntil,
  parseFreezeRequest,
  unmatchedGlobs,
} from "../contract/freeze";
import type { ManifestRules } from "../contract/manifest-schema";
import { ReleasesTable } from "../contract/tables";
import type { ExecutionDeps } from "./executions";
import { readItem } from "./reads";
import { overrideFreeze } from "./freezes-override";
import { type ProxyResponse, json } from "./release-status";

/** What API Gateway's Lambda proxy integration hands the function (the parts it reads). */
export interface FreezeRequest {
  /** `/freezes` or `/freezes/{name}`. */
  resource: string;
  httpMethod: string;
  pathParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  requestContext?: { identity?: { userArn?: string | null } | null } | null;
}

/** The execution clients (the override publishes an event) and the stack's allow-list. */
export interface FreezeDeps extends ExecutionDeps {
  rules: Pick<ManifestRules, "allowedPipelines">;
}

/** The freeze routes as API Gateway names them: one source for infra/freezes.ts and the local server. */
export const FREEZE_ROUTES = [
  { method: "POST", resource: "/freezes" },
  { method: "GET", resource: "/freezes" },
  { method: "DELETE", resource: "/freezes/{name}" },
  // Its own route (issue 20, item 5), so IAM grants it apart (handlers/freezes-override.ts).
  { method: "POST", resource: "/releases/{releaseId}/override-freeze" },
] as const;

interface FreezesItem {
  freezes?: Record<string, FreezeRecord>;
}

/** Every freeze of the stack, by name (one consistent GetItem). */
export async function readFreezes(deps: Pick<ExecutionDeps, "ddb" | "tables">): Promise<FreezeRecord[]> {
  const item = await readItem<FreezesItem>(deps.ddb, deps.tables.releases, {
    [ReleasesTable.hashKey]: FREEZES_KEY,
  });
  return Object.values(item?.freezes ?? {}).sort((a, b) => a.name.localeCompare(b.name));
}

const refused = (statusCode: number, error: string, message: string, extra: object = {}) =>
  json(statusCode, { error, message, ...extra });

/** The freeze function's handler over its clients. */
export function freezeHandler(deps: FreezeDeps): (request: FreezeRequest) => Promise<ProxyResponse> {
  return async (request) => {
    const now = deps.now ? deps.now() : new Date();
    const route = `${request.httpMethod} ${request.resource}`;
    if (route === "GET /freezes") return listFreezes(deps, now);
    const caller = request.requestContext?.identity?.userArn ?? "";
    if (caller === "") {
      return refused(
        403,
        "NoCallerIdentity",
        "the request carries no caller identity; sign it with IAM credentials",
      );
    }
    if (route === "POST /freezes") return addFreeze(deps, request.body ?? "", caller, now);
    if (route === "DELETE /freezes/{name}") return removeFreeze(deps, request.pathParameters?.name ?? "");
    if (route === "POST /releases/{releaseId}/override-freeze") {
      return overrideFreeze(deps, request.pathParameters?.releaseId ?? "", request.body ?? "", caller, now);
    }
    return refused(404, "NotFound", `no route ${route}`);
  };
}

async function listFreezes(deps: FreezeDeps, now: Date): Promise<ProxyResponse> {
  const freezes = (await readFreezes(deps)).map((freeze) => {
    const until = activeUntil(freeze, now.getTime());
    return {
      ...freeze,
      active: until !== undefined,
      ...(until !== undefined ? { until: until === null ? null : new Date(until).toISOString() } : {}),
    };
  });
  return json(200, { at: now.toISOString(), freezes });
}

async function addFreeze(deps: FreezeDeps, body: string, caller: string, now: Date): Promise<ProxyResponse> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    const problems = [{ path: "", rule: "json", message: "the body is not valid JSON" }];
    return refused(400, "InvalidRequest", "the body is not valid JSON", { problems });
  }
  const checked = parseFreezeRequest(parsed, now);
  if (checked.problems) {
    const message = checked.problems.map((p) => p.message).join("; ");
    return refused(400, "InvalidRequest", message, { problems: checked.problems });
  }
  const freeze: FreezeRecord = { ...checked.freeze, createdBy: caller, createdAt: now.toISOString() };
  const key = { [ReleasesTable.hashKey]: FREEZES_KEY };
  // The map first (a no-op once it exists), then the entry: one update may not set both paths.
  await deps.ddb
    .send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: key,
        UpdateExpression: "SET #freezes = :empty",
        ConditionExpression: "attribute_not_exists(#freezes)",
        ExpressionAttributeNames: { "#freezes": "freezes" },
        ExpressionAttributeValues: { ":empty": {} },
      }),
    )
    .catch(ignoreConditionFailed);
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: key,
        UpdateExpression: "SET #freezes.#name = :freeze",
        ConditionExpression: "attribute_not_exists(#freezes.#name) AND size(#freezes) < :max",
        ExpressionAttributeNames: { "#freezes": "freezes", "#name": freeze.name },
        ExpressionAttributeValues: { ":freeze": freeze, ":max": MAX_FREEZES },
      }),
    );
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    const held = await readFreezes(deps);
    if (held.some((other) => other.name === freeze.name)) {
      return refused(
        409,
        "FreezeExists",
        `a freeze named ${freeze.name} exists: remove it first or pick another name`,
      );
    }
    return refused(409, "TooManyFreezes", `${MAX_FREEZES} freezes are held: remove one first`);
  }
  const allowed = deps.rules.allowedPipelines;
  const warnings = (allowed ? unmatchedGlobs(freeze.pipelines, allowed) : []).map(
    (glob) => `pipelines: ${glob} matches no pipeline this stack may release`,
  );
  return json(201, { freeze, warnings });
}

async function removeFreeze(deps: FreezeDeps, name: string): Promise<ProxyResponse> {
  if (!FREEZE_NAME_PATTERN.test(name)) {
    const problems = [
      { path: "/name", rule: "pattern", message: `${JSON.stringify(name)} is not a freeze name` },
    ];
    return refused(400, "InvalidRequest", problems[0].message, { problems });
  }
  try {
    const answer = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: { [ReleasesTable.hashKey]: FREEZES_KEY },
        UpdateExpression: "REMOVE #freezes.#name",
        ConditionExpression: "attribute_exists(#freezes.#name)",
        ExpressionAttributeNames: { "#freezes": "freezes", "#name": name },
        ReturnValues: "UPDATED_OLD",
      }),
    );
    const removed = (answer.Attributes as FreezesItem | undefined)?.freezes?.[name];
    return json(200, { removed: removed ?? { name } });
  } catch (error) {
    if (!(error instanceof ConditionalCheckFailedException)) throw error;
    return refused(404, "FreezeNotFound", `no freeze is named ${name}`);
  }
}

function ignoreConditionFailed(error: unknown): void {
  if (!(error instanceof ConditionalCheckFailedException)) throw error;
}
