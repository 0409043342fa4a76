/**
 * `npm start`: the whole release machine on this machine, on loopback only. The local release
 * machine (dynalite persisted under the data folder, the CodePipeline stand-in, the event router,
 * the engine running the deployed definition) plus s3rver with the release bucket and an HTTP
 * server that answers like the release API: same routes, same manifest schema, same responses.
 */
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { readFileSync } from "node:fs";
import path from "node:path";
import { manifestUploadedInput, manifestUploadedPattern } from "../handlers/event-patterns";
import { InvalidManifest } from "../handlers/errors";
import { DEFAULT_MANIFEST_RULES, executionName, manifestParser } from "../handlers/manifest";
import { releaseStatusApi } from "../handlers/release-status";
import type { LocalPipelineSpec } from "./codepipeline-service";
import { ExecutionAlreadyExists } from "./engine";
import type { EventEnvelope } from "./event-router";
import {
  LOCAL_ACCOUNT,
  LOCAL_REGION,
  type LocalReleaseMachine,
  failOrphanedReleases,
  startLocalReleaseMachine,
} from "./release-machine";
import { type LocalS3, startS3 } from "./s3";

export const LOCAL_BUCKET = "release-manifests";

export interface LocalServerOptions {
  port: number;
  s3Port: number;
  dataDir: string;
  pipelines: LocalPipelineSpec[];
  /** Reconciler period; the AWS default is minutes, locally seconds are enough. */
  reconcileEveryMs?: number;
  /** Compress Retry pauses (tests). */
  retryPauseMs?: number;
}

export interface LocalServer {
  url: string;
  s3Endpoint: string;
  machine: LocalReleaseMachine;
  /** Releases found RUNNING at start-up and marked FAILED: their engine stopped with them. */
  recovered: string[];
  close(): Promise<void>;
}

/** Reads `pipelines.local.json`: `{ "pipelines": [{ name, durationMs, outcome, stages? }] }`. */
export function readLocalPipelines(file: string): LocalPipelineSpec[] {
  const parsed = JSON.parse(readFileSync(file, "utf8")) as { pipelines?: unknown };
  const pipelines = parsed.pipelines;
  if (!Array.isArray(pipelines) || pipelines.length === 0) {
    throw new Error(`${file}: expected {"pipelines": [{"name", "durationMs", "outcome"}, ...]}`);
  }
  return pipelines.map((p: Partial<LocalPipelineSpec>, i) => {
    if (typeof p.name !== "string" || !(p.durationMs === null || typeof p.durationMs === "number")) {
      throw new Error(
        `${file}: pipelines[${i}] needs a name and a durationMs (a number, or null to run until stopped)`,
      );
    }
    if (p.outcome !== "Succeeded" && p.outcome !== "Failed") {
      throw new Error(`${file}: pipelines[${i}].outcome must be "Succeeded" or "Failed"`);
    }
    return {
      name: p.name,
      durationMs: p.durationMs,
      outcome: p.outcome,
      ...(p.stages ? { stages: p.stages } : {}),
    };
  });
}

/** EventBridge's input transformer: JSONPath-like `$.a.b` lookups substituted into the template. */
export function transformInput(
  event: unknown,
  transformer: { inputPaths: Record<string, string>; inputTemplate: string },
): unknown {
  let text = transformer.inputTemplate;
  for (const [name, jsonPath] of Object.entries(transformer.inputPaths)) {
    const value = jsonPath
      .replace(/^\$\.?/, "")
      .split(".")
      .reduce<unknown>(
        (at, key) => (at && typeof at === "object" ? (at as Record<string, unknown>)[key] : undefined),
        event,
      );
    text = text.split(`<${name}>`).join(JSON.stringify(value ?? null));
  }
  return JSON.parse(text);
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}

/**
 * The body as text, or undefined when it is over `limit` bytes. An oversized body is still read to
 * its end, and dropped: leaving the loop early would destroy the socket, so the client would get a
 * reset connection (and a keep-alive client a reset on its next request) instead of the 413.
 */
