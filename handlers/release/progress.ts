/**
 * How a pipeline moves forward, exactly once at each step: ready (every dependency succeeded) ->
 * its gate opens, or the start is claimed (`Pending -> Starting`, one writer wins) -> started in
 * CodePipeline with a clientRequestToken of (release, pipeline, attempt) and recorded by the
 * claimant -> ended, which readies its dependants. A claim whose Lambda died before the record is
 * taken over by the reconciler, from the claimant it read; the token makes that repeated start
 * return the same execution. Starts and ends call each other (an end readies a start; a start may
 * find its end already arrived), so they share this file. docs/architecture.md, "Races".
 */
import { StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { randomUUID } from "node:crypto";
import { CLAIM_EXPIRY_SECONDS } from "../../contract/function-timeouts";
import { type ApprovalGate, clientRequestToken } from "../../contract/manifest";
import { MACHINE, type PipelineEnd, type PipelineItem, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { ExecutionsTable, ReleasePipelinesTable, SETTLED_STATUSES, isTerminal } from "../../contract/tables";
import { readItem } from "../reads";
import {
  type ExecutionDeps,
  type ExecutionItem,
  nowIso,
  recordStart,
  releaseWaiterDone,
} from "../executions";
import { stopExecution } from "../stops";
import { findFailurePoint } from "../failure-cause";
import { changePipeline } from "../lifecycle-store";
import { publishApprovalRequested, publishReleaseEvent } from "../release-events";
import { afterFailure, failUnstarted, settleUnstarted } from "./failure-policy";
import { settle } from "./outcome";
import { clearFailureIfHarmless, onExecutionResumed } from "./resume";
import { handOffStarts } from "./hand-off";
import {
  START_CONCURRENCY,
  STARTS_PER_INVOCATION,
  inBatches,
  onScheduleIndex,
  readPipeline,
  readReleaseItem,
  startsPipelines,
} from "./reads";

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

/**
 * How long a claimed start may stay unrecorded before the reconciler takes it over: past the
 * longest timeout of any function that can hold a claim (contract/function-timeouts.ts), so the
 * claimant has certainly stopped and no takeover races a start still in flight.
 */
export const STUCK_START_SECONDS = CLAIM_EXPIRY_SECONDS;

/**
 * Starts one pipeline whose dependencies all succeeded, or opens its gate: the claim admits one
 * caller, whatever the number of events, duplicates or retries that found the pipeline ready.
 */
export async function startWhenReady(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  gate: ApprovalGate | undefined,
): Promise<void> {
  if (gate) return openGate(deps, releaseId, pipeline, gate);
  const claim = await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.claim, {
    fields: { claimedBy: randomUUID(), startingSince: nowIso(deps) },
  });
  // Not claimed: another caller has it, or it was skipped.
  if (claim.changed) await startClaimed(deps, claim.item);
}

/** Starts a claimed pipeline and records its execution; the claim's holder alone calls this. */
export async function startClaimed(deps: ExecutionDeps, item: PipelineItem): Promise<void> {
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
    await failUnstarted(deps, release, pipeline, item.claimedBy ?? "", why);
    return;
  }
  const startedAt = nowIso(deps);
  const deadlineAt = new Date(Date.parse(startedAt) + release.pipelineTimeoutSeconds * 1000).toISOString();
  // The execution first (its release, on the `waiting` index), then the schedule: a claimant that
  // dies between the two leaves the claim on the `starting` index, which the reconciler takes over
  // and repeats with the same clientRequestToken. The other order left a schedule naming an
  // execution that knew no release, whose end nothing would act on (docs/architecture.md, "Crash
  // consistency"). Not recorded on the schedule: the claim's taker-over recorded it.
  await recordStart(deps, { releaseId, pipeline, pipelineExecutionId, startedAt, deadlineAt });
  await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordStart, {
    fields: { pipelineExecutionId, startedAt, attempt: release.attempt },
    where: { claim: item.claimedBy ?? "" },
  });
  // Its end may have arrived before the schedule named it: the event's handler found no pipeline
  // naming it then, so this read (after the schedule's write) sees the end and acts on it.
  const execution = await readItem<ExecutionItem>(deps.ddb, deps.tables.executions, {
    [ExecutionsTable.hashKey]: pipelineExecutionId,
  });
  if (!execution) throw new Error(`execution ${pipelineExecutionId} of ${pipeline} was not recorded`);
  // Still awaiting its release: no handler has finished acting on the end (one that found no
  // pipeline naming it left it there), so this start acts on it; a finished one took it off.
  if (isTerminal(execution.status) && execution.awaitingRelease)
    await onPipelineEnded(deps, execution, "firstHand");
  // A failure recorded while this start was in flight: either the failure's stop pass saw this
  // execution (recorded above), or this read sees the failure. Stopping twice is harmless.
  // An ended execution has nothing to stop: no read.
  if (isTerminal(execution.status)) return;
  const now = await readReleaseItem(deps, releaseId);
  if (!startsPipelines(now)) {
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

/**
 * The reconciler's part of the schedule: starts whose Lambda died between the claim and the record
 * (found on the sparse `starting` index) are taken over, one taker at a time, and completed.
 * `olderThanSeconds`: 0 only where every claimant is known to have stopped (local mode's restart).
 */
export async function resumeStuckStarts(
  deps: ExecutionDeps,
  olderThanSeconds = STUCK_START_SECONDS,
): Promise<number> {
  let resumed = 0;
  const cutoff = new Date(Date.parse(nowIso(deps)) - olderThanSeconds * 1000).toISOString();
  const stuckStarts = onScheduleIndex<PipelineItem & { startingSince: string }>(
    deps,
    ReleasePipelinesTable.startingIndex.name,
  );
  for await (const stuck of stuckStarts) {
    if (stuck.startingSince > cutoff) continue;
    const claim = await changePipeline(deps, stuck.releaseId, stuck.pipeline, PIPELINE_CHANGES.takeOver, {
      fields: { claimedBy: randomUUID(), startingSince: nowIso(deps) },
      where: { previousClaim: stuck.claimedBy ?? "" },
    });
    if (claim.changed) {
      await startClaimed(deps, claim.item);
      resumed += 1;
    }
  }
  return resumed;
}

/**
 * `Pending -> AwaitingApproval` (one writer wins), with the gate's deadline on the sparse `gates`
 * index, then "Release Approval Requested". A cancel or a halt recorded meanwhile may have read
 * this pipeline as Pending and passed it by: the second read of the release catches that and
 * skips it.
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
  const opened = await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.openGate, {
    fields: { approvalRequestedAt: now, approvalDeadlineAt: deadlineAt },
  });
  if (!opened.changed) return; // opened, skipped or decided by another caller
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

/**
 * Who acts on an end. `firstHand`: a handler that saw it as it happened (the end event's first
 * delivery, or the start that found its execution already ended); two of them can act on one end
 * at once. `repeat`: one that repeats a handler that may have died (a redelivered event, the
 * reconciler).
 */
export type EndActor = "firstHand" | "repeat";

/**
 * What a pipeline's end means for its release: the end is recorded on the schedule, the
 * dependants it was the last dependency of start (or, when it failed, the failure policy acts),
 * and the pipeline settles, which ends the release's wait when nothing is left. Idempotent: each
 * step is a conditional or set-valued write, so a duplicate event or a retry repeats nothing that
 * matters. Called by the pipeline-event handler, a start, and the reconciler.
 *
 * One owner per end: the conditional write that records the end on the schedule admits one
 * writer, which does the rest. A first-hand actor writes it without reading the schedule first
 * (on a first attempt: a resumed one reads), and one that did not write it (the start and the
 * event both found the end, or the schedule does not name the execution yet) does nothing more:
 * the writer is acting on it, and a writer that dies leaves the execution on the `waiting` index,
 * so the reconciler repeats the end (a repeat always acts; its settle may count twice, which
 * completion tolerates: ./outcome.ts).
 */
export async function onPipelineEnded(
  deps: ExecutionDeps,
  execution: ExecutionItem,
  actor: EndActor = "repeat",
): Promise<void> {
  const { releaseId, pipeline, pipelineExecutionId, status } = execution;
  if (!releaseId || !pipeline || !isPipelineEnd(status)) return;
  const end = { ...execution, releaseId, pipeline, status };
  // A first-hand actor on a first attempt writes the end at once, unread: the write decides.
  if (actor === "firstHand" && (execution.executionAttempt ?? 1) === 1) return endFirstHand(deps, end);
  let item = await readPipeline(deps, releaseId, pipeline);
  // Not this release's execution of the pipeline (an earlier attempt's, say): nothing to decide.
  if (!item || item.pipelineExecutionId !== pipelineExecutionId) return;
  // A later attempt's end (RetryStageExecution) than the schedule item holds: the resume first.
  if ((execution.executionAttempt ?? 1) > (item.executionAttempt ?? 1)) {
    await onExecutionResumed(deps, execution, false);
    item = (await readPipeline(deps, releaseId, pipeline)) ?? item;
  }
  // A resumed execution's new end after its release's outcome: its history has it; nothing counts.
  if (SETTLED_STATUSES.includes(item.status) && item.status !== status) {
    await releaseWaiterDone(deps, pipelineExecutionId);
    return;
  }
  const cause = status === "Succeeded" ? undefined : await failureCause(deps, execution, status);
  // A success is marked settled as it is recorded (contract/lifecycle-success.ts): one write less.
  let marked = item.settled === true;
  let recorded = false;
  if (!SETTLED_STATUSES.includes(item.status)) {
    recorded = (await recordEndOnSchedule(deps, end, cause)).changed;
    marked ||= recorded && status === "Succeeded";
  }
  // Recorded by another first-hand actor, which owns the rest of this end.
  if (!recorded && actor === "firstHand") return;
  await actOnEnd(deps, end, item, { marked, cause });
}

type PipelineEndOf = ExecutionItem & { releaseId: string; pipeline: string; status: PipelineEnd };

/**
 * The end's conditional write on the schedule: admits one writer, only while the pipeline names
 * this execution and has not ended, and answers the item as written.
 */
function recordEndOnSchedule(deps: ExecutionDeps, end: PipelineEndOf, cause: string | undefined) {
  const { releaseId, pipeline, pipelineExecutionId, status } = end;
  return status === "Succeeded"
    ? changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordSuccess, {
        fields: { endedAt: nowIso(deps), settled: true },
        where: { pipelineExecutionId },
      })
    : changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordEnd, {
        fields: { endedAt: nowIso(deps), ...(cause ? { cause } : {}) },
        where: { pipelineExecutionId },
        to: status,
      });
}

