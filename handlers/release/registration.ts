/**
 * RegisterRelease: the release is recorded exactly once per releaseId (of two racing submissions
 * one wins, the other gets DuplicateRelease), its schedule written (one ReleasePipelines item per
 * pipeline) and the pipelines that depend on nothing started. A retry of the same execution
 * passes the condition again and repeats only what is missing.
 *
 * Resumable from its recorded progress (docs/architecture.md, "Crash consistency"): the release
 * says `schedulePending` from its first write until every schedule item exists, and nothing starts
 * before that. So an invocation that dies mid-way leaves a release that a repeat of the same
 * registration completes (Step Functions retries the task with the same input), or, when the
 * execution fails instead, a FAILED release that says its schedule is incomplete and that no retry
 * takes for a release of fewer pipelines than its pipelineCount. A release may hold 500 pipelines,
 * so its schedule cannot be one transaction (TransactWriteItems takes at most 100 actions:
 * https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_TransactWriteItems.html).
 *
 * A releaseId whose registration failed for good (FAILED, `schedulePending`: nothing started) is
 * registered again by the next submission of it, through any door (./reregistration.ts).
 */
import { DuplicateRelease } from "../../contract/errors";
import { type PlannedPipeline, startVariables } from "../../contract/manifest";
import { type FailurePolicy, type PipelineItem, RELEASE_CHANGES } from "../../contract/lifecycle";
import { listedShard } from "../../contract/tables";
import type { ExecutionDeps } from "../executions";
import { changeRelease, schedulePipeline } from "../lifecycle-store";
import { publishReleaseEvent } from "../release-events";
import { skipUnstartedIfStopped } from "./failure-policy";
import { START_CONCURRENCY, inBatches, readReleaseItem } from "./reads";
import { type RegisterFields, clearSchedule, reregister } from "./reregistration";
import { startReadyFrom } from "./start-batches";
import { takeRecordedUploader } from "./uploader";

export interface RegisterReleaseRequest {
  releaseId: string;
  executionArn: string;
  startedAt: string;
  source: string;
  /** Who submitted it; `unknown` when the source does not say. */
  submittedBy?: string;
  /** The stack's failure policy: the release's unless the manifest chose its own (`options`). */
  failurePolicy: FailurePolicy;
  /** What the manifest chose (ValidateManifest's `options`); absent from older executions' input. */
  options?: { failurePolicy?: FailurePolicy };
  longestPipelineRunSeconds: number;
  pipelines: PlannedPipeline[];
}

export async function registerRelease(
  deps: ExecutionDeps,
  request: RegisterReleaseRequest,
): Promise<{ releaseId: string; pipelineCount: number; startsFrom: number | null }> {
  const { releaseId, executionArn, pipelines } = request;
  const fields: RegisterFields = {
    executionArn,
    startedAt: request.startedAt,
    source: request.source,
    attempt: 1,
    // The policy the release runs under, recorded and shown by GET /releases/{releaseId}.
    failurePolicy: request.options?.failurePolicy ?? request.failurePolicy,
    pipelineCount: pipelines.length,
    pipelineTimeoutSeconds: request.longestPipelineRunSeconds,
    submittedBy: request.submittedBy ?? "unknown",
    listed: listedShard(releaseId),
    schedulePending: executionArn,
  };
  let registered = await changeRelease(deps, releaseId, RELEASE_CHANGES.register, { fields });
  // A registration that failed for good started nothing: a new submission takes its releaseId.
  if (!registered.changed) registered = await reregister(deps, releaseId, fields);
  if (!registered.changed) {
    // A repeat of this registration after its schedule was written goes on to the starts.
    if (!(await scheduledBy(deps, releaseId, executionArn))) {
      throw new DuplicateRelease(
        `Release ${releaseId} was already submitted; a releaseId runs once. Submit a new releaseId to release again.`,
      );
    }
    return startRoots(deps, request);
  }
  // Registered again: the failed registration's leftovers go before this schedule is written.
  if (registered.item.replaces !== undefined) await clearSchedule(deps, releaseId);

  // An S3 upload's uploader, if CloudTrail's record of it arrived first (./uploader.ts).
  await takeRecordedUploader(deps, releaseId, request.source);
  await publishReleaseEvent(deps, {
    releaseId,
    status: "RUNNING",
    attempt: 1,
    causedBy: request.submittedBy ?? "unknown",
  });
  const dependants = new Map<string, string[]>(pipelines.map((p) => [p.name, []]));
  for (const p of pipelines) for (const dep of p.dependsOn ?? []) dependants.get(dep)?.push(p.name);
  await inBatches(pipelines, START_CONCURRENCY, (p) => {
    const item: Omit<PipelineItem, "status"> = {
      releaseId,
      pipeline: p.name,
      order: pipelines.indexOf(p),
      dependsOn: p.dependsOn ?? [],
      dependants: dependants.get(p.name) ?? [],
      // The schedule keeps the start request in CodePipeline's form; the plan kept the manifest's.
      ...(p.variables ? { variables: startVariables(p.variables) } : {}),
      ...(p.sourceRevisions ? { sourceRevisions: p.sourceRevisions } : {}),
      ...(p.approval ? { approval: p.approval } : {}),
    };
    // Not written: an earlier attempt wrote it, and its progress is kept.
    return schedulePipeline(deps, item);
  });
  // Every item exists: the count matches the schedule. Only then does anything start.
  await changeRelease(deps, releaseId, RELEASE_CHANGES.scheduleWritten, {
    fields: {},
    where: { executionArn },
  });

  return startRoots(deps, request);
}

/** Whether the release's schedule was written by this very execution (a repeat of its registration). */
async function scheduledBy(deps: ExecutionDeps, releaseId: string, executionArn: string): Promise<boolean> {
  const release = await readReleaseItem(deps, releaseId);
  return (
    release?.status === "RUNNING" &&
    release.executionArn === executionArn &&
    release.schedulePending === undefined
  );
}

/** Starts the first batch of roots; the workflow hands the rest on, one batch per invocation (./start-batches.ts). */
async function startRoots(
  deps: ExecutionDeps,
  request: RegisterReleaseRequest,
): Promise<{ releaseId: string; pipelineCount: number; startsFrom: number | null }> {
  const { releaseId, pipelines } = request;
  const ordered = pipelines.map((p) => ({
    name: p.name,
    ...(p.approval ? { approval: p.approval } : {}),
    ready: (p.dependsOn ?? []).length === 0,
  }));
  const startsFrom = await startReadyFrom(deps, releaseId, ordered, 0);
  await skipUnstartedIfStopped(deps, releaseId);
  return { releaseId, pipelineCount: pipelines.length, startsFrom };
}
