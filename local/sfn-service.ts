/**
 * Task tokens for `.waitForTaskToken`, served over the real Step Functions protocol (JSON 1.0) so
 * handlers complete waiting tasks with the unmodified `@aws-sdk/client-sfn` (SendTaskSuccess /
 * SendTaskFailure / SendTaskHeartbeat), pointed here by `AWS_ENDPOINT_URL_SFN`; fronting a local
 * engine, it also answers StartExecution, StopExecution and DescribeExecution. The registry also
 * works in-process, without the server: the local engine creates, waits on and cancels tokens.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import { isRecord } from "../contract/json";
import { listen, readBody } from "./http";

/** Error codes as Step Functions names them; the SDK maps each to its typed exception. */
export type TaskTokenErrorCode =
  | "ExecutionAlreadyExists"
  | "ExecutionDoesNotExist"
  | "StateMachineDoesNotExist"
  | "InvalidToken"
  | "TaskDoesNotExist"
  | "TaskTimedOut"
  | "InvalidOutput"
  | "ValidationException"
  | "SerializationException"
  | "UnknownOperationException";

/** A SendTask* request Step Functions would refuse; `name` is its error code. */
export class TaskTokenError extends Error {
  constructor(
    readonly code: TaskTokenErrorCode,
    message: string,
  ) {
    super(message);
    this.name = code;
  }
}

/** How a waiting task ends when it is failed: `name` is what Catch and Retry match. */
export class TaskFailedError extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

/** The error a cancelled wait rejects with (its execution ended, or its Map was cancelled). */
export const TASK_CANCELLED = "States.TaskCancelled";

// Real tokens are opaque strings several hundred characters long (the API allows 2048). Ours are
// 1024, so code that truncates tokens or puts them where long values do not fit fails here too.
const TOKEN_PREFIX = "local-task-token:";
const TOKEN_LENGTH = 1024;
// Step Functions' limits on SendTask* fields, in characters (output: bytes).
const MAX_OUTPUT_BYTES = 256 * 1024;
const MAX_ERROR = 256;
const MAX_CAUSE = 32768;

interface Waiter {
  promise: Promise<unknown>;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  settled: boolean;
}

export class TaskTokenRegistry {
  // Settled waiters are kept so a late completion fails as on AWS (TaskTimedOut), not InvalidToken.
  private readonly waiters = new Map<string, Waiter>();

  /** A new, unique token for one waiting task. */
  create(): string {
    const padding = randomBytes(TOKEN_LENGTH).toString("base64url");
    const token = `${TOKEN_PREFIX}${randomUUID()}:${padding}`.slice(0, TOKEN_LENGTH);
    let resolve!: Waiter["resolve"];
    let reject!: Waiter["reject"];
    const promise = new Promise<unknown>((res, rej) => ((resolve = res), (reject = rej)));
    // A task may be failed or cancelled before anyone waits: never an unhandled rejection.
    promise.catch(() => undefined);
    this.waiters.set(token, { promise, resolve, reject, settled: false });
    return token;
  }

  /** Resolves with the task's output; rejects with a TaskFailedError named as the failure was. */
  wait(token: string): Promise<unknown> {
    try {
      return this.waiter(token).promise;
    } catch (error) {
      return Promise.reject(error);
    }
  }

  /** SendTaskSuccess in-process: `output` is the value the task returns. */
  succeed(token: string, output: unknown): void {
    this.settle(token).resolve(output);
  }

  /** SendTaskFailure in-process (both fields are optional there, as on AWS). */
  fail(token: string, error = "", cause = ""): void {
    this.settle(token).reject(new TaskFailedError(error, cause));
  }

  /** SendTaskHeartbeat in-process: only proves the task is still waiting. */
  heartbeat(token: string): void {
    if (this.waiter(token).settled) throw timedOut();
  }

  /** Ends a wait whose task no longer exists; completing it afterwards fails with TaskTimedOut. */
  cancel(token: string, reason: string): void {
    this.settle(token).reject(new TaskFailedError(TASK_CANCELLED, reason));
  }

  /** Tokens still waiting, oldest first. */
  pending(): string[] {
    return [...this.waiters].filter(([, waiter]) => !waiter.settled).map(([token]) => token);
  }

