/**
 * Where a pipeline execution failed, in words for a release's cause: the failing stage and action
 * and the action's error, read from CodePipeline. ListActionExecutions is asked first (it is
 * scoped to the execution); GetPipelineState second (it shows only each stage's latest execution,
 * so it is used only when that execution is this one). Never throws: without those details, or
 * when CodePipeline cannot be asked, the answer is the status line alone.
 *
 * pipelineEnd also says, for a pipeline that was stopped, which failure stopped it: its release's
 * first failure, under stopRemaining (handlers/release/failure-policy.ts stops the others only
 * after recording it), or a cancel.
 *
 * Calls: codepipeline:ListActionExecutions and codepipeline:GetPipelineState on the pipeline;
 * dynamodb:GetItem on the release (a Stopped end only).
 */
import {
  type ActionExecutionDetail,
  type CodePipelineClient,
  GetPipelineStateCommand,
  ListActionExecutionsCommand,
} from "@aws-sdk/client-codepipeline";
import type { PipelineFailureFields } from "../contract/lifecycle-view";
import type { ExecutionDeps, ExecutionItem } from "./executions";
import { readReleaseItem } from "./release/reads";

/** Where an execution failed, as far as CodePipeline says. */
export interface FailurePoint {
  stage: string;
  action?: string;
  message?: string;
}

/** Pages of ListActionExecutions read at most (100 action runs each). */
const MAX_PAGES = 3;
/** Longest error message quoted; a cause is read by people, and Step Functions caps it. */
const MAX_MESSAGE = 500;

function oneLine(text: string | undefined): string | undefined {
  const line = text?.replace(/\s+/g, " ").trim();
  if (!line) return undefined;
  return line.length > MAX_MESSAGE ? `${line.slice(0, MAX_MESSAGE - 1)}…` : line;
}

/** The first failed action run of the execution, by start time. */
async function fromActionExecutions(
  codepipeline: CodePipelineClient,
  pipelineName: string,
  pipelineExecutionId: string,
): Promise<FailurePoint | undefined> {
  const details: ActionExecutionDetail[] = [];
  let nextToken: string | undefined;
  for (let pages = 0; pages < MAX_PAGES; pages += 1) {
    const answer = await codepipeline.send(
      new ListActionExecutionsCommand({ pipelineName, filter: { pipelineExecutionId }, nextToken }),
    );
    details.push(...(answer.actionExecutionDetails ?? []));
    nextToken = answer.nextToken;
    if (!nextToken) break;
  }
  const failed = details
    .filter((d) => d.status === "Failed" && d.stageName)
    .sort((a, b) => (a.startTime?.getTime() ?? 0) - (b.startTime?.getTime() ?? 0))[0];
  if (!failed?.stageName) return undefined;
  const result = failed.output?.executionResult;
  const message = oneLine(result?.errorDetails?.message ?? result?.externalExecutionSummary);
  return {
    stage: failed.stageName,
    ...(failed.actionName ? { action: failed.actionName } : {}),
    ...(message ? { message } : {}),
  };
}

/** The failed stage of the execution, if it is still that stage's latest. */
async function fromPipelineState(
  codepipeline: CodePipelineClient,
  name: string,
  pipelineExecutionId: string,
): Promise<FailurePoint | undefined> {
  const { stageStates = [] } = await codepipeline.send(new GetPipelineStateCommand({ name }));
  const stage = stageStates.find(
    (s) =>
      s.stageName &&
      s.latestExecution?.pipelineExecutionId === pipelineExecutionId &&
      s.latestExecution.status === "Failed",
  );
  if (!stage?.stageName) return undefined;
  const action = stage.actionStates?.find((a) => a.latestExecution?.status === "Failed");
  const message = oneLine(action?.latestExecution?.errorDetails?.message ?? action?.latestExecution?.summary);
  return {
    stage: stage.stageName,
    ...(action?.actionName ? { action: action.actionName } : {}),
    ...(message ? { message } : {}),
  };
}

/** Where the execution failed, or undefined when CodePipeline does not say (or cannot be asked). */
export async function findFailurePoint(
  codepipeline: CodePipelineClient,
  pipeline: string,
  pipelineExecutionId: string,
): Promise<FailurePoint | undefined> {
  for (const source of [fromActionExecutions, fromPipelineState]) {
    try {
      const point = await source(codepipeline, pipeline, pipelineExecutionId);
      if (point) return point;
    } catch {
      // Not allowed, throttled, or the execution is gone: the next source, then the status line.
    }
  }
  return undefined;
}

/**
 * e.g. "Pipeline svc-a execution 0f3c… Failed at stage Deploy, action DeployApp: Health check failed",
 * or "Pipeline svc-a execution 0f3c… Stopped" when CodePipeline names no failed stage.
 */
export async function describePipelineFailure(
  codepipeline: CodePipelineClient,
  pipeline: string,
  pipelineExecutionId: string,
  status: string,
): Promise<string> {
  const head = `Pipeline ${pipeline} execution ${pipelineExecutionId} ${status}`;
  const point = await findFailurePoint(codepipeline, pipeline, pipelineExecutionId);
  if (!point) return head;
  const action = point.action ? `, action ${point.action}` : "";
  return `${head} at stage ${point.stage}${action}${point.message ? `: ${point.message}` : ""}`;
}

/** How a pipeline's execution ended, as its schedule item records it: the cause in words, and the fields. */
export interface PipelineEndRecord extends PipelineFailureFields {
  cause: string;
}

/** Which failure or cancel of the release stopped this pipeline, if one did. */
async function stoppedFor(
  deps: ExecutionDeps,
  releaseId: string,
  pipeline: string,
): Promise<{ words: string; stoppedBy?: string } | undefined> {
  const release = await readReleaseItem(deps, releaseId);
  if (release?.cancelledBy) return { words: `stopped by the cancel of ${release.cancelledBy}` };
  const first = release?.firstFailurePipeline;
  if (release?.failurePolicy !== "stopRemaining" || !first || first === pipeline) return undefined;
  return { words: `stopped after pipeline ${first} failed (failure policy stopRemaining)`, stoppedBy: first };
}

/**
 * Why a pipeline did not succeed: its end, where CodePipeline says it failed (stage and action,
 * also as fields), or which failure of its release stopped it.
 */
export async function pipelineEnd(
  deps: ExecutionDeps,
  execution: ExecutionItem,
  status: string,
): Promise<PipelineEndRecord> {
  const pipeline = execution.pipeline ?? "";
  const head = `Pipeline ${pipeline} did not succeed: execution ${execution.pipelineExecutionId}`;
  if (execution.timedOut)
    return { cause: `${head} ran past ${execution.deadlineAt} (longestPipelineRunHours) and was stopped` };
  if (status === "Stopped" && execution.releaseId) {
    const stopped = await stoppedFor(deps, execution.releaseId, pipeline).catch(() => undefined);
    if (stopped)
      return {
        cause: `${head} ended Stopped: ${stopped.words}`,
        ...(stopped.stoppedBy ? { stoppedBy: stopped.stoppedBy } : {}),
      };
  }
  if (status !== "Failed") return { cause: `${head} ended ${status}` };
  const point = await findFailurePoint(deps.codepipeline, pipeline, execution.pipelineExecutionId);
  if (!point) return { cause: `${head} ended Failed` };
  const action = point.action ? `, action ${point.action}` : "";
  return {
    cause: `${head} ended Failed at stage ${point.stage}${action}${point.message ? `: ${point.message}` : ""}`,
    failedStage: point.stage,
    ...(point.action ? { failedAction: point.action } : {}),
  };
}
