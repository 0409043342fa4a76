/**
 * Runs the rendered workflow definition with aws-local-stepfunctions, resolving every Task state
 * as its integration declares (stepfunction/integrations.ts): Lambda tasks to the in-process
 * handlers, `dynamodb:*` to dynalite, `events:putEvents` to the event router, and
 * `.waitForTaskToken` to the task-token registry that the handlers complete through the Step
 * Functions protocol. A Task it cannot resolve is an error at construction, never a silent pass.
 *
 * The engine keys overrides by state name, takes a static Context Object and has no
 * `$$.Task.Token`; getters on the context supply fresh tokens and entry times per read.
 */
import "./polyfills";
import { randomUUID } from "node:crypto";
import {
  type DynamoDBClient,
  GetItemCommand,
  PutItemCommand,
  UpdateItemCommand,
} from "@aws-sdk/client-dynamodb";
import { StateMachine } from "aws-local-stepfunctions";
import { type JsonValue, type StateMachineDefinition, type TaskState, allStates } from "../stepfunction/asl";
import { type LocalCall, integrationOf } from "../stepfunction/integrations";
import { CostCounter, type EngineEvent, type ExecutionCosts, HISTORY_LIMIT } from "./history";
import { type LocalFunction, TaskError, invokeLocal, sdkError, withoutMetadata } from "./engine-calls";

export type { LocalFunction };
import type { TaskTokenRegistry } from "./sfn-service";

/**
 * Step Functions quotas the engine enforces as AWS does, so that a local run fails where a
 * deployed one would (docs/aws-facts.md, "Step Functions"):
 * - execution input and every state's input and output: at most 256 KiB of UTF-8;
 * - execution names: 1-80 characters, none of whitespace, < > { } [ ] ? * " # % \ ^ | ~ ` $ & , ; : /
 *   or control characters;
 * - execution history: at most 25,000 events.
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
 */
