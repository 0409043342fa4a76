/**
 * The whole release machine on one machine, no AWS account: dynalite, the CodePipeline stand-in,
 * the event router, the task-token service and the engine running the same rendered definition
 * with the same handlers. Tests drive it directly; `npm start` puts an HTTP API in front of it.
 */
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { RetryStrategyV2, RetryToken } from "@smithy/types";
import { documentClient } from "../handlers/clients";
import type { TableNames } from "../handlers/config";
import { pipelineStateChangePattern } from "../handlers/event-patterns";
import { type ExecutionDeps, recordState, releaseWaiterDone } from "../handlers/executions";
import {
  type ReconcileReport,
  handlePipelineEvent,
  pipelineStateChange,
  reconcile,
} from "../handlers/pipeline-events";
import { SETTLED_STATUSES } from "../handlers/model";
import { type RejectionRequest, recordRejection } from "../handlers/rejections";
import {
  type RegisterReleaseRequest,
  type RetryReleaseRequest,
  type StopReleaseRequest,
  pipelinesOfRelease,
  registerRelease,
  registerReleaseWaiter,
  retryRelease,
  stopReleaseAfterFailedWait,
} from "../handlers/scheduler";
import { loadManifest, validateManifest } from "../handlers/load-manifest";
import {
  DEFAULT_MANIFEST_RULES,
  type ManifestRules,
  checkRuleLimits,
  manifestParser,
} from "../handlers/manifest";
import { type ReleaseStatusView, readRelease } from "../handlers/release-status";
import type { ControlDeps } from "../handlers/release-control";
import {
  DEFAULT_WORKFLOW_OPTIONS,
  type WorkflowOptions,
  type WorkflowRefs,
  releaseWorkflow,
} from "../stepfunction/release-workflow";
import {
  type CodePipelineService,
  type LocalPipelineSpec,
  startCodePipelineService,
} from "./codepipeline-service";
import { createReleaseTables, type LocalDynamo, startDynamo } from "./dynamodb";
import {
  type EngineOptions,
  ExecutionAlreadyExists,
  type LocalExecution,
  LocalWorkflowEngine,
} from "./engine";
import { type EventsService, startEventsService } from "./events-service";
import { EventRouter } from "./event-router";
import { TaskTokenError, TaskTokenRegistry, startSfnService } from "./sfn-service";

export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCOUNT = "000000000000";
/** Dummy credentials: the stand-ins do not check signatures, but the SDK insists on signing. */
export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

const functionArn = (name: string) =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:release-machine-${name}`;

export const LOCAL_REFS: WorkflowRefs = {
  functions: {
    loadManifest: functionArn("load-manifest"),
    validateManifest: functionArn("validate-manifest"),
    recordRejection: functionArn("record-rejection"),
    registerRelease: functionArn("register-release"),
    awaitRelease: functionArn("await-release"),
    stopRelease: functionArn("stop-release"),
  },
  releasesTable: "releases",
  eventBusName: "default",
};

/** The local tables' names (the Pulumi program names its own). */
/** The local state machine's ARN: what the retry route starts executions of. */
export const LOCAL_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:release-machine`;

export const LOCAL_TABLES: TableNames = {
  releases: LOCAL_REFS.releasesTable,
  executions: "executions",
  releasePipelines: "release-pipelines",
};

/**
 * An SDK retry strategy that retries what the SDK would (throttling, transient and server errors)
 * up to `maxAttempts`, pausing `pauseMs` between attempts: the standard behaviour, compressed.
 */
function pausedRetries(maxAttempts: number, pauseMs: number): RetryStrategyV2 {
  const token = (count: number): RetryToken => ({ getRetryCount: () => count, getRetryDelay: () => 0 });
  return {
    acquireInitialRetryToken: async () => token(0),
    refreshRetryTokenForRetry: async (previous, info) => {
      const count = previous.getRetryCount() + 1;
      if (count >= maxAttempts || info.errorType === "CLIENT_ERROR")
        throw info.error ?? new Error("no retry");
      await new Promise((resolve) => setTimeout(resolve, pauseMs));
      return token(count);
    },
    recordSuccess: () => undefined,
  };
}

