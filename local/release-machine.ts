/**
 * The whole release machine on one machine, no AWS account: dynalite, the CodePipeline stand-in,
 * the event router, the task-token service and the engine running the same rendered definition
 * with the same handlers. Tests drive it directly; `npm start` puts an HTTP API in front of it.
 */
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { S3Client } from "@aws-sdk/client-s3";
import type { HandlerName } from "../contract/permissions";
import type { TableNames } from "../handlers/config";
import type { ExecutionDeps } from "../handlers/executions";
import type { ReconcileReport } from "../handlers/pipeline-events";
import { failAbandonedReleases, takeOverDeadClaims } from "../handlers/release/recovery";
import { type FunctionName, type Handler, type HandlerDeps, wire } from "../handlers/wiring";
import { routeExecutionEnds, routePipelineEvents, routeUploadRecords } from "./event-rules";
import { DEFAULT_MANIFEST_RULES, type ManifestRules, checkRuleLimits } from "../contract/manifest-schema";
import type { ReleaseStatusView } from "../contract/release-view";
import { readRelease } from "../handlers/release-status";
import type { ControlDeps } from "../handlers/release-control";
import {
  DEFAULT_WORKFLOW_OPTIONS,
  WORKFLOW_FUNCTIONS,
  type WorkflowFunction,
  type WorkflowOptions,
  type WorkflowRefs,
  releaseWorkflow,
} from "../stepfunction/release-workflow";
import {
  type CodePipelineService,
  type LocalPipelineSpec,
  startCodePipelineService,
} from "./codepipeline-service";
import { createReleaseTables, type LocalDynamo, reindexTables, startDynamo } from "./dynamodb";
import {
  type EngineOptions,
  ExecutionAlreadyExists,
  type LocalExecution,
  LocalWorkflowEngine,
} from "./engine";
import { type EventsService, startEventsService } from "./events-service";
import { EventRouter, LOCAL_DELIVERY_CONCURRENCY } from "./event-router";
import { TaskTokenError, TaskTokenRegistry, startSfnService } from "./sfn-service";
import { clientConfig, functionClients, handlerDeps } from "./function-clients";
import {
  LOCAL_ACCOUNT,
  LOCAL_BUCKET,
  LOCAL_REFS,
  LOCAL_REGION,
  LOCAL_STATE_MACHINE_ARN,
  LOCAL_TABLES,
} from "./local-names";
import { type LocalIam, type LocalIamOptions, enforcedEngineServices, localIam } from "./iam-wiring";
import { PAYLOADS } from "./payloads";
import { executionStatusChangeEvent } from "./execution-events";
import { type ExecutionJournal, openExecutionJournal } from "./execution-journal";
import { type FunctionTimeouts, timeoutOf, withLambdaTimeout } from "./lambda-timeout";

export {
  LOCAL_ACCOUNT,
  LOCAL_BUCKET,
  LOCAL_CREDENTIALS,
  LOCAL_REFS,
  LOCAL_REGION,
  LOCAL_STATE_MACHINE_ARN,
  LOCAL_TABLES,
} from "./local-names";

