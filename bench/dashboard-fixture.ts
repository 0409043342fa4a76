/**
 * A stand-in of the release API and a big release for the dashboard: what bench/dashboard-render.ts
 * times and test/dashboard-page.test.ts checks (a 500-pipeline release, a refusal), answers the
 * local machine is not asked to produce.
 */
import { type IncomingMessage, type Server, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { PipelineStatusView, ReleaseStatusView } from "../contract/release-view";

export interface StubApi {
  url: string;
  /** Every request it received, as `METHOD path`. */
  requests: string[];
  /** Every request with its headers and body. */
  received: { method: string; url: string; headers: IncomingMessage["headers"]; body: string }[];
  close(): Promise<void>;
}

type Answer = { status: number; body: unknown };

/**
 * Answers `GET /releases` and `GET /releases/{id}` from `views`, and any other request with
 * `other(method, path, body)` (404 by default).
 */
export async function stubApi(
  views: ReleaseStatusView[],
  other: (method: string, path: string, body: string) => Answer = () => ({
    status: 404,
    body: { error: "NotFound", message: "no such route" },
  }),
): Promise<StubApi> {
  const requests: string[] = [];
  const received: StubApi["received"] = [];
  const answer = (request: IncomingMessage, body: string): Answer => {
    const url = new URL(request.url ?? "/", "http://stub");
    if (request.method === "GET" && url.pathname === "/releases")
      return { status: 200, body: { releases: views } };
    const view = views.find((v) => url.pathname === `/releases/${encodeURIComponent(v.releaseId)}`);
    if (request.method === "GET" && view) return { status: 200, body: view };
    return other(request.method ?? "GET", url.pathname, body);
  };
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    let body = "";
    request.on("data", (chunk: Buffer) => (body += chunk.toString()));
    request.on("end", () => {
      requests.push(`${request.method} ${request.url}`);
      received.push({ method: request.method ?? "", url: request.url ?? "", headers: request.headers, body });
      const { status, body: json } = answer(request, body);
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify(json));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", () => resolve()));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/**
 * A RUNNING release of `count` pipelines in levels of 25 (each depends on two of the level
 * before), some done, one failed, one running, one gated: the page a big release makes.
 */
export function bigRelease(releaseId: string, count: number): ReleaseStatusView {
  const at = (minutes: number) => new Date(Date.UTC(2026, 0, 1, 9, minutes)).toISOString();
  const pipelines: PipelineStatusView[] = Array.from({ length: count }, (_, i) => {
    const level = Math.floor(i / 25);
    const dependsOn = level === 0 ? [] : [`svc-${i - 25}`, `svc-${(level - 1) * 25 + ((i + 7) % 25)}`];
    const done = level < 8;
    return {
      name: `svc-${i}`,
      status: done ? "Succeeded" : level === 8 ? "InProgress" : "Pending",
      ...(dependsOn.length ? { dependsOn: [...new Set(dependsOn)] } : {}),
      attempt: 1,
      ...(level <= 8 ? { startedAt: at(level * 3) } : {}),
      ...(done ? { endedAt: at(level * 3 + 2 + (i % 2)) } : {}),
      history: [],
    };
  });
  pipelines[count - 1] = {
    ...pipelines[count - 1],
    status: "AwaitingApproval",
    approval: { timeoutHours: 2, approvers: ["bob"], requestedAt: at(30), deadlineAt: at(150) },
  };
  return { releaseId, status: "RUNNING", attempt: 1, submittedBy: "alice", startedAt: at(0), pipelines };
}