export interface LocalReleaseMachineOptions {
  pipelines: LocalPipelineSpec[];
  /** The allow-list; defaults to every local pipeline's name. */
  allowedPipelines?: string[];
  manifestRules?: Partial<Omit<ManifestRules, "allowedPipelines">>;
  workflow?: Partial<WorkflowOptions>;
  /** Persist DynamoDB data here; in memory when unset. */
  dataDir?: string;
  /** Compress Retry pauses to this many ms (tests). */
  retryPauseMs?: number;
  /** Told of every engine event (benchmarks). */
  onEngineEvent?: EngineOptions["onEvent"];
  /** History events an execution may have (AWS: 25,000); lower only to test the limit. */
  historyLimit?: number;
  /** Run the reconciler on this period; off when unset (tests call reconcile()). */
  reconcileEveryMs?: number;
  /**
   * Wraps every Lambda invocation the engine makes (fault injection and race tests): receives the
   * function's role in the workflow, its payload and the real invocation.
   */
  interceptFunction?: (
    name: keyof WorkflowRefs["functions"],
    payload: unknown,
    invoke: (payload: unknown) => Promise<unknown>,
  ) => Promise<unknown>;
  /** An S3 client for manifests uploaded to the local bucket (the local server provides one). */
  s3?: S3Client;
  /** Whether a release's submitter may approve its own gates (the stack's `allowSelfApproval`). */
  allowSelfApproval?: boolean;
  /** Told of each execution started through StartExecution (a retry's attempt), for the server's log. */
  onExecutionStarted?: (execution: LocalExecution, input: unknown) => void;
}

export interface LocalReleaseMachine {
  engine: LocalWorkflowEngine;
  router: EventRouter;
  codepipeline: CodePipelineService;
  dynamo: LocalDynamo;
  deps: ExecutionDeps;
  tables: TableNames;
  /** The state machine the engine runs (the retry route starts its executions). */
  stateMachineArn: string;
  /** The EventBridge stand-in the handlers publish release events to. */
  events: EventsService;
  /** What the release-control routes run with (handlers/release-control.ts). */
  control: ControlDeps;
  /** Starts an execution as the API does: the manifest text as the request body. */
  submit(manifest: unknown, options?: { name?: string }): LocalExecution;
  /** Starts an execution with an explicit input (e.g. the S3 rule's). */
  start(input: unknown, options?: { name?: string }): LocalExecution;
  reconcile(): Promise<ReconcileReport>;
  readRelease(releaseId: string): Promise<ReleaseStatusView | undefined>;
  close(): Promise<void>;
}

