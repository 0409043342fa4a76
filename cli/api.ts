/**
 * The release API over HTTP: `POST /releases` and `GET /releases/{releaseId}`, against the local
 * server (`npm start`, plain HTTP) or API Gateway (HTTPS, AWS_IAM auth: every request signed with
 * SigV4 for the service `execute-api`).
 */
import { Sha256 } from "@aws-crypto/sha256-js";
import { SignatureV4 } from "@smithy/signature-v4";
import { isRecord } from "../contract/json";
import type {
  ApiErrorBody,
  Cancelling,
  Decided,
  ReleaseList,
  Retried,
  Submitted,
} from "../contract/release-view";
import type { ReleaseView } from "./view";

export const DEFAULT_API_URL = "http://127.0.0.1:3000";
/** The local server's identity header (local/server.ts reads the same name). */
export const LOCAL_USER_HEADER = "x-release-machine-user";

export interface Credentials {
  accessKeyId: string;
  secretAccessKey: string;
  sessionToken?: string;
}

export interface Signing {
  region: string;
  /** Fixed credentials, or a provider such as the AWS default chain. */
  credentials: Credentials | (() => Promise<Credentials>);
  /** Fixed signing time (tests); now by default. */
  date?: Date;
}

export interface ApiTarget {
  /** Base URL without the routes, e.g. http://127.0.0.1:3000 or https://abc.execute-api.eu-west-1.amazonaws.com/v1 */
  url: string;
  /** Present for API Gateway: sign every request. */
  signing?: Signing;
  /**
   * Locally only: who the request is from (the local server's `x-release-machine-user` header).
   * On AWS the caller is the IAM identity that signs.
   */
  user?: string;
}

/** The API answered with an error status; `body` is its JSON error (or the text as `message`). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly body: ApiErrorBody,
  ) {
    super(body.message ?? `HTTP ${status}`);
    this.name = "ApiError";
  }
}

/** The API could not be reached at all. */
export class Unreachable extends Error {
  constructor(message: string) {
    super(message);
    this.name = "Unreachable";
  }
}

/** `https://abc.execute-api.eu-west-1.amazonaws.com/v1` → `eu-west-1`; undefined for other hosts. */
export function regionFromApiUrl(url: string): string | undefined {
  let hostname: string;
  try {
    hostname = new URL(url).hostname;
  } catch {
    return undefined;
  }
  return /\.execute-api\.([a-z0-9-]+)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/.exec(hostname)?.[1];
}

/** Whether requests to this URL are signed: HTTPS means API Gateway; the local server speaks HTTP. */
export function needsSigning(url: string): boolean {
  return url.startsWith("https://");
}

/** Joins the base URL and a route: `https://host/v1/` + `/releases` → `https://host/v1/releases`. */
export function routeUrl(base: string, route: string): URL {
  return new URL(`${base.replace(/\/+$/, "")}${route}`);
}

/**
 * The headers that authorize one request for `execute-api`: SigV4 over the method, path, query,
 * host and body. Returns every header to send (host is set by the HTTP client from the URL).
 */
export async function signRequest(
  request: { method: string; url: URL; headers: Record<string, string>; body?: string },
  signing: Signing,
): Promise<Record<string, string>> {
  const signer = new SignatureV4({
    service: "execute-api",
    region: signing.region,
    credentials: signing.credentials,
    sha256: Sha256,
  });
  const query: Record<string, string> = {};
  request.url.searchParams.forEach((value, key) => (query[key] = value));
  const signed = await signer.sign(
    {
      method: request.method,
      protocol: request.url.protocol,
      hostname: request.url.hostname,
      ...(request.url.port ? { port: Number(request.url.port) } : {}),
      path: request.url.pathname,
      query,
      headers: { ...request.headers, host: request.url.host },
      ...(request.body !== undefined ? { body: request.body } : {}),
    },
    signing.date ? { signingDate: signing.date } : {},
  );
  return signed.headers;
}

function isLoopback(url: URL): boolean {
  return ["127.0.0.1", "localhost", "[::1]"].includes(url.hostname);
}

function unreachable(url: URL, error: unknown): Unreachable {
  const cause = (error as { cause?: { code?: string; message?: string } }).cause;
  const reason = cause?.code ?? cause?.message ?? (error instanceof Error ? error.message : String(error));
  const hint =
    isLoopback(url) && cause?.code === "ECONNREFUSED"
      ? "; is `npm start` running? (or set RELEASE_MACHINE_URL / pass --api)"
      : "";
  return new Unreachable(`cannot reach the release API at ${url.origin} (${reason})${hint}`);
}

