/**
 * The release's schedule: which pipeline starts when, what a pipeline's end means for the others,
 * and when the release is over. The workflow registers the release and then parks in one
 * `.waitForTaskToken` wait; from there on, every decision is taken here, by the pipeline-event
 * handler (and the reconciler) as each pipeline ends. docs/architecture.md, "Scheduling", says
 * why the decisions live here and how each race is closed.
 *
 * Every step is a conditional write on DynamoDB, so the order in which events arrive, a duplicate
 * event or a retried Lambda invocation cannot start a pipeline twice, start one whose dependency
 * did not succeed, or end a release twice:
 * - a pipeline starts only through the claim `Pending -> Starting`, which one writer wins;
 * - a claim is taken over only by the reconciler, and only from the claimant it read;
 * - dependencies met are a string set (`depsSucceeded`): adding a name twice changes nothing;
 * - the release is over when its `settled` string set holds every pipeline: again idempotent.
 */
import { StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { randomUUID } from "node:crypto";
import { GetCommand, PutCommand, QueryCommand, ScanCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { DuplicateRelease, ReleaseNotRegistered } from "./errors";
import {
  type ExecutionDeps,
  type ExecutionItem,
  isConditionFailure,
  nowIso,
  recordStart,
  releaseWaiterDone,
  stopExecution,
} from "./executions";
import { findFailurePoint } from "./failure-cause";
import { type PlannedPipeline, clientRequestToken } from "./manifest";
import {
  type FailurePolicy,
  type ReleaseStatus,
  type ScheduleStatus,
  ReleasePipelinesTable,
  ReleasesTable,
  SETTLED_STATUSES,
  isTerminal,
} from "./model";

/** The release item as the scheduler reads it. */
export interface ReleaseItem {
  releaseId: string;
  status: ReleaseStatus;
  executionArn: string;
  startedAt?: string;
  source?: string;
  attempt: number;
  failurePolicy: FailurePolicy;
  pipelineCount: number;
  /** How long one pipeline may run before the reconciler stops it. */
  pipelineTimeoutSeconds: number;
  /** Pipelines whose place in the release will not change again (ended or skipped). */
  settled?: Set<string>;
  /** The first pipeline failure's cause; set once. */
  firstFailure?: string;
  taskToken?: string;
  endedAt?: string;
  errorName?: string;
  cause?: string;
}

/** One pipeline of a release, as the ReleasePipelines table holds it. */
export interface PipelineItem {
  releaseId: string;
  pipeline: string;
  /** Position in the manifest, for display. */
  order: number;
  dependsOn: string[];
  dependants: string[];
  depsSucceeded?: Set<string>;
  variables?: PlannedPipeline["variables"];
  sourceRevisions?: PlannedPipeline["sourceRevisions"];
  status: ScheduleStatus;
  /** The claim on its start (a fresh id per claim): only the reconciler takes one over. */
  claimedBy?: string;
  /** Set while claimed and not yet recorded: the sparse `starting` index. */
  startingSince?: string;
  pipelineExecutionId?: string;
  startedAt?: string;
  endedAt?: string;
  cause?: string;
}

/** What the release's wait returns: the workflow marks the release with it. */
export interface ReleaseOutcome {
  status: "SUCCEEDED" | "FAILED";
  error?: string;
  cause?: string;
}

export interface RegisterReleaseRequest {
  releaseId: string;
  executionArn: string;
  startedAt: string;
  source: string;
  failurePolicy: FailurePolicy;
  longestPipelineRunSeconds: number;
  pipelines: PlannedPipeline[];
}

/** Starts issued at once by one invocation: CodePipeline throttles bursts (the SDK retries those). */
const START_CONCURRENCY = 10;
/** Attempts at one start while CodePipeline is busy, within one invocation. */
const START_ATTEMPTS = 6;
/** StartPipelineExecution errors that a later attempt can clear. */
const RETRYABLE_START_ERRORS = [
  "ConflictException",
  "ConcurrentPipelineExecutionsLimitExceededException",
  "ThrottlingException",
  "TooManyRequestsException",
  "InternalFailure",
  "ServiceUnavailable",
];

async function inBatches<T>(
  items: readonly T[],
  limit: number,
  work: (item: T) => Promise<void>,
): Promise<void> {
  for (let i = 0; i < items.length; i += limit) {
    await Promise.all(items.slice(i, i + limit).map(work));
  }
}

const releaseKey = (releaseId: string) => ({ [ReleasesTable.hashKey]: releaseId });
const pipelineKey = (releaseId: string, pipeline: string) => ({
  [ReleasePipelinesTable.hashKey]: releaseId,
  [ReleasePipelinesTable.rangeKey]: pipeline,
});

export async function readReleaseItem(
  deps: ExecutionDeps,
  releaseId: string,
): Promise<ReleaseItem | undefined> {
  const { Item } = await deps.ddb.send(
    new GetCommand({ TableName: deps.tables.releases, Key: releaseKey(releaseId), ConsistentRead: true }),
  );
  return Item as ReleaseItem | undefined;
}

async function readPipeline(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
): Promise<PipelineItem | undefined> {
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.tables.releasePipelines,
      Key: pipelineKey(releaseId, pipeline),
      ConsistentRead: true,
    }),
  );
  return Item as PipelineItem | undefined;
}

