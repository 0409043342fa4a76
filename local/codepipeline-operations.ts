/**
 * The CodePipeline operations the stand-in (local/codepipeline-service.ts) serves, on its pipelines
 * and their executions: each request checked and answered as the API Reference documents it,
 * errors included (docs/aws-facts.md, "CodePipeline").
 */
import { randomUUID } from "node:crypto";
import { isRecord } from "../contract/json";
import {
  type Body,
  CodePipelineError,
  EXECUTION_ID,
  PIPELINE_NAME,
  TOKEN,
  epochSeconds,
  listOf,
  newestFirst,
  page,
  statusSummary,
  validation,
} from "./codepipeline-protocol";
import {
  type ExecutionRecord,
  type ExecutionTrigger,
  PipelineRun,
  type PipelineVariable,
  type RetryMode,
  type RunEvents,
  type SourceRevisionOverride,
  latestRuns,
  retryable,
} from "./codepipeline-run";
import { StageLocks } from "./codepipeline-locks";
import type { SavedRun } from "./codepipeline-store";
import { type LocalPipelineSpec, type PipelinePlan, planOf } from "./codepipeline-spec";

/** A pipeline the stand-in serves: its spec, its plan and its stage locks. */
export interface LocalPipeline {
  spec: LocalPipelineSpec;
  plan: PipelinePlan;
  locks: StageLocks;
}

const STAGE_NAME = PIPELINE_NAME;
const RETRY_MODES: readonly string[] = ["FAILED_ACTIONS", "ALL_ACTIONS"];

export abstract class CodePipelineOperations {
  protected readonly pipelines = new Map<string, LocalPipeline>();
  protected readonly runs = new Map<string, PipelineRun>();
  private readonly byToken = new Map<string, string>();
  protected abstract readonly events: RunEvents;

  /** Throws for a spec whose failure names no stage or action of its pipeline. */
  constructor(
    specs: LocalPipelineSpec[],
    private readonly stopAndWaitMs: number | null,
  ) {
    for (const spec of specs) {
      const plan = planOf(spec);
      this.pipelines.set(spec.name, { spec, plan, locks: new StageLocks(plan.mode) });
    }
  }

  /**
   * Runs kept across a restart (local/codepipeline-store.ts), known again by id and by their
   * start's clientRequestToken; those not ended go on: runs holding a stage first, then the ones
   * that waited, oldest first. A saved run of a pipeline no longer in the file is left out.
   */
  protected restore(saved: SavedRun[]): void {
    const runs: { run: PipelineRun; openStage?: string }[] = [];
    for (const state of saved) {
      const pipeline = this.pipelines.get(state.record.pipeline);
      if (!pipeline) continue;
      const run = new PipelineRun(state.record, pipeline.plan, {
        events: this.events,
        gate: pipeline.locks,
        stopAndWaitMs: this.stopAndWaitMs,
      });
      run.stages.push(...state.stages);
      Object.assign(run, {
        stopping: state.stopping,
        waitingFor: state.waitingFor,
        announced: state.announced,
      });
      this.runs.set(state.record.pipelineExecutionId, run);
      this.byToken.set(
        `${state.record.pipeline}\n${state.record.clientRequestToken}`,
        run.record.pipelineExecutionId,
      );
      if (!run.isTerminal) runs.push({ run, ...(state.openStage && { openStage: state.openStage }) });
    }
    const holding = runs.filter((r) => r.openStage !== undefined);
    for (const { run, openStage } of [...holding, ...runs.filter((r) => r.openStage === undefined)]) {
      run.continueAfterRestart(openStage);
    }
  }

  protected pipelineOf(name: unknown, member: string): LocalPipeline {
    if (typeof name !== "string" || !PIPELINE_NAME.test(name)) {
      throw validation(`Value at '${member}' failed to satisfy constraint: [A-Za-z0-9.@\\-_]{1,100}`);
    }
    const pipeline = this.pipelines.get(name);
    if (!pipeline)
      throw new CodePipelineError("PipelineNotFoundException", `Pipeline with name '${name}' does not exist`);
    return pipeline;
  }

  /** The run `id` names in `pipeline`, or PipelineExecutionNotFoundException. */
  protected runOf(pipeline: LocalPipeline, id: unknown): PipelineRun {
    const run = typeof id === "string" ? this.runs.get(id) : undefined;
    if (!run || run.record.pipeline !== pipeline.spec.name) {
      throw new CodePipelineError(
        "PipelineExecutionNotFoundException",
        `Pipeline execution ${String(id)} does not exist in pipeline ${pipeline.spec.name}`,
      );
    }
    return run;
  }

