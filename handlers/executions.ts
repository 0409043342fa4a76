/**
 * The Executions table: one item per CodePipeline execution, with its status and the history of
 * its state changes, claimed for a release when the scheduler starts it.
 *
 * Races are settled by DynamoDB, not by timing: a pipeline's events may arrive before its start is
 * recorded. Both sides write with a conditional update that returns the whole item, so whichever
 * writes second sees what the first wrote (docs/architecture.md, "Races").
 */
import type { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { BatchGetCommand, type DynamoDBDocumentClient, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import type { TableNames } from "./config";
import {
  ExecutionsTable,
  type ExecutionStatus,
  type PipelineExecutionStatus,
  TERMINAL_STATUSES,
  isTerminal,
} from "../contract/tables";

export interface ExecutionDeps {
  ddb: DynamoDBDocumentClient;
  sfn: SFNClient;
  codepipeline: CodePipelineClient;
  /** Release events (handlers/release-events.ts). */
  events: EventBridgeClient;
  tables: TableNames;
  now?: () => Date;
  /** How long a stop-and-wait may stay pending before the reconciler abandons (stack `stopGraceMinutes`). */
  stopGraceMinutes?: number;
  /** Waits between tries of a refused stop (ConflictException); tests inject one that does not sleep. */
  pause?: (ms: number) => Promise<void>;
}

export interface HistoryEntry {
  state: string;
  at: string;
  eventId: string;
}

/** An Executions item as stored. */
export interface ExecutionItem {
  pipelineExecutionId: string;
  releaseId?: string;
  pipeline?: string;
  status?: ExecutionStatus;
  startedAt?: string;
  /** When the reconciler stops it for running longer than the release allows (ISO 8601). */
  deadlineAt?: string;
  /** Set when the reconciler stopped it at its deadline. */
  timedOut?: boolean;
  /** When the release machine first asked for a stop-and-wait, and when it abandoned (ISO 8601). */
  stopRequestedAt?: string;
  stopAbandonedAt?: string;
  /** The attempt its status is from: CodePipeline's `pipeline-execution-attempt` (a resume is 2 or more). */
  executionAttempt?: number;
  history?: HistoryEntry[];
  eventIds?: Set<string>;
}

const terminalValues = Object.fromEntries(TERMINAL_STATUSES.map((s, i) => [`:terminal${i}`, s]));
const terminalList = Object.keys(terminalValues).join(", ");

export function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

export function nowIso(deps: ExecutionDeps): string {
  return (deps.now ? deps.now() : new Date()).toISOString();
}

/**
 * Appends one state change to an execution's history, at most once per event id, and moves its
 * status forward. Events arrive out of order, so a terminal status is overwritten only by a later
 * attempt of the same execution (RetryStageExecution resumes it: RESUMED, then a new end, each
 * event carrying `pipeline-execution-attempt`), and nothing of an earlier attempt than the one
 * recorded moves the status.
 * https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html
 * Returns the item as stored afterwards, or undefined when the event was already recorded (or is a
 * second end of the same attempt).
 */
export async function recordState(
  deps: ExecutionDeps,
  change: {
    pipelineExecutionId: string;
    pipeline: string;
    state: string;
    status: PipelineExecutionStatus;
    at: string;
    eventId: string;
    /** The execution's attempt; 1 when the event does not say. */
    attempt?: number;
  },
): Promise<ExecutionItem | undefined> {
  const attempt = change.attempt ?? 1;
  const entry: HistoryEntry = { state: change.state, at: change.at, eventId: change.eventId };
  const base = {
    TableName: deps.tables.executions,
    Key: { [ExecutionsTable.hashKey]: change.pipelineExecutionId },
    ExpressionAttributeNames: { "#eventIds": "eventIds" } as Record<string, string>,
    ReturnValues: "ALL_NEW" as const,
  };
  const values = {
    ":entry": [entry],
    ":empty": [],
    ":eventId": change.eventId,
    ":eventIdSet": new Set([change.eventId]),
    ":pipeline": change.pipeline,
    ":now": nowIso(deps),
  };
  const appendHistory =
    "SET history = list_append(if_not_exists(history, :empty), :entry), pipeline = if_not_exists(pipeline, :pipeline), updatedAt = :now";
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        ...base,
        UpdateExpression: `${appendHistory}, #status = :status, #attempt = :attempt ADD #eventIds :eventIdSet`,
        ConditionExpression: statusCondition(attempt),
        ExpressionAttributeNames: {
          ...base.ExpressionAttributeNames,
          "#status": "status",
          "#attempt": "executionAttempt",
        },
        ExpressionAttributeValues: {
          ...values,
          ":status": change.status,
          ":attempt": attempt,
          ...terminalValues,
        },
      }),
    );
    return result.Attributes as ExecutionItem;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  // Either a duplicate, or the execution already ended. A second terminal state (a STOPPED after
  // the FAILED that caused the stop, say) is not history: an execution ends once. A late
  // non-terminal event is kept in the history, without its status.
  if (isTerminal(change.status)) return undefined;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        ...base,
        UpdateExpression: `${appendHistory} ADD #eventIds :eventIdSet`,
        ConditionExpression: "attribute_not_exists(#eventIds) OR NOT contains(#eventIds, :eventId)",
        ExpressionAttributeValues: values,
      }),
    );
    return result.Attributes as ExecutionItem;
  } catch (error) {
    if (isConditionFailure(error)) return undefined;
    throw error;
  }
}

/**
 * When an event moves an execution's status: a new event, of no earlier attempt than the one
 * recorded, onto a status that is not an end, or onto an end of an earlier attempt (the attempt
 * that resumed it; an end recorded without an attempt is the first's).
 */
