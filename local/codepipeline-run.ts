/**
 * One execution of a local pipeline: enters its stages when its pipeline's stage locks let it
 * (local/codepipeline-locks.ts), runs each stage's actions on their own timers, ends as the
 * attempt's scripted outcome says, and can be stopped (and wait, or abandon), superseded, approved
 * and retried as CodePipeline documents (docs/aws-facts.md, "CodePipeline"). It keeps what
 * GetPipelineExecution, GetPipelineState and ListActionExecutions report about it.
 */
import { randomUUID } from "node:crypto";
import type { StageEventState } from "../contract/pipeline-events";
import type { PipelineEventState, PipelineExecutionStatus } from "../contract/tables";
import { type PipelinePlan, type PlannedAction, outcomeOf } from "./codepipeline-spec";

export type {
  ExecutionMode,
  LocalActionSpec,
  LocalPipelineFailure,
  LocalPipelineSpec,
  LocalStageSpec,
  PipelinePlan,
} from "./codepipeline-spec";
export { planOf } from "./codepipeline-spec";

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

/** CodePipeline's ExecutionTrigger: what started an execution. */
export interface ExecutionTrigger {
  triggerType: string;
  triggerDetail: string;
}

export interface ExecutionRecord {
  pipelineExecutionId: string;
  pipeline: string;
  status: PipelineExecutionStatus;
  clientRequestToken: string;
  variables?: PipelineVariable[];
  sourceRevisions?: SourceRevisionOverride[];
  trigger: ExecutionTrigger;
  /** 1 for the first run, one more for each accepted RetryStageExecution. */
  attempt: number;
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
  /** A manual approval's open request, as GetPipelineState's `token`. */
  token?: string;
}

/** A stage reached; `actions` holds every run of its actions, a retry's after the first ones. */
export interface StageRecord {
  name: string;
  status: StageStatus;
  actions: ActionRecord[];
}

/** What a run tells the world: EventBridge's pipeline and stage state changes. */
export interface RunEvents {
  pipeline(run: PipelineRun, state: PipelineEventState): void;
  stage(run: PipelineRun, stage: string, state: StageEventState): void;
}

/** The pipeline's stage locks, as the run sees them (local/codepipeline-locks.ts). */
export interface StageGate {
  /** The run asks to enter stage `index`; the gate calls `run.enter(index)` now or later, or supersedes it. */
  request(run: PipelineRun, index: number): void;
  /** The run left stage `index` (it closed): the next waiting run may enter. */
  leave(run: PipelineRun, index: number): void;
  /** A retried run takes stage `index` again (the caller checked that it is free). */
  hold(run: PipelineRun, index: number): void;
  /** The run ended while waiting: it waits no more. */
  forget(run: PipelineRun): void;
}

export interface RunContext {
  events: RunEvents;
  gate: StageGate;
  /** How long an action without its own duration still runs once a stop-and-wait is accepted. */
  stopAndWaitMs: number | null;
}

export type EndStatus = "Succeeded" | "Failed" | "Stopped";
export type RetryMode = "FAILED_ACTIONS" | "ALL_ACTIONS";

interface OpenStage {
  index: number;
  record: StageRecord;
  /** This attempt's action runs that have not ended, with their timers. */
  pending: Map<ActionRecord, { planned: PlannedAction; timer?: NodeJS.Timeout }>;
}

let sequence = 0;

export class PipelineRun {
  /** Stages reached, in order. */
  readonly stages: StageRecord[] = [];
  /** Start order within the stand-in: which of two executions is the more recent. */
  readonly seq = (sequence += 1);
  /** A stop is pending: "wait" lets in-progress actions finish, "abandon" ends at once. */
  stopping?: "wait" | "abandon";
  /** The stage this run waits to enter, while its gate holds it. */
  waitingFor?: number;
  /** STARTED went out (kept across a restart: local/codepipeline-store.ts). */
  announced = false;
  private open?: OpenStage;
  private timers: NodeJS.Timeout[] = [];
  private endedPromise!: Promise<ExecutionRecord>;
  private resolveEnded!: (record: ExecutionRecord) => void;