/**
 * A first-hand actor on a first attempt: the end's write first. Not written: the schedule does
 * not name this execution yet (its start acts on the end then), or another first-hand actor
 * recorded the end and owns the rest, or the pipeline settled otherwise meanwhile (local mode's
 * restart stopped it), when this execution no longer waits for anything.
 */
async function endFirstHand(deps: ExecutionDeps, end: PipelineEndOf): Promise<void> {
  const cause = end.status === "Succeeded" ? undefined : await failureCause(deps, end, end.status);
  const recorded = await recordEndOnSchedule(deps, end, cause);
  if (recorded.changed)
    return actOnEnd(deps, end, recorded.item, { marked: end.status === "Succeeded", cause });
  const item = await readPipeline(deps, end.releaseId, end.pipeline);
  const named = item?.pipelineExecutionId === end.pipelineExecutionId;
  if (named && SETTLED_STATUSES.includes(item.status) && item.status !== end.status)
    await releaseWaiterDone(deps, end.pipelineExecutionId);
}

/** The rest of an end, by its owner: dependants or the failure policy, then the settle. */
async function actOnEnd(
  deps: ExecutionDeps,
  end: PipelineEndOf,
  item: PipelineItem,
  { marked, cause }: { marked: boolean; cause: string | undefined },
): Promise<void> {
  const { releaseId, pipeline, pipelineExecutionId } = end;
  // Dependants past the first batch are handed on (./dependants.ts); the execution then stays on
  // the `waiting` index until the last batch is done, so the reconciler repeats a lost hand-off.
  let handedOff = false;
  if (end.status === "Succeeded") {
    const next = await readyDependantsFrom(deps, releaseId, pipeline, item.dependants, 0);
    if (next !== null) await handOffStarts(deps, { releaseId, pipeline, pipelineExecutionId, from: next });
    handedOff = next !== null;
    if (item.executionAttempt !== undefined) await clearFailureIfHarmless(deps, releaseId, pipeline);
  } else {
    await afterFailure(deps, releaseId, pipeline, cause ?? "", item.attempt ?? 1);
  }
  await settle(deps, releaseId, pipeline, { marked, ended: pipelineExecutionId });
  if (!handedOff) await releaseWaiterDone(deps, pipelineExecutionId);
}

