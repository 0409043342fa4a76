/**
 * The Executions table's logic: recording pipeline state changes, parking and completing the
 * workflow's waiting tasks, reconciling lost events and stopping a failed release's pipelines.
 *
 * Races are settled by DynamoDB, not by timing: a pipeline's events may arrive before the
 * workflow records the execution or stores its task token. Each side writes with a conditional
 * update that returns the whole item, so whichever writes second sees what the first wrote and
 * completes the task; a completion sent twice is harmless (the second gets TaskTimedOut).
 */
import {
  GetPipelineExecutionCommand,
  StopPipelineExecutionCommand,
  type CodePipelineClient,
} from "@aws-sdk/client-codepipeline";
import { SendTaskFailureCommand, SendTaskSuccessCommand, type SFNClient } from "@aws-sdk/client-sfn";
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  ScanCommand,
  UpdateCommand,
} from "@aws-sdk/lib-dynamodb";
import type { TableNames } from "./config";
import { ExecutionNotRecorded, PipelineExecutionFailed } from "./errors";
import {
  ExecutionsTable,
  ReleasesTable,
  PIPELINE_EVENT_DETAIL_TYPE,
  type PipelineExecutionStatus,
  TERMINAL_STATUSES,
  isTerminal,
  statusFromEventState,
} from "./model";

export interface ExecutionDeps {
  ddb: DynamoDBDocumentClient;
  sfn: SFNClient;
  codepipeline: CodePipelineClient;
  tables: TableNames;
  now?: () => Date;
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
  status?: string;
  startedAt?: string;
  taskToken?: string;
  awaitingRelease?: string;
  history?: HistoryEntry[];
  eventIds?: Set<string>;
}

const terminalValues = Object.fromEntries(TERMINAL_STATUSES.map((s, i) => [`:terminal${i}`, s]));
const terminalList = Object.keys(terminalValues).join(", ");
/** Errors SendTask* gives for a token that is no longer waiting: the task already ended. */
// Module-level constants are plain arrays: Pulumi's closure serialization does not carry a Set's contents.
const STALE_TOKEN_ERRORS = ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"];
const NOT_STOPPABLE = ["PipelineExecutionNotStoppableException", "DuplicatedStopRequestException"];

function isConditionFailure(error: unknown): boolean {
  return error instanceof Error && error.name === "ConditionalCheckFailedException";
}

function nowIso(deps: ExecutionDeps): string {
  return (deps.now ? deps.now() : new Date()).toISOString();
}

/**
 * Appends one state change to an execution's history, at most once per event id, and moves its
 * status forward; a terminal status is never overwritten (events arrive out of order). Returns
 * the item as stored afterwards, or undefined when the event was already recorded.
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
  },
): Promise<ExecutionItem | undefined> {
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
        UpdateExpression: `${appendHistory}, #status = :status ADD #eventIds :eventIdSet`,
        ConditionExpression: `(attribute_not_exists(#eventIds) OR NOT contains(#eventIds, :eventId)) AND (attribute_not_exists(#status) OR NOT #status IN (${terminalList}))`,
        ExpressionAttributeNames: { ...base.ExpressionAttributeNames, "#status": "status" },
        ExpressionAttributeValues: { ...values, ":status": change.status, ...terminalValues },
      }),
    );
    return result.Attributes as ExecutionItem;
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  // Either a duplicate, or the execution already ended: keep the history, not the status.
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
 * Sends the waiting task its result when the execution has ended, then clears the waiter (only
 * if it still holds the same token: a retried wait may have stored a newer one).
 * Returns true when a waiter was completed (or found already gone).
 */