/** Every pipeline of a release, in manifest order. */
export async function pipelinesOfRelease(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  releaseId: string,
): Promise<PipelineItem[]> {
  const items: PipelineItem[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.ddb.send(
      new QueryCommand({
        TableName: deps.tables.releasePipelines,
        KeyConditionExpression: "releaseId = :releaseId",
        ExpressionAttributeValues: { ":releaseId": releaseId },
        ConsistentRead: true,
        ExclusiveStartKey: startKey,
      }),
    );
    items.push(...((page.Items ?? []) as PipelineItem[]));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items.sort((a, b) => a.order - b.order);
}

/** Whether the release still starts pipelines: it runs, and (under stopRemaining) nothing failed. */
function startsPipelines(release: ReleaseItem | undefined): boolean {
  if (!release || release.status !== "RUNNING") return false;
  return !(release.failurePolicy === "stopRemaining" && release.firstFailure !== undefined);
}

/**
 * RegisterRelease's Lambda: records the release exactly once per releaseId (a conditional write:
 * of two racing submissions one wins, the other gets DuplicateRelease), writes its schedule, and
 * starts the pipelines that depend on nothing. A retry of the same execution passes the condition
 * again and repeats only what is missing.
 */
export async function registerRelease(
  deps: ExecutionDeps,
  request: RegisterReleaseRequest,
): Promise<{ releaseId: string; pipelineCount: number }> {
  const { releaseId, executionArn, pipelines } = request;
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: releaseKey(releaseId),
        UpdateExpression:
          "SET #status = :running, executionArn = :arn, startedAt = :startedAt, #source = :source, attempt = :attempt, failurePolicy = :policy, pipelineCount = :count, pipelineTimeoutSeconds = :timeout REMOVE errorName, cause, problems, endedAt",
        // A releaseId runs once; a rejected submission of it does not count (its record is
        // replaced, its `rejections` list kept).
        ConditionExpression: "attribute_not_exists(releaseId) OR executionArn = :arn OR #status = :rejected",
        ExpressionAttributeNames: { "#status": "status", "#source": "source" },
        ExpressionAttributeValues: {
          ":running": "RUNNING",
          ":rejected": "REJECTED",
          ":arn": executionArn,
          ":startedAt": request.startedAt,
          ":source": request.source,
          ":attempt": 1,
          ":policy": request.failurePolicy,
          ":count": pipelines.length,
          ":timeout": request.longestPipelineRunSeconds,
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw new DuplicateRelease(
      `Release ${releaseId} was already submitted; a releaseId runs once. Submit a new releaseId to release again.`,
    );
  }

  const dependants = new Map<string, string[]>(pipelines.map((p) => [p.name, []]));
  for (const p of pipelines) for (const dep of p.dependsOn ?? []) dependants.get(dep)?.push(p.name);
  await inBatches(pipelines, START_CONCURRENCY, async (p) => {
    const item: PipelineItem = {
      releaseId,
      pipeline: p.name,
      order: pipelines.indexOf(p),
      dependsOn: p.dependsOn ?? [],
      dependants: dependants.get(p.name) ?? [],
      ...(p.variables ? { variables: p.variables } : {}),
      ...(p.sourceRevisions ? { sourceRevisions: p.sourceRevisions } : {}),
      status: "Pending",
    };
    try {
      await deps.ddb.send(
        new PutCommand({
          TableName: deps.tables.releasePipelines,
          Item: item,
          ConditionExpression: "attribute_not_exists(pipeline)",
        }),
      );
    } catch (error) {
      if (!isConditionFailure(error)) throw error; // written by an earlier attempt: keep its progress
    }
  });

  const roots = pipelines.filter((p) => (p.dependsOn ?? []).length === 0).map((p) => p.name);
  await inBatches(roots, START_CONCURRENCY, (name) => startWhenReady(deps, releaseId, name));
  return { releaseId, pipelineCount: pipelines.length };
}

/**
 * Starts one pipeline whose dependencies all succeeded, exactly once: the `Pending -> Starting`
 * claim admits one caller, whatever the number of events, duplicates or retries that found the
 * pipeline ready. A claim whose start was never recorded (its Lambda died) is taken over by the
 * reconciler (`resumeStuckStarts`); the start is idempotent by CodePipeline's clientRequestToken
 * (release, pipeline, attempt), so that takeover cannot start a second execution either.
 */
async function startWhenReady(deps: ExecutionDeps, releaseId: string, pipeline: string): Promise<void> {
  const claim = await claimStart(deps, releaseId, pipeline, "#status = :pending", { ":pending": "Pending" });
  if (claim) await startClaimed(deps, claim);
}

async function claimStart(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  condition: string,
  values: Record<string, string>,
): Promise<PipelineItem | undefined> {
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releasePipelines,
        Key: pipelineKey(releaseId, pipeline),
        UpdateExpression: "SET #status = :starting, claimedBy = :claim, startingSince = :now",
        ConditionExpression: condition,
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":starting": "Starting",
          ":claim": randomUUID(),
          ":now": nowIso(deps),
          ...values,
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    return result.Attributes as PipelineItem;
  } catch (error) {
    if (isConditionFailure(error)) return undefined; // another caller has it, or it was skipped
    throw error;
  }
}

