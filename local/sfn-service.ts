/**
 * Task tokens for `.waitForTaskToken`, served over the real Step Functions protocol so the
 * handlers complete waiting tasks with the unmodified `@aws-sdk/client-sfn`
 * (SendTaskSuccess / SendTaskFailure / SendTaskHeartbeat), pointed here by `AWS_ENDPOINT_URL_SFN`.
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { AddressInfo } from "node:net";

const TOKEN_PREFIX = "local-task-token:";

/** An error as a workflow task sees it: the name is what Catch and Retry match. */
class TaskFailure extends Error {
  constructor(name: string, cause: string) {
    super(cause);
    this.name = name;
  }
}

class ServiceError extends Error {
  constructor(
    readonly type: string,
    message: string,
  ) {
    super(message);
  }
}

interface Waiter {
  promise: Promise<unknown>;
  resolve: (output: unknown) => void;
  reject: (error: Error) => void;
  settled: boolean;
}

export class TaskTokenRegistry {
  private readonly waiters = new Map<string, Waiter>();

  /** A new token; real ones are long opaque strings, so this one is too. */
  create(): string {
    const token = `${TOKEN_PREFIX}${randomUUID()}:${randomUUID()}`;
    let resolve!: Waiter["resolve"];
    let reject!: Waiter["reject"];
    const promise = new Promise<unknown>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    this.waiters.set(token, { promise, resolve, reject, settled: false });
    return token;
  }

  /** Settles with the task's output, or rejects with the error it was failed with. */
  wait(token: string): Promise<unknown> {
    return this.get(token).promise;
  }

  succeed(token: string, output: unknown): void {
    this.settle(token).resolve(output);
  }

  fail(token: string, error: string, cause: string): void {
    this.settle(token).reject(new TaskFailure(error, cause));
  }

  /** Ends a wait whose task no longer exists (its execution ended or its Map was cancelled). */
  cancel(token: string, reason: string): void {
    this.settle(token).reject(new TaskFailure("States.TaskCancelled", reason));
  }

  heartbeat(token: string): void {
    if (this.get(token).settled) throw new ServiceError("TaskTimedOut", "Task Timed Out");
  }

  pending(): string[] {
    return [...this.waiters].filter(([, w]) => !w.settled).map(([token]) => token);
  }

  private get(token: string): Waiter {
    const waiter = this.waiters.get(token);
    if (!waiter) {
      throw token.startsWith(TOKEN_PREFIX)
        ? new ServiceError("TaskDoesNotExist", "Task does not exist")
        : new ServiceError("InvalidToken", "Invalid Token");
    }
    return waiter;
  }

  private settle(token: string): Waiter {
    const waiter = this.get(token);
    if (waiter.settled) throw new ServiceError("TaskTimedOut", "Task Timed Out: the task has already ended");
    waiter.settled = true;
    // Nobody may be listening (a cancelled task): never an unhandled rejection.
    waiter.promise.catch(() => undefined);
    return waiter;
  }
}

async function readBody(request: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of request) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString("utf8");
}

function field(body: Record<string, unknown>, name: string): string {
  const value = body[name];
  if (typeof value !== "string" || value === "")
    throw new ServiceError("ValidationException", `${name} is required`);
  return value;
}

function handle(registry: TaskTokenRegistry, operation: string, body: Record<string, unknown>): object {
  const taskToken = field(body, "taskToken");
  switch (operation) {
    case "SendTaskSuccess": {
      let output: unknown;
      try {
        output = JSON.parse(field(body, "output"));
      } catch (error) {
        if (error instanceof ServiceError) throw error;
        throw new ServiceError("InvalidOutput", "output is not valid JSON");
      }
      registry.succeed(taskToken, output);
      return {};
    }
    case "SendTaskFailure":
      registry.fail(
        taskToken,
        typeof body.error === "string" ? body.error : "",
        typeof body.cause === "string" ? body.cause : "",
      );
      return {};
    case "SendTaskHeartbeat":
      registry.heartbeat(taskToken);
      return {};
    default:
      throw new ServiceError("UnknownOperationException", `operation ${operation} is not supported locally`);
  }
}

export interface SfnService {
  endpoint: string;
  close(): Promise<void>;
}

/** Starts the JSON 1.0 endpoint on 127.0.0.1. Signatures are not checked. */
export async function startSfnService(options: {
  registry: TaskTokenRegistry;
  port?: number;
  host?: string;
}): Promise<SfnService> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void (async () => {
      const target = String(request.headers["x-amz-target"] ?? "");
      const operation = target.startsWith("AWSStepFunctions.")
        ? target.slice("AWSStepFunctions.".length)
        : target;
      let status = 200;
      let payload: object;
      try {
        const text = await readBody(request);
        let body: unknown;
        try {
          body = JSON.parse(text === "" ? "{}" : text);
        } catch {
          throw new ServiceError("SerializationException", "the request body is not JSON");
        }
        payload = handle(options.registry, operation, body as Record<string, unknown>);
      } catch (error) {
        status = 400;
        payload =
          error instanceof ServiceError
            ? { __type: `com.amazonaws.swf.service.v2.model#${error.type}`, message: error.message }
            : { __type: "InternalFailure", message: String(error) };
        if (!(error instanceof ServiceError)) status = 500;
      }
      response.writeHead(status, { "content-type": "application/x-amz-json-1.0" });
      response.end(JSON.stringify(payload));
    })();
  });
  await new Promise<void>((resolve) =>
    server.listen(options.port ?? 0, options.host ?? "127.0.0.1", resolve),
  );
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
