/**
 * The clients each local function runs with: new ones per function, as on Lambda, pointed at the
 * stand-ins by endpoint only, and enforcing that function's role when IAM is on.
 */
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import type { RetryStrategyV2, RetryToken } from "@smithy/types";
import type { HandlerName } from "../contract/permissions";
import { documentClient } from "../handlers/clients";
import type { ExecutionDeps } from "../handlers/executions";
import type { HandlerDeps } from "../handlers/wiring";
import { enforceIamOnClients } from "./iam-enforcement";
import type { LocalIam } from "./iam-wiring";
import { LOCAL_CREDENTIALS, LOCAL_REGION, LOCAL_TABLES } from "./local-names";

export const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };

/** What the machine's options say about its functions' clients. */
export interface FunctionClientOptions {
  /** New S3 clients for manifests uploaded to the local bucket, one per function. */
  s3?: () => S3Client;
  /** Compress Retry pauses to this many ms (tests). */
  retryPauseMs?: number;
  /** The stack's stopGraceMinutes (default 15). */
  stopGraceMinutes?: number;
  /** Told of each DynamoDB client a function gets (benchmarks meter writes through it). */
  onDynamoClient?: (client: DynamoDBClient, endpoint: string) => void;
}

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

const pauseFor = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The handlers' clients, pointed at the stand-ins. */
export function handlerDeps(
  dynamodb: DynamoDBClient,
  endpoints: { sfn: string; codepipeline: string; events: string },
  retryPauseMs: number | undefined,
): ExecutionDeps {
  return {
    ddb: documentClient(dynamodb),
    sfn: new SFNClient({ ...clientConfig, endpoint: endpoints.sfn }),
    // As on Lambda (handlers/clients.ts): the SDK backs off on throttling inside the function;
    // with retryPauseMs (tests), after that many ms instead of the SDK's own seconds.
    codepipeline: new CodePipelineClient({
      ...clientConfig,
      endpoint: endpoints.codepipeline,
      ...(retryPauseMs !== undefined
        ? { retryStrategy: pausedRetries(6, retryPauseMs) }
        : { maxAttempts: 6, retryMode: "adaptive" }),
    }),
    events: new EventBridgeClient({ ...clientConfig, endpoint: endpoints.events }),
    tables: LOCAL_TABLES,
  };
}

/**
 * Each function's own clients, as on Lambda, where each has its own role: a client enforces one
 * role (local/iam-enforcement.ts; a DocumentClient shares its DynamoDBClient's middleware), so
 * every function gets new ones, enforcing its role when IAM is on.
 */
export function functionClients(
  options: FunctionClientOptions,
  endpoints: { dynamo: string; sfn: string; codepipeline: string; events: string },
  iam: LocalIam,
  settings: Pick<HandlerDeps, "rules" | "control">,
) {
  const built: { destroy(): void }[] = [];
  const clients = new Map<HandlerName, HandlerDeps>();
  const build = (name: HandlerName): HandlerDeps => {
    const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: endpoints.dynamo });
    options.onDynamoClient?.(dynamodb, endpoints.dynamo);
    const execution = {
      ...handlerDeps(dynamodb, endpoints, options.retryPauseMs),
      ...(options.stopGraceMinutes !== undefined ? { stopGraceMinutes: options.stopGraceMinutes } : {}),
      // A stop's pauses between ConflictExceptions, compressed as the SDK's are (tests).
      ...(options.retryPauseMs !== undefined ? { pause: () => pauseFor(options.retryPauseMs ?? 0) } : {}),
    };
    const s3 =
      options.s3?.() ??
      // Without a local bucket, S3 requests fail fast rather than reach AWS.
      new S3Client({ ...clientConfig, endpoint: "http://127.0.0.1:9", maxAttempts: 1 });
    const role = iam.role(name);
    if (role) enforceIamOnClients({ ...execution, s3 }, role);
    built.push(dynamodb, execution.sfn, execution.codepipeline, execution.events, s3);
    return { execution, s3, ...settings };
  };
  return {
    deps(name: HandlerName): HandlerDeps {
      const deps = clients.get(name) ?? build(name);
      clients.set(name, deps);
      return deps;
    },
    destroy: () => built.forEach((client) => client.destroy()),
  };
}
