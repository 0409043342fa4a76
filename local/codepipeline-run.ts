/**
 * One execution of a local pipeline: walks its stages and their actions on timers, ends as its
 * spec says (failing at the stage and action it names), and keeps what GetPipelineExecution,
 * GetPipelineState and ListActionExecutions report about it.
 */
import { randomUUID } from "node:crypto";
import type { StageEventState } from "../contract/pipeline-events";
import type { PipelineEventState, PipelineExecutionStatus } from "../contract/tables";

/** A stage of a local pipeline; its actions run side by side and default to one named as the stage. */
export interface LocalStageSpec {
  name: string;
  actions?: string[];
}

/** Where and how a pipeline whose outcome is Failed fails; every field has a default. */
export interface LocalPipelineFailure {
  /** Default: the last stage. */
  stage?: string;
  /** Default: the stage's first action. */
  action?: string;
  /** CodePipeline's errorDetails.code; default JobFailed. */
  code?: string;
  /** CodePipeline's errorDetails.message. */
  message?: string;
}

export interface LocalPipelineSpec {
  name: string;
  /** Total run time in ms; null runs until `finish()` is called. */
  durationMs: number | null;
  outcome: "Succeeded" | "Failed";
  /** Stages walked through in order, each an equal share of the run; default Source, Build, Deploy. */
  stages?: (string | LocalStageSpec)[];
  /** Only with outcome Failed: the failing stage and action and the error they report. */
  failure?: LocalPipelineFailure;
}

/** Request members of StartPipelineExecution (V2 pipelines). */
export interface PipelineVariable {
  name: string;
  value: string;
}
export interface SourceRevisionOverride {
  actionName: string;
  revisionType: string;
  revisionValue: string;
}

export interface ExecutionRecord {
  pipelineExecutionId: string;
  pipeline: string;
  status: PipelineExecutionStatus;
  clientRequestToken: string;
  variables?: PipelineVariable[];
  sourceRevisions?: SourceRevisionOverride[];
  startTime: Date;
  lastUpdateTime: Date;
  endTime?: Date;
  stopReason?: string;
}

/** CodePipeline's ActionExecutionStatus and StageExecutionStatus values this stand-in reaches. */
export type ActionStatus = "InProgress" | "Succeeded" | "Failed" | "Abandoned";
export type StageStatus = "InProgress" | "Succeeded" | "Failed" | "Stopped";

export interface ActionRecord {
  actionExecutionId: string;
  stageName: string;
  actionName: string;
  status: ActionStatus;
  startTime: Date;
  lastUpdateTime: Date;
  errorDetails?: { code: string; message: string };
}

export interface StageRecord {
  name: string;
  status: StageStatus;
  actions: ActionRecord[];
}

/** A spec with its defaults applied: what a run walks through. */
export interface PipelinePlan {
  stages: { name: string; actions: string[] }[];
  /** Set when the outcome is Failed. */
  failure?: Required<LocalPipelineFailure>;
}

const DEFAULT_STAGES = ["Source", "Build", "Deploy"];

/** Applies the defaults; throws naming the pipeline when its failure names no stage or action of it. */
export function planOf(spec: LocalPipelineSpec): PipelinePlan {
  const stages = (spec.stages ?? DEFAULT_STAGES).map((stage) =>
    typeof stage === "string"
      ? { name: stage, actions: [stage] }
      : { name: stage.name, actions: stage.actions ?? [stage.name] },
  );
  if (spec.outcome !== "Failed") return { stages };
  const stage = spec.failure?.stage ?? stages[stages.length - 1]?.name ?? "";
  const planned = stages.find((s) => s.name === stage);
  if (stages.length > 0 && !planned) {
    throw new Error(`pipeline ${spec.name}: failure.stage "${stage}" is not one of its stages`);
  }
  const action = spec.failure?.action ?? planned?.actions[0] ?? "";
  if (planned && !planned.actions.includes(action)) {
    throw new Error(`pipeline ${spec.name}: failure.action "${action}" is not an action of stage ${stage}`);
  }
  const message = spec.failure?.message ?? `Action ${action} failed (local stand-in)`;
  return { stages, failure: { stage, action, code: spec.failure?.code ?? "JobFailed", message } };
}

/** What a run tells the world: EventBridge's pipeline and stage state changes. */
export interface RunEvents {
  pipeline(run: PipelineRun, state: PipelineEventState): void;
  stage(run: PipelineRun, stage: string, state: StageEventState): void;
}