export interface LocalReleaseMachineOptions {
  pipelines: LocalPipelineSpec[];
  /** The allow-list; defaults to every local pipeline's name. */
  allowedPipelines?: string[];
  manifestRules?: Partial<Omit<ManifestRules, "allowedPipelines">>;
  workflow?: Partial<WorkflowOptions>;
  /** Persist DynamoDB data here; in memory when unset. */
  dataDir?: string;
  /**
   * Keep accepted executions (local/execution-journal.ts) and CodePipeline's executions
   * (local/codepipeline-store.ts) here, so a restart takes them up again; in memory when unset.
   */
  durableDir?: string;
  /**
   * The last run on `dataDir` did not stop cleanly (its lock was left behind): every table item is
   * written again at start-up so each index holds it (local/dynamodb.ts, reindexTables).
   */
  rebuildIndexes?: boolean;
  /** The CodePipeline stand-in's port; an ephemeral one when unset. */
  codepipelinePort?: number;
  /** The Step Functions endpoint's port; an ephemeral one when unset. */
  sfnPort?: number;
  /** dynalite's port; an ephemeral one when unset. */
  dynamodbPort?: number;
  /** Compress Retry pauses to this many ms (tests). */
  retryPauseMs?: number;
  /** The stack's stopGraceMinutes: how long a stop-and-wait stays pending before it is abandoned. */
  stopGraceMinutes?: number;
  /** Told of every engine event (benchmarks). */
  onEngineEvent?: EngineOptions["onEvent"];
  /** History events an execution may have (AWS: 25,000); lower only to test the limit. */
  historyLimit?: number;
  /** How long an execution may run before it ends TIMED_OUT; one year (as on AWS) when unset. */
  executionTimeoutSeconds?: number;
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
  /** Shortens functions' Lambda timeouts (tests); contract/function-timeouts.ts otherwise. */
  functionTimeoutSeconds?: FunctionTimeouts;
  /**
   * New S3 clients for manifests uploaded to the local bucket (the local server provides them):
   * one per function, each enforcing that function's role.
   */
  s3?: () => S3Client;
  /**
   * IAM at run time (local/iam-enforcement.ts), on unless `enforce` is false: every call a function
   * or the engine makes is evaluated against its role's statements. `statements` replaces a role's
   * statements (`stateMachine`: the workflow's role) to show what a missing grant does.
   */
  iam?: LocalIamOptions;
  /** Whether a release's submitter may approve its own gates (the stack's `allowSelfApproval`). */
  allowSelfApproval?: boolean;
  /** Told of each execution started through StartExecution (a retry's attempt), for the server's log. */
  onExecutionStarted?: (execution: LocalExecution, input: unknown) => void;
  /** Told of each DynamoDB client the handlers and the engine use, before any request (benchmarks meter them). */
  onDynamoClient?: (client: DynamoDBClient, endpoint: string) => void;
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
  /** The Step Functions endpoint (SendTask*, StartExecution, StopExecution, DescribeExecution). */
  sfnEndpoint: string;
  /** What the release-control routes run with (handlers/release-control.ts). */
  control: ControlDeps;
  /** The clients and settings function `name` runs with: its own, under its role (test hooks). */
  functionDeps(name: HandlerName): HandlerDeps;
  /** The API's functions, wired as on Lambda (handlers/wiring.ts): the local server answers with them. */
  api: {
    releaseStatus: Handler<"releaseStatus">;
    releaseControl: Handler<"releaseControl">;
    /** `POST /releases`: the one submission function (handlers/submission.ts). */
    submitRelease: Handler<"submitRelease">;
    /** The freeze routes (handlers/freezes.ts). */
    freezeControl: Handler<"freezeControl">;
  };
  /** Starts an execution as the API does: the manifest text as the request body. */
  submit(manifest: unknown, options?: { name?: string }): LocalExecution;
  /** Starts an execution with an explicit input (e.g. the S3 rule's). */
  start(input: unknown, options?: { name?: string }): LocalExecution;
  reconcile(): Promise<ReconcileReport>;
  readRelease(releaseId: string): Promise<ReleaseStatusView | undefined>;
  /** The executions not ended at the last stop, started again from the journal (durableDir). */
  resumed: LocalExecution[];
  /** Whether the execution journal knows this execution (always false without durableDir). */
  journaled(executionArn: string): boolean;
  close(): Promise<void>;
}

/** The workflow's functions as the engine calls them: a JSON payload in, the handler's result out. */
type LocalFunctions = Record<WorkflowFunction, (payload: unknown) => Promise<unknown>>;

/** The manifest rules: the defaults, the options' overrides, and the allow-list. */
function localRules(options: LocalReleaseMachineOptions): ManifestRules & { allowedPipelines: string[] } {
  const rules = {
    ...DEFAULT_MANIFEST_RULES,
    ...options.manifestRules,
    allowedPipelines: options.allowedPipelines ?? options.pipelines.map((p) => p.name),
  };
  checkRuleLimits(rules);
  return rules;
}

