/**
 * `npm start`: the whole release machine on this machine, on loopback only. The local release
 * machine (dynalite persisted under the data folder, the CodePipeline stand-in, the event router,
 * the engine running the deployed definition) plus s3rver with the release bucket and an HTTP
 * server that answers like the release API: same routes, same manifest schema, same responses,
 * the same content types as API Gateway with the stack's passthrough setting (NEVER).
 */
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import path from "node:path";
import type { TableNames } from "../handlers/config";
import { randomUUID } from "node:crypto";
import { isRecord } from "../contract/json";
import { manifestUploadedInput, manifestUploadedPattern } from "../contract/event-patterns";
import { writtenReleaseId } from "../contract/manifest";
import type { ControlRequest } from "../handlers/release-control";
import { UNSUPPORTED_MEDIA_TYPE, acceptsContentType } from "../handlers/submission";
import { CONTROL_ROUTES, matchControlRoute } from "../contract/control-routes";
import type { LocalPipelineSpec } from "./codepipeline-service";
import { lockDataDir } from "./data-dir-lock";
import { answerFreeze, freezeRouteOf } from "./freeze-routes";
import { ExecutionAlreadyExists, type LocalExecution } from "./engine";
import type { EventEnvelope } from "./event-router";
import { assertPortFree, listen, readBody } from "./http";
import { type ReleaseEvent, followExecution, reportPipelineEnds } from "./release-events";
import { routeNotifications } from "./event-rules";
import {
  LOCAL_ACCOUNT,
  LOCAL_BUCKET,
  LOCAL_REGION,
  type LocalReleaseMachine,
  failOrphanedReleases,
  startLocalReleaseMachine,
} from "./release-machine";
import { type LocalS3, startS3 } from "./s3";

export { readLocalPipelines } from "./pipelines-file";
export type { ReleaseEvent } from "./release-events";

export { LOCAL_BUCKET } from "./release-machine";

export interface LocalServerOptions {
  port: number;
  s3Port: number;
  /** The CodePipeline stand-in's port (AWS CLI `--endpoint-url`); 0 or unset: an ephemeral one. */
  codepipelinePort?: number;
  /** The Step Functions endpoint's port (AWS CLI `--endpoint-url`); 0 or unset: an ephemeral one. */
  sfnPort?: number;
  /** dynalite's port (AWS CLI `--endpoint-url`); 0 or unset: an ephemeral one. */
  dynamodbPort?: number;
  dataDir: string;
  pipelines: LocalPipelineSpec[];
  /** Reconciler period; the AWS default is minutes, locally seconds are enough. */
  reconcileEveryMs?: number;
  /** Compress Retry pauses (tests). */
  retryPauseMs?: number;
  /** Told of every release event: submissions, starts, pipeline ends, release ends. */
  onReleaseEvent?: (event: ReleaseEvent) => void;
  /** Told of each notification the stack's default `notifications` rules would send, one line each. */
  onNotification?: (line: string) => void;
  /** Whether a release's submitter may approve its own gates (the stack's `allowSelfApproval`). */
  allowSelfApproval?: boolean;
  /** The stack's `stopGraceMinutes`; unset: its default (15). */
  stopGraceMinutes?: number;
  /** The stack's `failurePolicy`, for manifests that choose none; unset: the workflow's default. */
  failurePolicy?: "stopRemaining" | "letFinish";
}

/** Who calls the local API: the header, as `$context.identity.userArn` names the caller on AWS. */
export const LOCAL_USER_HEADER = "x-release-machine-user";
export const DEFAULT_LOCAL_USER = "local-user";
/** Control bodies are a reason or a comment: far below this. */
const MAX_CONTROL_BODY_BYTES = 16 * 1024;

function callerOf(request: IncomingMessage): string {
  const header = request.headers[LOCAL_USER_HEADER];
  const user = (Array.isArray(header) ? header[0] : header)?.trim();
  return user ? user : DEFAULT_LOCAL_USER;
}

export interface LocalServer {
  url: string;
  s3Endpoint: string;
  /** dynalite, for the AWS CLI or SDK (`--endpoint-url`). */
  dynamoEndpoint: string;
  /** The CodePipeline stand-in, for the AWS CLI or SDK (`--endpoint-url`). */
  codepipelineEndpoint: string;
  /** The Step Functions endpoint: StopExecution, DescribeExecution, StartExecution, SendTask*. */
  sfnEndpoint: string;
  tables: TableNames;
  machine: LocalReleaseMachine;
  /** Releases found RUNNING at start-up and marked FAILED: their engine stopped with them. */
  recovered: string[];
  close(): Promise<void>;
}