export async function startLocalReleaseMachine(
  options: LocalReleaseMachineOptions,
): Promise<LocalReleaseMachine> {
  const tables: TableNames = LOCAL_TABLES;
  const allowed = options.allowedPipelines ?? options.pipelines.map((p) => p.name);
  const rules: ManifestRules = {
    ...DEFAULT_MANIFEST_RULES,
    ...options.manifestRules,
    allowedPipelines: allowed,
  };
  checkRuleLimits(rules);
  const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

  const dynamo = await startDynamo(options.dataDir ? { path: options.dataDir } : {});
  const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: dynamo.endpoint });
  await createReleaseTables(dynamodb, tables);

  const router = new EventRouter({ region: LOCAL_REGION, accountId: LOCAL_ACCOUNT });
  const codepipelineService = await startCodePipelineService({
    pipelines: options.pipelines,
    onEvent: (event) => router.publish(event),
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
  });
  const registry = new TaskTokenRegistry();
  // StartExecution reaches the engine, created below (the retry route starts attempts through it).
  const late: { engine?: LocalWorkflowEngine } = {};
  const sfnService = await startSfnService({
    registry,
    startExecution: ({ stateMachineArn, name, input }) => {
      if (!late.engine || stateMachineArn !== LOCAL_STATE_MACHINE_ARN)
        throw new TaskTokenError(
          "StateMachineDoesNotExist",
          `State Machine Does Not Exist: '${stateMachineArn}'`,
        );
      try {
        const parsed = JSON.parse(input) as unknown;
        const execution = late.engine.startExecution({ input: parsed, name });
        options.onExecutionStarted?.(execution, parsed);
        return execution;
      } catch (error) {
        if (error instanceof ExecutionAlreadyExists)
          throw new TaskTokenError("ExecutionAlreadyExists", error.message);
        throw error;
      }
    },
  });
  const eventsService = await startEventsService({ putEvents: (entries) => router.putEvents(entries) });

  const deps: ExecutionDeps = {
    ddb: documentClient(dynamodb),
    sfn: new SFNClient({ ...clientConfig, endpoint: sfnService.endpoint }),
    // As on Lambda (handlers/clients.ts): the SDK backs off on throttling inside the function;
    // with retryPauseMs (tests), after that many ms instead of the SDK's own seconds.
    codepipeline: new CodePipelineClient({
      ...clientConfig,
      endpoint: codepipelineService.endpoint,
      ...(options.retryPauseMs !== undefined
        ? { retryStrategy: pausedRetries(6, options.retryPauseMs) }
        : { maxAttempts: 6, retryMode: "adaptive" }),
    }),
    events: new EventBridgeClient({ ...clientConfig, endpoint: eventsService.endpoint }),
    tables,
  };
  const s3 =
    options.s3 ??
    // Without a local bucket, S3 requests fail fast rather than reach AWS.
    new S3Client({ ...clientConfig, endpoint: "http://127.0.0.1:9", maxAttempts: 1 });

  const parse = manifestParser(rules);
  const handlers: Record<keyof WorkflowRefs["functions"], (payload: unknown) => Promise<unknown> | unknown> =
    {
      loadManifest: (payload) =>
        loadManifest({ s3, maxBytes: rules.maxBytes }, (payload as { request: unknown }).request),
      validateManifest: (payload) => validateManifest(parse, payload as { text: unknown }),
      recordRejection: (payload) =>
        recordRejection(
          { ddb: deps.ddb, tables, s3, maxBytes: rules.maxBytes, parse },
          payload as RejectionRequest,
        ),
      registerRelease: (payload) =>
        typeof payload === "object" && payload !== null && "retry" in payload
          ? retryRelease(deps, payload as RetryReleaseRequest)
          : registerRelease(deps, payload as RegisterReleaseRequest),
      awaitRelease: (payload) =>
        registerReleaseWaiter(
          deps,
          payload as { taskToken: string; releaseId: string; executionArn: string },
        ),
      stopRelease: (payload) => stopReleaseAfterFailedWait(deps, payload as StopReleaseRequest),
    };
  const definition = releaseWorkflow(LOCAL_REFS, { ...DEFAULT_WORKFLOW_OPTIONS, ...options.workflow });
  // The engine calls AWS as Step Functions does: one request per attempt, so the workflow's Retry
  // policies alone decide how often a failed call is repeated (the SDK would add its own retries).
  const singleAttempt = { ...clientConfig, maxAttempts: 1 };
  const engineDynamodb = new DynamoDBClient({ ...singleAttempt, endpoint: dynamo.endpoint });
  const engine = new LocalWorkflowEngine(
    definition,
    {
      functions: Object.fromEntries(
        (Object.keys(handlers) as (keyof typeof handlers)[]).map((name) => {
          const invoke = async (payload: unknown) => handlers[name](payload);
          const intercept = options.interceptFunction;
          return [
            LOCAL_REFS.functions[name],
            intercept ? (payload: unknown) => intercept(name, payload, invoke) : invoke,
          ];
        }),
      ),
      dynamodb: engineDynamodb,
      putEvents: async (entries) => router.putEvents(entries),
      tokens: registry,
    },
    {
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
      retryPauseMs: options.retryPauseMs,
      ...(options.onEngineEvent ? { onEvent: options.onEngineEvent } : {}),
      ...(options.historyLimit !== undefined ? { historyLimit: options.historyLimit } : {}),
    },
  );

  late.engine = engine;
  router.addRule({
    name: "pipeline-state-changed",
    pattern: pipelineStateChangePattern(allowed),
    target: async (event) => {
      const change = pipelineStateChange(event);
      return change ? handlePipelineEvent(deps, change) : "ignored";
    },
  });

  const timer =
    options.reconcileEveryMs !== undefined
      ? setInterval(() => void reconcile(deps).catch(() => undefined), options.reconcileEveryMs)
      : undefined;

  const start = (input: unknown, startOptions: { name?: string } = {}) =>
    engine.startExecution({ input, ...(startOptions.name ? { name: startOptions.name } : {}) });

  return {
    engine,
    router,
    codepipeline: codepipelineService,
    dynamo,
    deps,
    tables,
    stateMachineArn: LOCAL_STATE_MACHINE_ARN,
    events: eventsService,
    control: {
      ...deps,
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
      allowSelfApproval: options.allowSelfApproval ?? false,
    },
    start,
    submit: (manifest, submitOptions) =>
      start(
        { source: "api", body: typeof manifest === "string" ? manifest : JSON.stringify(manifest) },
        submitOptions,
      ),
    reconcile: () => reconcile(deps),
    readRelease: (releaseId) => readRelease(deps, releaseId),
    async close() {
      if (timer) clearInterval(timer);
      await engine.stopAll();
      await router.idle();
      router.close();
      await codepipelineService.close();
      await sfnService.close();
      await eventsService.close();
      deps.events.destroy();
      engineDynamodb.destroy();
      dynamodb.destroy();
      await dynamo.close();
    },
  };
}