export async function completeWaiter(deps: ExecutionDeps, item: ExecutionItem): Promise<boolean> {
  if (!item.taskToken || !item.releaseId || !isTerminal(item.status)) return false;
  const { taskToken, pipelineExecutionId, pipeline, status } = item;
  try {
    if (status === "Succeeded") {
      await deps.sfn.send(
        new SendTaskSuccessCommand({
          taskToken,
          output: JSON.stringify({ pipeline, pipelineExecutionId, status }),
        }),
      );
    } else {
      await deps.sfn.send(
        new SendTaskFailureCommand({
          taskToken,
          error: new PipelineExecutionFailed().name,
          cause: `execution ${pipelineExecutionId} ended ${status}`,
        }),
      );
    }
  } catch (error) {
    if (!(error instanceof Error && STALE_TOKEN_ERRORS.includes(error.name))) throw error;
  }
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.executions,
        Key: { [ExecutionsTable.hashKey]: pipelineExecutionId },
        UpdateExpression: "REMOVE taskToken, awaitingRelease, waitingSince",
        ConditionExpression: "taskToken = :token",
        ExpressionAttributeValues: { ":token": taskToken },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
  }
  return true;
}

export interface WaiterRequest {
  taskToken: string;
  releaseId: string;
  pipeline: string;
  pipelineExecutionId: string;
  /** Failure policy stopRemaining: stop this pipeline at once if another one already failed the release. */
  stopIfReleaseFailed?: boolean;
}

/**
 * AwaitPipeline's Lambda: stores the task token on the execution, then completes the task at once
 * if the pipeline's terminal event arrived first.
 */
export async function registerWaiter(
  deps: ExecutionDeps,
  request: WaiterRequest,
): Promise<{ completedAtOnce: boolean }> {
  let item: ExecutionItem;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.executions,
        Key: { [ExecutionsTable.hashKey]: request.pipelineExecutionId },
        UpdateExpression: "SET taskToken = :token, awaitingRelease = :releaseId, waitingSince = :now",
        ConditionExpression: "releaseId = :releaseId",
        ExpressionAttributeValues: {
          ":token": request.taskToken,
          ":releaseId": request.releaseId,
          ":now": nowIso(deps),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    item = result.Attributes as ExecutionItem;
  } catch (error) {
    if (isConditionFailure(error)) {
      throw new ExecutionNotRecorded(
        `execution ${request.pipelineExecutionId} of pipeline ${request.pipeline} is not recorded for release ${request.releaseId}`,
      );
    }
    throw error;
  }
  if (await completeWaiter(deps, item)) return { completedAtOnce: true };
  // This execution may have started while another pipeline failed the release and stopped the
  // others, before this one was recorded: it stops itself. Reading after recording settles that
  // race: either StopRemaining saw this execution, or this read sees the failure.
  if (request.stopIfReleaseFailed && (await releaseFailure(deps, request.releaseId))) {
    await stopExecution(deps, item, `Release ${request.releaseId} failed: another pipeline failed`);
  }
  return { completedAtOnce: false };
}

async function releaseFailure(deps: ExecutionDeps, releaseId: string): Promise<string | undefined> {
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.tables.releases,
      Key: { [ReleasesTable.hashKey]: releaseId },
      ProjectionExpression: "firstFailure",
      ConsistentRead: true,
    }),
  );
  return Item?.firstFailure as string | undefined;
}