  /** As on AWS: a token that is not one (malformed) is InvalidToken; a well-formed token this
   *  registry does not know (another registry's, e.g. stored before a restart) is TaskDoesNotExist. */
  private waiter(token: string): Waiter {
    const waiter = this.waiters.get(token);
    if (waiter) return waiter;
    if (isWellFormed(token)) throw new TaskTokenError("TaskDoesNotExist", "Task Does Not Exist");
    throw new TaskTokenError("InvalidToken", "Invalid Token: 'Invalid token'");
  }

  private settle(token: string): Waiter {
    const waiter = this.waiter(token);
    if (waiter.settled) throw timedOut();
    waiter.settled = true;
    return waiter;
  }
}

const isWellFormed = (token: string) => token.length === TOKEN_LENGTH && token.startsWith(TOKEN_PREFIX);
const timedOut = () =>
  new TaskTokenError("TaskTimedOut", "Task Timed Out: 'Provided task does not exist anymore'");

function text(body: Record<string, unknown>, field: string, required: boolean, max: number): string {
  const value = body[field] ?? (required ? undefined : "");
  if (typeof value !== "string" || (required && value === ""))
    throw new TaskTokenError("ValidationException", `1 validation error detected: '${field}' is required`);
  if (value.length > max) throw new TaskTokenError("ValidationException", `'${field}' is over ${max} long`);
  return value;
}

/**
 * StartExecution, when the service fronts a local engine (the retry route starts a release's next
 * attempt through it): `name` is required here, as the release machine always names its retries.
 */
export type LocalStartExecution = (request: { stateMachineArn: string; name: string; input: string }) => {
  executionArn: string;
  startDate: Date;
};

/** An execution as DescribeExecution shows it. */
export interface ExecutionDescription {
  executionArn: string;
  name: string;
  status: string;
  startDate: Date;
  stopDate?: Date;
  input: unknown;
  output?: unknown;
  error?: string;
  cause?: string;
}

/**
 * StopExecution and DescribeExecution, when the service fronts a local engine; each answers
 * undefined for an execution it does not know (ExecutionDoesNotExist on the wire).
 */
export interface LocalExecutionControl {
  stateMachineArn: string;
  stop(executionArn: string, reason: { error?: string; cause?: string }): { stopDate: Date } | undefined;
  describe(executionArn: string): ExecutionDescription | undefined;
}

const epochSeconds = (date: Date) => date.getTime() / 1000;

/** StopExecution / DescribeExecution against the engine; undefined for any other operation. */
function executionCall(
  control: LocalExecutionControl,
  operation: string,
  body: Record<string, unknown>,
): object | undefined {
  if (operation !== "StopExecution" && operation !== "DescribeExecution") return undefined;
  const executionArn = text(body, "executionArn", true, 256);
  const missing = () =>
    new TaskTokenError("ExecutionDoesNotExist", `Execution Does Not Exist: '${executionArn}'`);
  if (operation === "StopExecution") {
    const reason = {
      ...(typeof body.error === "string" ? { error: text(body, "error", false, MAX_ERROR) } : {}),
      ...(typeof body.cause === "string" ? { cause: text(body, "cause", false, MAX_CAUSE) } : {}),
    };
    const stopped = control.stop(executionArn, reason);
    if (!stopped) throw missing();
    return { stopDate: epochSeconds(stopped.stopDate) };
  }
  const found = control.describe(executionArn);
  if (!found) throw missing();
  return {
    executionArn: found.executionArn,
    stateMachineArn: control.stateMachineArn,
    name: found.name,
    status: found.status,
    startDate: epochSeconds(found.startDate),
    ...(found.stopDate ? { stopDate: epochSeconds(found.stopDate) } : {}),
    input: JSON.stringify(found.input ?? null),
    inputDetails: { included: true },
    ...(found.status === "SUCCEEDED"
      ? { output: JSON.stringify(found.output ?? null), outputDetails: { included: true } }
      : {}),
    ...(found.error !== undefined ? { error: found.error } : {}),
    ...(found.cause !== undefined ? { cause: found.cause } : {}),
  };
}

