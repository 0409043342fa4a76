/**
 * A local CodePipeline: an HTTP server speaking CodePipeline's JSON 1.1 protocol, so handlers and
 * the engine use the unmodified `@aws-sdk/client-codepipeline`. Its pipelines run for a configured
 * time (or until finished by hand), end with a configured outcome, failing at a configured stage
 * and action, and emit the same "CodePipeline … State Change" events EventBridge delivers on AWS.
 * GetPipelineState and ListActionExecutions report stages and actions in CodePipeline's shapes.
 * No npm package emulates CodePipeline, hence this file. Faults can be injected per operation.
 */
import type { EventBridgeEvent } from "aws-lambda";
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { PipelineEventState } from "../contract/tables";
import {
  type ActionRecord,
  type ExecutionRecord,
  type LocalPipelineSpec,
  type PipelinePlan,
  PipelineRun,
  type PipelineVariable,
  type RunEvents,
  type SourceRevisionOverride,
  type StageEventState,
  planOf,
} from "./codepipeline-run";
import { isRecord, listen, readBody } from "./http";

export type {
  ExecutionRecord,
  LocalPipelineFailure,
  LocalPipelineSpec,
  LocalStageSpec,
  PipelineVariable,
  SourceRevisionOverride,
  StageEventState,
} from "./codepipeline-run";

/** The EventBridge envelope around every CodePipeline event. */
/** A CodePipeline event as EventBridge delivers it (the envelope type of @types/aws-lambda). */
export type CodePipelineEvent<DetailType extends string, Detail> = EventBridgeEvent<DetailType, Detail>;

export type PipelineStateChangeEvent = CodePipelineEvent<
  "CodePipeline Pipeline Execution State Change",
  {
    pipeline: string;
    "execution-id": string;
    "start-time": string;
    state: PipelineEventState;
    version: number;
    "pipeline-execution-attempt": number;
    "execution-trigger": { "trigger-type": string; "trigger-detail": string };
  }
>;

export type StageStateChangeEvent = CodePipelineEvent<
  "CodePipeline Stage Execution State Change",
  { pipeline: string; "execution-id": string; stage: string; state: StageEventState; version: number }
>;

export type FaultableOperation =
  | "StartPipelineExecution"
  | "GetPipelineExecution"
  | "StopPipelineExecution"
  | "ListPipelineExecutions"
  | "GetPipelineState"
  | "ListActionExecutions";

export interface InjectedFault {
  operation: FaultableOperation;
  error: string; // the error's `__type`, e.g. ThrottlingException
  times: number; // the next N matching calls fail
  pipeline?: string; // only calls for this pipeline
  /** The call takes effect, but its caller gets the error (a lost response). */
  afterEffect?: boolean;
  httpStatus?: number; // default 400
}

export interface CodePipelineServiceOptions {
  pipelines: LocalPipelineSpec[];
  onEvent: (event: PipelineStateChangeEvent | StageStateChangeEvent) => void;
  port?: number; // default 0: an ephemeral port
  host?: string; // default 127.0.0.1
  region?: string; // default us-east-1
  accountId?: string; // default 000000000000
  /**
   * How long a stop-and-wait (StopPipelineExecution without abandon) stays Stopping before it
   * ends Stopped; default 20 ms ("Stop and wait" lets running actions finish: locally a moment).
   * null keeps it Stopping until `finish(id, "Stopped")`, for tests that act while it stops.
   */
  stopAndWaitMs?: number | null;
}

export interface CodePipelineService {
  /** e.g. http://127.0.0.1:PORT */
  endpoint: string;
  /** Stops the server and cancels every pending timer, so the process can exit. */
  close(): Promise<void>;
  /** Ends a running (or stopping) execution now, emitting its terminal event. */
  finish(pipelineExecutionId: string, status: "Succeeded" | "Failed" | "Stopped"): void;
  /** Resolves once the execution has ended and its terminal event was emitted. */
  whenEnded(pipelineExecutionId: string): Promise<ExecutionRecord>;
  executions(pipelineName?: string): ExecutionRecord[];
  /** HTTP calls received for an operation, failed ones included. */
  callCount(operation: string): number;
  faults: { inject(fault: InjectedFault): void; clear(): void };
}

class ApiError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

type Body = Record<string, unknown>;

