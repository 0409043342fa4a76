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
 * - the release is over when its `settled` string set holds every pipeline: again idempotent;
 * - its outcome is decided once (`decideOutcome`), conditional on the cancel state it was computed
 *   from, and a cancel is accepted only while no outcome exists: of a cancel and the natural end,
 *   exactly one decides how the release ends;
 * - a gate opens `Pending -> AwaitingApproval`, and is decided (approved, rejected, expired) by one
 *   conditional write from `AwaitingApproval`: one decision wins;
 * - a retry moves the release `FAILED|CANCELLED at attempt n -> RUNNING at n+1` in one write.
 * The control routes (handlers/release-control.ts) only check and authorize requests; they call
 * `cancelRelease` and `decideGate` here, and the retry's execution calls `retryRelease`.
 */
import { StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { SendTaskSuccessCommand } from "@aws-sdk/client-sfn";
import { createHash, randomUUID } from "node:crypto";
import { PutCommand, UpdateCommand, type UpdateCommandInput } from "@aws-sdk/lib-dynamodb";
import { allItems, paged, readItem } from "./reads";
import {
  DuplicateRelease,
  GateNotAwaiting,
  ReleaseErrors,
  ReleaseNotRegistered,
  ReleaseStateConflict,
  RetryRefused,
} from "../contract/errors";
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
import { type ApprovalGate, type PlannedPipeline, clientRequestToken } from "../contract/manifest";
import { publishApprovalRequested, publishReleaseEvent } from "./release-events";
import {
  type FailurePolicy,
  LISTED_RELEASE,
  type ReleaseStatus,
  type ScheduleStatus,
  ReleasePipelinesTable,
  ReleasesTable,
  SETTLED_STATUSES,
  isTerminal,
} from "../contract/tables";

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
  /** The first failure's cause; set once, with its error name and who caused it. */
  firstFailure?: string;
  firstFailureError?: string;
  firstFailureBy?: string;
  /** Set when the release starts nothing more, whatever its failure policy (a gate was rejected or expired). */
  halted?: string;
  /** Who submitted the release: an IAM ARN on AWS, the local user locally. */
  submittedBy?: string;
  /** Who cancelled it and why; set once, only while the release runs and has no outcome. */
  cancelledBy?: string;
  cancelReason?: string;
  cancelledAt?: string;
  /** Decided once, when every pipeline settled (or the cancel settled them): what the workflow records. */
  outcome?: ReleaseOutcome;
  retriedBy?: string;
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
  /** The release attempt that started its current execution. */
  attempt?: number;
  /** The last attempt whose retry reset this pipeline (so a retried reset repeats nothing). */
  resetForAttempt?: number;
  startedAt?: string;
  endedAt?: string;
  cause?: string;
  /** Its approval gate, when the manifest has one, and the gate's progress. */
  approval?: ApprovalGate;
  approvalRequestedAt?: string;
  /** Set only while it awaits approval: the sparse `gates` index the reconciler expires gates from. */
  approvalDeadlineAt?: string;
  decision?: GateDecision;
  decidedBy?: string;
  decidedAt?: string;
  comment?: string;
}

/** How a gate was decided: by a person, or by its deadline. */
export type GateDecision = "approve" | "reject" | "expired";

/** What the release's wait returns: the workflow marks the release with it. */
export interface ReleaseOutcome {
  status: "SUCCEEDED" | "FAILED" | "CANCELLED";
  error?: string;
  cause?: string;
  /** Who caused this end: the canceller, the decider of a gate, or `release-machine`. */
  causedBy: string;
}

export interface RegisterReleaseRequest {
  releaseId: string;
  executionArn: string;
  startedAt: string;
  source: string;
  /** Who submitted it; `unknown` when the source does not say. */
  submittedBy?: string;
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
  return readItem<ReleaseItem>(deps.ddb, deps.tables.releases, releaseKey(releaseId));
}

export async function readPipeline(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  releaseId: string,
  pipeline: string,
): Promise<PipelineItem | undefined> {
  return readItem<PipelineItem>(deps.ddb, deps.tables.releasePipelines, pipelineKey(releaseId, pipeline));
}

