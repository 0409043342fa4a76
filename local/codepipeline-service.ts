/**
 * A local CodePipeline: an HTTP server speaking CodePipeline's JSON 1.1 protocol, so handlers and
 * the engine use the unmodified `@aws-sdk/client-codepipeline`. Its pipelines run for a configured
 * time (or until finished by hand), end with a configured outcome and emit the same
 * "CodePipeline … State Change" events EventBridge delivers on AWS. No npm package emulates
 * CodePipeline, hence this file. Faults can be injected per operation for reliability tests.
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, createServer } from "node:http";
import type { AddressInfo } from "node:net";
import type { PipelineEventState, PipelineExecutionStatus } from "../handlers/model";

export interface LocalPipelineSpec {
  name: string;
  /** Total run time in ms; null runs until `finish()` is called. */
  durationMs: number | null;
  outcome: "Succeeded" | "Failed";
  /** Stages walked through in order, each an equal share of the run; default Source, Build, Deploy. */
  stages?: string[];
}

/** The EventBridge envelope around every CodePipeline event. */
export interface CodePipelineEvent<DetailType extends string, Detail> {
  version: "0";
  id: string;
  "detail-type": DetailType;
  source: "aws.codepipeline";
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Detail;
}

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

export type StageEventState = "STARTED" | "SUCCEEDED" | "FAILED" | "STOPPED";

export type StageStateChangeEvent = CodePipelineEvent<
  "CodePipeline Stage Execution State Change",
  { pipeline: string; "execution-id": string; stage: string; state: StageEventState; version: number }
>;

/** Request members of StartPipelineExecution (V2 pipelines). */
export interface PipelineVariable {
  name: string;
  value: string;
}
export interface SourceRevisionOverride {
  actionName: string;
  revisionType: string;
  revisionValue: string;
}

export interface ExecutionRecord {
  pipelineExecutionId: string;
  pipeline: string;
  status: PipelineExecutionStatus;
  clientRequestToken: string;
  variables?: PipelineVariable[];
  sourceRevisions?: SourceRevisionOverride[];
  startTime: Date;
  lastUpdateTime: Date;
  endTime?: Date;
  stopReason?: string;
}

export type FaultableOperation =
  "StartPipelineExecution" | "GetPipelineExecution" | "StopPipelineExecution" | "ListPipelineExecutions";

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
}

