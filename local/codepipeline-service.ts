/**
 * A local CodePipeline: an HTTP server speaking CodePipeline's JSON 1.1 protocol, so handlers, the
 * engine and the AWS CLI (`--endpoint-url`) use it unmodified. Its pipelines run for a configured
 * time (or until finished by hand, or approved), end with a configured outcome per attempt,
 * failing at a configured stage and action, honour their execution mode (SUPERSEDED, QUEUED,
 * PARALLEL), can be stopped, retried and approved, and emit the same "CodePipeline … State Change"
 * events EventBridge delivers on AWS. The operations live in local/codepipeline-operations.ts, one
 * execution in local/codepipeline-run.ts. No npm package emulates CodePipeline, hence these files.
 * Faults can be injected per operation.
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type Server, createServer } from "node:http";
import {
  type CodePipelineEvent,
  type PipelineStateChangeEvent,
  STAGE_EVENT_DETAIL_TYPE,
  type StageStateChangeEvent,
} from "../contract/pipeline-events";
import { PIPELINE_EVENT_DETAIL_TYPE } from "../contract/tables";
import { isRecord } from "../contract/json";
import type {
  ExecutionRecord,
  ExecutionTrigger,
  LocalPipelineSpec,
  PipelineRun,
  RunEvents,
} from "./codepipeline-run";
import { latestRuns } from "./codepipeline-run";
import {
  type Body,
  CodePipelineError,
  actionExecution,
  actionExecutionDetail,
  epochSeconds,
  newestFirst,
  page,
  parseBody,
  validation,
} from "./codepipeline-protocol";
import { CodePipelineOperations } from "./codepipeline-operations";
import { listen, readBody } from "./http";
import { type RunStore, openRunStore } from "./codepipeline-store";

export type {
  ExecutionMode,
  ExecutionRecord,
  LocalActionSpec,
  LocalPipelineFailure,
  LocalPipelineSpec,
  LocalStageSpec,
  PipelineVariable,
  SourceRevisionOverride,
} from "./codepipeline-run";

export type FaultableOperation =
  | "StartPipelineExecution"
  | "GetPipelineExecution"
  | "StopPipelineExecution"
  | "ListPipelineExecutions"
  | "GetPipelineState"
  | "ListActionExecutions"
  | "RetryStageExecution"
  | "PutApprovalResult"
  | "GetPipeline";

export interface InjectedFault {
  operation: FaultableOperation;
  error: string; // the error's `__type`, e.g. ThrottlingException
  times: number; // the next N matching calls fail
  /**
   * Only every Nth matching call fails (`times` counts the failures): sustained throttling, as
   * CodePipeline answers a caller over its rate (ThrottlingException, HTTP 400).
   * https://docs.aws.amazon.com/codepipeline/latest/APIReference/CommonErrors.html
   */
  every?: number;
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
   * How long an action without a duration of its own (its share of the pipeline's durationMs)
   * still runs once a stop-and-wait is accepted; default 20 ms, a local shortcut kept for the
   * pipelines that do not ask for more. Actions with their own `durationMs`, and manual approvals,
   * always run to their end, as on AWS. null keeps such actions running until
   * `finish(id, "Stopped")`, for tests that act while an execution stops.
   */
  stopAndWaitMs?: number | null;
  /**
   * Who calls, by the access key id of the request's signature: ExecutionTrigger.triggerDetail of
   * the executions it starts. Unlisted keys are the local engine's role.
   */
  callers?: Record<string, string>;
  /** Keep the executions in this folder across restarts (local/codepipeline-store.ts); in memory when unset. */
  dataDir?: string;
}

export interface CodePipelineService {
  /** e.g. http://127.0.0.1:PORT */
  endpoint: string;
  /** Stops the server and cancels every pending timer, so the process can exit. */
  close(): Promise<void>;
  /** Ends a running (or stopping) execution now, emitting its terminal event. */
  finish(pipelineExecutionId: string, status: "Succeeded" | "Failed" | "Stopped"): void;
  /** Resolves once the execution's current attempt has ended and its terminal event was emitted. */
  whenEnded(pipelineExecutionId: string): Promise<ExecutionRecord>;
  executions(pipelineName?: string): ExecutionRecord[];
  /** HTTP calls received for an operation, failed ones included. */
  callCount(operation: string): number;
  faults: { inject(fault: InjectedFault): void; clear(): void };
}

/** How long a stop-and-wait stays Stopping by default (CodePipelineServiceOptions.stopAndWaitMs). */
const STOP_AND_WAIT_MS = 20;

