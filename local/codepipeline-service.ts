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

interface Envelope<D> {
  version: "0";
  id: string;
  "detail-type": string;
  source: "aws.codepipeline";
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: D;
}

export type PipelineStateChangeEvent = Envelope<{
  pipeline: string;
  "execution-id": string;
  "start-time": string;
  state: PipelineEventState;
  version: number;
  "pipeline-execution-attempt": number;
  "execution-trigger": { "trigger-type": string; "trigger-detail": string };
}>;

export type StageStateChangeEvent = Envelope<{
  pipeline: string;
  "execution-id": string;
  stage: string;
  state: "STARTED" | "SUCCEEDED" | "FAILED" | "STOPPED";
  version: number;
}>;

export interface ExecutionRecord {
  pipelineExecutionId: string;
  pipeline: string;
  status: PipelineExecutionStatus;
  clientRequestToken: string;
  variables?: unknown;
  sourceRevisions?: unknown;
  startTime: Date;
  lastUpdateTime: Date;
  endTime?: Date;
  stopReason?: string;
}

export type FaultableOperation =
  "StartPipelineExecution" | "GetPipelineExecution" | "StopPipelineExecution" | "ListPipelineExecutions";

export interface InjectedFault {
  operation: FaultableOperation;
  error: string;
  /** The next N matching calls fail. */
  times: number;
  pipeline?: string;
  /** The call takes effect, but its caller gets the error (a lost response). */
  afterEffect?: boolean;
  httpStatus?: number;
}

export interface CodePipelineServiceOptions {
  pipelines: LocalPipelineSpec[];
  onEvent: (event: PipelineStateChangeEvent | StageStateChangeEvent) => void;
  port?: number;
  host?: string;
  region?: string;
  accountId?: string;
}