async function startClaimed(deps: ExecutionDeps, item: PipelineItem): Promise<void> {
  const { releaseId, pipeline } = item;
  const release = await readReleaseItem(deps, releaseId);
  if (!release || !startsPipelines(release)) {
    await settleUnstarted(deps, releaseId, pipeline, "Starting");
    return;
  }
  let pipelineExecutionId: string;
  try {
    pipelineExecutionId = await startExecution(deps, item, release.attempt);
  } catch (error) {
    // Refused for good, or still busy or throttled after every retry: the pipeline fails, with
    // CodePipeline's answer as the cause, rather than leave the release waiting.
    const why = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    await failUnstarted(deps, release, pipeline, why);
    return;
  }
  const startedAt = nowIso(deps);
  // The schedule first, then the execution: whoever sees the execution's releaseId can rely on
  // the schedule naming this execution.
  await deps.ddb
    .send(
      new UpdateCommand({
        TableName: deps.tables.releasePipelines,
        Key: pipelineKey(releaseId, pipeline),
        UpdateExpression:
          "SET #status = :started, pipelineExecutionId = :id, startedAt = :now REMOVE startingSince",
        ConditionExpression: "#status = :starting AND claimedBy = :claim",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":started": "Started",
          ":starting": "Starting",
          ":claim": item.claimedBy ?? "",
          ":id": pipelineExecutionId,
          ":now": startedAt,
        },
      }),
    )
    .catch((error: unknown) => {
      if (!isConditionFailure(error)) throw error; // recorded by the claim's taker-over
    });
  const deadlineAt = new Date(Date.parse(startedAt) + release.pipelineTimeoutSeconds * 1000).toISOString();
  const execution = await recordStart(deps, {
    releaseId,
    pipeline,
    pipelineExecutionId,
    startedAt,
    deadlineAt,
  });
  // Its end may have arrived before it was recorded: the event found no release then.
  if (isTerminal(execution.status)) await onPipelineEnded(deps, execution);
  // A failure recorded while this start was in flight: either the failure's stop pass saw this
  // execution (recorded above), or this read sees the failure. Stopping twice is harmless.
  const now = await readReleaseItem(deps, releaseId);
  if (!startsPipelines(now) && !isTerminal(execution.status)) {
    await stopExecution(deps, execution, `Release ${releaseId} is no longer running its pipelines`);
  }
}

/**
 * StartPipelineExecution, repeated while CodePipeline answers that it is busy (ConflictException,
 * or a full execution queue): the SDK itself retries throttling, not these. The same token each
 * time, so an attempt whose answer was lost returns its execution rather than a second one.
 */