type ItemUpdate = Omit<UpdateCommandInput, "TableName" | "Key" | "ReturnValues">;

/** Updates a release and returns it as written. */
async function updateRelease(
  deps: ExecutionDeps,
  releaseId: string,
  update: ItemUpdate,
): Promise<ReleaseItem> {
  const result = await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releases,
      Key: releaseKey(releaseId),
      ...update,
      ReturnValues: "ALL_NEW",
    }),
  );
  return result.Attributes as ReleaseItem;
}

/** Updates a release's pipeline and returns it as written. */
async function updatePipeline(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  update: ItemUpdate,
): Promise<PipelineItem> {
  const result = await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releasePipelines,
      Key: pipelineKey(releaseId, pipeline),
      ...update,
      ReturnValues: "ALL_NEW",
    }),
  );
  return result.Attributes as PipelineItem;
}

/** Every pipeline of a release, in manifest order. */
export async function pipelinesOfRelease(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  releaseId: string,
): Promise<PipelineItem[]> {
  const items = await allItems<PipelineItem>(deps.ddb, {
    query: {
      TableName: deps.tables.releasePipelines,
      KeyConditionExpression: "releaseId = :releaseId",
      ExpressionAttributeValues: { ":releaseId": releaseId },
      ConsistentRead: true,
    },
  });
  return items.sort((a, b) => a.order - b.order);
}

/**
 * Whether the release still starts pipelines: it runs, nobody cancelled it, no gate halted it, its
 * outcome is not decided, and (under stopRemaining) nothing failed.
 */
export function startsPipelines(release: ReleaseItem | undefined): boolean {
  if (!release || release.status !== "RUNNING") return false;
  if (release.cancelledBy !== undefined || release.halted !== undefined || release.outcome !== undefined)
    return false;
  return !(release.failurePolicy === "stopRemaining" && release.firstFailure !== undefined);
}

/** Who a release event names when no person caused the change. */
export const MACHINE = "release-machine";

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
          "SET #status = :running, executionArn = :arn, startedAt = :startedAt, #source = :source, attempt = :attempt, failurePolicy = :policy, pipelineCount = :count, pipelineTimeoutSeconds = :timeout, submittedBy = :by, listed = :listed REMOVE errorName, cause, problems, endedAt",
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
          ":by": request.submittedBy ?? "unknown",
          ":listed": LISTED_RELEASE,
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw new DuplicateRelease(
      `Release ${releaseId} was already submitted; a releaseId runs once. Submit a new releaseId to release again.`,
    );
  }

  await publishReleaseEvent(deps, {
    releaseId,
    status: "RUNNING",
    attempt: 1,
    causedBy: request.submittedBy ?? "unknown",
  });
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
      ...(p.approval ? { approval: p.approval } : {}),
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

  const roots = pipelines.filter((p) => (p.dependsOn ?? []).length === 0);
  await inBatches(roots, START_CONCURRENCY, (p) => startWhenReady(deps, releaseId, p.name, p.approval));
  await skipUnstartedIfStopped(deps, releaseId);
  return { releaseId, pipelineCount: pipelines.length };
}

/**
 * A cancel that arrived while the schedule was being written found only part of it to skip: the
 * rest is skipped here, once the whole schedule exists.
 */
async function skipUnstartedIfStopped(deps: ExecutionDeps, releaseId: string): Promise<void> {
  const release = await readReleaseItem(deps, releaseId);
  if (release && release.status === "RUNNING" && !startsPipelines(release))
    await skipUnstarted(deps, releaseId);
}

/**
 * Starts one pipeline whose dependencies all succeeded, exactly once: the `Pending -> Starting`
 * claim admits one caller, whatever the number of events, duplicates or retries that found the
 * pipeline ready. A claim whose start was never recorded (its Lambda died) is taken over by the
 * reconciler (`resumeStuckStarts`); the start is idempotent by CodePipeline's clientRequestToken
 * (release, pipeline, attempt), so that takeover cannot start a second execution either.
 */