/**
 * The task-token service, whose StartExecution (the retry route's attempts) reaches the engine
 * once `late.engine` is set: the engine is built after the service it completes tasks through.
 */
function startLocalSfn(
  registry: TaskTokenRegistry,
  late: { engine?: LocalWorkflowEngine },
  options: Pick<LocalReleaseMachineOptions, "onExecutionStarted" | "sfnPort">,
) {
  const { onExecutionStarted } = options;
  return startSfnService({
    registry,
    ...(options.sfnPort !== undefined && { port: options.sfnPort }),
    startExecution: ({ stateMachineArn, name, input }) => {
      if (!late.engine || stateMachineArn !== LOCAL_STATE_MACHINE_ARN)
        throw new TaskTokenError(
          "StateMachineDoesNotExist",
          `State Machine Does Not Exist: '${stateMachineArn}'`,
        );
      try {
        const parsed = JSON.parse(input) as unknown;
        const execution = late.engine.startExecution({ input: parsed, name });
        onExecutionStarted?.(execution, parsed);
        return execution;
      } catch (error) {
        if (error instanceof ExecutionAlreadyExists)
          throw new TaskTokenError("ExecutionAlreadyExists", error.message);
        throw error;
      }
    },
    executions: {
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
      stop: (arn, reason) =>
        late.engine?.describeExecution(arn) ? late.engine.stopExecution(arn, reason) : undefined,
      describe: (arn) => late.engine?.describeExecution(arn),
    },
  });
}

/** One workflow function as the engine calls it: its payload decoded once, then its handler. */
function localFunction<N extends WorkflowFunction>(name: N, deps: HandlerDeps) {
  const handler: Handler<N> = wire(name, deps);
  const decode = PAYLOADS[name];
  return async (payload: unknown) => handler(decode(payload));
}

/** The workflow's functions: the same handlers Lambda runs (handlers/wiring.ts), with the engine's payloads. */
function localFunctions(deps: (name: HandlerName) => HandlerDeps): LocalFunctions {
  return {
    loadManifest: localFunction("loadManifest", deps("loadManifest")),
    validateManifest: localFunction("validateManifest", deps("validateManifest")),
    recordRejection: localFunction("recordRejection", deps("recordRejection")),
    registerRelease: localFunction("registerRelease", deps("registerRelease")),
    awaitRelease: localFunction("awaitRelease", deps("awaitRelease")),
    stopRelease: localFunction("stopRelease", deps("stopRelease")),
  };
}

/** The engine running the rendered workflow, its Lambda tasks resolved to `functions` by ARN. */
function localEngine(
  options: LocalReleaseMachineOptions,
  functions: LocalFunctions,
  resources: {
    dynamodb: DynamoDBClient;
    router: EventRouter;
    registry: TaskTokenRegistry;
    iam: LocalIam;
    journal?: ExecutionJournal;
  },
): LocalWorkflowEngine {
  const definition = releaseWorkflow(LOCAL_REFS, { ...DEFAULT_WORKFLOW_OPTIONS, ...options.workflow });
  const intercept = options.interceptFunction;
  return new LocalWorkflowEngine(
    definition,
    enforcedEngineServices(
      {
        functions: Object.fromEntries(
          WORKFLOW_FUNCTIONS.map((name) => {
            const invoke = functions[name];
            const intercepted = intercept ? (payload: unknown) => intercept(name, payload, invoke) : invoke;
            // The timeout covers what an interceptor adds: a slowed invocation times out as on Lambda.
            return [
              LOCAL_REFS.functions[name],
              withLambdaTimeout(timeoutOf(name, options.functionTimeoutSeconds), intercepted),
            ];
          }),
        ),
        dynamodb: resources.dynamodb,
        putEvents: async (entries) => resources.router.putEvents(entries),
        tokens: resources.registry,
      },
      resources.iam.stateMachine(definition),
    ),
    {
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
      retryPauseMs: options.retryPauseMs,
      ...(options.onEngineEvent ? { onEvent: options.onEngineEvent } : {}),
      ...(options.historyLimit !== undefined ? { historyLimit: options.historyLimit } : {}),
      ...(options.executionTimeoutSeconds !== undefined
        ? { executionTimeoutSeconds: options.executionTimeoutSeconds }
        : {}),
      // Journaled first (a start before StartExecution answers); then, as Step Functions tells the
      // default bus of every status change, rules on it work locally too.
      onStatusChange: (execution) => {
        resources.journal?.record(execution);
        resources.router.publish(
          executionStatusChangeEvent(execution, {
            stateMachineArn: LOCAL_STATE_MACHINE_ARN,
            region: LOCAL_REGION,
            accountId: LOCAL_ACCOUNT,
          }),
        );
      },
    },
  );
}

