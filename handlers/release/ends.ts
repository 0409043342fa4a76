/**
 * What a pipeline's end means for its release: the end is recorded on the schedule, the dependants
 * it was the last dependency of start (or, when it failed, the failure policy acts), and the
 * pipeline settles, which ends the release's wait when nothing is left. Called by the
 * pipeline-event handler and the reconciler.
 */
import { type PipelineEnd, PIPELINE_CHANGES } from "../../contract/lifecycle";
import { SETTLED_STATUSES, isTerminal } from "../../contract/tables";
import { type ExecutionDeps, type ExecutionItem, nowIso, releaseWaiterDone } from "../executions";
import { findFailurePoint } from "../failure-cause";
import { changePipeline } from "../lifecycle-store";
import { afterFailure } from "./failure-policy";
import { settle } from "./outcome";
import { START_CONCURRENCY, inBatches, readPipeline } from "./reads";
import { startWhenReady } from "./start-and-claims";

/**
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
  if (!SETTLED_STATUSES.includes(item.status) && isPipelineEnd(status)) {
    // Not recorded: a concurrent duplicate recorded it.
    await changePipeline(deps, releaseId, pipeline, PIPELINE_CHANGES.recordEnd, {
      fields: { endedAt: nowIso(deps), ...(cause ? { cause } : {}) },
      where: { pipelineExecutionId },
      to: status,
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

function isPipelineEnd(status: string): status is PipelineEnd {
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