const PIPELINE_NAME = /^[A-Za-z0-9.@_-]{1,100}$/;
const TOKEN = /^[a-zA-Z0-9-]{1,128}$/;
const STOP_AND_WAIT_MS = 20;
const epochSeconds = (date: Date) => date.getTime() / 1000;
const validation = (message: string) => new ApiError("ValidationException", message);

/** Validates a list of string-valued objects such as `variables` (at most 50, as on AWS). */
function listOf<T>(value: unknown, member: string, keys: (keyof T & string)[]): T[] | undefined {
  if (value === undefined) return undefined;
  const valid =
    Array.isArray(value) &&
    value.length <= 50 &&
    value.every((item) => isRecord(item) && keys.every((key) => typeof item[key] === "string"));
  if (!valid) throw validation(`'${member}' must be at most 50 objects with string ${keys.join(", ")}`);
  return value as T[];
}

/** One page of `items` by `maxResults` (1–100, default 100) and a numeric `nextToken`. */
function page<T>(items: T[], body: Body): { items: T[]; nextToken?: string } {
  const { maxResults = 100, nextToken = "0" } = body;
  const max = Number.isInteger(maxResults) ? Number(maxResults) : 0;
  if (max < 1 || max > 100) throw validation("Value at 'maxResults' failed to satisfy constraint: 1 to 100");
  if (typeof nextToken !== "string" || !/^\d+$/.test(nextToken)) {
    throw new ApiError("InvalidNextTokenException", "The next token is not valid");
  }
  const [from, to] = [Number(nextToken), Number(nextToken) + max];
  return { items: items.slice(from, to), ...(to < items.length && { nextToken: String(to) }) };
}

/** Newest first; reversed first so items started within the same millisecond still list newest first. */
function newestFirst<T>(items: T[], startOf: (item: T) => Date): T[] {
  return [...items].reverse().sort((a, b) => startOf(b).getTime() - startOf(a).getTime());
}

const statusSummary = (r: ExecutionRecord) =>
  r.status === "Failed"
    ? { statusSummary: "An action in a stage of this execution failed" }
    : r.stopReason !== undefined
      ? { statusSummary: r.stopReason }
      : {};

/** GetPipelineState's ActionExecution for one action run. */
const actionExecution = (a: ActionRecord) => ({
  actionExecutionId: a.actionExecutionId,
  status: a.status,
  lastStatusChange: epochSeconds(a.lastUpdateTime),
  ...(a.errorDetails && { summary: a.errorDetails.message, errorDetails: a.errorDetails }),
});

/** ListActionExecutions' ActionExecutionDetail for one action run. */
const actionExecutionDetail = (pipelineExecutionId: string, a: ActionRecord) => ({
  pipelineExecutionId,
  actionExecutionId: a.actionExecutionId,
  pipelineVersion: 1,
  stageName: a.stageName,
  actionName: a.actionName,
  startTime: epochSeconds(a.startTime),
  lastUpdateTime: epochSeconds(a.lastUpdateTime),
  status: a.status,
  ...(a.status !== "InProgress" && {
    output: {
      executionResult: {
        externalExecutionSummary: a.errorDetails?.message ?? `Action ${a.actionName} ${a.status}`,
        ...(a.errorDetails && { errorDetails: a.errorDetails }),
      },
    },
  }),
});

export class LocalCodePipeline implements CodePipelineService {
  endpoint = "";
  readonly faults = {
    inject: (fault: InjectedFault) => void this.injected.push({ ...fault }),
    clear: () => void (this.injected = []),
  };
  private readonly plans = new Map<string, PipelinePlan>();
  private readonly specs = new Map<string, LocalPipelineSpec>();
  private readonly runs = new Map<string, PipelineRun>();
  private readonly byToken = new Map<string, string>();
  private readonly calls = new Map<string, number>();
  private injected: InjectedFault[] = [];
  /** Set by close(): a request still being read then changes nothing, so no run (or timer) starts after it. */
  private closed = false;
  private readonly server: Server;
  private readonly region: string;
  private readonly account: string;
  private readonly trigger: { triggerType: string; triggerDetail: string };
  private readonly operations: Record<FaultableOperation, (body: Body) => object> = {
    StartPipelineExecution: (body) => this.startPipelineExecution(body),
    GetPipelineExecution: (body) => this.getPipelineExecution(body),
    StopPipelineExecution: (body) => this.stopPipelineExecution(body),
    ListPipelineExecutions: (body) => this.listPipelineExecutions(body),
    GetPipelineState: (body) => this.getPipelineState(body),
    ListActionExecutions: (body) => this.listActionExecutions(body),
  };