  constructor(
    readonly record: ExecutionRecord,
    readonly plan: PipelinePlan,
    private readonly context: RunContext,
  ) {
    this.armEnded();
  }

  /** Resolves with the record once the current attempt has ended and its terminal event is out. */
  get ended(): Promise<ExecutionRecord> {
    return this.endedPromise;
  }

  get openStage(): StageRecord | undefined {
    return this.open?.record;
  }

  get isTerminal(): boolean {
    return this.record.endTime !== undefined;
  }

  /** STARTED goes out asynchronously, then the run asks for its first stage; durationMs 0 still ends asynchronously, as on AWS. */
  start(): void {
    this.later(0, () => this.announce());
  }

  /** The gate lets this run into stage `index`; `rerun` names the actions a retry runs again. */
  enter(index: number, rerun?: ActionRecord[]): void {
    this.waitingFor = undefined;
    const planned = this.plan.stages[index];
    const now = new Date();
    const record = this.stages.find((s) => s.name === planned.name) ?? {
      name: planned.name,
      status: "InProgress" as StageStatus,
      actions: [],
    };
    if (!this.stages.includes(record)) this.stages.push(record);
    record.status = "InProgress";
    const open: OpenStage = { index, record, pending: new Map() };
    this.open = open;
    const names = rerun?.map((a) => a.actionName) ?? planned.actions.map((a) => a.name);
    for (const action of planned.actions.filter((a) => names.includes(a.name))) {
      const run: ActionRecord = {
        actionExecutionId: randomUUID(),
        stageName: planned.name,
        actionName: action.name,
        status: "InProgress",
        startTime: now,
        lastUpdateTime: now,
        ...(action.manualApproval && { token: randomUUID() }),
      };
      record.actions.push(run);
      open.pending.set(run, { planned: action });
      this.schedule(run, this.durationOf(action));
    }
    this.context.events.stage(this, planned.name, rerun ? "RESUMED" : "STARTED");
    if (open.pending.size === 0) this.closeStage();
  }

  /** StopPipelineExecution accepted (docs/aws-facts.md): Stopping, then Stopped as `abandon` says. */
  stop(abandon: boolean, reason: string | undefined): void {
    this.announce();
    if (!this.stopping) {
      this.record.status = "Stopping";
      this.record.lastUpdateTime = new Date();
      this.record.stopReason = reason;
      this.context.events.pipeline(this, "STOPPING");
    }
    this.stopping = abandon ? "abandon" : "wait";
    if (!this.open) return this.end("Stopped");
    if (abandon) return this.end("Stopped");
    // Stop and wait: actions with a duration of their own, and approvals, run on; the others are
    // shortened to stopAndWaitMs (the local default; see CodePipelineServiceOptions).
    for (const [action, entry] of this.open.pending) {
      if (entry.planned.durationMs !== undefined || entry.planned.manualApproval) continue;
      if (entry.timer) clearTimeout(entry.timer);
      this.schedule(action, this.context.stopAndWaitMs);
    }
  }

  /** A more recent execution passed this one while it waited to enter a stage. */
  supersede(): void {
    this.waitingFor = undefined;
    this.finishRecord("Superseded", "SUPERSEDED");
  }

  /** PutApprovalResult accepted for an open approval of the open stage. */
  approve(action: ActionRecord, approved: boolean, summary: string): void {
    this.actionEnded(
      action,
      approved ? "Succeeded" : "Failed",
      approved ? undefined : { code: "JobFailed", message: `Rejected: ${summary}` },
    );
  }

