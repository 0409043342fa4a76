/**
 * `release-machine dashboard`: a web page on 127.0.0.1 that shows releases and acts on them through
 * the same API as the CLI. The browser talks only to this server; this server calls the API as
 * the CLI does (cli/api.ts `call`: the local server, or API Gateway signed with SigV4 from the
 * user's own credentials), so the browser never holds credentials and every action is the
 * user's, exactly as from the CLI.
 *
 * Secure by default (docs/architecture.md, "Dashboard"): it listens on loopback only and answers
 * only requests whose Host is its own address (a DNS-rebinding page names another host); the
 * token in the printed URL is exchanged once for an HttpOnly, SameSite=Strict session cookie;
 * every state-changing request needs the session, an Origin equal to its own and the custom
 * header `x-release-machine-dashboard` (a cross-site form can send neither); it sends no CORS
 * headers, so no other origin can read its answers; it forwards only the product's own routes
 * (./routes.ts); every page carries a Content-Security-Policy that allows nothing but itself.
 */
import { randomBytes, timingSafeEqual } from "node:crypto";
import { readFileSync } from "node:fs";
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import path from "node:path";
import { RELEASE_VIEW_STATUSES } from "../../contract/release-view";
import { type ApiTarget, Unreachable, call } from "../api";
import { forwardedRoute } from "./routes";

export const LOOPBACK = "127.0.0.1";
export const SESSION_COOKIE = "rm_dashboard";
/** The custom header every state-changing request must carry (a cross-site form cannot set one). */
export const DASHBOARD_HEADER = "x-release-machine-dashboard";
/** Nothing but this server: no inline script or style, no other origin, no framing, no forms. */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join("; ");
/** The local server's caller when no user is named (local/server.ts DEFAULT_LOCAL_USER). */
const LOCAL_DEFAULT_USER = "local-user";
const MAX_BODY_BYTES = 64 * 1024;

const ASSETS: Record<string, { file: string; type: string }> = {
  "/assets/app.js": { file: "app.js", type: "text/javascript; charset=utf-8" },
  "/assets/graph.js": { file: "graph.js", type: "text/javascript; charset=utf-8" },
  "/assets/dom.js": { file: "dom.js", type: "text/javascript; charset=utf-8" },
  "/assets/release.js": { file: "release.js", type: "text/javascript; charset=utf-8" },
  "/assets/app.css": { file: "app.css", type: "text/css; charset=utf-8" },
};

const PAGE = `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Release Machine</title>
<link rel="stylesheet" href="/assets/app.css">
<script src="/assets/graph.js" defer></script>
<script src="/assets/dom.js" defer></script>
<script src="/assets/release.js" defer></script>
<script src="/assets/app.js" defer></script>
</head>
<body>
<header><a href="#/" class="brand">Release Machine</a><span id="me"></span></header>
<div id="error" role="alert" hidden></div>
<main id="main"><p>Loading…</p></main>
<dialog id="confirm"><form method="dialog">
<h2 id="confirm-title"></h2><p id="confirm-text"></p>
<label id="confirm-label" for="confirm-input"></label>
<textarea id="confirm-input" rows="3"></textarea>
<menu><button value="cancel" id="confirm-no">Back</button> <button value="ok" id="confirm-yes">Confirm</button></menu>
</form></dialog>
</body>
</html>
`;

export interface DashboardOptions {
  target: ApiTarget;
  /** 0 (any free port) by default. */
  port?: number;
}

export interface Dashboard {
  port: number;
  /** The URL to open, with the one-time token. */
  url: string;
  server: Server;
  close(): Promise<void>;
}

const secret = () => randomBytes(24).toString("base64url");

function same(a: string | undefined, b: string | undefined): boolean {
  if (a === undefined || b === undefined) return false;
  const [x, y] = [Buffer.from(a), Buffer.from(b)];
  return x.length === y.length && timingSafeEqual(x, y);
}

function cookieOf(request: IncomingMessage, name: string): string | undefined {
  for (const part of (request.headers.cookie ?? "").split(";")) {
    const [key, ...value] = part.trim().split("=");
    if (key === name) return value.join("=");
  }
  return undefined;
}

function send(
  response: ServerResponse,
  status: number,
  type: string,
  body: string | Buffer,
  extra = {},
): void {
  response.writeHead(status, {
    "content-type": type,
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "no-referrer",
    "cache-control": "no-store",
    "cross-origin-opener-policy": "same-origin",
    "cross-origin-resource-policy": "same-origin",
    ...extra,
  });
  response.end(body);
}

const sendJson = (response: ServerResponse, status: number, body: unknown) =>
  send(response, status, "application/json; charset=utf-8", JSON.stringify(body));

const refuse = (response: ServerResponse, status: number, error: string, message: string) =>
  sendJson(response, status, { error, message });

function readBody(request: IncomingMessage): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    request.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () =>
      resolve(size > MAX_BODY_BYTES ? undefined : Buffer.concat(chunks).toString("utf8")),
    );
    request.on("error", reject);
  });
}