async function startWhenReady(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  gate: ApprovalGate | undefined,
): Promise<void> {
  if (gate) return openGate(deps, releaseId, pipeline, gate);
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
    return await updatePipeline(deps, releaseId, pipeline, {
      UpdateExpression: "SET #status = :starting, claimedBy = :claim, startingSince = :now",
      ConditionExpression: condition,
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: {
        ":starting": "Starting",
        ":claim": randomUUID(),
        ":now": nowIso(deps),
        ...values,
      },
    });
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
          "SET #status = :started, pipelineExecutionId = :id, startedAt = :now, attempt = :attempt REMOVE startingSince",
        ConditionExpression: "#status = :starting AND claimedBy = :claim",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":started": "Started",
          ":starting": "Starting",
          ":claim": item.claimedBy ?? "",
          ":id": pipelineExecutionId,
          ":now": startedAt,
          ":attempt": release.attempt,
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
 * Every item on one of the schedule's sparse indexes (`starting`, `gates`), page by page. These
 * indexes hold only the few items waiting for the reconciler, so the scan reads only those.
 */
function onScheduleIndex<T>(deps: ExecutionDeps, indexName: string): AsyncGenerator<T> {
  return paged<T>(deps.ddb, { scan: { TableName: deps.tables.releasePipelines, IndexName: indexName } });
}

/**
 * The reconciler's part of the schedule: starts whose Lambda died between the claim and the record
 * (found on the sparse `starting` index) are taken over, one taker at a time, and completed.
 */
export async function resumeStuckStarts(deps: ExecutionDeps): Promise<number> {
  let resumed = 0;
  const cutoff = new Date(Date.parse(nowIso(deps)) - STUCK_START_SECONDS * 1000).toISOString();
  const stuckStarts = onScheduleIndex<PipelineItem & { startingSince: string }>(
    deps,
    ReleasePipelinesTable.startingIndex.name,
  );
  for await (const stuck of stuckStarts) {
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
  return resumed;
}

/** A pipeline that never started leaves the schedule as Skipped. */
async function settleUnstarted(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  from: "Pending" | "Starting" | "AwaitingApproval",
): Promise<void> {
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releasePipelines,
        Key: pipelineKey(releaseId, pipeline),
        UpdateExpression: "SET #status = :skipped, endedAt = :now REMOVE startingSince, approvalDeadlineAt",
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
  const item = await updatePipeline(deps, releaseId, dependant, {
    UpdateExpression: "ADD depsSucceeded :dependency",
    ConditionExpression: "attribute_exists(pipeline)",
    ExpressionAttributeValues: { ":dependency": new Set([dependency]) },
  });
  const met = item.dependsOn.every((name) => item.depsSucceeded?.has(name));
  if (met && item.status === "Pending") await startWhenReady(deps, releaseId, dependant, item.approval);
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
  const release = await updateRelease(deps, releaseId, {
    UpdateExpression:
      "SET firstFailure = if_not_exists(firstFailure, :cause), firstFailureError = if_not_exists(firstFailureError, :error), firstFailureBy = if_not_exists(firstFailureBy, :by)",
    ExpressionAttributeValues: { ":cause": cause, ":error": ReleaseErrors.PipelineFailed, ":by": MACHINE },
  });
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
    if (item.status === "Pending" || item.status === "AwaitingApproval") {
      await settleUnstarted(deps, releaseId, item.pipeline, item.status);
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
  const result = await updateRelease(deps, releaseId, {
    UpdateExpression: "ADD settled :pipeline",
    ConditionExpression: "attribute_exists(releaseId)",
    ExpressionAttributeValues: { ":pipeline": new Set([pipeline]) },
  });
  await completeReleaseIfSettled(deps, result);
}

export function isSettled(release: ReleaseItem): boolean {
  return (release.settled?.size ?? 0) >= release.pipelineCount;
}

/** What the release's item says its end is: a cancel first, then its first failure, else success. */
export function outcomeOf(release: ReleaseItem): ReleaseOutcome {
  if (release.cancelledBy !== undefined) {
    const why = release.cancelReason ? `: ${release.cancelReason}` : "";
    return {
      status: "CANCELLED",
      error: ReleaseErrors.ReleaseCancelled,
      cause: `Release ${release.releaseId} was cancelled by ${release.cancelledBy}${why}`,
      causedBy: release.cancelledBy,
    };
  }
  if (release.firstFailure !== undefined) {
    return {
      status: "FAILED",
      error: release.firstFailureError ?? ReleaseErrors.PipelineFailed,
      cause: release.firstFailure,
      causedBy: release.firstFailureBy ?? MACHINE,
    };
  }
  return { status: "SUCCEEDED", causedBy: release.submittedBy ?? MACHINE };
}

/**
 * Decides the release's outcome exactly once: a conditional write that also requires the cancel
 * state it was computed from. A cancel and the last pipeline's end race only here: whichever
 * writes first decides (the cancel requires that no outcome exists; the outcome requires the cancel
 * state it read), so the release ends with one status, and the loser learns it.
 */
async function decideOutcome(deps: ExecutionDeps, read: ReleaseItem): Promise<ReleaseItem> {
  let release = read;
  for (let tries = 0; tries < 5; tries += 1) {
    if (release.outcome) return release;
    try {
      return await updateRelease(deps, release.releaseId, {
        UpdateExpression: "SET outcome = :outcome",
        ConditionExpression: `attribute_not_exists(outcome) AND attribute_${release.cancelledBy === undefined ? "not_" : ""}exists(cancelledBy)`,
        ExpressionAttributeValues: { ":outcome": outcomeOf(release) },
      });
    } catch (error) {
      if (!isConditionFailure(error)) throw error;
      const again = await readReleaseItem(deps, release.releaseId);
      if (!again) throw error;
      release = again;
    }
  }
  throw new Error(`the outcome of release ${release.releaseId} kept changing while it was decided`);
}

/**
 * Once every pipeline is settled: decides the outcome (once) and sends it to the release's waiting
 * task, if that is registered yet. Returns whether it sent it.
 */
async function completeReleaseIfSettled(deps: ExecutionDeps, settledRelease: ReleaseItem): Promise<boolean> {
  if (!isSettled(settledRelease)) return false;
  const release = await decideOutcome(deps, settledRelease);
  if (!release.taskToken || !release.outcome) return false;
  try {
    await deps.sfn.send(
      new SendTaskSuccessCommand({
        taskToken: release.taskToken,
        output: JSON.stringify(release.outcome),
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
    release = await updateRelease(deps, request.releaseId, {
      UpdateExpression: "SET taskToken = :token, waitingSince = :now",
      ConditionExpression: "executionArn = :arn",
      ExpressionAttributeValues: {
        ":token": request.taskToken,
        ":arn": request.executionArn,
        ":now": nowIso(deps),
      },
    });
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

/** Skips every pipeline that has not started (Pending or awaiting approval); running ones run on. */
async function skipUnstarted(deps: ExecutionDeps, releaseId: string): Promise<string[]> {
  const skipped: string[] = [];
  const items = await pipelinesOfRelease(deps, releaseId);
  await inBatches(items, START_CONCURRENCY, async (item) => {
    if (item.status !== "Pending" && item.status !== "AwaitingApproval") return;
    await settleUnstarted(deps, releaseId, item.pipeline, item.status);
    skipped.push(item.pipeline);
  });
  return skipped;
}

/**
 * A gated pipeline whose dependencies succeeded: `Pending -> AwaitingApproval` (one writer wins),
 * with the gate's deadline on the sparse `gates` index, then "Release Approval Requested". A cancel
 * or a halt recorded meanwhile may have read this pipeline as Pending and passed it by: the second
 * read of the release catches that and skips it.
 */
async function openGate(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  gate: ApprovalGate,
): Promise<void> {
  const release = await readReleaseItem(deps, releaseId);
  if (!release || !startsPipelines(release)) {
    await settleUnstarted(deps, releaseId, pipeline, "Pending");
    return;
  }
  const now = nowIso(deps);
  const deadlineAt = new Date(Date.parse(now) + gate.timeoutHours * 3600 * 1000).toISOString();
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releasePipelines,
        Key: pipelineKey(releaseId, pipeline),
        UpdateExpression:
          "SET #status = :awaiting, approvalRequestedAt = :now, approvalDeadlineAt = :deadline",
        ConditionExpression: "#status = :pending",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":awaiting": "AwaitingApproval",
          ":pending": "Pending",
          ":now": now,
          ":deadline": deadlineAt,
        },
      }),
    );
  } catch (error) {
    if (isConditionFailure(error)) return; // opened, skipped or decided by another caller
    throw error;
  }
  await publishApprovalRequested(deps, {
    releaseId,
    pipeline,
    submittedBy: release.submittedBy ?? "unknown",
    ...(gate.approvers ? { approvers: gate.approvers } : {}),
    deadlineAt,
  });
  await publishReleaseEvent(deps, { releaseId, status: "AWAITING_APPROVAL", pipeline, causedBy: MACHINE });
  if (!startsPipelines(await readReleaseItem(deps, releaseId))) {
    await settleUnstarted(deps, releaseId, pipeline, "AwaitingApproval");
  }
}

export interface GateDecisionRequest {
  releaseId: string;
  pipeline: string;
  decision: "approve" | "reject";
  comment?: string;
  /** The decider: an IAM ARN on AWS, the local user locally. */
  by: string;
}

/**
 * A person's decision on a gate: one conditional write from `AwaitingApproval`, so of two
 * concurrent decisions exactly one wins (the other gets GateNotAwaiting), and a gate a cancel or
 * its deadline already closed cannot be decided. Approval claims the start in that same write
 * (`AwaitingApproval -> Starting`): from there it is an ordinary start, which the reconciler
 * completes if this invocation dies. Rejection skips the pipeline and fails the release with
 * ApprovalRejected: nothing more starts, running pipelines run to their end.
 */
export async function decideGate(deps: ExecutionDeps, request: GateDecisionRequest): Promise<PipelineItem> {
  const { releaseId, pipeline, decision, by } = request;
  const approve = decision === "approve";
  const now = nowIso(deps);
  const comment = request.comment ? ", #comment = :comment" : "";
  let item: PipelineItem;
  try {
    item = await updatePipeline(deps, releaseId, pipeline, {
      UpdateExpression: approve
        ? `SET #status = :starting, claimedBy = :claim, startingSince = :now, decision = :decision, decidedBy = :by, decidedAt = :now${comment} REMOVE approvalDeadlineAt`
        : // The deadline stays (the gate stays on the `gates` index) until the release is halted
          // and the pipeline settled: if this invocation dies first, the reconciler finishes it.
          `SET #status = :skipped, endedAt = :now, cause = :cause, decision = :decision, decidedBy = :by, decidedAt = :now${comment}`,
      ConditionExpression: "#status = :awaiting",
      ExpressionAttributeNames: { "#status": "status", ...(comment ? { "#comment": "comment" } : {}) },
      ExpressionAttributeValues: {
        ":awaiting": "AwaitingApproval",
        ":decision": decision,
        ":by": by,
        ":now": now,
        ...(request.comment ? { ":comment": request.comment } : {}),
        ...(approve
          ? { ":starting": "Starting", ":claim": randomUUID() }
          : { ":skipped": "Skipped", ":cause": rejectionCause(request) }),
      },
    });
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const current = await readPipeline(deps, releaseId, pipeline);
    const state = current?.decision
      ? `was already decided (${current.decision} by ${current.decidedBy ?? "unknown"})`
      : `is ${current?.status ?? "not part of the release"}`;
    throw new GateNotAwaiting(`the approval of ${pipeline} in release ${releaseId} ${state}`);
  }
  await publishReleaseEvent(deps, {
    releaseId,
    status: "RUNNING",
    pipeline,
    decision,
    causedBy: by,
    ...(request.comment ? { comment: request.comment } : {}),
  });
  if (approve) {
    await startClaimed(deps, item);
  } else {
    await finishClosedGate(deps, item);
  }
  return item;
}

/**
 * What a rejected or expired gate means for its release: the release halts (ApprovalRejected or
 * ApprovalExpired), the pipeline settles, and only then does the gate leave the `gates` index.
 * Idempotent, so the reconciler can repeat it for a gate whose closing invocation died.
 */
async function finishClosedGate(deps: ExecutionDeps, gate: PipelineItem): Promise<void> {
  const error = gate.decision === "reject" ? ReleaseErrors.ApprovalRejected : ReleaseErrors.ApprovalExpired;
  await haltRelease(deps, gate.releaseId, error, gate.cause ?? error, gate.decidedBy ?? MACHINE);
  await settle(deps, gate.releaseId, gate.pipeline);
  await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releasePipelines,
      Key: pipelineKey(gate.releaseId, gate.pipeline),
      UpdateExpression: "REMOVE approvalDeadlineAt",
      ConditionExpression: "attribute_exists(pipeline)",
    }),
  );
}