export const STATE_DATA_LIMIT_BYTES = 256 * 1024;
// eslint-disable-next-line no-control-regex -- Step Functions refuses control characters in names
const EXECUTION_NAME = /^[^\s<>{}[\]?*"#%\\^|~`$&,;:/\u0000-\u001f\u007f-\u009f]{1,80}$/;

export interface EngineServices {
  /** Handlers keyed by the function ARN the definition references. */
  functions: Record<string, LocalFunction>;
  dynamodb: DynamoDBClient;
  putEvents: (
    entries: { Source: string; DetailType: string; Detail: string; EventBusName?: string }[],
  ) => Promise<{
    FailedEntryCount: number;
    Entries: unknown[];
  }>;
  tokens: TaskTokenRegistry;
}

export interface EngineOptions {
  stateMachineArn?: string;
  /** History events an execution may have (AWS: 25,000); lower only to test the limit. */
  historyLimit?: number;
  /** Told of every engine event of every execution, as it is logged (benchmarks time states with it). */
  onEvent?: (executionArn: string, event: EngineEvent) => void;
  /** Replaces every Retry pause with this many ms (tests); real intervals otherwise. */
  retryPauseMs?: number;
  /** How long an execution may run before it ends TIMED_OUT (AWS: one year for STANDARD). */
  executionTimeoutSeconds?: number;
  /** Told of each execution status change, its start (RUNNING) and its end, as it happens. */
  onStatusChange?: (execution: LocalExecution) => void;
}

/**
 * A STANDARD execution lasts at most one year; one that reaches the limit (or the state machine's
 * TimeoutSeconds) ends TIMED_OUT and no Catch runs (docs/aws-facts.md, "Step Functions").
 */
export const EXECUTION_TIME_LIMIT_SECONDS = 365 * 24 * 60 * 60;

/** StopExecution's and DescribeExecution's answer to an execution that does not exist. */
export class ExecutionDoesNotExist extends Error {
  override readonly name = "ExecutionDoesNotExist";
}

/** An end the engine imposes on a run: StopExecution (ABORTED) or the execution's timeout. */
type ForcedEnding = { status: "ABORTED" | "TIMED_OUT"; error?: string; cause?: string };

export type WorkflowExecutionStatus = "RUNNING" | "SUCCEEDED" | "FAILED" | "TIMED_OUT" | "ABORTED";

export interface LocalExecution {
  executionArn: string;
  name: string;
  input: unknown;
  startDate: Date;
  status: WorkflowExecutionStatus;
  stopDate?: Date;
  output?: unknown;
  error?: string;
  cause?: string;
  /** Settles when the execution ends; never rejects. */
  done: Promise<LocalExecution>;
  /** Billable state transitions and history events so far (final once `done` settled). */
  costs: ExecutionCosts;
  /** The largest state input or output seen, in bytes. */
  largestStateBytes: number;
}

/** The named error StartExecution gives for a used name, as on AWS. */
export class ExecutionAlreadyExists extends Error {
  override readonly name = "ExecutionAlreadyExists";
}

/** StartExecution's answer to a name outside Step Functions' rules. */
export class InvalidName extends Error {
  override readonly name = "InvalidName";
}

/** StartExecution's answer to input over its length constraint (262,144 bytes). */
export class ValidationException extends Error {
  override readonly name = "ValidationException";
}

const byteLength = (value: unknown) => Buffer.byteLength(JSON.stringify(value) ?? "", "utf8");

/** StartExecution's own checks: the name's alphabet and length, the input's size. Returns the input's bytes. */
function checkStartRequest(name: string, input: unknown): number {
  if (!EXECUTION_NAME.test(name)) {
    throw new InvalidName(
      `Invalid Name: '${name}' (1-80 characters, no whitespace, brackets, wildcards or special characters)`,
    );
  }
  const bytes = byteLength(input);
  if (bytes > STATE_DATA_LIMIT_BYTES) {
    throw new ValidationException(
      `1 validation error detected: Value at 'input' failed to satisfy constraint: Member must have length less than or equal to ${STATE_DATA_LIMIT_BYTES} (got ${bytes})`,
    );
  }
  return bytes;
}

/** How a run that threw ended: aborted (shutdown), or failed with the error Step Functions would name. */
function endingOf(error: unknown): { status: "ABORTED" | "FAILED"; error: string; cause: string } {
  const inner = (error as { cause?: unknown }).cause ?? error;
  const e = inner instanceof Error ? inner : new Error(String(inner));
  const aborted = (error as Error)?.name === "ExecutionAbortedError";
  return { status: aborted ? "ABORTED" : "FAILED", error: e.name, cause: e.message };
}

function tokenKeyOf(payload: JsonValue | undefined): string | undefined {
  if (payload && typeof payload === "object" && !Array.isArray(payload)) {
    return Object.keys(payload)
      .find((key) => payload[key] === "$$.Task.Token")
      ?.replace(/\.\$$/, "");
  }
  return undefined;
}

/**
 * Node's timers hold at most 2^31-1 ms (about 24.8 days) and fire at once for anything longer,
 * so the engine would time a one-year wait out immediately. No local run lasts that long: longer
 * timeouts are clamped to the limit (a copy; the engine mutates what it is given).
 */
const NODE_TIMER_LIMIT_SECONDS = Math.floor((2 ** 31 - 1) / 1000);
function withNodeTimerLimits(definition: StateMachineDefinition): StateMachineDefinition {
  const copy = structuredClone(definition);
  for (const [, state] of allStates(copy)) {
    if (state.Type === "Task" && state.TimeoutSeconds && state.TimeoutSeconds > NODE_TIMER_LIMIT_SECONDS) {
      state.TimeoutSeconds = NODE_TIMER_LIMIT_SECONDS;
    }
  }
  return copy;
}

type Override = (input: unknown, execution: ExecutionContext) => Promise<unknown>;
interface ExecutionContext {
  tokens: Set<string>;
}

export class LocalWorkflowEngine {
  private readonly overrides: Record<string, Override> = {};
  private readonly executions = new Map<string, LocalExecution>();
  readonly stateMachineArn: string;

  constructor(
    private readonly definition: StateMachineDefinition,
    private readonly services: EngineServices,
    private readonly options: EngineOptions = {},
  ) {
    this.stateMachineArn =
      options.stateMachineArn ?? "arn:aws:states:us-east-1:000000000000:stateMachine:release-machine";
    for (const [name, state] of allStates(definition)) {
      if (state.Type === "Task") this.overrides[name] = this.resolve(name, state);
    }
  }

  /** How this Task runs locally: what its integration declares (stepfunction/integrations.ts). */
  private resolve(name: string, state: TaskState): Override {
    const fail = (why: string) => new Error(`Task state "${name}" (${state.Resource}): ${why}`);
    let local: LocalCall;
    try {
      local = integrationOf(name, state.Resource).local;
    } catch {
      throw fail("no local stand-in resolves this resource");
    }
    switch (local.kind) {
      case "lambda":
        return local.waitForTaskToken ? this.lambdaWaitForToken(state, fail) : this.lambda(state, fail);
      case "dynamodb":
        return this.dynamodb(local.command);
      case "putEvents":
        return this.putEvents();
    }
  }

  private functionOf(state: TaskState, fail: (why: string) => Error): LocalFunction {
    const arn = state.Parameters?.FunctionName;
    const fn = typeof arn === "string" ? this.services.functions[arn] : undefined;
    if (!fn) throw fail(`no local function for FunctionName ${JSON.stringify(arn)}`);
    return fn;
  }

  private lambda(state: TaskState, fail: (why: string) => Error): Override {
    const fn = this.functionOf(state, fail);
    return async (input) => {
      const payload = (input as { Payload?: unknown }).Payload;
      return { ExecutedVersion: "$LATEST", StatusCode: 200, Payload: await invokeLocal(fn, payload) };
    };
  }

  private lambdaWaitForToken(state: TaskState, fail: (why: string) => Error): Override {
    const fn = this.functionOf(state, fail);
    const tokenKey = tokenKeyOf(state.Parameters?.Payload);
    if (!tokenKey) throw fail("the Payload must carry $$.Task.Token in a top-level field");
    const { tokens } = this.services;
    return async (input, execution) => {
      const payload = (input as { Payload: Record<string, unknown> }).Payload;
      const token = payload[tokenKey];
      if (typeof token !== "string") throw fail("no task token in the payload");
      execution.tokens.add(token);
      const completion = tokens.wait(token);
      // The wait must be observed before the handler may complete it.
      completion.catch(() => undefined);
      await invokeLocal(fn, payload);
      return completion;
    };
  }

  private dynamodb(command: "PutItem" | "UpdateItem" | "GetItem"): Override {
    const Command = { PutItem: PutItemCommand, UpdateItem: UpdateItemCommand, GetItem: GetItemCommand }[
      command
    ] as unknown as new (input: never) => never;
    return async (input) => {
      try {
        // The optimized DynamoDB integration takes DynamoDB's own (PascalCase) request shape.
        const output = await this.services.dynamodb.send(new Command(input as never));
        return withoutMetadata(output);
      } catch (error) {
        throw sdkError("DynamoDB", error);
      }
    };
  }

  private putEvents(): Override {
    return async (input) => {
      const entries = ((input as { Entries: Record<string, unknown>[] }).Entries ?? []).map((entry) => ({
        ...(entry as { Source: string; DetailType: string; EventBusName?: string }),
        Detail: typeof entry.Detail === "string" ? entry.Detail : JSON.stringify(entry.Detail),
      }));
      const result = await this.services.putEvents(entries);
      if (result.FailedEntryCount > 0) {
        throw new TaskError("EventBridge.FailedEntry", JSON.stringify(result.Entries));
      }
      return result;
    };
  }

  /** StartExecution: a name in use by a running execution returns it (as on AWS); a used name otherwise fails. */
  startExecution(request: { input: unknown; name?: string; startDate?: Date }): LocalExecution {
    const name = request.name ?? randomUUID();
    const inputBytes = checkStartRequest(name, request.input);
    const executionArn = `${this.stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
    const existing = this.executions.get(executionArn);
    if (existing) {
      if (existing.status === "RUNNING" && JSON.stringify(existing.input) === JSON.stringify(request.input)) {
        return existing;
      }
      throw new ExecutionAlreadyExists(`Execution Already Exists: '${executionArn}'`);
    }
    const context: ExecutionContext = { tokens: new Set() };
    const run = this.run(request.input, executionArn, name, context);
    const execution: LocalExecution = {
      executionArn,
      name,
      input: request.input,
      startDate: request.startDate ?? new Date(),
      status: "RUNNING",
      done: undefined as unknown as Promise<LocalExecution>,
      costs: { transitions: 0, historyEvents: 0 },
      largestStateBytes: inputBytes,
    };
    const breach = this.watchQuotas(execution, run);
    let forced: ForcedEnding | undefined;
    const end = (ending: ForcedEnding) => {
      if (forced || execution.status !== "RUNNING") return;
      forced = ending;
      // The status changes at once, as DescribeExecution shows it on AWS; tasks already started run on.
      Object.assign(execution, ending, { stopDate: new Date() });
      run.abort();
    };
    this.enders.set(executionArn, end);
    const timer = this.executionTimer(() => end({ status: "TIMED_OUT" }));
    execution.done = run.result
      .then(
        (output: unknown) => ({ status: "SUCCEEDED" as const, output }),
        (error: unknown) => endingOf(error),
      )
      .then(async (ending) => {
        clearTimeout(timer);
        const broken = await breach;
        if (forced) return Object.assign(execution, { output: undefined });
        const final = broken ? { status: "FAILED" as const, ...broken, output: undefined } : ending;
        return Object.assign(execution, final, { stopDate: new Date() });
      });
    // Waits the execution left behind end with it; its end is told as its start was.
    const { tokens } = this.services;
    void execution.done.then(() => {
      for (const token of context.tokens) {
        if (tokens.pending().includes(token)) tokens.cancel(token, "the execution ended");
      }
      this.options.onStatusChange?.(execution);
    });
    this.abortFns.set(executionArn, run.abort);
    this.executions.set(executionArn, execution);
    this.options.onStatusChange?.(execution);
    return execution;
  }

  /**
   * StopExecution: a running execution ends ABORTED with the given error and cause. An execution
   * that already ended is left as it is and its stopDate answered, as the API lists no error for it;
   * an unknown one is ExecutionDoesNotExist.
   */
  stopExecution(executionArn: string, reason: { error?: string; cause?: string } = {}): { stopDate: Date } {
    const execution = this.executions.get(executionArn);
    if (!execution) throw new ExecutionDoesNotExist(`Execution Does Not Exist: '${executionArn}'`);
    this.enders.get(executionArn)?.({ status: "ABORTED", ...reason });
    return { stopDate: execution.stopDate ?? new Date() };
  }

  /** Arms the execution's time limit; one past Node's timer range cannot pass in a local run. */
  private executionTimer(onTimeout: () => void): NodeJS.Timeout | undefined {
    const seconds = this.options.executionTimeoutSeconds ?? EXECUTION_TIME_LIMIT_SECONDS;
    return seconds <= NODE_TIMER_LIMIT_SECONDS ? setTimeout(onTimeout, seconds * 1000) : undefined;
  }

  /** One run of the definition, with the overrides, retry pauses and Context Object of this execution. */
  private run(input: unknown, executionArn: string, name: string, context: ExecutionContext) {
    const { tokens } = this.services;
    const overrides = Object.fromEntries(
      Object.entries(this.overrides).map(([state, override]) => [
        state,
        (stateInput: unknown) => this.tracked(override(stateInput, context)),
      ]),
    );
    const retryPauseMs = this.options.retryPauseMs;
    const machine = new StateMachine(withNodeTimerLimits(this.definition) as never, {
      validationOptions: { noValidate: true },
    });
    return machine.run(input as never, {
      overrides: {
        taskResourceLocalHandlers: overrides as never,
        ...(retryPauseMs !== undefined
          ? {
              retryIntervalOverrides: Object.fromEntries(
                Object.keys(this.overrides).map((s) => [s, retryPauseMs]),
              ),
            }
          : {}),
      },
      context: {
        Execution: {
          Id: executionArn,
          Name: name,
          RoleArn: "arn:aws:iam::000000000000:role/release-machine-local",
        },
        StateMachine: { Id: this.stateMachineArn, Name: this.stateMachineArn.split(":").pop() },
        State: {
          get EnteredTime() {
            return new Date().toISOString();
          },
        },
        Task: {
          get Token() {
            return tokens.create();
          },
        },
      },
    });
  }

  /**
   * Follows the run's event log: counts transitions and history events onto the execution and
   * aborts the run at the first quota it passes, as AWS fails such an execution (no Catch can
   * handle it). Settles with that breach, or undefined, once the log is closed.
   */
  private async watchQuotas(
    execution: LocalExecution,
    run: { eventLogs: AsyncGenerator<unknown>; abort: () => void },
  ): Promise<{ error: string; cause: string } | undefined> {
    const counter = new CostCounter(this.definition);
    const historyLimit = this.options.historyLimit ?? HISTORY_LIMIT;
    let breach: { error: string; cause: string } | undefined;
    const stop = (found: { error: string; cause: string }) => {
      breach ??= found;
      run.abort();
    };
    try {
      for await (const event of run.eventLogs as AsyncGenerator<EngineEvent>) {
        this.options.onEvent?.(execution.executionArn, event);
        execution.costs = counter.addAll([event]).costs;
        for (const data of [event.state?.input, event.state?.output]) {
          if (data === undefined) continue;
          const bytes = byteLength(data);
          execution.largestStateBytes = Math.max(execution.largestStateBytes, bytes);
          if (bytes > STATE_DATA_LIMIT_BYTES) {
            stop({
              error: "States.DataLimitExceeded",
              cause: `The state/task '${event.state?.name}' returned a result with a size exceeding the maximum number of bytes service limit (${bytes} > ${STATE_DATA_LIMIT_BYTES}).`,
            });
          }
        }
        if (execution.costs.historyEvents > historyLimit) {
          stop({
            error: "States.Runtime",
            cause: `The execution reached the maximum number of history events (${historyLimit}).`,
          });
        }
      }
    } catch {
      // A log that fails ends the watch; the run's own result still ends the execution.
    }
    return breach;
  }

  private readonly abortFns = new Map<string, () => void>();
  private readonly enders = new Map<string, (ending: ForcedEnding) => void>();
  /** Task invocations still running: an aborted execution does not stop them, shutdown waits for them. */
  private readonly inFlight = new Set<Promise<unknown>>();

  private tracked<T>(work: Promise<T>): Promise<T> {
    const settled = work.then(
      () => undefined,
      () => undefined,
    );
    this.inFlight.add(settled);
    void settled.then(() => this.inFlight.delete(settled));
    return work;
  }

  /** An execution that ended before a restart (local/execution-journal.ts): its name stays used. */
  remember(ended: Omit<LocalExecution, "done" | "costs" | "largestStateBytes">): void {
    const execution = { ...ended, costs: { transitions: 0, historyEvents: 0 }, largestStateBytes: 0 };
    const remembered = execution as LocalExecution;
    remembered.done = Promise.resolve(remembered);
    this.executions.set(ended.executionArn, remembered);
  }

  describeExecution(executionArn: string): LocalExecution | undefined {
    return this.executions.get(executionArn);
  }

  listExecutions(): LocalExecution[] {
    return [...this.executions.values()];
  }

  /** Aborts every running execution and waits for the task invocations still running (shutdown). */
  async stopAll(): Promise<void> {
    const running = this.listExecutions().filter((e) => e.status === "RUNNING");
    for (const execution of running) this.abortFns.get(execution.executionArn)?.();
    await Promise.all(running.map((e) => e.done));
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
