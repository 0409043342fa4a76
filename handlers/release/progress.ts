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
import { SETTLED_STATUSES, isTerminal } from "../../contract/tables";
import { type ExecutionDeps, type ExecutionItem, nowIso, recordStart } from "../executions";
import { stopExecution } from "../stops";
import { pipelineEnd } from "../failure-cause";
import { changePipeline } from "../lifecycle-store";
import { publishApprovalRequested, publishReleaseEvent } from "../release-events";
import { afterFailure, failUnstarted, settleUnstarted } from "./failure-policy";
import { settle } from "./outcome";
import { clearFailureIfHarmless, onExecutionResumed } from "./resume";
import { handOffStarts } from "./hand-off";
import { heldByFreeze } from "./freezes";
import {
  START_CONCURRENCY,
  STARTS_PER_INVOCATION,
  inBatches,
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
  // Freezes (issue 20): a pipeline a freeze covers records the hold and is not claimed.
  if (await heldByFreeze(deps, releaseId, pipeline)) return;
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
  // The schedule first, then the execution's link to its release. A claimant that dies before the
  // schedule's write leaves the claim Starting, which the reconciler takes over and repeats with the
  // same clientRequestToken; one that dies between the two leaves the schedule naming an execution
  // that knows no release, which the reconciler links (./reconcile-schedule.ts) and follows as
  // every Started item of a RUNNING release. Not recorded: the claim's taker-over records it.
  const recorded = await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordStart, {
    fields: { pipelineExecutionId, startedAt, attempt: release.attempt },
    where: { claim: item.claimedBy ?? "" },
  });
  if (!recorded.changed) return;
  await publishReleaseEvent(deps, {
    releaseId,
    status: "RUNNING",
    causedBy: MACHINE,
    pipeline,
    pipelineStatus: "Started",
    pipelineExecutionId,
  });
  // The link answers the item as stored: an end already on it was recorded before the link, by a
  // handler that could not know its release, so this start acts on it. An end recorded after the
  // link is its handler's to act on: the schedule named the execution before the link existed.
  // Exactly one of the two acts (docs/architecture.md, "Races").
  const execution = await recordStart(deps, {
    releaseId,
    pipeline,
    pipelineExecutionId,
    startedAt,
    deadlineAt,
  });
  if (isTerminal(execution.status)) await onPipelineEnded(deps, execution);
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
 * The reconciler's part of the schedule: a start whose Lambda died between the claim and the
 * record (a schedule item still Starting since before `cutoff`) is taken over, one taker at a
 * time, and completed. Answers whether this caller took it over.
 */
export async function resumeStuckStart(
  deps: ExecutionDeps,
  stuck: PipelineItem,
  cutoff: string,
): Promise<boolean> {
  if (stuck.status !== "Starting" || !stuck.startingSince || stuck.startingSince > cutoff) return false;
  const claim = await changePipeline(deps, stuck.releaseId, stuck.pipeline, PIPELINE_CHANGES.takeOver, {
    fields: { claimedBy: randomUUID(), startingSince: nowIso(deps) },
    where: { previousClaim: stuck.claimedBy ?? "" },
  });
  if (!claim.changed) return false;
  await startClaimed(deps, claim.item);
  return true;
}

/** The moment before which a claim is stuck: `olderThanSeconds` (STUCK_START_SECONDS) ago. */
export function stuckCutoff(deps: ExecutionDeps, olderThanSeconds = STUCK_START_SECONDS): string {
  return new Date(Date.parse(nowIso(deps)) - olderThanSeconds * 1000).toISOString();
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
  const submittedBy = release.submittedBy ?? "unknown";
  await publishReleaseEvent(deps, {
    releaseId,
    status: "AWAITING_APPROVAL",
    pipeline,
    causedBy: MACHINE,
    submittedBy,
  });
  if (!startsPipelines(await readReleaseItem(deps, releaseId))) {
    await settleUnstarted(deps, releaseId, pipeline, "AwaitingApproval");
  }
}

/**
 * What a pipeline's end means for its release: the end is recorded on the schedule, the
 * dependants it was the last dependency of start (or, when it failed, the failure policy acts),
 * and the pipeline settles, which ends the release's wait when nothing is left. Idempotent: each
 * step is a conditional or set-valued write, so a duplicate event or a retry repeats nothing that
 * matters. Called by the pipeline-event handler, a start, and the reconciler.
 *
 * One owner per end: the conditional write that records the end on the schedule admits one
 * writer, which does the rest; a caller that did not write it (the start and the event both found
 * the end, or a duplicate) does nothing more. A writer that dies leaves the end unsettled on the
 * schedule of a RUNNING release, and the reconciler's pass repeats the rest
 * (./reconcile-schedule.ts; an over-count is tolerated by completion: ./outcome.ts).
 */