function rejectionCause(request: GateDecisionRequest): string {
  const why = request.comment ? `: ${request.comment}` : "";
  return `The approval of ${request.pipeline} was rejected by ${request.by}${why}`;
}

/**
 * A gate's rejection or expiry: the release's first failure (if it has none yet) with that error,
 * `halted` so nothing more starts whatever the failure policy, and every unstarted pipeline skipped.
 */
async function haltRelease(
  deps: ExecutionDeps,
  releaseId: string,
  error: "ApprovalRejected" | "ApprovalExpired",
  cause: string,
  by: string,
): Promise<void> {
  await deps.ddb.send(
    new UpdateCommand({
      TableName: deps.tables.releases,
      Key: releaseKey(releaseId),
      UpdateExpression:
        "SET firstFailure = if_not_exists(firstFailure, :cause), firstFailureError = if_not_exists(firstFailureError, :error), firstFailureBy = if_not_exists(firstFailureBy, :by), halted = if_not_exists(halted, :cause)",
      ConditionExpression: "attribute_exists(releaseId)",
      ExpressionAttributeValues: { ":cause": cause, ":error": error, ":by": by },
    }),
  );
  await skipUnstarted(deps, releaseId);
}

/**
 * The reconciler's part for gates: a gate past its deadline (found on the sparse `gates` index)
 * closes as expired, in one conditional write from `AwaitingApproval` with the deadline it read, so
 * a decision arriving at the same moment either wins or finds the gate closed; the release fails
 * with ApprovalExpired. Returns the number of gates expired.
 */