/** Who the API will say acted: the local user, or (on AWS) the IAM identity that signs, unknown here. */
function meOf(target: ApiTarget) {
  return {
    user: target.signing ? null : (target.user ?? LOCAL_DEFAULT_USER),
    api: target.url,
    signed: Boolean(target.signing),
    statuses: RELEASE_VIEW_STATUSES,
  };
}

class DashboardHandler {
  readonly token = secret();
  private tokenUsed = false;
  private readonly sessions = new Set<string>();
  private readonly assets = new Map<string, Buffer>();
  port = 0;

  constructor(private readonly target: ApiTarget) {
    for (const { file } of Object.values(ASSETS))
      this.assets.set(file, readFileSync(path.join(__dirname, "assets", file)));
  }

  private hosts(): string[] {
    return [`${LOOPBACK}:${this.port}`, `localhost:${this.port}`];
  }

  async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const host = request.headers.host ?? "";
    if (!this.hosts().includes(host))
      return refuse(
        response,
        421,
        "WrongHost",
        `this dashboard answers only as ${this.hosts().join(" or ")}`,
      );
    const url = new URL(request.url ?? "/", `http://${host}`);
    const method = request.method ?? "GET";
    if (method === "OPTIONS") return refuse(response, 405, "MethodNotAllowed", "no cross-origin requests");
    if (url.pathname === "/" && url.searchParams.has("token")) return this.exchange(url, response);
    if (!this.sessions.has(cookieOf(request, SESSION_COOKIE) ?? ""))
      return refuse(response, 401, "NoSession", "open the URL the dashboard printed (its token works once)");
    if (method === "GET" && url.pathname === "/")
      return send(response, 200, "text/html; charset=utf-8", PAGE);
    const asset = ASSETS[url.pathname];
    if (method === "GET" && asset) return send(response, 200, asset.type, this.assets.get(asset.file) ?? "");
    if (method === "GET" && url.pathname === "/favicon.ico") return send(response, 204, "image/x-icon", "");
    if (method === "GET" && url.pathname === "/api/me") return sendJson(response, 200, meOf(this.target));
    return this.forward(request, response, method, url);
  }

  /** The printed URL's token, once: a session cookie, then the page without the token in its URL. */
  private exchange(url: URL, response: ServerResponse): void {
    if (this.tokenUsed || !same(url.searchParams.get("token") ?? undefined, this.token))
      return refuse(
        response,
        403,
        "TokenRefused",
        "this token is wrong or was used already; restart the dashboard",
      );
    this.tokenUsed = true;
    const session = secret();
    this.sessions.add(session);
    send(response, 303, "text/plain; charset=utf-8", "", {
      location: "/",
      "set-cookie": `${SESSION_COOKIE}=${session}; HttpOnly; SameSite=Strict; Path=/`,
    });
  }

  private async forward(request: IncomingMessage, response: ServerResponse, method: string, url: URL) {
    const route = forwardedRoute(method, url);
    if (!route)
      return refuse(response, 404, "NotADashboardRoute", `${method} ${url.pathname} is not forwarded`);
    let body: string | undefined;
    if (route.method === "POST") {
      const origin = request.headers.origin;
      if (!this.hosts().some((h) => origin === `http://${h}`))
        return refuse(
          response,
          403,
          "WrongOrigin",
          `a change must come from this dashboard's page (Origin ${origin ?? "missing"})`,
        );
      if (request.headers[DASHBOARD_HEADER] !== "1")
        return refuse(
          response,
          403,
          "MissingHeader",
          `a change must carry the header ${DASHBOARD_HEADER}: 1`,
        );
      body = await this.jsonBody(request, response);
      if (body === undefined) return;
    }
    try {
      const answer = await call(this.target, route.method, route.route, body);
      sendJson(response, answer.status, answer.body);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      refuse(response, 502, error instanceof Unreachable ? "Unreachable" : "ApiCallFailed", message);
    }
  }

  /** A JSON object of at most 64 KiB, re-serialized; undefined (answered 400) otherwise. */
  private async jsonBody(request: IncomingMessage, response: ServerResponse): Promise<string | undefined> {
    const text = await readBody(request);
    let parsed: unknown;
    try {
      parsed = text === undefined ? undefined : JSON.parse(text === "" ? "{}" : text);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) {
      refuse(response, 400, "InvalidBody", "the body must be a JSON object of at most 64 KiB");
      return undefined;
    }
    return JSON.stringify(parsed);
  }
}

/** Starts the dashboard on 127.0.0.1; resolves once it listens. */
export async function startDashboard(options: DashboardOptions): Promise<Dashboard> {
  const handler = new DashboardHandler(options.target);
  const server = createServer((request, response) => {
    handler.handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) refuse(response, 500, "DashboardError", String(error));
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, LOOPBACK, () => resolve());
  });
  handler.port = (server.address() as AddressInfo).port;
  return {
    port: handler.port,
    url: `http://${LOOPBACK}:${handler.port}/?token=${handler.token}`,
    server,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