async function startExecution(deps: ExecutionDeps, item: PipelineItem, attempt: number): Promise<string> {
  const command = new StartPipelineExecutionCommand({
    name: item.pipeline,
    clientRequestToken: clientRequestToken(item.releaseId, item.pipeline, attempt),
    ...(item.variables ? { variables: item.variables } : {}),
    ...(item.sourceRevisions
      ? {
          sourceRevisions: item.sourceRevisions.map((r) => ({
            actionName: r.actionName,
            revisionType: r.revisionType as "COMMIT_ID",
            revisionValue: r.revisionValue,
          })),
        }
      : {}),
  });
  for (let tries = 1; ; tries += 1) {
    try {
      const started = await deps.codepipeline.send(command);
      return started.pipelineExecutionId ?? "";
    } catch (error) {
      const busy = error instanceof Error && RETRYABLE_START_ERRORS.includes(error.name);
      if (!busy || tries >= START_ATTEMPTS) throw error;
      await new Promise((resolve) => setTimeout(resolve, Math.min(2000, 100 * 2 ** tries) * Math.random()));
    }
  }
}

/** How long a claimed start may stay unrecorded before the reconciler takes it over. */
export const STUCK_START_SECONDS = 300;

/**
 * The reconciler's part of the schedule: starts whose Lambda died between the claim and the record
 * (found on the sparse `starting` index) are taken over, one taker at a time, and completed.
 */
export async function resumeStuckStarts(deps: ExecutionDeps): Promise<number> {
  let resumed = 0;
  const cutoff = new Date(Date.parse(nowIso(deps)) - STUCK_START_SECONDS * 1000).toISOString();
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await deps.ddb.send(
      new ScanCommand({
        TableName: deps.tables.releasePipelines,
        IndexName: ReleasePipelinesTable.startingIndex.name,
        ExclusiveStartKey: startKey,
      }),
    );
    startKey = page.LastEvaluatedKey;
    for (const stuck of (page.Items ?? []) as (PipelineItem & { startingSince: string })[]) {
      if (stuck.startingSince > cutoff) continue;
      const claim = await claimStart(
        deps,
        stuck.releaseId,
        stuck.pipeline,
        "#status = :starting AND claimedBy = :old",
        {
          ":old": stuck.claimedBy ?? "",
        },
      );
      if (claim) {
        await startClaimed(deps, claim);
        resumed += 1;
      }
    }
  } while (startKey);
  return resumed;
}

/** A pipeline that never started leaves the schedule as Skipped. */
async function settleUnstarted(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  from: "Pending" | "Starting",
): Promise<void> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releasePipelines,
        Key: pipelineKey(releaseId, pipeline),
        UpdateExpression: "SET #status = :skipped, endedAt = :now REMOVE startingSince",
        ConditionExpression: "#status = :from",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: { ":skipped": "Skipped", ":from": from, ":now": nowIso(deps) },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const item = await readPipeline(deps, releaseId, pipeline);
    if (item?.status !== "Skipped") return; // claimed or started meanwhile: its own path settles it
  }
  await settle(deps, releaseId, pipeline);
}

/** A start CodePipeline refused for good (the pipeline is gone, the request invalid): a failure. */
async function failUnstarted(
  deps: ExecutionDeps,
  release: ReleaseItem,
  pipeline: string,
  why: string,
): Promise<void> {
  const cause = `Pipeline ${pipeline} could not start: ${why}`;
  await deps.ddb
    .send(
      new UpdateCommand({
        TableName: deps.tables.releasePipelines,
        Key: pipelineKey(release.releaseId, pipeline),
        UpdateExpression: "SET #status = :failed, endedAt = :now, cause = :cause REMOVE startingSince",
        ConditionExpression: "#status = :starting",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":failed": "Failed",
          ":starting": "Starting",
          ":now": nowIso(deps),
          ":cause": cause,
        },
      }),
    )
    .catch((error: unknown) => {
      if (!isConditionFailure(error)) throw error;
    });
  await afterFailure(deps, release.releaseId, pipeline, cause);
  await settle(deps, release.releaseId, pipeline);
}

/**
 * What a pipeline's end means for its release: record it on the schedule, start the dependants
 * it was the last dependency of, or (when it failed) skip its dependants and, under stopRemaining,
 * stop the rest; then settle it, which ends the release's wait when nothing is left.
 * Idempotent: each step is a conditional or set-valued write, so a duplicate event or a retry
 * repeats nothing that matters.
 */