  /** The runs of one pipeline, newest first. */
  protected runsOf(pipeline: string): PipelineRun[] {
    return newestFirst(
      [...this.runs.values()].filter((run) => run.record.pipeline === pipeline),
      (run) => run.record.startTime,
    );
  }

  protected startPipelineExecution(body: Body, trigger: ExecutionTrigger): object {
    const pipeline = this.pipelineOf(body.name, "name");
    const name = pipeline.spec.name;
    const token = body.clientRequestToken;
    if (typeof token !== "string" || !TOKEN.test(token)) {
      throw validation("Value at 'clientRequestToken' failed to satisfy constraint: ^[a-zA-Z0-9-]{1,128}$");
    }
    const variables = listOf<PipelineVariable>(body.variables, "variables", ["name", "value"]);
    const sourceRevisions = listOf<SourceRevisionOverride>(body.sourceRevisions, "sourceRevisions", [
      "actionName",
      "revisionType",
      "revisionValue",
    ]);
    const key = `${name}\n${token}`;
    const known = this.byToken.get(key);
    if (known) return { pipelineExecutionId: known };
    const now = new Date();
    const record: ExecutionRecord = {
      pipelineExecutionId: randomUUID(),
      pipeline: name,
      status: "InProgress",
      clientRequestToken: token,
      ...(variables && { variables }),
      ...(sourceRevisions && { sourceRevisions }),
      trigger,
      attempt: 1,
      startTime: now,
      lastUpdateTime: now,
    };
    const run = new PipelineRun(record, pipeline.plan, {
      events: this.events,
      gate: pipeline.locks,
      stopAndWaitMs: this.stopAndWaitMs,
    });
    this.runs.set(record.pipelineExecutionId, run);
    this.byToken.set(key, record.pipelineExecutionId);
    run.start();
    return { pipelineExecutionId: record.pipelineExecutionId };
  }

  protected getPipelineExecution(body: Body): object {
    const pipeline = this.pipelineOf(body.pipelineName, "pipelineName");
    const { record: r } = this.runOf(pipeline, body.pipelineExecutionId);
    return {
      pipelineExecution: {
        pipelineName: r.pipeline,
        pipelineVersion: 1,
        pipelineExecutionId: r.pipelineExecutionId,
        status: r.status,
        ...statusSummary(r),
        artifactRevisions: [],
        ...(r.variables && {
          variables: r.variables.map((v) => ({ name: v.name, resolvedValue: v.value })),
        }),
        trigger: r.trigger,
        executionMode: pipeline.plan.mode,
        executionType: "STANDARD",
      },
    };
  }

  /**
   * Stop and wait, or abandon. A stop already pending refuses another stop-and-wait, and an
   * abandon once one is under way; an execution no longer running cannot be stopped.
   */
  protected stopPipelineExecution(body: Body): object {
    const run = this.runOf(this.pipelineOf(body.pipelineName, "pipelineName"), body.pipelineExecutionId);
    const { record: r } = run;
    const abandon = body.abandon === true;
    if (r.status === "Stopping" && (!abandon || run.stopping === "abandon")) {
      throw new CodePipelineError("DuplicatedStopRequestException", "A stop request is already in progress");
    }
    if (r.status !== "InProgress" && r.status !== "Stopping") {
      throw new CodePipelineError(
        "PipelineExecutionNotStoppableException",
        `Pipeline execution ${r.pipelineExecutionId} is ${r.status} and cannot be stopped`,
      );
    }
    run.stop(abandon, typeof body.reason === "string" ? body.reason : r.stopReason);
    return { pipelineExecutionId: r.pipelineExecutionId };
  }

  protected listPipelineExecutions(body: Body): object {
    const pipeline = this.pipelineOf(body.pipelineName, "pipelineName");
    const { items, nextToken } = page(
      this.runsOf(pipeline.spec.name).map((run) => run.record),
      body,
    );
    return {
      pipelineExecutionSummaries: items.map((r) => ({
        pipelineExecutionId: r.pipelineExecutionId,
        status: r.status,
        ...statusSummary(r),
        startTime: epochSeconds(r.startTime),
        lastUpdateTime: epochSeconds(r.lastUpdateTime),
        trigger: r.trigger,
        executionMode: pipeline.plan.mode,
        executionType: "STANDARD",
        ...(r.stopReason !== undefined && { stopTrigger: { reason: r.stopReason } }),
      })),
      ...(nextToken && { nextToken }),
    };
  }