export async function expireGates(deps: ExecutionDeps): Promise<number> {
  let expired = 0;
  const now = nowIso(deps);
  const gates = onScheduleIndex<PipelineItem & { approvalDeadlineAt: string }>(
    deps,
    ReleasePipelinesTable.gatesIndex.name,
  );
  for await (const gate of gates) {
    // Closed (rejected or expired) but not finished: its closing invocation died.
    if (gate.status === "Skipped" && (gate.decision === "reject" || gate.decision === "expired")) {
      await finishClosedGate(deps, gate);
      continue;
    }
    if (gate.status !== "AwaitingApproval" || gate.approvalDeadlineAt > now) continue;
    const cause = `The approval of ${gate.pipeline} expired at ${gate.approvalDeadlineAt} without a decision`;
    let closed: PipelineItem;
    try {
      closed = await updatePipeline(deps, gate.releaseId, gate.pipeline, {
        UpdateExpression:
          "SET #status = :skipped, endedAt = :now, cause = :cause, decision = :expired, decidedBy = :by, decidedAt = :now",
        ConditionExpression: "#status = :awaiting AND approvalDeadlineAt = :deadline",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":skipped": "Skipped",
          ":awaiting": "AwaitingApproval",
          ":deadline": gate.approvalDeadlineAt,
          ":now": now,
          ":cause": cause,
          ":expired": "expired",
          ":by": MACHINE,
        },
      });
    } catch (error) {
      if (isConditionFailure(error)) continue; // decided or skipped meanwhile
      throw error;
    }
    await finishClosedGate(deps, closed);
    expired += 1;
  }
  return expired;
}