/** The 415 body and the Content-Type rule: the submission function's (handlers/submission.ts). */
export { UNSUPPORTED_MEDIA_TYPE, acceptsContentType } from "../handlers/submission";

/**
 * API Gateway's largest request payload (10 MB): a larger body never reaches the function.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html
 */
export const API_GATEWAY_MAX_PAYLOAD_BYTES = 10 * 1024 * 1024;

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

/** Which control route a request is for, with its path parameters, as API Gateway resolves them. */
function controlRouteOf(
  method: string,
  url: URL,
): Omit<ControlRequest, "body" | "requestContext"> | undefined {
  const match = matchControlRoute(method, url.pathname);
  if (!match) return undefined;
  const { resource } = CONTROL_ROUTES[match.name];
  const hasPath = Object.keys(match.pathParameters).length > 0;
  return {
    resource,
    httpMethod: method,
    ...(hasPath ? { pathParameters: match.pathParameters } : {}),
    ...(method === "GET" ? { queryStringParameters: Object.fromEntries(url.searchParams) } : {}),
  };
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, { "content-type": "application/json" });
  response.end(`${JSON.stringify(body, null, 2)}\n`);
}

/** The release API's routes over one running machine. */
class LocalReleaseApi {
  constructor(
    private readonly machine: LocalReleaseMachine,
    private readonly emit: (event: ReleaseEvent) => void,
  ) {}

  async route(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const url = new URL(request.url ?? "/", "http://localhost");
    const statusPath = /^\/releases\/([^/]+)$/.exec(url.pathname);
    const control = controlRouteOf(request.method ?? "", url);
    const freeze = freezeRouteOf(request.method ?? "", url.pathname);
    if (request.method === "POST" && (url.pathname === "/" || url.pathname === "/releases")) {
      await this.submit(request, response);
    } else if (control) {
      await this.control(request, response, control);
    } else if (freeze) {
      // Freezes (issue 20): the freeze function, as the deployed API's routes invoke it.
      await answerFreeze(this.machine.api.freezeControl, freeze, callerOf(request), request, response);
    } else if (request.method === "GET" && statusPath) {
      const answer = await this.machine.api.releaseStatus({
        pathParameters: { releaseId: decodeURIComponent(statusPath[1]) },
      });
      response.writeHead(answer.statusCode, answer.headers);
      response.end(`${answer.body}\n`);
    } else {
      send(response, 404, {
        error: "NotFound",
        message:
          "routes: POST /releases, POST /, GET /releases, GET /releases/{releaseId}, POST /releases/{releaseId}/cancel, POST /releases/{releaseId}/retry, POST /releases/{releaseId}/approvals/{pipeline}, POST /freezes, GET /freezes, DELETE /freezes/{name}, POST /releases/{releaseId}/override-freeze",
      });
    }
  }

  /** The control routes, through the same handler as the deployed API's control Lambda. */
  private async control(
    request: IncomingMessage,
    response: ServerResponse,
    route: Omit<ControlRequest, "body" | "requestContext">,
  ): Promise<void> {
    const body = request.method === "POST" ? await readBody(request, MAX_CONTROL_BODY_BYTES) : "";
    if (body === undefined) {
      return send(response, 413, {
        error: "InvalidRequest",
        message: `the body is larger than ${MAX_CONTROL_BODY_BYTES} bytes`,
      });
    }
    if (request.method === "POST" && !acceptsContentType(request.headers["content-type"]))
      return send(response, 415, {
        ...UNSUPPORTED_MEDIA_TYPE,
        message: "send the body with Content-Type: application/json",
      });
    const answer = await this.machine.api.releaseControl({
      ...route,
      body,
      requestContext: { identity: { userArn: callerOf(request) } },
    });
    response.writeHead(answer.statusCode, answer.headers);
    response.end(`${answer.body}\n`);
  }

  /**
   * `POST /releases`: the submission function (handlers/submission.ts), as API Gateway's Lambda
   * proxy integration invokes it; the executions it starts are followed as they are started.
   */
  private async submit(request: IncomingMessage, response: ServerResponse): Promise<void> {
    const body = await readBody(request, API_GATEWAY_MAX_PAYLOAD_BYTES);
    if (body === undefined) return send(response, 413, { message: "Request Entity Too Large" });
    const requestId = randomUUID();
    const contentType = request.headers["content-type"];
    const answer = await this.machine.api.submitRelease({
      body,
      isBase64Encoded: false,
      headers: contentType === undefined ? {} : { "content-type": contentType },
      requestContext: { requestId, identity: { userArn: callerOf(request) } },
    });
    if (answer.statusCode >= 400 && answer.statusCode < 500 && answer.statusCode !== 415) {
      const refused = JSON.parse(answer.body) as {
        message?: string;
        releaseId?: string;
        recordedAs?: string;
      };
      this.emit({
        type: "rejected",
        at: new Date(),
        releaseId: refused.releaseId ?? refused.recordedAs ?? writtenReleaseId(body),
        source: "the API",
        reason: refused.message ?? `HTTP ${answer.statusCode}`,
      });
    }
    response.writeHead(answer.statusCode, answer.headers);
    response.end(`${answer.body}\n`);
  }
}