/** One request; answers `{status, body}` with the body parsed as JSON (non-JSON text as `message`). */
export async function call(
  target: ApiTarget,
  method: "GET" | "POST" | "DELETE",
  route: string,
  body?: string,
): Promise<{ status: number; body: unknown }> {
  const url = routeUrl(target.url, route);
  let headers: Record<string, string> = { accept: "application/json" };
  if (body !== undefined) headers["content-type"] = "application/json";
  if (target.user && !target.signing) headers[LOCAL_USER_HEADER] = target.user;
  if (target.signing) {
    const { host: _host, ...signed } = await signRequest({ method, url, headers, body }, target.signing);
    headers = signed;
  }
  let response: Response;
  try {
    response = await fetch(url, { method, headers, ...(body !== undefined ? { body } : {}) });
  } catch (error) {
    throw unreachable(url, error);
  }
  const text = await response.text();
  let parsed: unknown;
  try {
    parsed = text.trim() === "" ? {} : JSON.parse(text);
  } catch {
    parsed = { message: text.trim() };
  }
  return { status: response.status, body: parsed };
}

function errorBody(body: unknown): ApiErrorBody {
  if (isRecord(body)) {
    // API Gateway's own errors (403, 429…) say `{"message": "…"}`, sometimes as `Message`.
    const record = body as Record<string, unknown> & ApiErrorBody;
    return typeof record.Message === "string" && record.message === undefined
      ? { ...record, message: record.Message }
      : record;
  }
  return { message: String(body) };
}

/**
 * `POST /releases` with the manifest's text as it is: 202 `{releaseId, executionArn, status}`;
 * throws ApiError for any other status (400 with every problem, 409, 413, 415, 429, 503).
 */
export async function submitRelease(target: ApiTarget, manifestText: string): Promise<Submitted> {
  const answer = await call(target, "POST", "/releases", manifestText);
  if (answer.status !== 202) throw new ApiError(answer.status, errorBody(answer.body));
  return answer.body as Submitted;
}

/** `GET /releases/{id}`: the release, or undefined for 404 ReleaseNotFound; throws ApiError otherwise. */
export async function getRelease(target: ApiTarget, releaseId: string): Promise<ReleaseView | undefined> {
  const answer = await call(target, "GET", `/releases/${encodeURIComponent(releaseId)}`);
  if (answer.status === 200) return answer.body as ReleaseView;
  const body = errorBody(answer.body);
  if (answer.status === 404 && body.error === "ReleaseNotFound") return undefined;
  throw new ApiError(answer.status, body);
}

/** One control request; answers the body for `expected`, throws ApiError for anything else. */
async function control<T>(
  target: ApiTarget,
  method: "GET" | "POST",
  route: string,
  expected: number,
  body?: object,
): Promise<T> {
  const answer = await call(target, method, route, body === undefined ? undefined : JSON.stringify(body));
  if (answer.status !== expected) throw new ApiError(answer.status, errorBody(answer.body));
  return answer.body as T;
}

const releaseRoute = (releaseId: string) => `/releases/${encodeURIComponent(releaseId)}`;

export const cancelRelease = (target: ApiTarget, releaseId: string, reason?: string, force = false) =>
  control<Cancelling>(target, "POST", `${releaseRoute(releaseId)}/cancel`, 202, {
    ...(reason ? { reason } : {}),
    ...(force ? { force: true } : {}),
  });

export const retryRelease = (target: ApiTarget, releaseId: string) =>
  control<Retried>(target, "POST", `${releaseRoute(releaseId)}/retry`, 202, {});

export const decideApproval = (
  target: ApiTarget,
  releaseId: string,
  pipeline: string,
  decision: "approve" | "reject",
  comment?: string,
) =>
  control<Decided>(
    target,
    "POST",
    `${releaseRoute(releaseId)}/approvals/${encodeURIComponent(pipeline)}`,
    200,
    { decision, ...(comment ? { comment } : {}) },
  );

export function listReleases(
  target: ApiTarget,
  query: { status?: string; limit?: number; nextToken?: string },
): Promise<ReleaseList> {
  const params = new URLSearchParams();
  if (query.status) params.set("status", query.status);
  if (query.limit !== undefined) params.set("limit", String(query.limit));
  if (query.nextToken) params.set("nextToken", query.nextToken);
  const search = params.toString();
  return control<ReleaseList>(target, "GET", `/releases${search ? `?${search}` : ""}`, 200);
}
