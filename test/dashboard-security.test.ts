/**
 * The dashboard's server is secure by default (issue 21, item 4), each rule a test against the
 * server itself over plain HTTP, with a stand-in API recording what reaches it: loopback only and
 * its own Host; a one-time token for an HttpOnly, SameSite=Strict cookie; Origin and a custom
 * header on every change; no CORS headers; only the product's routes forwarded; a strict CSP;
 * and the API called with the server's credentials, never the browser's.
 */
import assert from "node:assert/strict";
import { type IncomingHttpHeaders, request as httpRequest } from "node:http";
import {
  CONTENT_SECURITY_POLICY,
  DASHBOARD_HEADER,
  type Dashboard,
  SESSION_COOKIE,
  startDashboard,
} from "../cli/dashboard/server";
import type { ApiTarget } from "../cli/api";
import { runMain } from "./cli-harness";
import { type StubApi, bigRelease, stubApi } from "./dashboard-helpers";

interface Answer {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One request with exactly these headers (Host included: fetch cannot set it). */
function send(
  port: number,
  options: { method?: string; path: string; headers?: Record<string, string>; body?: string },
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host: "127.0.0.1",
        port,
        method: options.method ?? "GET",
        path: options.path,
        headers: { host: `127.0.0.1:${port}`, ...options.headers },
      },
      (res) => {
        let body = "";
        res.on("data", (chunk: Buffer) => (body += chunk.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body }));
      },
    );
    req.on("error", reject);
    req.end(options.body);
  });
}

const errorOf = (answer: Answer) => (JSON.parse(answer.body) as { error: string }).error;