/**
 * Takes the data folder, then starts S3 and the release machine; on a failure closes what had
 * started (so a taken port leaves no process or lock behind), then rethrows.
 */
async function startParts(
  options: LocalServerOptions,
  onUpload: (event: EventEnvelope) => void,
  onExecutionStarted: (execution: LocalExecution, input: unknown) => void,
) {
  const lock = lockDataDir(options.dataDir);
  const closers: (() => Promise<void> | void)[] = [lock.release];
  try {
    // Checked before anything starts, so that a taken port leaves nothing running.
    await assertPortFree(options.codepipelinePort ?? 0);
    await assertPortFree(options.sfnPort ?? 0);
    await assertPortFree(options.dynamodbPort ?? 0);
    const s3: LocalS3 = await startS3({
      directory: path.join(options.dataDir, "s3"),
      buckets: [LOCAL_BUCKET],
      port: options.s3Port,
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      onObjectCreated: onUpload,
      eventsJournal: path.join(options.dataDir, "s3-events.jsonl"),
    });
    closers.unshift(() => s3.close());
    const machine = await startLocalReleaseMachine({
      pipelines: options.pipelines,
      dataDir: path.join(options.dataDir, "dynamodb"),
      durableDir: options.dataDir,
      rebuildIndexes: lock.tookOver,
      s3: () => s3.client(),
      reconcileEveryMs: options.reconcileEveryMs ?? 10_000,
      ...(options.codepipelinePort !== undefined && { codepipelinePort: options.codepipelinePort }),
      ...(options.sfnPort !== undefined && { sfnPort: options.sfnPort }),
      ...(options.dynamodbPort !== undefined && { dynamodbPort: options.dynamodbPort }),
      ...(options.allowSelfApproval !== undefined ? { allowSelfApproval: options.allowSelfApproval } : {}),
      ...(options.stopGraceMinutes !== undefined ? { stopGraceMinutes: options.stopGraceMinutes } : {}),
      ...(options.failurePolicy !== undefined ? { workflow: { failurePolicy: options.failurePolicy } } : {}),
      onExecutionStarted,
      ...(options.retryPauseMs !== undefined ? { retryPauseMs: options.retryPauseMs } : {}),
    });
    closers.unshift(() => machine.close());
    return { s3, machine, closeAll: () => closeInOrder(closers) };
  } catch (error) {
    await closeInOrder(closers).catch(() => undefined);
    throw error;
  }
}

async function closeInOrder(closers: (() => Promise<void> | void)[]): Promise<void> {
  for (const close of closers) await close();
}

