/**
 * What a local pipeline is (its entry in `pipelines.local.json`) and the plan a run walks through:
 * its stages and actions, how long each action runs, which attempt fails where, and its execution
 * mode. local/pipelines-file.ts checks the file; `planOf` applies the defaults.
 */

/** CodePipeline's execution modes; SUPERSEDED is AWS's default (docs/aws-facts.md, "CodePipeline"). */
export type ExecutionMode = "SUPERSEDED" | "QUEUED" | "PARALLEL";
export const EXECUTION_MODES: readonly ExecutionMode[] = ["SUPERSEDED", "QUEUED", "PARALLEL"];

export type Outcome = "Succeeded" | "Failed";

/** An action with its own run time, or a manual approval that waits for PutApprovalResult. */
export interface LocalActionSpec {
  name: string;
  /** How long the action runs, in ms; default the stage's share of the pipeline's durationMs. */
  durationMs?: number;
  /** Waits until approved or rejected (PutApprovalResult), or the execution is stopped with abandon. */
  manualApproval?: boolean;
}

/** A stage of a local pipeline; its actions run side by side and default to one named as the stage. */
export interface LocalStageSpec {
  name: string;
  actions?: (string | LocalActionSpec)[];
}

/** Where and how an attempt whose outcome is Failed fails; every field has a default. */
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
  /** Total run time in ms, shared equally by the stages; null runs until `finish()` is called. */
  durationMs: number | null;
  /** How every attempt ends; give this or `outcomes`. */
  outcome?: Outcome;
  /** How each attempt ends: the first run, then each RetryStageExecution; the last one repeats. */
  outcomes?: Outcome[];
  /** Default SUPERSEDED, as on AWS. */
  executionMode?: ExecutionMode;
  /** Stages walked through in order; default Source, Build, Deploy. */
  stages?: (string | LocalStageSpec)[];
  /** Only when an outcome is Failed: the failing stage and action and the error they report. */
  failure?: LocalPipelineFailure;
}

export interface PlannedAction {
  name: string;
  /** Set when the pipelines file gives the action its own duration. */
  durationMs?: number;
  manualApproval: boolean;
}

export interface PlannedStage {
  name: string;
  actions: PlannedAction[];
}

/** A spec with its defaults applied: what a run walks through. */
export interface PipelinePlan {
  name: string;
  mode: ExecutionMode;
  stages: PlannedStage[];
  /** An action's run time when it has none of its own; null: until finished by hand. */
  stageShareMs: number | null;
  durationMs: number | null;
  outcomes: Outcome[];
  /** Set when some attempt fails. */
  failure?: Required<LocalPipelineFailure>;
}

const DEFAULT_STAGES = ["Source", "Build", "Deploy"];

export const actionName = (action: string | LocalActionSpec) =>
  typeof action === "string" ? action : action.name;

/** The outcomes of a spec: `outcomes`, else `[outcome]`, else Succeeded. */
export const outcomesOf = (spec: LocalPipelineSpec): Outcome[] =>
  spec.outcomes ?? [spec.outcome ?? "Succeeded"];

/** The outcome of attempt `attempt` (1 is the first run); the last scripted one repeats. */
export const outcomeOf = (plan: PipelinePlan, attempt: number): Outcome =>
  plan.outcomes[Math.min(attempt, plan.outcomes.length) - 1];

/** Applies the defaults; throws naming the pipeline when its failure names no stage or action of it. */
export function planOf(spec: LocalPipelineSpec): PipelinePlan {
  const stages = (spec.stages ?? DEFAULT_STAGES).map((stage) => {
    const s = typeof stage === "string" ? { name: stage } : stage;
    return {
      name: s.name,
      actions: (s.actions ?? [s.name]).map((a) =>
        typeof a === "string"
          ? { name: a, manualApproval: false }
          : {
              name: a.name,
              manualApproval: a.manualApproval === true,
              ...(a.durationMs !== undefined && { durationMs: a.durationMs }),
            },
      ),
    };
  });
  const outcomes = outcomesOf(spec);
  const plan: PipelinePlan = {
    name: spec.name,
    mode: spec.executionMode ?? "SUPERSEDED",
    stages,
    durationMs: spec.durationMs,
    stageShareMs: spec.durationMs === null || stages.length === 0 ? null : spec.durationMs / stages.length,
    outcomes,
  };
  if (!outcomes.includes("Failed")) return plan;
  const stage = spec.failure?.stage ?? stages[stages.length - 1]?.name ?? "";
  const planned = stages.find((s) => s.name === stage);
  if (stages.length > 0 && !planned) {
    throw new Error(`pipeline ${spec.name}: failure.stage "${stage}" is not one of its stages`);
  }
  const action = spec.failure?.action ?? planned?.actions[0]?.name ?? "";
  if (planned && !planned.actions.some((a) => a.name === action)) {
    throw new Error(`pipeline ${spec.name}: failure.action "${action}" is not an action of stage ${stage}`);
  }
  const message = spec.failure?.message ?? `Action ${action} failed (local stand-in)`;
  return { ...plan, failure: { stage, action, code: spec.failure?.code ?? "JobFailed", message } };
}