export interface CancelRequest {
  releaseId: string;
  by: string;
  reason?: string;
}

/**
 * Cancels a running release. The cancel is one conditional write on the release item: only while
 * it runs and before its outcome is decided (decideOutcome requires the cancel state it read), so
 * a cancel racing the natural end either wins (the release ends CANCELLED) or finds the outcome
 * decided (ReleaseStateConflict: it already ended). From there `startsPipelines` is false, so
 * nothing more starts; pipelines not started are skipped and running ones stopped, and their
 * STOPPED ends settle the release, whose wait then receives the CANCELLED outcome.
 * A repeated cancel of a release already cancelling answers as the first did (the first
 * canceller and reason stand) and repeats the stop pass, which is idempotent: so a cancel whose
 * invocation died after its write is finished by asking again.
 */
export async function cancelRelease(
  deps: ExecutionDeps,
  request: CancelRequest,
): Promise<{ releaseId: string; status: "CANCELLING"; cancelledBy: string }> {
  const { releaseId } = request;
  let cancel = { by: request.by, reason: request.reason, first: true };
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: releaseKey(releaseId),
        UpdateExpression: `SET cancelledBy = :by, cancelledAt = :now${request.reason ? ", cancelReason = :reason" : ""}`,
        ConditionExpression:
          "#status = :running AND attribute_not_exists(outcome) AND attribute_not_exists(cancelledBy)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":by": request.by,
          ":now": nowIso(deps),
          ":running": "RUNNING",
          ...(request.reason ? { ":reason": request.reason } : {}),
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    const release = await readReleaseItem(deps, releaseId);
    if (release?.status !== "RUNNING" || release.cancelledBy === undefined) {
      const state = release?.outcome ? `${release.outcome.status} (its outcome is decided)` : release?.status;
      throw new ReleaseStateConflict(
        `release ${releaseId} is ${state ?? "unknown"}; only a running release can be cancelled`,
      );
    }
    // Already cancelling: the first cancel stands; its stop pass is repeated (in case it died).
    cancel = { by: release.cancelledBy, reason: release.cancelReason, first: false };
  }
  if (cancel.first) {
    await publishReleaseEvent(deps, {
      releaseId,
      status: "CANCELLING",
      causedBy: cancel.by,
      ...(cancel.reason ? { reason: cancel.reason } : {}),
    });
  }
  const why = `Release ${releaseId} cancelled by ${cancel.by}${cancel.reason ? `: ${cancel.reason}` : ""}`;
  await stopRelease(deps, releaseId, why);
  // Everything may have been settled already (only gates and pending pipelines were left).
  const release = await readReleaseItem(deps, releaseId);
  if (release) await completeReleaseIfSettled(deps, release);
  return { releaseId, status: "CANCELLING", cancelledBy: cancel.by };
}