  /** RetryStageExecution accepted: the same execution resumes at its failed (or stopped) stage. */
  resume(index: number, mode: RetryMode): void {
    const stage = this.stages.find((s) => s.name === this.plan.stages[index].name);
    const rerun = latestRuns(stage).filter((a) => mode === "ALL_ACTIONS" || retryable(this, a));
    this.record.attempt += 1;
    this.record.status = "InProgress";
    this.record.endTime = undefined;
    this.record.stopReason = undefined;
    this.record.lastUpdateTime = new Date();
    this.stopping = undefined;
    this.armEnded();
    this.context.events.pipeline(this, "RESUMED");
    this.context.gate.hold(this, index);
    this.enter(index, rerun);
  }

  /**
   * The stand-in restarted with this run not ended (local/codepipeline-store.ts), and CodePipeline
   * would have run on: the open stage is held again and each of its actions still in progress ends
   * at its scheduled time (its start plus its duration; at once if that passed; an approval stays
   * open); a run that waited for a stage asks for it again; one not yet announced starts. A stop
   * accepted before the restart ends the run Stopped now.
   */
  continueAfterRestart(openStage: string | undefined): void {
    if (!this.announced) return this.start();
    if (this.plan.stages.length === 0) {
      const { durationMs } = this.plan;
      const outcome = outcomeOf(this.plan, this.record.attempt);
      const left = durationMs === null ? null : this.record.startTime.getTime() + durationMs - Date.now();
      if (left !== null) this.later(Math.max(0, left), () => this.end(this.stopping ? "Stopped" : outcome));
      return;
    }
    const index = this.plan.stages.findIndex((s) => s.name === openStage);
    const record = this.stages.find((s) => s.name === openStage);
    if (index >= 0 && record) {
      const open: OpenStage = { index, record, pending: new Map() };
      this.open = open;
      this.context.gate.hold(this, index);
      for (const action of latestRuns(record).filter((a) => a.status === "InProgress")) {
        const planned = this.plan.stages[index].actions.find((a) => a.name === action.actionName);
        if (!planned) continue;
        open.pending.set(action, { planned });
        const ms = this.durationOf(planned);
        this.schedule(action, ms === null ? null : Math.max(0, action.startTime.getTime() + ms - Date.now()));
      }
    }
    if (this.stopping) return this.end("Stopped");
    if (this.open?.pending.size === 0) return this.closeStage();
    if (!this.open) this.context.gate.request(this, this.waitingFor ?? 0);
  }

  /** Ends the run now (once), closing its open stage; STARTED goes out first if its timer has not fired. */
  end(status: EndStatus): void {
    if (this.isTerminal) return;
    this.announce();
    this.cancelTimers();
    const state = status === "Succeeded" ? "SUCCEEDED" : status === "Failed" ? "FAILED" : "STOPPED";
    if (this.open) this.forceClose(status, state);
    this.context.gate.forget(this);
    this.finishRecord(status, state);
  }

  later(ms: number, action: () => void): void {
    this.timers.push(setTimeout(action, ms));
  }

  cancelTimers(): void {
    for (const timer of this.timers) clearTimeout(timer);
    for (const entry of this.open?.pending.values() ?? []) if (entry.timer) clearTimeout(entry.timer);
    this.timers = [];
  }

  private armEnded(): void {
    this.endedPromise = new Promise((resolve) => (this.resolveEnded = resolve));
  }

  private finishRecord(status: PipelineExecutionStatus, state: PipelineEventState): void {
    this.record.status = status;
    this.record.endTime = this.record.lastUpdateTime = new Date();
    this.context.events.pipeline(this, state);
    this.resolveEnded(this.record);
  }

  private announce(): void {
    if (this.announced) return;
    this.announced = true;
    this.context.events.pipeline(this, "STARTED");
    if (this.plan.stages.length > 0) this.context.gate.request(this, 0);
    else if (this.plan.durationMs !== null) {
      const outcome = outcomeOf(this.plan, 1);
      this.later(this.plan.durationMs, () => this.end(outcome));
    }
  }

  private durationOf(action: PlannedAction): number | null {
    if (action.manualApproval) return null;
    return (
      action.durationMs ?? (this.stopping === "wait" ? this.context.stopAndWaitMs : this.plan.stageShareMs)
    );
  }