export async function onPipelineEnded(deps: ExecutionDeps, execution: ExecutionItem): Promise<void> {
  const { releaseId, pipeline, pipelineExecutionId, status } = execution;
  if (!releaseId || !pipeline || !isTerminal(status)) return;
  const item = await readPipeline(deps, releaseId, pipeline);
  // Not this release's execution of the pipeline (an earlier attempt's, say): nothing to decide.
  if (!item || item.pipelineExecutionId !== pipelineExecutionId) return;
  const succeeded = status === "Succeeded";
  const cause = succeeded ? undefined : await failureCause(deps, execution, status);
  if (!SETTLED_STATUSES.includes(item.status)) {
    await deps.ddb
      .send(
        new UpdateCommand({
          TableName: deps.tables.releasePipelines,
          Key: pipelineKey(releaseId, pipeline),
          UpdateExpression: `SET #status = :status, endedAt = :now${cause ? ", cause = :cause" : ""}`,
          ConditionExpression: "#status = :started AND pipelineExecutionId = :id",
          ExpressionAttributeNames: { "#status": "status" },
          ExpressionAttributeValues: {
            ":status": status,
            ":started": "Started",
            ":id": pipelineExecutionId,
            ":now": nowIso(deps),
            ...(cause ? { ":cause": cause } : {}),
          },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error; // settled by a concurrent duplicate
      });
  }
  if (succeeded) {
    await inBatches(item.dependants, START_CONCURRENCY, (dependant) =>
      dependencySucceeded(deps, releaseId, dependant, pipeline),
    );
  } else {
    await afterFailure(deps, releaseId, pipeline, cause ?? "");
  }
  await settle(deps, releaseId, pipeline);
  await releaseWaiterDone(deps, pipelineExecutionId);
}

/** Why a pipeline did not succeed, in words: its end, and where CodePipeline says it failed. */
async function failureCause(deps: ExecutionDeps, execution: ExecutionItem, status: string): Promise<string> {
  const head = `Pipeline ${execution.pipeline} did not succeed: execution ${execution.pipelineExecutionId}`;
  if (execution.timedOut)
    return `${head} ran past ${execution.deadlineAt} (longestPipelineRunHours) and was stopped`;
  if (status !== "Failed") return `${head} ended ${status}`;
  const point = await findFailurePoint(
    deps.codepipeline,
    execution.pipeline ?? "",
    execution.pipelineExecutionId,
  );
  if (!point) return `${head} ended Failed`;
  const action = point.action ? `, action ${point.action}` : "";
  return `${head} ended Failed at stage ${point.stage}${action}${point.message ? `: ${point.message}` : ""}`;
}

async function dependencySucceeded(
  deps: ExecutionDeps,
  releaseId: string,
  dependant: string,
  dependency: string,
): Promise<void> {
  const result = await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releasePipelines,
      Key: pipelineKey(releaseId, dependant),
      UpdateExpression: "ADD depsSucceeded :dependency",
      ConditionExpression: "attribute_exists(pipeline)",
      ExpressionAttributeValues: { ":dependency": new Set([dependency]) },
      ReturnValues: "ALL_NEW",
    }),
  );
  const item = result.Attributes as PipelineItem;
  const met = item.dependsOn.every((name) => item.depsSucceeded?.has(name));
  if (met && item.status === "Pending") await startWhenReady(deps, releaseId, dependant);
}

/**
 * After a pipeline failed: keep the release's first failure, skip every pipeline that depends on
 * the failed one (directly or not), and under stopRemaining stop everything else.
 */
async function afterFailure(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  cause: string,
): Promise<void> {
  const result = await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releases,
      Key: releaseKey(releaseId),
      UpdateExpression: "SET firstFailure = if_not_exists(firstFailure, :cause)",
      ExpressionAttributeValues: { ":cause": cause },
      ReturnValues: "ALL_NEW",
    }),
  );
  const release = result.Attributes as ReleaseItem;
  if (release.failurePolicy === "stopRemaining") {
    await stopRelease(deps, releaseId, `Release ${releaseId} failed: ${cause}`);
    return;
  }
  const items = await pipelinesOfRelease(deps, releaseId);
  const byName = new Map(items.map((i) => [i.pipeline, i]));
  const doomed = new Set<string>();
  const queue = [...(byName.get(pipeline)?.dependants ?? [])];
  while (queue.length > 0) {
    const name = queue.pop() as string;
    if (doomed.has(name)) continue;
    doomed.add(name);
    queue.push(...(byName.get(name)?.dependants ?? []));
  }
  await inBatches([...doomed], START_CONCURRENCY, (name) =>
    settleUnstarted(deps, releaseId, name, "Pending"),
  );
}