describe("the dashboard's server, secure by default", function () {
  this.timeout(20_000);
  let api: StubApi;
  let dashboard: Dashboard;
  let cookie: string;

  const cancelAnswer = { status: 202, body: { releaseId: "r-1", status: "CANCELLING", cancelledBy: "bob" } };

  async function start(target: Partial<ApiTarget> = {}): Promise<void> {
    await dashboard?.close();
    dashboard = await startDashboard({ target: { url: api.url, user: "bob", ...target } });
    const exchanged = await send(dashboard.port, {
      path: new URL(dashboard.url).pathname + new URL(dashboard.url).search,
    });
    cookie = String(exchanged.headers["set-cookie"]?.[0]).split(";")[0];
  }

  const post = (path: string, headers: Record<string, string>, body = '{"reason":"bad build"}') =>
    send(dashboard.port, {
      method: "POST",
      path,
      headers: { cookie, "content-type": "application/json", ...headers },
      body,
    });
  const ownOrigin = () => ({ origin: `http://127.0.0.1:${dashboard.port}`, [DASHBOARD_HEADER]: "1" });

  before(async () => {
    api = await stubApi([bigRelease("r-1", 3)], (method, path) =>
      method === "POST" && path === "/releases/r-1/cancel"
        ? cancelAnswer
        : { status: 404, body: { error: "NotFound" } },
    );
    await start();
  });
  beforeEach(() => api.requests.splice(0));
  after(async () => {
    await dashboard?.close();
    await api?.close();
  });

  it("listens on 127.0.0.1 only, and answers 421 to a Host that is not its own (DNS rebinding)", async () => {
    assert.deepEqual(dashboard.server.address(), {
      address: "127.0.0.1",
      family: "IPv4",
      port: dashboard.port,
    });
    assert.match(dashboard.url, /^http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]{32}$/);
    for (const host of [
      "evil.example",
      `evil.example:${dashboard.port}`,
      `127.0.0.1:${dashboard.port + 1}`,
      "localhost.evil.example",
    ]) {
      const answer = await send(dashboard.port, { path: "/api/releases", headers: { host, cookie } });
      assert.equal(answer.status, 421, `Host ${host}`);
      assert.equal(errorOf(answer), "WrongHost");
    }
    assert.deepEqual(api.requests, [], "nothing reached the API");
    assert.equal((await send(dashboard.port, { path: "/api/releases", headers: { cookie } })).status, 200);
  });

  it("exchanges the printed token once for an HttpOnly, SameSite=Strict session cookie, and needs the cookie for everything", async () => {
    const fresh = await startDashboard({ target: { url: api.url } });
    try {
      const tokenPath = new URL(fresh.url).pathname + new URL(fresh.url).search;
      const none = await send(fresh.port, { path: "/" });
      assert.deepEqual([none.status, errorOf(none)], [401, "NoSession"]);
      assert.equal((await send(fresh.port, { path: "/?token=wrong" })).status, 403);
      const first = await send(fresh.port, { path: tokenPath });
      assert.equal(first.status, 303);
      assert.equal(first.headers.location, "/", "the token leaves the address bar");
      const [setCookie] = first.headers["set-cookie"] ?? [];
      assert.match(
        setCookie,
        new RegExp(`^${SESSION_COOKIE}=[\\w-]{32}; HttpOnly; SameSite=Strict; Path=/$`),
      );
      assert.ok(
        !setCookie.includes(new URL(fresh.url).searchParams.get("token") ?? "?"),
        "the cookie is not the token",
      );
      const again = await send(fresh.port, { path: tokenPath });
      assert.deepEqual([again.status, errorOf(again)], [403, "TokenRefused"]);
      const session = setCookie.split(";")[0];
      assert.equal((await send(fresh.port, { path: "/", headers: { cookie: session } })).status, 200);
      for (const path of ["/assets/app.js", "/api/me", "/api/releases"])
        assert.equal((await send(fresh.port, { path })).status, 401, path);
      assert.equal(
        (await send(fresh.port, { path: "/", headers: { cookie: `${SESSION_COOKIE}=forged` } })).status,
        401,
      );
    } finally {
      await fresh.close();
    }
  });

  it("forwards a change only with its own Origin and the custom header, as the person the CLI would be", async () => {
    const noOrigin = await post("/api/releases/r-1/cancel", { [DASHBOARD_HEADER]: "1" });
    const otherOrigin = await post("/api/releases/r-1/cancel", {
      ...ownOrigin(),
      origin: "http://evil.example",
    });
    const noHeader = await post("/api/releases/r-1/cancel", { origin: ownOrigin().origin });
    assert.deepEqual(
      [noOrigin, otherOrigin, noHeader].map((a) => [a.status, errorOf(a)]),
      [
        [403, "WrongOrigin"],
        [403, "WrongOrigin"],
        [403, "MissingHeader"],
      ],
    );
    assert.deepEqual(api.requests, [], "no refused change reached the API");
    const accepted = await post("/api/releases/r-1/cancel", ownOrigin());
    assert.deepEqual([accepted.status, JSON.parse(accepted.body)], [202, cancelAnswer.body]);
    const [forwarded] = api.received.slice(-1);
    assert.deepEqual(
      [forwarded.method, forwarded.url, forwarded.body],
      ["POST", "/releases/r-1/cancel", '{"reason":"bad build"}'],
    );
    assert.equal(forwarded.headers["x-release-machine-user"], "bob");
    assert.equal(forwarded.headers.cookie, undefined, "the session cookie stays with the dashboard");
    const notJson = await post("/api/releases/r-1/cancel", ownOrigin(), "reason=x");
    assert.deepEqual([notJson.status, errorOf(notJson)], [400, "InvalidBody"]);
  });

  it("sends no CORS header, to a preflight or to anything else", async () => {
    const evil = { origin: "http://evil.example", cookie };
    const answers = [
      await send(dashboard.port, {
        method: "OPTIONS",
        path: "/api/releases/r-1/cancel",
        headers: { ...evil, "access-control-request-method": "POST" },
      }),
      await send(dashboard.port, { path: "/api/releases", headers: evil }),
      await send(dashboard.port, { path: "/", headers: evil }),
      await post("/api/releases/r-1/cancel", ownOrigin()),
    ];
    for (const answer of answers)
      assert.deepEqual(
        Object.keys(answer.headers).filter((h) => h.startsWith("access-control-")),
        [],
      );
    assert.equal(answers[0].status, 405);
  });

  it("forwards only the product's own routes", async () => {
    const refused: [string, string][] = [
      ["GET", "/api/other"],
      ["GET", "/api/releases/r-1/approvals/p"],
      ["POST", "/api/releases"],
      ["POST", "/api/releases/r-1"],
      ["GET", "/api/releases/r-1/cancel"],
      ["POST", "/api/releases/r-1/delete"],
      ["GET", "/api/releases?debug=1"],
      ["GET", "/api/releases/r-1?x=1"],
      ["GET", "/api/releases/%2F..%2Fadmin"],
      ["GET", "/api/releases/r-1/../../admin"],
      ["GET", "/api"],
    ];
    for (const [method, path] of refused) {
      const answer =
        method === "POST"
          ? await post(path, ownOrigin())
          : await send(dashboard.port, { path, headers: { cookie } });
      assert.equal(answer.status, 404, `${method} ${path}`);
    }
    assert.deepEqual(api.requests, [], "none reached the API");
    assert.equal(
      (await send(dashboard.port, { path: "/api/releases?status=RUNNING&limit=5", headers: { cookie } }))
        .status,
      200,
    );
    assert.equal(
      (await send(dashboard.port, { path: "/api/releases/r-1", headers: { cookie } })).status,
      200,
    );
    assert.deepEqual(api.requests, ["GET /releases?status=RUNNING&limit=5", "GET /releases/r-1"]);
  });

  it("serves every page and answer with a strict Content-Security-Policy, and a page that loads only its own files", async () => {
    assert.equal(
      CONTENT_SECURITY_POLICY,
      "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
    );
    for (const path of ["/", "/assets/app.js", "/api/me", "/api/releases", "/api/nothing"]) {
      const answer = await send(dashboard.port, { path, headers: { cookie } });
      assert.equal(answer.headers["content-security-policy"], CONTENT_SECURITY_POLICY, path);
      assert.equal(answer.headers["x-content-type-options"], "nosniff", path);
      assert.equal(answer.headers["referrer-policy"], "no-referrer", path);
    }
    const page = (await send(dashboard.port, { path: "/", headers: { cookie } })).body;
    const sources = [...page.matchAll(/(?:src|href)="([^"]*)"/g)].map((m) => m[1]);
    assert.deepEqual(
      sources.filter((s) => !s.startsWith("/assets/") && s !== "#/"),
      [],
    );
    assert.doesNotMatch(page, /<script>|style=/, "no inline script or style");
  });

  it("signs the API calls with the dashboard's own AWS credentials; the browser never sees them", async () => {
    const credentials = { accessKeyId: "AKIDDASHBOARDTEST", secretAccessKey: "dashboard-secret" };
    await start({ user: undefined, signing: { region: "eu-west-1", credentials } });
    try {
      const me = await send(dashboard.port, { path: "/api/me", headers: { cookie } });
      assert.deepEqual(JSON.parse(me.body).signed, true);
      const listed = await send(dashboard.port, { path: "/api/releases", headers: { cookie } });
      const [forwarded] = api.received.slice(-1);
      assert.match(
        String(forwarded.headers.authorization),
        /^AWS4-HMAC-SHA256 Credential=AKIDDASHBOARDTEST\/\d{8}\/eu-west-1\/execute-api\/aws4_request/,
      );
      for (const answer of [me, listed])
        assert.doesNotMatch(
          answer.body + JSON.stringify(answer.headers),
          /AKIDDASHBOARDTEST|dashboard-secret/,
        );
    } finally {
      await start();
    }
  });

  it("refuses a --port that is not a port, and documents the command in its help", async () => {
    const bad = await runMain(["dashboard", "--port", "http"], {});
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--port must be an integer from 0 to 65535; got "http"/);
    const help = await runMain(["dashboard", "--help"], {});
    assert.match(help.stdout, /^Usage: release-machine dashboard \[options\]$/m);
    assert.match(help.stdout, /--no-open/);
  });
});