/** One call (SendTask*, or StartExecution when an engine is fronted); returns the response body. */
function dispatch(
  registry: TaskTokenRegistry,
  operation: string,
  body: Record<string, unknown>,
  startExecution?: LocalStartExecution,
  executions?: LocalExecutionControl,
): object {
  const answered = executions ? executionCall(executions, operation, body) : undefined;
  if (answered) return answered;
  if (operation === "StartExecution" && startExecution) {
    const started = startExecution({
      stateMachineArn: text(body, "stateMachineArn", true, 2048),
      name: text(body, "name", true, 80),
      input: text(body, "input", true, MAX_OUTPUT_BYTES),
    });
    return { executionArn: started.executionArn, startDate: started.startDate.getTime() / 1000 };
  }
  const known = ["SendTaskSuccess", "SendTaskFailure", "SendTaskHeartbeat"];
  // The operation is checked first: an unsupported call must not be reported as a bad token.
  if (!known.includes(operation))
    throw new TaskTokenError("UnknownOperationException", `${operation || "(none)"} is not supported here`);
  const token = text(body, "taskToken", true, 2048);
  if (operation === "SendTaskHeartbeat") registry.heartbeat(token);
  if (operation === "SendTaskFailure")
    registry.fail(token, text(body, "error", false, MAX_ERROR), text(body, "cause", false, MAX_CAUSE));
  if (operation === "SendTaskSuccess") {
    const output = text(body, "output", true, Infinity);
    if (Buffer.byteLength(output) > MAX_OUTPUT_BYTES)
      throw new TaskTokenError("ValidationException", "'output' must be at most 262144 bytes");
    let parsed: unknown;
    try {
      parsed = JSON.parse(output);
    } catch {
      throw new TaskTokenError("InvalidOutput", "Invalid Output: 'output' is not valid JSON");
    }
    registry.succeed(token, parsed);
  }
  return {};
}

/** Step Functions' own errors carry its model namespace; protocol errors are bare. The SDK reads
 *  the part after '#' either way (tried with @aws-sdk/client-sfn 3.1164). */
const errorType = (code: TaskTokenErrorCode) =>
  ["UnknownOperationException", "SerializationException"].includes(code)
    ? code
    : `com.amazonaws.swf.service.v2.model#${code}`;

/** One HTTP request: its status and JSON body. Never throws. */
async function answer(
  registry: TaskTokenRegistry,
  request: IncomingMessage,
  startExecution?: LocalStartExecution,
  executions?: LocalExecutionControl,
): Promise<[number, object]> {
  const target = String(request.headers["x-amz-target"] ?? "");
  const operation = target.startsWith("AWSStepFunctions.") ? target.slice("AWSStepFunctions.".length) : "";
  try {
    const raw = (await readBody(request)) ?? "";
    let body: unknown;
    try {
      body = JSON.parse(raw === "" ? "{}" : raw);
    } catch {
      throw new TaskTokenError("SerializationException", "The request body is not valid JSON");
    }
    if (request.method !== "POST" || !isRecord(body))
      throw new TaskTokenError("SerializationException", "Expected a POST with a JSON object body");
    return [200, dispatch(registry, operation, body, startExecution, executions)];
  } catch (error) {
    return error instanceof TaskTokenError
      ? [400, { __type: errorType(error.code), message: error.message }]
      : [500, { __type: "InternalFailure", message: String(error) }];
  }
}

export interface SfnService {
  /** `http://127.0.0.1:<port>`: the value for AWS_ENDPOINT_URL_SFN or a client's `endpoint`. */
  endpoint: string;
  close(): Promise<void>;
}

/** Starts the SendTask* endpoint on 127.0.0.1 (never another interface). Signatures are not checked. */
export async function startSfnService(options: {
  registry: TaskTokenRegistry;
  port?: number;
  host?: "127.0.0.1";
  /** Answers StartExecution (the local release machine's engine); unsupported without it. */
  startExecution?: LocalStartExecution;
  /** Answers StopExecution and DescribeExecution (the local engine); unsupported without it. */
  executions?: LocalExecutionControl;
}): Promise<SfnService> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void answer(options.registry, request, options.startExecution, options.executions).then(
      ([status, payload]) => {
        const headers = { "content-type": "application/x-amz-json-1.0", "x-amzn-requestid": randomUUID() };
        response.writeHead(status, headers).end(JSON.stringify(payload));
      },
    );
  });
  const host = options.host ?? "127.0.0.1";
  const { port } = await listen(server, options.port ?? 0, host);
  return {
    endpoint: `http://${host}:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        // SDK clients keep connections alive; without this, close() would wait for them to idle out.
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