export interface CodePipelineService {
  /** e.g. http://127.0.0.1:PORT */
  endpoint: string;
  /** Stops the server and cancels every pending timer, so the process can exit. */
  close(): Promise<void>;
  /** Ends a running execution now, emitting its terminal event. */
  finish(pipelineExecutionId: string, status: "Succeeded" | "Failed"): void;
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

/** What the service tracks besides the record it hands out. */
interface Run {
  record: ExecutionRecord;
  stages: string[];
  announced: boolean;
  openStage?: string;
  abandoned: boolean;
  timers: NodeJS.Timeout[];
}

type Body = Record<string, unknown>;

const PIPELINE_NAME = /^[A-Za-z0-9.@_-]{1,100}$/;
const TOKEN = /^[a-zA-Z0-9-]{1,128}$/;
const DEFAULT_STAGES = ["Source", "Build", "Deploy"];
/** "Stop and wait" lets running actions finish; locally that takes a moment, not minutes. */
const STOP_AND_WAIT_MS = 20;
const epochSeconds = (date: Date) => date.getTime() / 1000;
const isObject = (value: unknown): value is Body =>
  typeof value === "object" && value !== null && !Array.isArray(value);

const validation = (message: string) => new ApiError("ValidationException", message);

/** Validates a list of string-valued objects such as `variables` (at most 50, as on AWS). */
function listOf<T>(value: unknown, member: string, keys: (keyof T & string)[]): T[] | undefined {
  if (value === undefined) return undefined;
  const valid =
    Array.isArray(value) &&
    value.length <= 50 &&
    value.every((item) => isObject(item) && keys.every((key) => typeof item[key] === "string"));
  if (!valid) throw validation(`'${member}' must be at most 50 objects with string ${keys.join(", ")}`);
  return value as T[];
}

export async function startCodePipelineService(
  options: CodePipelineServiceOptions,
): Promise<CodePipelineService> {
  const region = options.region ?? "us-east-1";
  const account = options.accountId ?? "000000000000";
  const specs = new Map(options.pipelines.map((spec) => [spec.name, spec]));
  const runs = new Map<string, Run>();
  const byToken = new Map<string, string>();
  const calls = new Map<string, number>();
  let faults: InjectedFault[] = [];
  const trigger = {
    triggerType: "StartPipelineExecution",
    triggerDetail: `arn:aws:sts::${account}:assumed-role/release-machine-local/engine`,
  };

  function envelope<T extends string, D>(
    detailType: T,
    pipeline: string,
    detail: D,
  ): CodePipelineEvent<T, D> {
    return {
      version: "0",
      id: randomUUID(),
      "detail-type": detailType,
      source: "aws.codepipeline",
      account,
      time: new Date().toISOString(),
      region,
      resources: [`arn:aws:codepipeline:${region}:${account}:${pipeline}`],
      detail,
    };
  }

  function emit({ record }: Run, state: PipelineEventState): void {
    options.onEvent(
      envelope("CodePipeline Pipeline Execution State Change", record.pipeline, {
        pipeline: record.pipeline,
        "execution-id": record.pipelineExecutionId,
        "start-time": record.startTime.toISOString(),
        state,
        version: 1,
        "pipeline-execution-attempt": 1,
        "execution-trigger": { "trigger-type": trigger.triggerType, "trigger-detail": trigger.triggerDetail },
      }),
    );
  }

  function emitStage(run: Run, stage: string, state: StageEventState): void {
    run.openStage = state === "STARTED" ? stage : undefined;
    const { pipeline, pipelineExecutionId } = run.record;
    options.onEvent(
      envelope("CodePipeline Stage Execution State Change", pipeline, {
        pipeline,
        "execution-id": pipelineExecutionId,
        stage,
        state,
        version: 1,
      }),
    );
  }

  /** STARTED goes out on a timer; a stop or finish that comes first must not skip it. */
  function announce(run: Run): void {
    if (run.announced) return;
    run.announced = true;
    emit(run, "STARTED");
    if (run.stages.length > 0) emitStage(run, run.stages[0], "STARTED");
  }

  function later(run: Run, ms: number, action: () => void): void {
    run.timers.push(setTimeout(action, ms));
  }

  function cancelTimers(run: Run): void {
    for (const timer of run.timers) clearTimeout(timer);
    run.timers = [];
  }

  function end(run: Run, status: "Succeeded" | "Failed" | "Stopped"): void {
    const { record } = run;
    if (record.endTime) return;
    announce(run);
    cancelTimers(run);
    const state = status === "Succeeded" ? "SUCCEEDED" : status === "Failed" ? "FAILED" : "STOPPED";
    if (run.openStage) emitStage(run, run.openStage, state);
    record.status = status;
    record.endTime = record.lastUpdateTime = new Date();
    emit(run, state);
  }

  /** Walks the stages on timers; durationMs 0 still ends asynchronously, as on AWS. */
  function start(run: Run, spec: LocalPipelineSpec): void {
    later(run, 0, () => announce(run));
    if (spec.durationMs === null) return;
    const { stages } = run;
    if (stages.length === 0) return later(run, spec.durationMs, () => end(run, spec.outcome));
    const share = spec.durationMs / stages.length;
    stages.forEach((stage, i) => {
      const last = i === stages.length - 1;
      later(run, share * (i + 1), () => {
        if (!last) {
          emitStage(run, stage, "SUCCEEDED");
          emitStage(run, stages[i + 1], "STARTED");
        } else end(run, spec.outcome);
      });
    });
  }

  function pipelineOf(name: unknown, member: string): LocalPipelineSpec {
    if (typeof name !== "string" || !PIPELINE_NAME.test(name)) {
      throw validation(`Value at '${member}' failed to satisfy constraint: [A-Za-z0-9.@\\-_]{1,100}`);
    }
    const spec = specs.get(name);
    if (!spec) throw new ApiError("PipelineNotFoundException", `Pipeline with name '${name}' does not exist`);
    return spec;
  }

  function runOf(body: Body): Run {
    const spec = pipelineOf(body.pipelineName, "pipelineName");
    const id = body.pipelineExecutionId;
    const run = typeof id === "string" ? runs.get(id) : undefined;
    if (!run || run.record.pipeline !== spec.name) {
      throw new ApiError(
        "PipelineExecutionNotFoundException",
        `Pipeline execution ${String(id)} does not exist in pipeline ${spec.name}`,
      );
    }
    return run;
  }

  const statusSummary = (r: ExecutionRecord) =>
    r.status === "Failed"
      ? { statusSummary: "An action in the last stage failed" }
      : r.stopReason !== undefined
        ? { statusSummary: r.stopReason }
        : {};

  const operations: Record<FaultableOperation, (body: Body) => object> = {
    StartPipelineExecution(body) {
      const spec = pipelineOf(body.name, "name");
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
      const known = byToken.get(key);
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
      const stages = spec.stages ?? DEFAULT_STAGES;
      const run: Run = { record, stages, announced: false, abandoned: false, timers: [] };
      runs.set(record.pipelineExecutionId, run);
      byToken.set(key, record.pipelineExecutionId);
      start(run, spec);
      return { pipelineExecutionId: record.pipelineExecutionId };
    },

    GetPipelineExecution(body) {
      const { record: r } = runOf(body);
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
          trigger,
        },
      };
    },

