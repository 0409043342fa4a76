/**
 * Starting a pipeline, exactly once: a pipeline whose dependencies all succeeded is claimed
 * (`Pending -> Starting`, one writer wins), started in CodePipeline with a clientRequestToken of
 * (release, pipeline, attempt), and its execution recorded by the claimant. A claim whose Lambda
 * died before the record is taken over by the reconciler, from the claimant it read; the token
 * makes that repeated start return the same execution. docs/architecture.md, "Races".
 */
import { StartPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { randomUUID } from "node:crypto";
import { type ApprovalGate, clientRequestToken } from "../../contract/manifest";
import { type PipelineItem, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { ReleasePipelinesTable, isTerminal } from "../../contract/tables";
import { type ExecutionDeps, nowIso, recordStart, stopExecution } from "../executions";
import { changePipeline } from "../lifecycle-store";
import { onPipelineEnded } from "./ends";
import { failUnstarted, settleUnstarted } from "./failure-policy";
import { openGate } from "./gates";
import { onScheduleIndex, readReleaseItem, startsPipelines } from "./reads";

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

/** How long a claimed start may stay unrecorded before the reconciler takes it over. */
export const STUCK_START_SECONDS = 300;

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
    await failUnstarted(deps, release, pipeline, why);
    return;
  }
  const startedAt = nowIso(deps);
  // The schedule first, then the execution: whoever sees the execution's releaseId can rely on
  // the schedule naming this execution. Not recorded: the claim's taker-over recorded it.
  await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordStart, {
    fields: { pipelineExecutionId, startedAt, attempt: release.attempt },
    where: { claim: item.claimedBy ?? "" },
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