/** The access key id of a SigV4 `Authorization` header, if any. */
function accessKeyOf(request: IncomingMessage): string | undefined {
  return /Credential=([^/,\s]+)\//.exec(String(request.headers.authorization ?? ""))?.[1];
}

export class LocalCodePipeline extends CodePipelineOperations implements CodePipelineService {
  endpoint = "";
  readonly faults = {
    inject: (fault: InjectedFault) => void this.injected.push({ ...fault, seen: 0 }),
    clear: () => void (this.injected = []),
  };
  private readonly calls = new Map<string, number>();
  private injected: (InjectedFault & { seen: number })[] = [];
  /** Set by close(): a request still being read then changes nothing, so no run (or timer) starts after it. */
  private closed = false;
  private readonly server: Server;
  private readonly region: string;
  private readonly account: string;
  private readonly store: RunStore;
  private readonly operations: Record<FaultableOperation, (body: Body, caller: ExecutionTrigger) => object> =
    {
      StartPipelineExecution: (body, caller) => this.startPipelineExecution(body, caller),
      GetPipelineExecution: (body) => this.getPipelineExecution(body),
      StopPipelineExecution: (body) => this.stopPipelineExecution(body),
      ListPipelineExecutions: (body) => this.listPipelineExecutions(body),
      GetPipelineState: (body) => this.getPipelineState(body),
      ListActionExecutions: (body) => this.listActionExecutions(body),
      RetryStageExecution: (body) => this.retryStageExecution(body),
      PutApprovalResult: (body) => this.putApprovalResult(body),
      GetPipeline: (body) => this.getPipeline(body),
    };

  /** Throws for a spec whose failure names no stage or action of its pipeline. */
  constructor(private readonly options: CodePipelineServiceOptions) {
    super(options.pipelines, options.stopAndWaitMs === undefined ? STOP_AND_WAIT_MS : options.stopAndWaitMs);
    this.region = options.region ?? "us-east-1";
    this.account = options.accountId ?? "000000000000";
    this.store = openRunStore(options.dataDir);
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
    this.restore(this.store.saved);
    return this;
  }