/**
 * Ends the running part of a release: pipelines not yet started are skipped, running ones are
 * stopped (their STOPPED events then settle them like any end). Used by stopRemaining and when
 * the release's wait times out.
 */
export async function stopRelease(
  deps: ExecutionDeps,
  releaseId: string,
  reason: string,
): Promise<{ stopped: string[]; skipped: string[] }> {
  const stopped: string[] = [];
  const skipped: string[] = [];
  const items = await pipelinesOfRelease(deps, releaseId);
  await inBatches(items, START_CONCURRENCY, async (item) => {
    if (item.status === "Pending") {
      await settleUnstarted(deps, releaseId, item.pipeline, "Pending");
      skipped.push(item.pipeline);
    } else if (item.status === "Started" && item.pipelineExecutionId) {
      const execution = { pipelineExecutionId: item.pipelineExecutionId, pipeline: item.pipeline };
      if (await stopExecution(deps, execution, reason)) stopped.push(item.pipeline);
    }
  });
  return { stopped, skipped };
}

/** Marks a pipeline's place settled; the release's wait ends when every pipeline is. */
async function settle(deps: ExecutionDeps, releaseId: string, pipeline: string): Promise<void> {
  const result = await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releases,
      Key: releaseKey(releaseId),
      UpdateExpression: "ADD settled :pipeline",
      ConditionExpression: "attribute_exists(releaseId)",
      ExpressionAttributeValues: { ":pipeline": new Set([pipeline]) },
      ReturnValues: "ALL_NEW",
    }),
  );
  await completeReleaseIfSettled(deps, result.Attributes as ReleaseItem);
}

export function isSettled(release: ReleaseItem): boolean {
  return (release.settled?.size ?? 0) >= release.pipelineCount;
}

export function outcomeOf(release: ReleaseItem): ReleaseOutcome {
  return release.firstFailure === undefined
    ? { status: "SUCCEEDED" }
    : { status: "FAILED", error: "PipelineFailed", cause: release.firstFailure };
}

/** Sends the release's waiting task its outcome once every pipeline is settled. Returns whether it did. */
async function completeReleaseIfSettled(deps: ExecutionDeps, release: ReleaseItem): Promise<boolean> {
  if (!isSettled(release) || !release.taskToken) return false;
  try {
    await deps.sfn.send(
      new SendTaskSuccessCommand({
        taskToken: release.taskToken,
        output: JSON.stringify(outcomeOf(release)),
      }),
    );
  } catch (error) {
    // The wait already ended (completed by a concurrent caller, or timed out): nothing to do.
    if (!(
      error instanceof Error && ["TaskTimedOut", "TaskDoesNotExist", "InvalidToken"].includes(error.name)
    ))
      throw error;
  }
  return true;
}

/**
 * AwaitRelease's Lambda: stores the release's task token, then completes the wait at once if every
 * pipeline settled before the token was stored (fast pipelines, or a release of failures).
 */
export async function registerReleaseWaiter(
  deps: ExecutionDeps,
  request: { taskToken: string; releaseId: string; executionArn: string },
): Promise<{ completedAtOnce: boolean }> {
  let release: ReleaseItem;
  try {
    const result = await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: releaseKey(request.releaseId),
        UpdateExpression: "SET taskToken = :token, waitingSince = :now",
        ConditionExpression: "executionArn = :arn",
        ExpressionAttributeValues: {
          ":token": request.taskToken,
          ":arn": request.executionArn,
          ":now": nowIso(deps),
        },
        ReturnValues: "ALL_NEW",
      }),
    );
    release = result.Attributes as ReleaseItem;
  } catch (error) {
    if (isConditionFailure(error)) {
      throw new ReleaseNotRegistered(
        `release ${request.releaseId} is not registered by ${request.executionArn}`,
      );
    }
    throw error;
  }
  return { completedAtOnce: await completeReleaseIfSettled(deps, release) };
}
