/**
 * The only API routes the dashboard forwards, each as the CLI calls it (cli/api.ts): the release
 * list and one release (GET), cancel, retry and a gate's decision (POST). Anything else is
 * answered 404 by the dashboard itself and never reaches the API.
 */

export interface ForwardedRoute {
  method: "GET" | "POST";
  /** The API's route, e.g. `/releases/5.16/cancel` (path segments re-encoded). */
  route: string;
}

/** The query parameters `GET /releases` takes (cli/api.ts listReleases). */
const LIST_QUERY = ["status", "limit", "nextToken"];

function segment(text: string): string | undefined {
  let decoded: string;
  try {
    decoded = decodeURIComponent(text);
  } catch {
    return undefined;
  }
  return decoded === "" || decoded.includes("/") ? undefined : encodeURIComponent(decoded);
}

/** The list's query, keeping only the parameters the API takes; undefined if any other is given. */
function listQuery(search: URLSearchParams): string | undefined {
  const kept = new URLSearchParams();
  for (const [key, value] of search) {
    if (!LIST_QUERY.includes(key)) return undefined;
    kept.set(key, value);
  }
  const text = kept.toString();
  return text ? `?${text}` : "";
}

/**
 * The API route a dashboard request `/api/...` stands for, or undefined when it is none of the
 * product's own routes (method included).
 */
export function forwardedRoute(method: string, url: URL): ForwardedRoute | undefined {
  if (!url.pathname.startsWith("/api/releases")) return undefined;
  const parts = url.pathname.slice("/api/".length).split("/");
  if (parts[0] !== "releases") return undefined;
  if (parts.length === 1) {
    const query = method === "GET" ? listQuery(url.searchParams) : undefined;
    return query === undefined ? undefined : { method: "GET", route: `/releases${query}` };
  }
  if ([...url.searchParams.keys()].length > 0) return undefined;
  const releaseId = segment(parts[1]);
  if (releaseId === undefined) return undefined;
  const release = `/releases/${releaseId}`;
  if (parts.length === 2) return method === "GET" ? { method: "GET", route: release } : undefined;
  if (method !== "POST") return undefined;
  if (parts.length === 3 && (parts[2] === "cancel" || parts[2] === "retry"))
    return { method: "POST", route: `${release}/${parts[2]}` };
  if (parts.length === 4 && parts[2] === "approvals") {
    const pipeline = segment(parts[3]);
    return pipeline === undefined ? undefined : { method: "POST", route: `${release}/approvals/${pipeline}` };
  }
  return undefined;
}
