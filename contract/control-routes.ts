/**
 * The release-control API's routes, declared once: each route's method, resource path, body model
 * and query parameters. API Gateway's resources, methods, models and Lambda permissions
 * (infra/api-control.ts), the control Lambda's dispatch (handlers/release-control.ts) and the local
 * server's routing (local/server.ts) are all derived from this table, so adding a route is one
 * entry here plus its handler (which the compiler then asks for).
 */
import type { JsonSchema } from "./manifest-schema";

/** Lengths people write; a longer reason or comment is refused, never cut. */
export const MAX_REASON_LENGTH = 1000;
export const MAX_COMMENT_LENGTH = 1000;

/**
 * An object schema. API Gateway reads models as JSON Schema draft 4, whose metaschema requires
 * `required` to hold at least one name: an empty list is left out, never written as `[]`
 * (API Gateway refuses such a model: "Invalid model schema specified").
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/how-to-create-model.html
 */
const object = (properties: Record<string, JsonSchema>, required: string[] = []): JsonSchema => ({
  type: "object",
  additionalProperties: false,
  ...(required.length > 0 ? { required } : {}),
  properties,
});

/** The bodies of the control routes, by model: API Gateway's models and the handler's checks. */
export const CONTROL_BODY_SCHEMAS = {
  CancelRequest: object({
    reason: { type: "string", minLength: 1, maxLength: MAX_REASON_LENGTH },
    // Abandon running pipelines at once rather than stop and wait (handlers/stops.ts).
    force: { type: "boolean" },
  }),
  RetryRequest: object({}),
  ApprovalDecision: object(
    {
      decision: { type: "string", enum: ["approve", "reject"] },
      comment: { type: "string", minLength: 1, maxLength: MAX_COMMENT_LENGTH },
    },
    ["decision"],
  ),
} as const satisfies Record<string, JsonSchema>;

export type ControlBodyModel = keyof typeof CONTROL_BODY_SCHEMAS;

export interface ControlRouteSpec {
  method: "GET" | "POST";
  /** API Gateway's resource path; a `{name}` segment is a path parameter. */
  resource: string;
  /** The body's model (POST routes); API Gateway validates the body against it for every content type. */
  model?: ControlBodyModel;
  /** The query string parameters the route reads, all optional. */
  query?: readonly string[];
}

/** Every control route. Reads answer anyone the API authorized; changes also need a caller identity. */
export const CONTROL_ROUTES = {
  list: { method: "GET", resource: "/releases", query: ["status", "limit", "nextToken"] },
  cancel: { method: "POST", resource: "/releases/{releaseId}/cancel", model: "CancelRequest" },
  retry: { method: "POST", resource: "/releases/{releaseId}/retry", model: "RetryRequest" },
  approval: {
    method: "POST",
    resource: "/releases/{releaseId}/approvals/{pipeline}",
    model: "ApprovalDecision",
  },
} as const satisfies Record<string, ControlRouteSpec>;

export type ControlRouteName = keyof typeof CONTROL_ROUTES;

export const CONTROL_ROUTE_NAMES = Object.keys(CONTROL_ROUTES) as ControlRouteName[];

/** The path parameters a resource path declares, in order: `{releaseId}` → `releaseId`. */
export function pathParameterNames(resource: string): string[] {
  return resource
    .split("/")
    .filter((segment) => segment.startsWith("{") && segment.endsWith("}"))
    .map((segment) => segment.slice(1, -1));
}

/** The route a method and resource path name, as API Gateway hands them to the Lambda. */
export function controlRouteOf(method: string, resource: string): ControlRouteName | undefined {
  return CONTROL_ROUTE_NAMES.find(
    (name) => CONTROL_ROUTES[name].method === method && CONTROL_ROUTES[name].resource === resource,
  );
}

/**
 * Which route a request path is for, with its path parameters decoded, as API Gateway resolves
 * them: literal segments match exactly, a `{name}` segment matches any one non-empty segment.
 */
export function matchControlRoute(
  method: string,
  pathname: string,
): { name: ControlRouteName; pathParameters: Record<string, string> } | undefined {
  const segments = pathname.split("/").slice(1).map(decodeSegment);
  for (const name of CONTROL_ROUTE_NAMES) {
    const route = CONTROL_ROUTES[name];
    if (route.method !== method) continue;
    const template = route.resource.split("/").slice(1);
    if (template.length !== segments.length) continue;
    const pathParameters: Record<string, string> = {};
    const matches = template.every((part, i) => {
      if (!part.startsWith("{")) return part === segments[i];
      pathParameters[part.slice(1, -1)] = segments[i];
      return segments[i] !== "";
    });
    if (matches) return { name, pathParameters };
  }
  return undefined;
}

function decodeSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    return segment;
  }
}