  /** Throws for a spec whose failure names no stage or action of its pipeline. */
  constructor(private readonly options: CodePipelineServiceOptions) {
    this.region = options.region ?? "us-east-1";
    this.account = options.accountId ?? "000000000000";
    this.trigger = {
      triggerType: "StartPipelineExecution",
      triggerDetail: `arn:aws:sts::${this.account}:assumed-role/release-machine-local/engine`,
    };
    for (const spec of options.pipelines) {
      this.specs.set(spec.name, spec);
      this.plans.set(spec.name, planOf(spec));
    }
    this.server = createServer((request, response) => {
      void this.answer(request).then(({ status, payload }) => {
        response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify(payload));
      });
    });
  }

  /** Starts listening (loopback, an ephemeral port unless `port` is set). */
  async listen(): Promise<this> {
    const { address, port, family } = await listen(
      this.server,
      this.options.port ?? 0,
      this.options.host ?? "127.0.0.1",
    );
    this.endpoint = `http://${family === "IPv6" ? `[${address}]` : address}:${port}`;
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const run of this.runs.values()) run.cancelTimers();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  finish(pipelineExecutionId: string, status: "Succeeded" | "Failed" | "Stopped"): void {
    this.run(pipelineExecutionId).end(status);
  }

  whenEnded(pipelineExecutionId: string): Promise<ExecutionRecord> {
    return this.run(pipelineExecutionId).ended;
  }

  executions(pipelineName?: string): ExecutionRecord[] {
    return [...this.runs.values()]
      .map((run) => run.record)
      .filter((r) => pipelineName === undefined || r.pipeline === pipelineName);
  }

  callCount(operation: string): number {
    return this.calls.get(operation) ?? 0;
  }

  private run(pipelineExecutionId: string): PipelineRun {
    const run = this.runs.get(pipelineExecutionId);
    if (!run) throw new Error(`No local execution ${pipelineExecutionId}`);
    return run;
  }

  private readonly events: RunEvents = {
    pipeline: ({ record }, state) =>
      this.options.onEvent(
        this.envelope("CodePipeline Pipeline Execution State Change", record.pipeline, {
          pipeline: record.pipeline,
          "execution-id": record.pipelineExecutionId,
          "start-time": record.startTime.toISOString(),
          state,
          version: 1,
          "pipeline-execution-attempt": 1,
          "execution-trigger": {
            "trigger-type": this.trigger.triggerType,
            "trigger-detail": this.trigger.triggerDetail,
          },
        }),
      ),
    stage: ({ record }, stage, state) =>
      this.options.onEvent(
        this.envelope("CodePipeline Stage Execution State Change", record.pipeline, {
          pipeline: record.pipeline,
          "execution-id": record.pipelineExecutionId,
          stage,
          state,
          version: 1,
        }),
      ),
  };

  private envelope<T extends string, D>(detailType: T, pipeline: string, detail: D): CodePipelineEvent<T, D> {
    return {
      version: "0",
      id: randomUUID(),
      "detail-type": detailType,
      source: "aws.codepipeline",
      account: this.account,
      time: new Date().toISOString(),
      region: this.region,
      resources: [`arn:aws:codepipeline:${this.region}:${this.account}:${pipeline}`],
      detail,
    };
  }

  private pipelineOf(name: unknown, member: string): LocalPipelineSpec {
    if (typeof name !== "string" || !PIPELINE_NAME.test(name)) {
      throw validation(`Value at '${member}' failed to satisfy constraint: [A-Za-z0-9.@\\-_]{1,100}`);
    }
    const spec = this.specs.get(name);
    if (!spec) throw new ApiError("PipelineNotFoundException", `Pipeline with name '${name}' does not exist`);
    return spec;
  }

  /** The run `id` names in pipeline `spec`, or PipelineExecutionNotFoundException. */
  private runOf(spec: LocalPipelineSpec, id: unknown): PipelineRun {
    const run = typeof id === "string" ? this.runs.get(id) : undefined;
    if (!run || run.record.pipeline !== spec.name) {
      throw new ApiError(
        "PipelineExecutionNotFoundException",
        `Pipeline execution ${String(id)} does not exist in pipeline ${spec.name}`,
      );
    }
    return run;
  }

  private startPipelineExecution(body: Body): object {
    const spec = this.pipelineOf(body.name, "name");
    const token = body.clientRequestToken;
    if (typeof token !== "string" || !TOKEN.test(token)) {
      throw validation("Value at 'clientRequestToken' failed to satisfy constraint: ^[a-zA-Z0-9-]{1,128}$");
    }
    const variables = listOf<PipelineVariable>(body.variables, "variables", ["name", "value"]);
    const sourceRevisions = listOf<SourceRevisionOverride>(body.sourceRevisions, "sourceRevisions", [
      "actionName",
      "revisionType",
      "revisionValue",
    ]);
    const key = `${spec.name}\n${token}`;
    const known = this.byToken.get(key);
    if (known) return { pipelineExecutionId: known };
    const now = new Date();
    const record: ExecutionRecord = {
      pipelineExecutionId: randomUUID(),
      pipeline: spec.name,
      status: "InProgress",
      clientRequestToken: token,
      ...(variables && { variables }),
      ...(sourceRevisions && { sourceRevisions }),
      startTime: now,
      lastUpdateTime: now,
    };
    const run = new PipelineRun(record, this.plans.get(spec.name) as PipelinePlan, this.events);
    this.runs.set(record.pipelineExecutionId, run);
    this.byToken.set(key, record.pipelineExecutionId);
    run.start(spec.durationMs);
    return { pipelineExecutionId: record.pipelineExecutionId };
  }

  private getPipelineExecution(body: Body): object {
    const { record: r } = this.runOf(
      this.pipelineOf(body.pipelineName, "pipelineName"),
      body.pipelineExecutionId,
    );
    return {
      pipelineExecution: {
        pipelineName: r.pipeline,
        pipelineVersion: 1,
        pipelineExecutionId: r.pipelineExecutionId,
        status: r.status,
        ...statusSummary(r),
        artifactRevisions: [],
        ...(r.variables && {
          variables: r.variables.map((v) => ({ name: v.name, resolvedValue: v.value })),
        }),
        trigger: this.trigger,
      },
    };
  }

  private stopPipelineExecution(body: Body): object {
    const run = this.runOf(this.pipelineOf(body.pipelineName, "pipelineName"), body.pipelineExecutionId);
    const { record: r } = run;
    const abandon = body.abandon === true;
    // As on AWS, a stop-and-wait in progress may still be escalated to an abandon, once.
    if (r.status === "Stopping" && (!abandon || run.abandoned)) {
      throw new ApiError("DuplicatedStopRequestException", "A stop request is already in progress");
    }
    if (r.status !== "InProgress" && r.status !== "Stopping") {
      throw new ApiError(
        "PipelineExecutionNotStoppableException",
        `Pipeline execution ${r.pipelineExecutionId} is ${r.status} and cannot be stopped`,
      );
    }
    run.abandoned = abandon;
    if (r.status === "InProgress") run.beginStop(typeof body.reason === "string" ? body.reason : undefined);
    const waitMs = this.options.stopAndWaitMs === undefined ? STOP_AND_WAIT_MS : this.options.stopAndWaitMs;
    if (abandon) run.end("Stopped");
    else if (waitMs !== null) run.later(waitMs, () => run.end("Stopped"));
    return { pipelineExecutionId: r.pipelineExecutionId };
  }

  private listPipelineExecutions(body: Body): object {
    const spec = this.pipelineOf(body.pipelineName, "pipelineName");
    const { items, nextToken } = page(
      newestFirst(this.executions(spec.name), (r) => r.startTime),
      body,
    );
    return {
      pipelineExecutionSummaries: items.map((r) => ({
        pipelineExecutionId: r.pipelineExecutionId,
        status: r.status,
        ...statusSummary(r),
        startTime: epochSeconds(r.startTime),
        lastUpdateTime: epochSeconds(r.lastUpdateTime),
        trigger: this.trigger,
        ...(r.stopReason !== undefined && { stopTrigger: { reason: r.stopReason } }),
      })),
      ...(nextToken && { nextToken }),
    };
  }

  /** Each stage as its latest execution left it, with the latest run of each of its actions. */
  private getPipelineState(body: Body): object {
    const spec = this.pipelineOf(body.name, "name");
    const runs = newestFirst(
      [...this.runs.values()].filter((run) => run.record.pipeline === spec.name),
      (run) => run.record.startTime,
    );
    const created = runs.at(-1)?.record.startTime ?? new Date();
    return {
      pipelineName: spec.name,
      pipelineVersion: 1,
      stageStates: (this.plans.get(spec.name) as PipelinePlan).stages.map(({ name, actions }) => {
        const latest = runs.find((run) => run.stages.some((s) => s.name === name));
        const stage = latest?.stages.find((s) => s.name === name);
        return {
          stageName: name,
          inboundTransitionState: { enabled: true },
          actionStates: actions.map((actionName) => {
            const action = stage?.actions.find((a) => a.actionName === actionName);
            return { actionName, ...(action && { latestExecution: actionExecution(action) }) };
          }),
          ...(latest &&
            stage && {
              latestExecution: {
                pipelineExecutionId: latest.record.pipelineExecutionId,
                status: stage.status,
              },
            }),
        };
      }),
      created: epochSeconds(created),
      updated: epochSeconds(created),
    };
  }

  /** Action runs newest first, of one execution when `filter.pipelineExecutionId` names one. */
  private listActionExecutions(body: Body): object {
    const spec = this.pipelineOf(body.pipelineName, "pipelineName");
    if (body.filter !== undefined && !isRecord(body.filter)) throw validation("'filter' must be an object");
    const id = body.filter?.pipelineExecutionId;
    const runs = id === undefined ? [...this.runs.values()] : [this.runOf(spec, id)];
    const details = runs
      .filter((run) => run.record.pipeline === spec.name)
      .flatMap((run) => run.stages.flatMap((s) => s.actions.map((a) => ({ run, a }))));
    const { items, nextToken } = page(
      newestFirst(details, ({ a }) => a.startTime),
      body,
    );
    return {
      actionExecutionDetails: items.map(({ run, a }) =>
        actionExecutionDetail(run.record.pipelineExecutionId, a),
      ),
      ...(nextToken && { nextToken }),
    };
  }

  private takeFault(operation: string, body: Body): InjectedFault | undefined {
    const pipeline = body.name ?? body.pipelineName;
    const fault = this.injected.find(
      (f) =>
        f.operation === operation && f.times > 0 && (f.pipeline === undefined || f.pipeline === pipeline),
    );
    if (fault) fault.times -= 1;
    return fault;
  }

  private async handle(request: IncomingMessage): Promise<object> {
    if (request.method !== "POST" || request.url !== "/")
      throw new ApiError("UnknownOperationException", "Only POST / is served", 404);
    const target = String(request.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("CodePipeline_20150709.") ? target.slice(22) : target;
    this.calls.set(operation, this.callCount(operation) + 1);
    const body = parseBody((await readBody(request)) ?? "");
    if (this.closed)
      throw new ApiError("ServiceUnavailableException", "The local CodePipeline is closed", 503);
    if (!Object.hasOwn(this.operations, operation)) {
      throw new ApiError("UnknownOperationException", `Operation '${target}' is not supported locally`);
    }
    const fault = this.takeFault(operation, body);
    if (fault && !fault.afterEffect)
      throw new ApiError(fault.error, `Injected ${fault.error}`, fault.httpStatus);
    const result = this.operations[operation as FaultableOperation](body);
    if (fault)
      throw new ApiError(fault.error, `Injected ${fault.error} (the call took effect)`, fault.httpStatus);
    return result;
  }

  /** One request's status and JSON payload; never throws. */
  private async answer(request: IncomingMessage): Promise<{ status: number; payload: object }> {
    try {
      return { status: 200, payload: await this.handle(request) };
    } catch (error) {
      const e = error instanceof ApiError ? error : new ApiError("InternalFailure", String(error), 500);
      return { status: e.httpStatus, payload: { __type: e.type, message: e.message } };
    }
  }
}

function parseBody(text: string): Body {
  try {
    const body: unknown = JSON.parse(text === "" ? "{}" : text);
    if (isRecord(body)) return body;
  } catch {
    // Reported below, like any other body that is not a JSON object.
  }
  throw new ApiError("SerializationException", "The request body is not a JSON object");
}

/** Starts a local CodePipeline on loopback; see LocalCodePipeline. */
export async function startCodePipelineService(
  options: CodePipelineServiceOptions,
): Promise<CodePipelineService> {
  return new LocalCodePipeline(options).listen();
}