  /**
   * Resumes a failed (or stopped) execution at the stage where it failed, under the same id.
   * Refused: an unknown stage (StageNotFoundException); a stage this execution did not fail or
   * stop in, or one without failed actions, or an execution still running (StageNotRetryable);
   * a stage a more recent execution reached since (NotLatestPipelineExecutionException); a stage
   * another execution holds now (ConflictException: the pipeline is busy).
   */
  protected retryStageExecution(body: Body): object {
    const pipeline = this.pipelineOf(body.pipelineName, "pipelineName");
    const { stageName, pipelineExecutionId: id, retryMode } = body;
    if (typeof stageName !== "string" || !STAGE_NAME.test(stageName)) {
      throw validation("Value at 'stageName' failed to satisfy constraint: [A-Za-z0-9.@\\-_]{1,100}");
    }
    if (typeof id !== "string" || !EXECUTION_ID.test(id)) {
      throw validation(`Value at 'pipelineExecutionId' failed to satisfy constraint: ${EXECUTION_ID.source}`);
    }
    if (typeof retryMode !== "string" || !RETRY_MODES.includes(retryMode)) {
      throw validation("Value at 'retryMode' failed to satisfy constraint: FAILED_ACTIONS | ALL_ACTIONS");
    }
    const index = pipeline.plan.stages.findIndex((s) => s.name === stageName);
    if (index < 0) {
      throw new CodePipelineError(
        "StageNotFoundException",
        `Stage ${stageName} does not exist in ${pipeline.spec.name}`,
      );
    }
    const run = this.runs.get(id);
    const notRetryable = (why: string) =>
      new CodePipelineError("StageNotRetryableException", `Stage ${stageName} cannot be retried: ${why}`);
    if (!run || run.record.pipeline !== pipeline.spec.name)
      throw notRetryable(`no execution ${id} reached it`);
    const { status } = run.record;
    if (status !== "Failed" && status !== "Stopped") throw notRetryable(`the execution is ${status}`);
    const stage = run.stages.at(-1);
    if (stage?.name !== stageName || !latestRuns(stage).some((a) => retryable(run, a))) {
      throw notRetryable("it has no failed actions in this execution");
    }
    const latest = this.runsOf(pipeline.spec.name).find((r) => r.stages.some((s) => s.name === stageName));
    if (latest !== run) {
      throw new CodePipelineError(
        "NotLatestPipelineExecutionException",
        `A more recent execution (${latest?.record.pipelineExecutionId}) reached stage ${stageName}`,
      );
    }
    if (!pipeline.locks.isFree(index, run)) {
      throw new CodePipelineError("ConflictException", `Stage ${stageName} is busy with another execution`);
    }
    run.resume(index, retryMode as RetryMode);
    return { pipelineExecutionId: id };
  }

  /** Approves or rejects an open manual approval, named by its stage, action and token. */
  protected putApprovalResult(body: Body): object {
    const pipeline = this.pipelineOf(body.pipelineName, "pipelineName");
    const { stageName, actionName, token, result } = body;
    const status = isRecord(result) ? result.status : undefined;
    const summary = isRecord(result) ? result.summary : undefined;
    if (typeof summary !== "string" || (status !== "Approved" && status !== "Rejected")) {
      throw validation("'result' must have a summary and a status of Approved or Rejected");
    }
    if (typeof token !== "string" || !EXECUTION_ID.test(token)) {
      throw validation(`Value at 'token' failed to satisfy constraint: ${EXECUTION_ID.source}`);
    }
    const planned = pipeline.plan.stages.find((s) => s.name === stageName);
    if (!planned)
      throw new CodePipelineError("StageNotFoundException", `Stage ${String(stageName)} does not exist`);
    if (!planned.actions.some((a) => a.name === actionName && a.manualApproval)) {
      throw new CodePipelineError(
        "ActionNotFoundException",
        `Approval action ${String(actionName)} does not exist`,
      );
    }
    const found = this.runsOf(pipeline.spec.name)
      .flatMap((run) => run.stages.flatMap((s) => s.actions.map((action) => ({ run, action }))))
      .find(({ action: a }) => a.token === token && a.stageName === stageName && a.actionName === actionName);
    if (!found)
      throw new CodePipelineError("InvalidApprovalTokenException", "The approval token is not valid");
    if (found.action.status !== "InProgress") {
      throw new CodePipelineError(
        "ApprovalAlreadyCompletedException",
        "The approval has already been completed",
      );
    }
    found.run.approve(found.action, status === "Approved", summary);
    return { approvedAt: epochSeconds(new Date()) };
  }
}