export async function startLocalServer(options: LocalServerOptions): Promise<LocalServer> {
  let open = true;
  const emit = (event: ReleaseEvent) => {
    if (open) options.onReleaseEvent?.(event);
  };
  // Uploads answered while the rules are not yet in place wait for them (they are journaled too).
  const early: EventEnvelope[] = [];
  let publish: (event: EventEnvelope) => void = (event) => early.push(event);
  // A retry's execution is started by the control route, through the engine's StartExecution.
  // The submission function's executions too: each is reported and followed once (an exact repeat
  // of a request returns the execution the first one started).
  const late: { started?: (execution: LocalExecution, input: unknown) => void } = {};
  const { s3, machine, closeAll } = await startParts(
    options,
    (event) => publish(event),
    (execution, input) => late.started?.(execution, input),
  );
  // What close() waits for before the machine closes: the API's requests being answered, and
  // the followers of executions that ended, which may be reading their release from dynalite.
  const requests = new Set<Promise<void>>();
  const followers = new Set<{ execution: LocalExecution; following: Promise<void> }>();
  const follow = (execution: LocalExecution, releaseId?: string) => {
    const follower = {
      execution,
      following: followExecution(machine, execution, releaseId, emit, () => open).catch(() => undefined),
    };
    followers.add(follower);
    void follower.following.then(() => followers.delete(follower));
  };
  const followed = new Set<string>();
  late.started = (execution, input) => {
    if (followed.has(execution.executionArn)) return;
    followed.add(execution.executionArn);
    const releaseId = releaseIdOf(input);
    if (isRecord(input) && input.source === "api")
      emit({ type: "submitted", at: execution.startDate, releaseId, source: "the API" });
    follow(execution, releaseId);
  };
  const server = createServer();
  try {
    const recovered = await failOrphanedReleases(machine);
    publish = (event) => machine.router.publish(event);
    for (const execution of machine.resumed) follow(execution, releaseIdOf(execution.input));
    reportPipelineEnds(machine, emit);
    routeNotifications(machine.router, (line) => open && options.onNotification?.(line));
    machine.router.addRule({
      name: "manifest-uploaded",
      pattern: manifestUploadedPattern(LOCAL_BUCKET),
      target: (event) => startUploaded(machine, s3, event, emit, follow),
    });
    const api = new LocalReleaseApi(machine, emit);
    server.on("request", (request: IncomingMessage, response: ServerResponse) => {
      const answered = api.route(request, response).catch((error: unknown) => {
        send(response, 500, {
          error: "InternalError",
          message: error instanceof Error ? error.message : String(error),
        });
      });
      requests.add(answered);
      void answered.finally(() => requests.delete(answered));
    });
    // Uploads accepted before the last stop reach the rule again (one execution each, named by the
    // event), and the reconciler asks CodePipeline about every end not yet acted on.
    for (const event of [...s3.accepted, ...early.splice(0)]) publish(event);
    void machine.reconcile().catch(() => undefined);
    const { port } = await listen(server, options.port);
    return {
      url: `http://127.0.0.1:${port}`,
      s3Endpoint: s3.endpoint,
      dynamoEndpoint: machine.dynamo.endpoint,
      codepipelineEndpoint: machine.codepipeline.endpoint,
      sfnEndpoint: machine.sfnEndpoint,
      tables: machine.tables,
      machine,
      recovered,
      async close() {
        open = false;
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
        // A request cut off above may still be reading or writing tables: it ends before dynalite.
        while (requests.size > 0) await Promise.allSettled([...requests]);
        // Followers of running executions end with them, inside closeAll(), and read nothing then.
        const ended = [...followers].filter((f) => f.execution.status !== "RUNNING");
        await Promise.all(ended.map((f) => f.following));
        await closeAll();
      },
    };
  } catch (error) {
    open = false;
    await closeAll().catch(() => undefined);
    throw error;
  }
}

const executionArnOf = (machine: LocalReleaseMachine, name: string) =>
  `${machine.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;

/** The releaseId an API submission's or a retry's input names, for the log (an upload's: none). */
function releaseIdOf(input: unknown): string | undefined {
  const body = isRecord(input) && typeof input.body === "string" ? input.body : undefined;
  return body === undefined ? retriedReleaseId(input) : writtenReleaseId(body);
}

/** The releaseId a retry's execution input names (`{"retry": {"releaseId", ...}}`). */
function retriedReleaseId(input: unknown): string | undefined {
  const retry =
    typeof input === "object" && input !== null ? (input as { retry?: unknown }).retry : undefined;
  const releaseId =
    typeof retry === "object" && retry !== null ? (retry as { releaseId?: unknown }).releaseId : undefined;
  return typeof releaseId === "string" ? releaseId : undefined;
}

/** The S3 rule's target: reports the upload, then starts the workflow with the rule's input. */
async function startUploaded(
  machine: LocalReleaseMachine,
  s3: LocalS3,
  event: EventEnvelope,
  emit: (event: ReleaseEvent) => void,
  follow: (execution: LocalExecution, releaseId?: string) => void,
): Promise<void> {
  // Named by the event, so a delivery repeated after a restart starts nothing new.
  const name = event.id;
  if (machine.engine.describeExecution(executionArnOf(machine, name))) return;
  const input = transformInput(event, manifestUploadedInput) as { bucket: string; key: string };
  const source = `s3://${input.bucket}/${input.key}`;
  // Read only to name the release in the log; the workflow reads and checks the manifest itself.
  const releaseId = await s3
    .getText(input.bucket, input.key)
    .then(writtenReleaseId)
    .catch(() => undefined);
  let execution: LocalExecution;
  try {
    execution = machine.start(input, { name });
  } catch (error) {
    if (error instanceof ExecutionAlreadyExists) return;
    throw error;
  }
  emit({ type: "submitted", at: execution.startDate, releaseId, source });
  follow(execution, releaseId);
}