async function readBody(request: IncomingMessage, limit: number): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? undefined : Buffer.concat(chunks).toString("utf8");
}

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  const rules = {
    ...DEFAULT_MANIFEST_RULES,
    allowedPipelines: options.pipelines.map((p) => p.name),
  };
  const parse = manifestParser(rules);

  let publish: (event: EventEnvelope) => void = () => undefined;
  const s3: LocalS3 = await startS3({
    directory: path.join(options.dataDir, "s3"),
    buckets: [LOCAL_BUCKET],
    port: options.s3Port,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
    onObjectCreated: (event) => publish(event),
  });
  const machine = await startLocalReleaseMachine({
    pipelines: options.pipelines,
    dataDir: path.join(options.dataDir, "dynamodb"),
    s3: s3.client(),
    reconcileEveryMs: options.reconcileEveryMs ?? 10_000,
    ...(options.retryPauseMs !== undefined ? { retryPauseMs: options.retryPauseMs } : {}),
  });
  const recovered = await failOrphanedReleases(machine);

  publish = (event) => machine.router.publish(event);
  machine.router.addRule({
    name: "manifest-uploaded",
    pattern: manifestUploadedPattern(LOCAL_BUCKET),
    target: (event) => {
      machine.start(transformInput(event, manifestUploadedInput));
    },
  });

  async function submit(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const text = await readBody(request, rules.maxBytes);
    if (text === undefined) {
      send(response, 413, {
        error: "InvalidManifest",
        message: `the manifest is larger than ${rules.maxBytes} bytes`,
        problems: [{ path: "", rule: "maxBytes", message: `the limit is ${rules.maxBytes} bytes` }],
      });
      return;
    }
    let releaseId: string;
    try {
      releaseId = parse(text).releaseId;
    } catch (error) {
      if (!(error instanceof InvalidManifest)) throw error;
      send(response, 400, { error: "InvalidManifest", message: error.message, problems: error.problems });
      return;
    }
    const existing = await machine.readRelease(releaseId);
    if (existing) {
      send(response, 409, {
        error: "DuplicateRelease",
        message: `release ${releaseId} was already submitted (${existing.status}); a releaseId runs once`,
        releaseId,
        ...(existing.executionArn ? { executionArn: existing.executionArn } : {}),
      });
      return;
    }
    try {
      // Named as the API's mapping template names it (string ids only), so a repeat while open
      // returns the same execution.
      const named = typeof (JSON.parse(text) as { releaseId?: unknown }).releaseId === "string";
      const execution = machine.start(
        { source: "api", body: text },
        named ? { name: executionName(releaseId) } : {},
      );
      send(response, 200, {
        executionArn: execution.executionArn,
        startDate: execution.startDate.getTime() / 1000,
      });
    } catch (error) {
      if (!(error instanceof ExecutionAlreadyExists)) throw error;
      send(response, 409, {
        error: "DuplicateRelease",
        message: `release ${releaseId} was already submitted`,
        releaseId,
      });
    }
  }

  const server = createServer((request, response) => {
    void (async () => {
      const url = new URL(request.url ?? "/", "http://localhost");
      const statusPath = /^\/releases\/([^/]+)$/.exec(url.pathname);
      if (request.method === "POST" && (url.pathname === "/" || url.pathname === "/releases")) {
        await submit(request, response);
      } else if (request.method === "GET" && statusPath) {
        const answer = await releaseStatusApi(machine.deps, {
          pathParameters: { releaseId: decodeURIComponent(statusPath[1]) },
        });
        response.writeHead(answer.statusCode, answer.headers);
        response.end(`${answer.body}\n`);
      } else {
        send(response, 404, {
          error: "NotFound",
          message: "routes: POST /releases, POST /, GET /releases/{releaseId}",
        });
      }
    })().catch((error: unknown) => {
      send(response, 500, {
        error: "InternalError",
        message: error instanceof Error ? error.message : String(error),
      });
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port, "127.0.0.1", () => resolve());
  });
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}`,
    s3Endpoint: s3.endpoint,
    machine,
    recovered,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await machine.close();
      await s3.close();
    },
  };
}