  async close(): Promise<void> {
    this.closed = true;
    for (const run of this.runs.values()) run.cancelTimers();
    this.server.closeAllConnections();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
    this.store.close();
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

  /** The trigger of an execution this request starts: StartPipelineExecution, by its caller. */
  private triggerOf(request: IncomingMessage): ExecutionTrigger {
    const key = accessKeyOf(request);
    const listed = key === undefined ? undefined : this.options.callers?.[key];
    return {
      triggerType: "StartPipelineExecution",
      triggerDetail: listed ?? `arn:aws:sts::${this.account}:assumed-role/release-machine-local/engine`,
    };
  }

  /** Each change is saved before it is told (local/codepipeline-store.ts). */
  protected readonly events: RunEvents = {
    pipeline: (run, state) => {
      this.store.save(run);
      const { record } = run;
      this.options.onEvent(
        this.envelope(PIPELINE_EVENT_DETAIL_TYPE, record.pipeline, {
          pipeline: record.pipeline,
          "execution-id": record.pipelineExecutionId,
          "start-time": record.startTime.toISOString(),
          state,
          version: 1,
          "pipeline-execution-attempt": record.attempt,
          "execution-trigger": {
            "trigger-type": record.trigger.triggerType,
            "trigger-detail": record.trigger.triggerDetail,
          },
        }),
      );
    },
    stage: (run, stage, state) => {
      this.store.save(run);
      const { record } = run;
      this.options.onEvent(
        this.envelope(STAGE_EVENT_DETAIL_TYPE, record.pipeline, {
          pipeline: record.pipeline,
          "execution-id": record.pipelineExecutionId,
          stage,
          state,
          version: 1,
        }),
      );
    },
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

  /** The pipeline's structure, with its execution mode (GetPipeline). */
  private getPipeline(body: Body): object {
    const { spec, plan } = this.pipelineOf(body.name, "name");
    const created = epochSeconds(this.runsOf(spec.name).at(-1)?.record.startTime ?? new Date());
    return {
      pipeline: {
        name: spec.name,
        roleArn: `arn:aws:iam::${this.account}:role/release-machine-local-pipeline`,
        artifactStore: { type: "S3", location: "release-machine-local-artifacts" },
        stages: plan.stages.map((stage) => ({
          name: stage.name,
          actions: stage.actions.map((action) => ({
            name: action.name,
            actionTypeId: action.manualApproval
              ? { category: "Approval", owner: "AWS", provider: "Manual", version: "1" }
              : { category: "Build", owner: "Custom", provider: "ReleaseMachineLocal", version: "1" },
            runOrder: 1,
          })),
        })),
        version: 1,
        executionMode: plan.mode,
        pipelineType: "V2",
      },
      metadata: {
        pipelineArn: `arn:aws:codepipeline:${this.region}:${this.account}:${spec.name}`,
        created,
        updated: created,
      },
    };
  }

  /** Each stage as its latest execution left it, with the latest run of each of its actions. */
  private getPipelineState(body: Body): object {
    const { spec, plan } = this.pipelineOf(body.name, "name");
    const runs = this.runsOf(spec.name);
    const created = runs.at(-1)?.record.startTime ?? new Date();
    return {
      pipelineName: spec.name,
      pipelineVersion: 1,
      stageStates: plan.stages.map(({ name, actions }) => {
        const latest = runs.find((run) => run.stages.some((s) => s.name === name));
        const stage = latest?.stages.find((s) => s.name === name);
        const runsOfStage = latestRuns(stage);
        return {
          stageName: name,
          inboundTransitionState: { enabled: true },
          actionStates: actions.map(({ name: actionName }) => {
            const action = runsOfStage.find((a) => a.actionName === actionName);
            const tokens = plan.mode !== "PARALLEL";
            return { actionName, ...(action && { latestExecution: actionExecution(action, tokens) }) };
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
    const pipeline = this.pipelineOf(body.pipelineName, "pipelineName");
    if (body.filter !== undefined && !isRecord(body.filter)) throw validation("'filter' must be an object");
    const id = body.filter?.pipelineExecutionId;
    const runs = id === undefined ? this.runsOf(pipeline.spec.name) : [this.runOf(pipeline, id)];
    const details = runs.flatMap((run) => run.stages.flatMap((s) => s.actions.map((a) => ({ run, a }))));
    const { items, nextToken } = page(
      newestFirst(details, ({ a }) => a.startTime),
      body,
    );
    return {
      actionExecutionDetails: items.map(({ run, a }) =>
        actionExecutionDetail(run.record.pipelineExecutionId, a, pipeline.plan.mode === "PARALLEL"),
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
    if (!fault) return undefined;
    fault.seen += 1;
    if (fault.every !== undefined && fault.seen % fault.every !== 0) return undefined;
    fault.times -= 1;
    return fault;
  }

  private async handle(request: IncomingMessage): Promise<object> {
    if (request.method !== "POST" || request.url !== "/")
      throw new CodePipelineError("UnknownOperationException", "Only POST / is served", 404);
    const target = String(request.headers["x-amz-target"] ?? "");
    const operation = target.startsWith("CodePipeline_20150709.") ? target.slice(22) : target;
    this.calls.set(operation, this.callCount(operation) + 1);
    const body = parseBody((await readBody(request)) ?? "");
    if (this.closed)
      throw new CodePipelineError("ServiceUnavailableException", "The local CodePipeline is closed", 503);
    if (!Object.hasOwn(this.operations, operation)) {
      throw new CodePipelineError(
        "UnknownOperationException",
        `Operation '${target}' is not supported locally`,
      );
    }
    const fault = this.takeFault(operation, body);
    if (fault && !fault.afterEffect)
      throw new CodePipelineError(fault.error, `Injected ${fault.error}`, fault.httpStatus);
    const result = this.operations[operation as FaultableOperation](body, this.triggerOf(request));
    // What the call changed is kept before it is answered.
    for (const run of this.runs.values()) if (!run.isTerminal) this.store.save(run);
    if (fault)
      throw new CodePipelineError(
        fault.error,
        `Injected ${fault.error} (the call took effect)`,
        fault.httpStatus,
      );
    return result;
  }

  /** One request's status and JSON payload; never throws. */
  private async answer(request: IncomingMessage): Promise<{ status: number; payload: object }> {
    try {
      return { status: 200, payload: await this.handle(request) };
    } catch (error) {
      const e =
        error instanceof CodePipelineError
          ? error
          : new CodePipelineError("InternalFailure", String(error), 500);
      return { status: e.httpStatus, payload: { __type: e.type, message: e.message } };
    }
  }
}

/** Starts a local CodePipeline on loopback; see LocalCodePipeline. */
export async function startCodePipelineService(
  options: CodePipelineServiceOptions,
): Promise<CodePipelineService> {
  return new LocalCodePipeline(options).listen();
}