export async function onPipelineEnded(
  deps: ExecutionDeps,
  execution: ExecutionItem,
  read?: PipelineItem,
): Promise<void> {
  const { releaseId, pipeline, pipelineExecutionId, status } = execution;
  if (!releaseId || !pipeline || !isTerminal(status)) return;
  let item = read ?? (await readPipeline(deps, releaseId, pipeline));
  // Not this release's execution of the pipeline (an earlier attempt's, say): nothing to decide.
  if (!item || item.pipelineExecutionId !== pipelineExecutionId) return;
  // A later attempt's end (RetryStageExecution) than the schedule item holds: the resume first.
  if ((execution.executionAttempt ?? 1) > (item.executionAttempt ?? 1)) {
    await onExecutionResumed(deps, execution, false);
    item = (await readPipeline(deps, releaseId, pipeline)) ?? item;
  }
  // A resumed execution's new end after its release's outcome: its history has it; nothing counts.
  if (SETTLED_STATUSES.includes(item.status) && item.status !== status) return;
  // Recorded and marked by the caller that acted on it first (an event and a start both saw the
  // end; a duplicate): the rest is that caller's, and a crash of it the reconciler's, whose pass
  // over the schedule finds a count or a dependant's mark missing (./reconcile-schedule.ts).
  if (item.status === status && item.settled === true) return;
  const succeeded = status === "Succeeded";
  const end = succeeded ? undefined : await pipelineEnd(deps, execution, status);
  const cause = end?.cause;
  // A success is marked settled as it is recorded (contract/lifecycle-success.ts): one write less.
  let marked = item.settled === true;
  if (!SETTLED_STATUSES.includes(item.status) && isPipelineEnd(status)) {
    const recorded = succeeded
      ? await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordSuccess, {
          fields: { endedAt: nowIso(deps), settled: true },
          where: { pipelineExecutionId },
        })
      : await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordEnd, {
          fields: { endedAt: nowIso(deps), ...end },
          where: { pipelineExecutionId },
          to: status,
        });
    // Not recorded: a concurrent caller (the start and the event both saw the end, or a duplicate)
    // recorded it and acts on it; should it die, the reconciler's pass repeats the rest.
    if (!recorded.changed) return;
    marked ||= succeeded;
    await publishReleaseEvent(deps, {
      releaseId,
      status: "RUNNING",
      causedBy: MACHINE,
      pipeline,
      pipelineStatus: status,
      pipelineExecutionId,
      ...(cause ? { cause } : {}),
    });
  }
  // Dependants past the first batch are handed on (./dependants.ts); a lost hand-off leaves a
  // dependant without this pipeline's mark, which the reconciler's pass finds and repeats.
  if (succeeded) {
    await readyDependants(deps, { releaseId, pipeline, pipelineExecutionId, dependants: item.dependants });
    if (item.executionAttempt !== undefined) await clearFailureIfHarmless(deps, releaseId, pipeline);
  } else {
    await afterFailure(deps, releaseId, pipeline, cause ?? "", item.attempt ?? 1);
  }
  await settle(deps, releaseId, pipeline, { marked, ended: pipelineExecutionId });
}

/** A succeeded pipeline's dependants: the first batch now, the rest handed on. */
export async function readyDependants(
  deps: ExecutionDeps,
  from: { releaseId: string; pipeline: string; pipelineExecutionId: string; dependants: readonly string[] },
): Promise<void> {
  const { releaseId, pipeline, pipelineExecutionId } = from;
  const next = await readyDependantsFrom(deps, releaseId, pipeline, from.dependants, 0);
  if (next !== null) await handOffStarts(deps, { releaseId, pipeline, pipelineExecutionId, from: next });
}

/**
 * A first attempt's end on an execution its schedule names, decided on the schedule item: a second
 * end of an execution the schedule already records ended is a `duplicate` (an execution ends
 * once); a success is acted on, the schedule's write (status, `endedAt`, settled) its record
 * (docs/architecture.md, "Write units"), and answers `ended`. Undefined when the schedule does not
 * name it (a retry reset it), or for a failure while it runs: the caller records that on the
 * execution's item, whose attempts a resume (RetryStageExecution) builds on.
 */
export async function endOnSchedule(
  deps: ExecutionDeps,
  execution: ExecutionItem,
): Promise<"ended" | "duplicate" | undefined> {
  const { releaseId, pipeline, pipelineExecutionId } = execution;
  if (!releaseId || !pipeline || !isTerminal(execution.status)) return undefined;
  const item = await readPipeline(deps, releaseId, pipeline);
  if (!item || item.pipelineExecutionId !== pipelineExecutionId || (item.executionAttempt ?? 1) !== 1)
    return undefined;
  if (SETTLED_STATUSES.includes(item.status)) return "duplicate";
  if (execution.status !== "Succeeded" || item.status !== "Started") return undefined;
  await onPipelineEnded(deps, execution, item);
  return "ended";
}

function isPipelineEnd(status: string | undefined): status is PipelineEnd {
  return isTerminal(status);
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