/** Stops one execution; one that already ended or is already stopping is fine. Returns whether it stopped it. */
async function stopExecution(deps: ExecutionDeps, item: ExecutionItem, reason: string): Promise<boolean> {
  try {
    await deps.codepipeline.send(
      new StopPipelineExecutionCommand({
        pipelineName: item.pipeline,
        pipelineExecutionId: item.pipelineExecutionId,
        abandon: false,
        reason: reason.slice(0, 200),
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && NOT_STOPPABLE.includes(error.name)) return false;
    throw error;
  }
}

/** A "CodePipeline Pipeline Execution State Change" event, as EventBridge delivers it. */
export interface PipelineStateChangeEvent {
  id: string;
  "detail-type": string;
  source: string;
  time: string;
  detail: { pipeline: string; "execution-id": string; state: string };
}

export type PipelineEventOutcome = "recorded" | "completed" | "duplicate" | "ignored";

/** The pipeline-event Lambda: record the change; complete the waiter when the execution ended. */
export async function handlePipelineEvent(
  deps: ExecutionDeps,
  event: PipelineStateChangeEvent,
): Promise<PipelineEventOutcome> {
  const status = statusFromEventState(event.detail?.state);
  if (event["detail-type"] !== PIPELINE_EVENT_DETAIL_TYPE || status === undefined) return "ignored";
  const item = await recordState(deps, {
    pipelineExecutionId: event.detail["execution-id"],
    pipeline: event.detail.pipeline,
    state: event.detail.state,
    status,
    at: event.time,
    eventId: event.id,
  });
  if (!item) return "duplicate";
  // No releaseId: an execution this machine did not start (or has not claimed yet). The event is
  // kept so a later RecordStart sees it, but nothing is completed.
  return (await completeWaiter(deps, item)) ? "completed" : "recorded";
}

const EVENT_STATE_OF: Record<PipelineExecutionStatus, string> = {
  InProgress: "STARTED",
  Stopping: "STOPPING",
  Stopped: "STOPPED",
  Succeeded: "SUCCEEDED",
  Failed: "FAILED",
  Cancelled: "CANCELED",
  Superseded: "SUPERSEDED",
};

export interface ReconcileReport {
  checked: number;
  completed: number;
  failures: { pipelineExecutionId: string; error: string }[];
}

/**
 * The reconciler: for every execution still waiting (the sparse `waiting` index), ask CodePipeline
 * for its status and complete the waiters whose pipeline ended without an event reaching us.
 */
export async function reconcile(deps: ExecutionDeps): Promise<ReconcileReport> {
  const report: ReconcileReport = { checked: 0, completed: 0, failures: [] };
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.ddb.send(
      new ScanCommand({
        TableName: deps.tables.executions,
        IndexName: ExecutionsTable.waitingIndex.name,
        ExclusiveStartKey: startKey,
      }),
    );
    startKey = page.LastEvaluatedKey;
    for (const waiting of (page.Items ?? []) as ExecutionItem[]) {
      report.checked += 1;
      try {
        if (await reconcileOne(deps, waiting)) report.completed += 1;
      } catch (error) {
        // One broken execution must not stop the pass over the others.
        report.failures.push({
          pipelineExecutionId: waiting.pipelineExecutionId,
          error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
        });
      }
    }
  } while (startKey);
  return report;
}

async function reconcileOne(deps: ExecutionDeps, waiting: ExecutionItem): Promise<boolean> {
  if (isTerminal(waiting.status)) return completeWaiter(deps, waiting);
  const { pipelineExecution } = await deps.codepipeline.send(
    new GetPipelineExecutionCommand({
      pipelineName: waiting.pipeline,
      pipelineExecutionId: waiting.pipelineExecutionId,
    }),
  );
  const status = pipelineExecution?.status as PipelineExecutionStatus | undefined;
  if (!isTerminal(status)) return false;
  const item = await recordState(deps, {
    pipelineExecutionId: waiting.pipelineExecutionId,
    pipeline: waiting.pipeline ?? pipelineExecution?.pipelineName ?? "",
    state: EVENT_STATE_OF[status],
    status,
    at: nowIso(deps),
    eventId: `reconciler:${waiting.pipelineExecutionId}:${status}`,
  });
  return completeWaiter(deps, item ?? { ...waiting, status });
}

/** Every execution recorded for a release (the `byRelease` index), in pipeline order. */
export async function executionsOfRelease(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  releaseId: string,
): Promise<ExecutionItem[]> {
  const items: ExecutionItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.tables.executions,
        IndexName: ExecutionsTable.byReleaseIndex.name,
        KeyConditionExpression: "releaseId = :releaseId",
        ExpressionAttributeValues: { ":releaseId": releaseId },
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((page.Items ?? []) as ExecutionItem[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

/**
 * StopOtherPipelines' / StopRemaining's Lambda (failure policy stopRemaining): stops the release's
 * executions that are still running.
 */
export async function stopRemaining(
  deps: ExecutionDeps,
  request: { releaseId: string; reason?: string },
): Promise<{ stopped: string[] }> {
  const stopped: string[] = [];
  const reason = `Release ${request.releaseId} failed: ${request.reason ?? "another pipeline failed"}`;
  for (const item of await executionsOfRelease(deps, request.releaseId)) {
    // Their waits end through the STOPPED events (or the reconciler), like any pipeline's end.
    if (!isTerminal(item.status) && (await stopExecution(deps, item, reason))) {
      stopped.push(item.pipeline ?? item.pipelineExecutionId);
    }
  }
  return { stopped };
}