function isPipelineEnd(status: string | undefined): status is PipelineEnd {
  return isTerminal(status);
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

/**
 * One batch of a succeeded pipeline's dependants, from `from` (at most STARTS_PER_INVOCATION, so
 * at most that many starts): each is marked, and starts once all of its dependencies succeeded.
 * Answers where the next batch begins, or null after the last.
 */
export async function readyDependantsFrom(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
  dependants: readonly string[],
  from: number,
): Promise<number | null> {
  const batch = dependants.slice(from, from + STARTS_PER_INVOCATION);
  await inBatches(batch, START_CONCURRENCY, (dependant) =>
    dependencySucceeded(deps, releaseId, dependant, pipeline),
  );
  const next = from + batch.length;
  return next < dependants.length ? next : null;
}

/** One dependency succeeded: the dependant starts once all of its dependencies did. */
async function dependencySucceeded(
  deps: ExecutionDeps,
  releaseId: string,
  dependant: string,
  dependency: string,
): Promise<void> {
  const result = await changePipeline(deps, releaseId, dependant, PIPELINE_CHANGES.dependencySucceeded, {
    fields: { depsSucceeded: new Set([dependency]) },
  });
  if (!result.changed) throw new Error(`release ${releaseId} has no pipeline ${dependant}`);
  const item = result.item;
  const met = item.dependsOn.every((name) => item.depsSucceeded?.has(name));
  if (met && item.status === "Pending") await startWhenReady(deps, releaseId, dependant, item.approval);
}