  private schedule(action: ActionRecord, ms: number | null): void {
    const entry = this.open?.pending.get(action);
    if (!entry || ms === null) return;
    entry.timer = setTimeout(() => this.actionEnded(action, this.resultOf(action)), ms);
  }

  /** The scripted result: the attempt's failure fails its planned action; the rest succeed. */
  private resultOf(action: ActionRecord): ActionStatus {
    const failure = this.plan.failure;
    const failing =
      outcomeOf(this.plan, this.record.attempt) === "Failed" &&
      failure?.stage === action.stageName &&
      failure.action === action.actionName;
    return failing ? "Failed" : "Succeeded";
  }

  private actionEnded(
    action: ActionRecord,
    status: ActionStatus,
    error?: ActionRecord["errorDetails"],
  ): void {
    const open = this.open;
    if (!open?.pending.has(action)) return;
    open.pending.delete(action);
    settle(action, status, status === "Failed" ? (error ?? this.plannedError(action)) : undefined);
    if (open.pending.size === 0) this.closeStage();
  }

  private plannedError(action: ActionRecord) {
    const { failure } = this.plan;
    const planned = failure?.stage === action.stageName && failure.action === action.actionName;
    return {
      code: failure?.code ?? "JobFailed",
      message: (planned && failure?.message) || `Action ${action.actionName} failed (local stand-in)`,
    };
  }

  /** Every action of the open stage ended: the stage closes, and the run goes on or ends. */
  private closeStage(): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    const failed = latestRuns(open.record).some((a) => a.status === "Failed");
    const status: StageStatus = this.stopping ? "Stopped" : failed ? "Failed" : "Succeeded";
    open.record.status = status;
    const state = status === "Stopped" ? "STOPPED" : status === "Failed" ? "FAILED" : "SUCCEEDED";
    this.context.events.stage(this, open.record.name, state);
    this.context.gate.leave(this, open.index);
    if (status === "Stopped") return this.end("Stopped");
    if (status === "Failed") return this.end("Failed");
    if (open.index === this.plan.stages.length - 1) return this.end("Succeeded");
    this.waitingFor = open.index + 1;
    this.context.gate.request(this, open.index + 1);
  }

  /**
   * Ends the open stage at once (finish() or an abandon): a failed stage fails one pending action
   * (the planned one where this is the planned stage, else its first); a stopped stage's pending
   * actions are abandoned, or succeed after a stop-and-wait; the other pending actions succeed.
   */
  private forceClose(status: EndStatus, state: StageEventState): void {
    const open = this.open;
    if (!open) return;
    this.open = undefined;
    const pending = [...open.pending.keys()];
    const failure = this.plan.failure;
    const failing =
      status !== "Failed"
        ? undefined
        : (pending.find((a) => failure?.stage === a.stageName && a.actionName === failure.action) ??
          pending[0]);
    for (const action of pending) {
      if (action === failing) settle(action, "Failed", this.plannedError(action));
      else settle(action, status === "Stopped" && this.stopping === "abandon" ? "Abandoned" : "Succeeded");
    }
    open.record.status = status;
    this.context.events.stage(this, open.record.name, state);
    this.context.gate.leave(this, open.index);
  }
}

function settle(action: ActionRecord, status: ActionStatus, error?: ActionRecord["errorDetails"]): void {
  action.status = status;
  action.lastUpdateTime = new Date();
  if (error) action.errorDetails = error;
}

/** The latest run of each action of a stage (a retry appends new runs after the first ones). */
export const latestRuns = (stage: StageRecord | undefined): ActionRecord[] => [
  ...new Map((stage?.actions ?? []).map((a) => [a.actionName, a])).values(),
];

/** An action run a FAILED_ACTIONS retry runs again: a failed one, or one a stop abandoned. */
export const retryable = (run: PipelineRun, action: ActionRecord): boolean =>
  action.status === "Failed" || (run.record.status === "Stopped" && action.status === "Abandoned");