export type EndStatus = "Succeeded" | "Failed" | "Stopped";

export class PipelineRun {
  /** Stages reached, in order. */
  readonly stages: StageRecord[] = [];
  abandoned = false;
  /** Resolves with the record once the run has ended and its terminal event is out. */
  readonly ended: Promise<ExecutionRecord>;
  private announced = false;
  private open?: StageRecord;
  private timers: NodeJS.Timeout[] = [];
  private resolveEnded!: (record: ExecutionRecord) => void;

  constructor(
    readonly record: ExecutionRecord,
    private readonly plan: PipelinePlan,
    private readonly events: RunEvents,
  ) {
    this.ended = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  /** Walks the stages on timers, each an equal share of the run; durationMs 0 still ends asynchronously, as on AWS. */
  start(durationMs: number | null): void {
    this.later(0, () => this.announce());
    if (durationMs === null) return;
    const { stages, failure } = this.plan;
    const outcome = failure ? "Failed" : "Succeeded";
    if (stages.length === 0) return this.later(durationMs, () => this.end(outcome));
    const last = failure ? stages.findIndex((s) => s.name === failure.stage) : stages.length - 1;
    const share = durationMs / stages.length;
    for (let i = 0; i <= last; i += 1) {
      this.later(share * (i + 1), () => (i < last ? this.advance() : this.end(outcome)));
    }
  }

  /** StopPipelineExecution accepted: Stopping until `end("Stopped")`. */
  beginStop(reason: string | undefined): void {
    this.announce();
    this.cancelTimers();
    this.record.status = "Stopping";
    this.record.lastUpdateTime = new Date();
    this.record.stopReason = reason;
    this.events.pipeline(this, "STOPPING");
  }

  /** Ends the run now (once), closing its open stage; STARTED goes out first if its timer has not fired. */
  end(status: EndStatus): void {
    if (this.record.endTime) return;
    this.announce();
    this.cancelTimers();
    const state = status === "Succeeded" ? "SUCCEEDED" : status === "Failed" ? "FAILED" : "STOPPED";
    if (this.open) this.closeStage(status, state);
    this.record.status = status;
    this.record.endTime = this.record.lastUpdateTime = new Date();
    this.events.pipeline(this, state);
    this.resolveEnded(this.record);
  }

  later(ms: number, action: () => void): void {
    this.timers.push(setTimeout(action, ms));
  }

  cancelTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers = [];
  }

  private announce(): void {
    if (this.announced) return;
    this.announced = true;
    this.events.pipeline(this, "STARTED");
    if (this.plan.stages.length > 0) this.openStage(0);
  }

  private advance(): void {
    const next = this.stages.length;
    this.closeStage("Succeeded", "SUCCEEDED");
    this.openStage(next);
  }

  private openStage(index: number): void {
    const { name, actions } = this.plan.stages[index];
    const now = new Date();
    this.open = {
      name,
      status: "InProgress",
      actions: actions.map((actionName) => ({
        actionExecutionId: randomUUID(),
        stageName: name,
        actionName,
        status: "InProgress",
        startTime: now,
        lastUpdateTime: now,
      })),
    };
    this.stages.push(this.open);
    this.events.stage(this, name, "STARTED");
  }

  /**
   * A failed stage fails one action (the planned one where this is the planned stage, else its
   * first) with the planned error; a stopped stage's actions are abandoned, or finish on a
   * stop-and-wait; the other actions succeed.
   */
  private closeStage(status: EndStatus, state: StageEventState): void {
    const stage = this.open;
    if (!stage) return;
    this.open = undefined;
    const now = new Date();
    const failure = this.plan.failure;
    const failing =
      status !== "Failed"
        ? undefined
        : (stage.actions.find((a) => failure?.stage === stage.name && a.actionName === failure.action) ??
          stage.actions[0]);
    for (const action of stage.actions) {
      action.lastUpdateTime = now;
      if (action === failing) {
        action.status = "Failed";
        action.errorDetails = {
          code: failure?.code ?? "JobFailed",
          message: failure?.message ?? `Action ${action.actionName} failed (local stand-in)`,
        };
      } else action.status = status === "Stopped" && this.abandoned ? "Abandoned" : "Succeeded";
    }
    stage.status = status;
    this.events.stage(this, stage.name, state);
  }
}