export interface CodePipelineService {
  endpoint: string;
  close(): Promise<void>;
  /** Ends a running execution now, emitting its terminal event. */
  finish(pipelineExecutionId: string, status: "Succeeded" | "Failed"): void;
  executions(pipelineName?: string): ExecutionRecord[];
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

const TOKEN_PATTERN = /^[a-zA-Z0-9-]{1,128}$/;
const epoch = (date: Date) => date.getTime() / 1000;

export async function startCodePipelineService(
  options: CodePipelineServiceOptions,
): Promise<CodePipelineService> {
  const region = options.region ?? "us-east-1";
  const account = options.accountId ?? "000000000000";
  const specs = new Map(options.pipelines.map((p) => [p.name, p]));
  const executions = new Map<string, ExecutionRecord>();
  const byToken = new Map<string, string>();
  const timers = new Map<string, NodeJS.Timeout[]>();
  const calls = new Map<string, number>();
  let faults: InjectedFault[] = [];

  const arn = (pipeline: string) => `arn:aws:codepipeline:${region}:${account}:${pipeline}`;
  const envelope = <D>(detailType: string, pipeline: string, detail: D): Envelope<D> => ({
    version: "0",
    id: randomUUID(),
    "detail-type": detailType,
    source: "aws.codepipeline",
    account,
    time: new Date().toISOString(),
    region,
    resources: [arn(pipeline)],
    detail,
  });

  function emit(record: ExecutionRecord, state: PipelineEventState): void {
    options.onEvent(
      envelope("CodePipeline Pipeline Execution State Change", record.pipeline, {
        pipeline: record.pipeline,
        "execution-id": record.pipelineExecutionId,
        "start-time": record.startTime.toISOString(),
        state,
        version: 1,
        "pipeline-execution-attempt": 1,
        "execution-trigger": {
          "trigger-type": "StartPipelineExecution",
          "trigger-detail": `arn:aws:sts::${account}:assumed-role/release-machine-local/engine`,
        },
      }),
    );
  }

  function emitStage(
    record: ExecutionRecord,
    stage: string,
    state: StageStateChangeEvent["detail"]["state"],
  ): void {
    options.onEvent(
      envelope("CodePipeline Stage Execution State Change", record.pipeline, {
        pipeline: record.pipeline,
        "execution-id": record.pipelineExecutionId,
        stage,
        state,
        version: 1,
      }),
    );
  }

  function later(id: string, ms: number, action: () => void): void {
    const timer = setTimeout(action, ms);
    timers.set(id, [...(timers.get(id) ?? []), timer]);
  }

  function clearTimers(id: string): void {
    for (const timer of timers.get(id) ?? []) clearTimeout(timer);
    timers.delete(id);
  }

  function end(record: ExecutionRecord, status: "Succeeded" | "Failed" | "Stopped"): void {
    if (record.endTime) return;
    clearTimers(record.pipelineExecutionId);
    record.status = status;
    record.endTime = record.lastUpdateTime = new Date();
    emit(record, status === "Succeeded" ? "SUCCEEDED" : status === "Failed" ? "FAILED" : "STOPPED");
  }

  /** Walks the stages, then ends with the outcome; durationMs 0 still ends asynchronously. */
  function run(record: ExecutionRecord, spec: LocalPipelineSpec): void {
    const stages = spec.stages ?? ["Source", "Build", "Deploy"];
    later(record.pipelineExecutionId, 0, () => emit(record, "STARTED"));
    if (spec.durationMs === null) {
      later(record.pipelineExecutionId, 0, () => emitStage(record, stages[0], "STARTED"));
      return;
    }
    const share = spec.durationMs / Math.max(stages.length, 1);
    stages.forEach((stage, i) => {
      const last = i === stages.length - 1;
      later(record.pipelineExecutionId, share * i, () => emitStage(record, stage, "STARTED"));
      later(record.pipelineExecutionId, share * (i + 1), () => {
        emitStage(record, stage, last && spec.outcome === "Failed" ? "FAILED" : "SUCCEEDED");
        if (last) end(record, spec.outcome);
      });
    });
    if (stages.length === 0)
      later(record.pipelineExecutionId, spec.durationMs, () => end(record, spec.outcome));
  }

  function pipelineOf(name: unknown): LocalPipelineSpec {
    if (typeof name !== "string" || !/^[A-Za-z0-9.@_-]{1,100}$/.test(name)) {
      throw new ApiError(
        "ValidationException",
        "1 validation error detected: Value at 'name' failed to satisfy constraint",
      );
    }
    const spec = specs.get(name);
    if (!spec) throw new ApiError("PipelineNotFoundException", `Pipeline with name '${name}' does not exist`);
    return spec;
  }

  function executionOf(pipelineName: unknown, id: unknown): ExecutionRecord {
    pipelineOf(pipelineName);
    const record = typeof id === "string" ? executions.get(id) : undefined;
    if (!record || record.pipeline !== pipelineName) {
      throw new ApiError(
        "PipelineExecutionNotFoundException",
        `Pipeline execution ${String(id)} does not exist in pipeline ${String(pipelineName)}`,
      );
    }
    return record;
  }

  const summary = (r: ExecutionRecord) => ({
    pipelineExecutionId: r.pipelineExecutionId,
    status: r.status,
    startTime: epoch(r.startTime),
    lastUpdateTime: epoch(r.lastUpdateTime),
    trigger: { triggerType: "StartPipelineExecution", triggerDetail: "release-machine" },
    ...(r.stopReason ? { stopTrigger: { reason: r.stopReason } } : {}),
  });

  const operations: Record<FaultableOperation, (body: Record<string, unknown>) => object> = {
    StartPipelineExecution(body) {
      const spec = pipelineOf(body.name);
      const token = body.clientRequestToken;
      if (typeof token !== "string" || !TOKEN_PATTERN.test(token)) {
        throw new ApiError(
          "ValidationException",
          "clientRequestToken must match ^[a-zA-Z0-9-]+$ and be at most 128 characters",
        );
      }
      const known = byToken.get(`${spec.name}\n${token}`);
      if (known) return { pipelineExecutionId: known };
      const now = new Date();
      const record: ExecutionRecord = {
        pipelineExecutionId: randomUUID(),
        pipeline: spec.name,
        status: "InProgress",
        clientRequestToken: token,
        ...(body.variables ? { variables: body.variables } : {}),
        ...(body.sourceRevisions ? { sourceRevisions: body.sourceRevisions } : {}),
        startTime: now,
        lastUpdateTime: now,
      };
      executions.set(record.pipelineExecutionId, record);
      byToken.set(`${spec.name}\n${token}`, record.pipelineExecutionId);
      run(record, spec);
      return { pipelineExecutionId: record.pipelineExecutionId };
    },
    GetPipelineExecution(body) {
      const r = executionOf(body.pipelineName, body.pipelineExecutionId);
      return {
        pipelineExecution: {
          pipelineName: r.pipeline,
          pipelineVersion: 1,
          pipelineExecutionId: r.pipelineExecutionId,
          status: r.status,
          artifactRevisions: [],
          trigger: { triggerType: "StartPipelineExecution", triggerDetail: "release-machine" },
          ...(r.variables ? { variables: r.variables } : {}),
        },
      };
    },
    StopPipelineExecution(body) {
      const r = executionOf(body.pipelineName, body.pipelineExecutionId);
      if (r.status === "Stopping")
        throw new ApiError("DuplicatedStopRequestException", "A stop request is already in progress");
      if (r.status !== "InProgress") {
        throw new ApiError(
          "PipelineExecutionNotStoppableException",
          `Pipeline execution is ${r.status} and cannot be stopped`,
        );
      }
      clearTimers(r.pipelineExecutionId);
      r.status = "Stopping";
      r.lastUpdateTime = new Date();
      r.stopReason = typeof body.reason === "string" ? body.reason : undefined;
      emit(r, "STOPPING");
      // "Stop and wait" lets running actions finish; "abandon" ends at once.
      later(r.pipelineExecutionId, body.abandon === true ? 0 : 20, () => end(r, "Stopped"));
      return { pipelineExecutionId: r.pipelineExecutionId };
    },
    ListPipelineExecutions(body) {
      const spec = pipelineOf(body.pipelineName);
      const all = [...executions.values()]
        .filter((r) => r.pipeline === spec.name)
        .sort((a, b) => b.startTime.getTime() - a.startTime.getTime());
      const max = typeof body.maxResults === "number" ? Math.min(Math.max(body.maxResults, 1), 100) : 100;
      const start = typeof body.nextToken === "string" ? Number(body.nextToken) : 0;
      const page = all.slice(start, start + max);
      return {
        pipelineExecutionSummaries: page.map(summary),
        ...(start + max < all.length ? { nextToken: String(start + max) } : {}),
      };
    },
  };

  function takeFault(operation: string, body: Record<string, unknown>): InjectedFault | undefined {
    const pipeline = body.name ?? body.pipelineName;
    const fault = faults.find(
      (f) => f.operation === operation && f.times > 0 && (!f.pipeline || f.pipeline === pipeline),
    );
    if (fault) fault.times -= 1;
    return fault;
  }

  async function readJson(request: IncomingMessage): Promise<Record<string, unknown>> {
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    try {
      const body: unknown = JSON.parse(text === "" ? "{}" : text);
      if (typeof body === "object" && body !== null && !Array.isArray(body))
        return body as Record<string, unknown>;
    } catch {
      // reported below
    }
    throw new ApiError("SerializationException", "the request body is not a JSON object");
  }

  const server = createServer((request, response) => {
    void (async () => {
      const target = String(request.headers["x-amz-target"] ?? "");
      const operation = target.replace(/^CodePipeline_20150709\./, "");
      calls.set(operation, (calls.get(operation) ?? 0) + 1);
      let status = 200;
      let payload: object;
      try {
        const body = await readJson(request);
        const handler = operations[operation as FaultableOperation];
        if (!handler)
          throw new ApiError("UnknownOperationException", `operation ${target} is not supported locally`);
        const fault = takeFault(operation, body);
        if (fault && !fault.afterEffect)
          throw new ApiError(fault.error, `injected ${fault.error}`, fault.httpStatus);
        payload = handler(body);
        if (fault)
          throw new ApiError(fault.error, `injected ${fault.error} (the call took effect)`, fault.httpStatus);
      } catch (error) {
        const apiError =
          error instanceof ApiError ? error : new ApiError("InternalFailure", String(error), 500);
        status = apiError.httpStatus;
        payload = { __type: apiError.type, message: apiError.message };
      }
      response.writeHead(status, { "content-type": "application/x-amz-json-1.1" });
      response.end(JSON.stringify(payload));
    })();
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve),
  );
  const { port } = server.address() as AddressInfo;

  return {
    endpoint: `http://127.0.0.1:${port}`,
    async close() {
      for (const id of [...timers.keys()]) clearTimers(id);
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
    finish(pipelineExecutionId, status) {
      const record = executions.get(pipelineExecutionId);
      if (!record) throw new Error(`no execution ${pipelineExecutionId}`);
      end(record, status);
    },
    executions: (pipelineName) =>
      [...executions.values()].filter((r) => pipelineName === undefined || r.pipeline === pipelineName),
    callCount: (operation) => calls.get(operation) ?? 0,
    faults: {
      inject: (fault) => void faults.push({ ...fault }),
      clear: () => void (faults = []),
    },
  };
}