/** The stand-ins the handlers and the engine talk to, started on free ports. */
async function startStandIns(options: LocalReleaseMachineOptions, router: EventRouter) {
  const dynamo = await startDynamo({
    ...(options.dataDir ? { path: options.dataDir } : {}),
    ...(options.dynamodbPort !== undefined && { port: options.dynamodbPort }),
  });
  const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: dynamo.endpoint });
  await createReleaseTables(dynamodb, LOCAL_TABLES);
  // The last run on this folder was killed: every index made whole before anything reads one.
  if (options.dataDir && options.rebuildIndexes) await reindexTables(dynamodb, Object.values(LOCAL_TABLES));
  const codepipeline = await startCodePipelineService({
    pipelines: options.pipelines,
    ...(options.codepipelinePort !== undefined && { port: options.codepipelinePort }),
    onEvent: (event) => router.publish(event),
    ...(options.durableDir !== undefined && { dataDir: options.durableDir }),
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
  });
  const registry = new TaskTokenRegistry();
  const late: { engine?: LocalWorkflowEngine } = {};
  const sfn = await startLocalSfn(registry, late, options);
  const events = await startEventsService({ putEvents: (entries) => router.putEvents(entries) });
  return { dynamo, dynamodb, codepipeline, registry, late, sfn, events };
}

/**
 * The reconciler, every `everyMs` when set, and on demand. stop() ends the timer and waits for
 * every pass still running: one cut off mid-scan would read from dynalite after it closed. A tick
 * while the timer's last pass still runs is skipped, so slow passes never pile up.
 */
function localReconciler(run: () => Promise<ReconcileReport>, everyMs: number | undefined) {
  const running = new Set<Promise<unknown>>();
  const pass = (): Promise<ReconcileReport> => {
    const report = run();
    const settled = report.then(
      () => undefined,
      () => undefined,
    );
    running.add(settled);
    void settled.then(() => running.delete(settled));
    return report;
  };
  let timerPass: Promise<unknown> | undefined;
  const tick = () => {
    timerPass ??= pass()
      .catch(() => undefined)
      .finally(() => (timerPass = undefined));
  };
  const timer = everyMs !== undefined ? setInterval(tick, everyMs) : undefined;
  return {
    pass,
    async stop(): Promise<void> {
      clearInterval(timer);
      while (running.size > 0) await Promise.all([...running]);
    },
  };
}