/**
 * After a restart: releases the stopped engine left RUNNING are marked FAILED, saying why. Their
 * local pipelines ran inside the stopped process and ended with it: each running one is recorded
 * (once) as Stopped and taken off the reconciler's index, and those never started read Skipped.
 * Returns their ids.
 */
export async function failOrphanedReleases(machine: LocalReleaseMachine): Promise<string[]> {
  const { deps, tables } = machine;
  const { Items } = await deps.ddb.send(
    new ScanCommand({
      TableName: tables.releases,
      FilterExpression: "#status = :running",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":running": "RUNNING" },
    }),
  );
  const ids = (Items ?? []).map((item) => String(item.releaseId));
  const now = () => new Date().toISOString();
  for (const releaseId of ids) {
    for (const item of await pipelinesOfRelease(deps, releaseId)) {
      if (SETTLED_STATUSES.includes(item.status)) continue;
      const id = item.pipelineExecutionId;
      if (id) {
        await recordState(deps, {
          pipelineExecutionId: id,
          pipeline: item.pipeline,
          state: "STOPPED",
          status: "Stopped",
          at: now(),
          eventId: `local-engine-stopped:${id}`,
        });
        await releaseWaiterDone(deps, id);
      }
      await deps.ddb.send(
        new UpdateCommand({
          TableName: tables.releasePipelines,
          Key: { releaseId, pipeline: item.pipeline },
          UpdateExpression: "SET #status = :status, endedAt = :now",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: { ":status": id ? "Stopped" : "Skipped", ":now": now() },
        }),
      );
    }
    await deps.ddb.send(
      new UpdateCommand({
        TableName: tables.releases,
        Key: { releaseId },
        UpdateExpression: "SET #status = :failed, errorName = :error, cause = :cause, endedAt = :now",
        ConditionExpression: "#status = :running",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":failed": "FAILED",
          ":running": "RUNNING",
          ":error": "LocalEngineStopped",
          ":cause":
            "The local release machine stopped while this release was running; its local pipelines stopped with it. Submit it again under a new releaseId.",
          ":now": now(),
        },
      }),
    );
  }
  return ids;
}
