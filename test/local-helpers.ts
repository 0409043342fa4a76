/**
 * Helpers for tests that drive the local release machine: unique release ids, bounded waits,
 * waiting for an execution to end with its events delivered, and a client for the CodePipeline stand-in.
 */
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { TableNames } from "../handlers/config";
import { type LocalDynamo, createReleaseTables, startDynamo } from "../local/dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import { HANDLER_NAMES } from "../contract/permissions";
import type { ReleaseStatusView } from "../contract/release-view";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalExecution } from "../local/engine";
import type { EventEnvelope, EventRouter } from "../local/event-router";
import {
  type LocalReleaseMachine,
  type LocalReleaseMachineOptions,
  startLocalReleaseMachine,
} from "../local/release-machine";

/**
 * The DynamoDB client of every function of `machine`: each has its own, under its own role
 * (local/release-machine.ts), so a test hooking the handlers' requests hooks each of these.
 */
export const functionDdbs = (machine: LocalReleaseMachine): DynamoDBDocumentClient[] =>
  HANDLER_NAMES.map((name) => machine.functionDeps(name).execution.ddb);

/** Every wait is bounded by this, so a stuck release fails its test instead of the run. */
export const WAIT_MS = 10_000;

const RUN = Date.now().toString(36);
let counter = 0;
export const newReleaseId = (label: string) => `${label}-${RUN}-${(counter += 1)}`;

/** Each pipeline of a release as "<name> <status>", in manifest order. */
export const statusesOf = (release: ReleaseStatusView | undefined): string[] =>
  (release?.pipelines ?? []).map((p) => `${p.name} ${p.status}`);

/** Polls `probe` until it returns a value other than undefined or false. */
export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = WAIT_MS,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** The execution once it ended and every event it caused was delivered. */
export async function finished(
  machine: LocalReleaseMachine,
  execution: LocalExecution,
  timeoutMs = WAIT_MS,
): Promise<LocalExecution> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`execution ${execution.name} did not end`)), timeoutMs);
  });
  try {
    const done = await Promise.race([execution.done, timedOut]);
    await machine.router.idle();
    return done;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A CodePipeline client for the local stand-in that makes one attempt per call, so an injected
 * fault reaches the test instead of the SDK's own retries.
 */
export function singleAttemptCodePipeline(endpoint: string): CodePipelineClient {
  return new CodePipelineClient({
    endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
    maxAttempts: 1,
  });
}

/** Runs `body` with a local release machine (Retry pauses compressed to 5 ms), closing it afterwards. */
export async function withLocalMachine(
  options: LocalReleaseMachineOptions,
  body: (machine: LocalReleaseMachine) => Promise<void>,
): Promise<void> {
  const machine = await startLocalReleaseMachine({ retryPauseMs: 5, ...options });
  try {
    await body(machine);
  } finally {
    await machine.close();
  }
}

/** Local pipelines by name and how long each runs (null: until the test ends it); those in `failing` end Failed. */
export const localPipelines = (
  durations: Record<string, number | null>,
  failing: readonly string[] = [],
): LocalPipelineSpec[] =>
  Object.entries(durations).map(([name, durationMs]) => ({
    name,
    durationMs,
    outcome: failing.includes(name) ? "Failed" : "Succeeded",
  }));

/**
 * Holds the deliveries `holds` picks (by event and rule) until `release()`, which delivers each
 * to its rule alone: an event made late by the test's own step, never by a timer racing the run.
 */
export function holdDeliveries(
  router: EventRouter,
  holds: (event: EventEnvelope, rule: string) => boolean,
): { held: { event: EventEnvelope; rule: string }[]; release(): void } {
  const held: { event: EventEnvelope; rule: string }[] = [];
  let releasing: string | undefined;
  router.intercept = (event, rule) => {
    if (releasing !== undefined) return rule === releasing ? "deliver" : "drop";
    if (!holds(event, rule)) return "deliver";
    held.push({ event, rule });
    return "drop";
  };
  return {
    held,
    release() {
      for (const { event, rule } of held.splice(0)) {
        releasing = rule;
        try {
          router.publish(event);
          // The event was published once, when it happened; only its delivery comes late.
          if (router.published.at(-1) === event) router.published.pop();
        } finally {
          releasing = undefined;
        }
      }
    },
  };
}

/** A dynalite with the release tables created, and a raw client on it (handler tests). */
export async function startReleaseTables(
  tables: TableNames,
): Promise<{ dynamo: LocalDynamo; raw: DynamoDBClient }> {
  const dynamo = await startDynamo();
  const raw = new DynamoDBClient({
    endpoint: dynamo.endpoint,
    region: "us-east-1",
    credentials: { accessKeyId: "x", secretAccessKey: "x" },
  });
  await createReleaseTables(raw, tables);
  return { dynamo, raw };
}

/** Closes what startReleaseTables started. */
export async function stopReleaseTables({ dynamo, raw }: { dynamo: LocalDynamo; raw: DynamoDBClient }) {
  raw.destroy();
  await dynamo.close();
}