export async function startLocalReleaseMachine(
  options: LocalReleaseMachineOptions,
): Promise<LocalReleaseMachine> {
  const tables: TableNames = LOCAL_TABLES;
  const rules = localRules(options);
  const router = new EventRouter({
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
    maxConcurrentDeliveries: LOCAL_DELIVERY_CONCURRENCY,
  });
  const { dynamo, dynamodb, codepipeline, registry, late, sfn, events } = await startStandIns(
    options,
    router,
  );

  const endpoints = { sfn: sfn.endpoint, codepipeline: codepipeline.endpoint, events: events.endpoint };
  // The operator's clients (machine.deps, readRelease, recovery): no function's role.
  const deps = handlerDeps(dynamodb, endpoints, options.retryPauseMs);
  const iam = localIam(
    {
      partition: "aws",
      region: LOCAL_REGION,
      accountId: LOCAL_ACCOUNT,
      tables: LOCAL_TABLES,
      bucket: LOCAL_BUCKET,
      eventBusName: LOCAL_REFS.eventBusName,
      pipelines: rules.allowedPipelines,
      stateMachineArn: LOCAL_STATE_MACHINE_ARN,
    },
    options.iam,
  );

  // The engine calls AWS as Step Functions does: one request per attempt, so the workflow's Retry
  // policies alone decide how often a failed call is repeated (the SDK would add its own retries).
  const engineDynamodb = new DynamoDBClient({ ...clientConfig, maxAttempts: 1, endpoint: dynamo.endpoint });
  options.onDynamoClient?.(engineDynamodb, dynamo.endpoint);
  const control = {
    stateMachineArn: LOCAL_STATE_MACHINE_ARN,
    allowSelfApproval: options.allowSelfApproval ?? false,
  };
  const own = functionClients(options, { dynamo: dynamo.endpoint, ...endpoints }, iam, { rules, control });
  const injected = own.deps;
  const timed = <N extends FunctionName>(name: N): Handler<N> =>
    withLambdaTimeout(timeoutOf(name, options.functionTimeoutSeconds), wire(name, injected(name)));
  const reconcile = timed("reconciler");
  const journal = options.durableDir ? openExecutionJournal(options.durableDir) : undefined;
  const engine = localEngine(options, localFunctions(injected), {
    dynamodb: engineDynamodb,
    router,
    registry,
    iam,
    ...(journal && { journal }),
  });

  late.engine = engine;
  routePipelineEvents(
    router,
    injected("pipelineEvent"),
    rules.allowedPipelines,
    options.functionTimeoutSeconds,
  );
  routeUploadRecords(router, injected("uploaderEvent"), LOCAL_BUCKET, options.functionTimeoutSeconds);
  const executionEnds = routeExecutionEnds(
    router,
    injected("executionEnded"),
    options.functionTimeoutSeconds,
  );

  const reconciler = localReconciler(reconcile, options.reconcileEveryMs);
  // Every rule is in place: the executions the last stop cut off run again.
  const resumed = journal?.replay(engine) ?? [];

  const start = (input: unknown, startOptions: { name?: string } = {}) =>
    engine.startExecution({ input, ...(startOptions.name ? { name: startOptions.name } : {}) });

  return {
    engine,
    router,
    codepipeline,
    dynamo,
    deps,
    functionDeps: injected,
    tables,
    stateMachineArn: LOCAL_STATE_MACHINE_ARN,
    events,
    sfnEndpoint: sfn.endpoint,
    control: { ...deps, ...control },
    api: {
      releaseStatus: timed("releaseStatus"),
      releaseControl: timed("releaseControl"),
      submitRelease: timed("submitRelease"),
      freezeControl: timed("freezeControl"),
    },
    start,
    submit: (manifest, submitOptions) =>
      start(
        { source: "api", body: typeof manifest === "string" ? manifest : JSON.stringify(manifest) },
        submitOptions,
      ),
    reconcile: reconciler.pass,
    readRelease: (releaseId) => readRelease(deps, releaseId),
    resumed,
    journaled: (executionArn) => journal?.knows(executionArn) ?? false,
    async close() {
      // A shutdown's aborts are no ends: the journal keeps these executions to run again.
      journal?.close();
      await reconciler.stop();
      executionEnds.shutDown();
      await engine.stopAll();
      await router.idle();
      router.close();
      await codepipeline.close();
      await sfn.close();
      await events.close();
      deps.events.destroy();
      own.destroy();
      engineDynamodb.destroy();
      dynamodb.destroy();
      await dynamo.close();
    },
  };
}

/**
 * After a restart (handlers/release/recovery.ts): starts claimed by the stopped process are taken
 * over, and a release whose execution the journal does not know (so nothing runs it again) is
 * marked FAILED, saying why. Returns those releases' ids. The caller's next reconciler pass then
 * records the real end of every execution whose end was not acted on.
 */
export async function failOrphanedReleases(machine: LocalReleaseMachine): Promise<string[]> {
  const abandoned = await failAbandonedReleases(machine.deps, machine.journaled);
  await takeOverDeadClaims(machine.deps);
  return abandoned.map((release) => release.releaseId);
}