function statusCondition(attempt: number): string {
  const fresh = "(attribute_not_exists(#eventIds) OR NOT contains(#eventIds, :eventId))";
  const notEarlier = "(attribute_not_exists(#attempt) OR #attempt <= :attempt)";
  const resumes = attempt > 1 ? " OR attribute_not_exists(#attempt) OR #attempt < :attempt" : "";
  return `${fresh} AND ${notEarlier} AND (attribute_not_exists(#status) OR NOT #status IN (${terminalList})${resumes})`;
}

/**
 * Claims an execution for its release as soon as it started: its release and pipeline, its
 * deadline, when it started and (unless its events came first) `InProgress`. The start record
 * stands for the first attempt's STARTED event, which writes nothing (handlers/pipeline-events.ts);
 * `recordedHistory` shows it. Never overwrites status or history: the pipeline's events may have
 * arrived first. No index holds it: the reconciler finds it through its release's schedule.
 * Returns the item as stored, events included.
 */
export async function recordStart(
  deps: ExecutionDeps,
  start: {
    releaseId: string;
    pipeline: string;
    pipelineExecutionId: string;
    startedAt: string;
    deadlineAt: string;
  },
): Promise<ExecutionItem> {
  const result = await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.executions,
      Key: { [ExecutionsTable.hashKey]: start.pipelineExecutionId },
      UpdateExpression:
        "SET releaseId = :releaseId, pipeline = :pipeline, startedAt = if_not_exists(startedAt, :now), #status = if_not_exists(#status, :inProgress), deadlineAt = :deadline",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: {
        ":releaseId": start.releaseId,
        ":pipeline": start.pipeline,
        ":now": start.startedAt,
        ":inProgress": "InProgress",
        ":deadline": start.deadlineAt,
      },
      ReturnValues: "ALL_NEW",
    }),
  );
  return result.Attributes as ExecutionItem;
}

/**
 * An execution's state changes in order, from its compacted record: the events its item holds,
 * the STARTED its recorded start stands for (at `startedAt`), and a success its schedule item
 * alone records (status and `endedAt`: the success's event wrote nothing, handlers/pipeline-events.ts).
 */
export function recordedHistory(
  execution: ExecutionItem | undefined,
  schedule: { status: string; startedAt?: string; endedAt?: string },
): HistoryEntry[] {
  const stored = [...(execution?.history ?? [])].sort((a, b) => Date.parse(a.at) - Date.parse(b.at));
  const has = (state: string) => stored.some((entry) => entry.state === state);
  const startedAt = execution?.startedAt ?? schedule.startedAt;
  // Nothing precedes an execution's start, and nothing of its attempt follows its success (events
  // are timed to the second; the start record to the millisecond): placed by order, not time.
  const start = startedAt && !has("STARTED") ? [{ state: "STARTED", at: startedAt, eventId: "start" }] : [];
  const success =
    schedule.status === "Succeeded" && schedule.endedAt && !has("SUCCEEDED")
      ? [{ state: "SUCCEEDED", at: schedule.endedAt, eventId: "schedule" }]
      : [];
  return [...start, ...stored, ...success];
}

/**
 * A resumed execution runs again for its release: a new deadline, and no earlier timeout. The
 * reconciler follows it to its new end as it follows a first run, through the schedule item the
 * resume put back to Started (a lost event costs minutes, not the release).
 */
export async function awaitAgain(
  deps: ExecutionDeps,
  execution: { pipelineExecutionId: string; deadlineAt: string },
): Promise<void> {
  await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.executions,
      Key: { [ExecutionsTable.hashKey]: execution.pipelineExecutionId },
      UpdateExpression: "SET deadlineAt = :deadline REMOVE timedOut",
      ConditionExpression: "attribute_exists(pipelineExecutionId)",
      ExpressionAttributeValues: { ":deadline": execution.deadlineAt },
    }),
  );
}

/** BatchGetItem reads at most 100 keys per call (and 16 MB). */
const BATCH_GET_KEYS = 100;
/** Rounds of BatchGetItem for the keys a call left unprocessed, before giving up. */
const BATCH_GET_ROUNDS = 8;

/**
 * The whole Executions items of these ids (the schedule names them): BatchGetItem,
 * 100 keys a call, each call's UnprocessedKeys asked again with a growing pause, as AWS asks
 * ("BatchGetItem": https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html).
 * Ids with no item are left out.
 */
export async function executionsByIds(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  ids: readonly string[],
): Promise<ExecutionItem[]> {
  const table = deps.tables.executions;
  const unique = [...new Set(ids)];
  const found: ExecutionItem[] = [];
  for (let at = 0; at < unique.length; at += BATCH_GET_KEYS) {
    let keys: Record<string, unknown>[] = unique
      .slice(at, at + BATCH_GET_KEYS)
      .map((id) => ({ [ExecutionsTable.hashKey]: id }));
    for (let round = 0; keys.length > 0; round += 1) {
      if (round >= BATCH_GET_ROUNDS)
        throw new Error(`${keys.length} executions stayed unprocessed by BatchGetItem`);
      if (round > 0) await new Promise((resolve) => setTimeout(resolve, 50 * 2 ** round * Math.random()));
      const answer = await deps.ddb.send(new BatchGetCommand({ RequestItems: { [table]: { Keys: keys } } }));
      found.push(...((answer.Responses?.[table] ?? []) as ExecutionItem[]));
      keys = answer.UnprocessedKeys?.[table]?.Keys ?? [];
    }
  }
  return found;
}