export interface RetryReleaseRequest {
  retry: { releaseId: string; attempt: number; requestedBy: string };
  executionArn: string;
}

/** The execution name of a release's attempt (2 and later): unique per attempt, so a retry is idempotent. */
export function retryExecutionName(releaseId: string, attempt: number): string {
  return `retry-${attempt}-${createHash("sha256").update(releaseId).digest("hex").slice(0, 48)}`;
}

/**
 * The retry's first step, in its own execution (attempt n+1): resets every pipeline that did not
 * succeed to Pending (once per attempt: `resetForAttempt`), then moves the release from FAILED or
 * CANCELLED at attempt n to RUNNING at attempt n+1 in one conditional write (of two retries one
 * wins; the other execution fails RetryRefused), its settled set reduced to the pipelines that
 * succeeded, and starts the pipelines whose dependencies all succeeded. Succeeded pipelines keep
 * their execution; new starts carry the attempt in their clientRequestToken.
 * Resetting first means a late duplicate end of an old execution finds no pipeline naming it.
 */
export async function retryRelease(
  deps: ExecutionDeps,
  request: RetryReleaseRequest,
): Promise<{ releaseId: string; attempt: number }> {
  const { releaseId, attempt, requestedBy } = request.retry;
  const release = await readReleaseItem(deps, releaseId);
  const retrying = release?.executionArn === request.executionArn;
  if (
    !release ||
    (!retrying && (!["FAILED", "CANCELLED"].includes(release.status) || release.attempt !== attempt - 1))
  ) {
    throw new RetryRefused(
      `release ${releaseId} is ${release ? `${release.status} at attempt ${release.attempt}` : "unknown"}; attempt ${attempt} cannot start`,
    );
  }
  const items = await pipelinesOfRelease(deps, releaseId);
  const succeeded = new Set(items.filter((i) => i.status === "Succeeded").map((i) => i.pipeline));
  const again = items.filter((i) => !succeeded.has(i.pipeline));
  await inBatches(again, START_CONCURRENCY, async (item) => {
    const met = item.dependsOn.filter((name) => succeeded.has(name));
    await deps.ddb
      .send(
        new UpdateCommand({
          TableName: deps.tables.releasePipelines,
          Key: pipelineKey(releaseId, item.pipeline),
          UpdateExpression: `SET #status = :pending, resetForAttempt = :attempt${met.length > 0 ? ", depsSucceeded = :met" : ""} REMOVE pipelineExecutionId, startedAt, endedAt, cause, claimedBy, startingSince, approvalRequestedAt, approvalDeadlineAt, decision, decidedBy, decidedAt, #comment${met.length > 0 ? "" : ", depsSucceeded"}`,
          ConditionExpression: "attribute_not_exists(resetForAttempt) OR resetForAttempt < :attempt",
          ExpressionAttributeNames: { "#status": "status", "#comment": "comment" },
          ExpressionAttributeValues: {
            ":pending": "Pending",
            ":attempt": attempt,
            ...(met.length > 0 ? { ":met": new Set(met) } : {}),
          },
        }),
      )
      .catch((error: unknown) => {
        if (!isConditionFailure(error)) throw error; // reset by an earlier try of this attempt
      });
  });
  try {
    await deps.ddb.send(
      new UpdateCommand({
        TableName: deps.tables.releases,
        Key: releaseKey(releaseId),
        UpdateExpression: `SET #status = :running, attempt = :attempt, executionArn = :arn, retriedBy = :by, retriedAt = :now${succeeded.size > 0 ? ", settled = :settled" : ""} REMOVE outcome, cancelledBy, cancelReason, cancelledAt, firstFailure, firstFailureError, firstFailureBy, halted, taskToken, waitingSince, endedAt, errorName, cause${succeeded.size > 0 ? "" : ", settled"}`,
        ConditionExpression:
          "(#status IN (:failed, :cancelled) AND attempt = :previous) OR executionArn = :arn",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":running": "RUNNING",
          ":failed": "FAILED",
          ":cancelled": "CANCELLED",
          ":attempt": attempt,
          ":previous": attempt - 1,
          ":arn": request.executionArn,
          ":by": requestedBy,
          ":now": nowIso(deps),
          ...(succeeded.size > 0 ? { ":settled": succeeded } : {}),
        },
      }),
    );
  } catch (error) {
    if (!isConditionFailure(error)) throw error;
    throw new RetryRefused(
      `release ${releaseId} was retried by another request; attempt ${attempt} did not start`,
    );
  }
  await publishReleaseEvent(deps, { releaseId, status: "RUNNING", attempt, causedBy: requestedBy });
  const ready = again.filter((i) => i.dependsOn.every((name) => succeeded.has(name)));
  await inBatches(ready, START_CONCURRENCY, (i) => startWhenReady(deps, releaseId, i.pipeline, i.approval));
  await skipUnstartedIfStopped(deps, releaseId);
  return { releaseId, attempt };
}

export interface StopReleaseRequest {
  releaseId: string;
  reason?: string;
  error?: string;
}

export interface StopReleaseResult {
  stopped: string[];
  skipped: string[];
  /** The failure the workflow records and publishes: the wait's own, caused by the machine. */
  failure: { Error: string; Cause: string; CausedBy: string };
}

/** StopRelease's Lambda: the release's wait failed (its backstop timeout, or a defect). */
export async function stopReleaseAfterFailedWait(
  deps: ExecutionDeps,
  request: StopReleaseRequest,
): Promise<StopReleaseResult> {
  const reason = request.reason ?? "the release stopped";
  const { stopped, skipped } = await stopRelease(deps, request.releaseId, reason);
  return {
    stopped,
    skipped,
    failure: { Error: request.error ?? "States.Timeout", Cause: reason, CausedBy: MACHINE },
  };
}