    StopPipelineExecution(body) {
      const run = runOf(body);
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
      if (r.status === "InProgress") {
        announce(run);
        cancelTimers(run);
        r.status = "Stopping";
        r.lastUpdateTime = new Date();
        r.stopReason = typeof body.reason === "string" ? body.reason : undefined;
        emit(run, "STOPPING");
      }
      if (abandon) end(run, "Stopped");
      else later(run, STOP_AND_WAIT_MS, () => end(run, "Stopped"));
      return { pipelineExecutionId: r.pipelineExecutionId };
    },

    ListPipelineExecutions(body) {
      const spec = pipelineOf(body.pipelineName, "pipelineName");
      const { maxResults = 100, nextToken = "0" } = body;
      const max = Number.isInteger(maxResults) ? Number(maxResults) : 0;
      if (max < 1 || max > 100)
        throw validation("Value at 'maxResults' failed to satisfy constraint: 1 to 100");
      if (typeof nextToken !== "string" || !/^\d+$/.test(nextToken)) {
        throw new ApiError("InvalidNextTokenException", "The next token is not valid");
      }
      const from = Number(nextToken);
      // Reversed first so executions started within the same millisecond still list newest first.
      const all = [...runs.values()]
        .map((run) => run.record)
        .filter((r) => r.pipeline === spec.name)
        .reverse()
        .sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
      const to = from + max;
      return {
        pipelineExecutionSummaries: all.slice(from, to).map((r) => ({
          pipelineExecutionId: r.pipelineExecutionId,
          status: r.status,
          ...statusSummary(r),
          startTime: epochSeconds(r.startTime),
          lastUpdateTime: epochSeconds(r.lastUpdateTime),
          trigger,
          ...(r.stopReason !== undefined && { stopTrigger: { reason: r.stopReason } }),
        })),
        ...(to < all.length && { nextToken: String(to) }),
      };
    },
  };

  function takeFault(operation: string, body: Body): InjectedFault | undefined {
    const pipeline = body.name ?? body.pipelineName;
    const fault = faults.find(
      (f) =>
        f.operation === operation && f.times > 0 && (f.pipeline === undefined || f.pipeline === pipeline),
    );
    if (fault) fault.times -= 1;
    return fault;
  }

  async function readBody(request: IncomingMessage): Promise<Body> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    try {
      const body: unknown = JSON.parse(text === "" ? "{}" : text);
      if (isObject(body)) return body;
    } catch {
      // Reported below, like any other body that is not a JSON object.
    }
    throw new ApiError("SerializationException", "The request body is not a JSON object");
  }

  async function handle(request: IncomingMessage): Promise<object> {
    if (request.method !== "POST" || request.url !== "/")
      throw new ApiError("UnknownOperationException", "Only POST / is served", 404);
    const target = String(request.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("CodePipeline_20150709.") ? target.slice(22) : target;
    calls.set(operation, (calls.get(operation) ?? 0) + 1);
    const body = await readBody(request);
    if (!Object.hasOwn(operations, operation)) {
      throw new ApiError("UnknownOperationException", `Operation '${target}' is not supported locally`);
    }
    const fault = takeFault(operation, body);
    if (fault && !fault.afterEffect)
      throw new ApiError(fault.error, `Injected ${fault.error}`, fault.httpStatus);
    const result = operations[operation as FaultableOperation](body);
    if (fault)
      throw new ApiError(fault.error, `Injected ${fault.error} (the call took effect)`, fault.httpStatus);
    return result;
  }

  const server = createServer((request, response) => {
    void handle(request)
      .then(
        (result) => ({ status: 200, payload: result }),
        (error: unknown) => {
          const e = error instanceof ApiError ? error : new ApiError("InternalFailure", String(error), 500);
          return { status: e.httpStatus, payload: { __type: e.type, message: e.message } };
        },
      )
      .then(({ status, payload }) => {
        response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
        response.end(JSON.stringify(payload));
      });
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve);
  });
  const { address, port, family } = server.address() as AddressInfo;

  return {
    endpoint: `http://${family === "IPv6" ? `[${address}]` : address}:${port}`,
    async close() {
      for (const run of runs.values()) cancelTimers(run);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    finish(pipelineExecutionId, status) {
      const run = runs.get(pipelineExecutionId);
      if (!run) throw new Error(`No local execution ${pipelineExecutionId}`);
      end(run, status);
    },
    executions: (pipelineName) =>
      [...runs.values()]
        .map((run) => run.record)
        .filter((r) => pipelineName === undefined || r.pipeline === pipelineName),
    callCount: (operation) => calls.get(operation) ?? 0,
    faults: {
      inject: (fault) => void faults.push({ ...fault }),
      clear: () => void (faults = []),
    },
  };
}
