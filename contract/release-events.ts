/**
 * The "Release State Change" event's detail: one shape for every publisher, the handlers
 * (handlers/release-events.ts) and the workflow's Publish states (stepfunction/release-workflow.ts).
 * Its failure fields are spelled as the release's outcome spells them (contract/lifecycle.ts).
 */
import type { ReleaseEnd } from "./lifecycle";

/** The release's status after the change: its own, or a moment of a running release. */
export type ReleaseEventStatus = "RUNNING" | "AWAITING_APPROVAL" | "CANCELLING" | ReleaseEnd;

export interface ReleaseStateDetail {
  releaseId: string;
  status: ReleaseEventStatus;
  /** Who caused the change: a person's ARN, the submitter, or `release-machine`. */
  causedBy: string;
  /** The workflow execution that ends the release (on its last event). */
  executionArn?: string;
  /** Set when an attempt starts (1 on submission, n+1 on a retry). */
  attempt?: number;
  /** The pipeline the change concerns (a gate opened or decided). */
  pipeline?: string;
  decision?: string;
  comment?: string;
  /** A cancel's reason. */
  reason?: string;
  /** Why it did not succeed (FAILED, CANCELLED): the outcome's error and cause. */
  error?: string;
  cause?: string;
}

/** Every field the detail may carry, in the order the type declares them. */
export const RELEASE_STATE_DETAIL_FIELDS = [
  "releaseId",
  "status",
  "causedBy",
  "executionArn",
  "attempt",
  "pipeline",
  "decision",
  "comment",
  "reason",
  "error",
  "cause",
] as const satisfies readonly (keyof ReleaseStateDetail)[];

/** "Release Approval Requested" detail. Never a task token: the gate is decided through the API. */
export interface ApprovalRequestedDetail {
  releaseId: string;
  pipeline: string;
  submittedBy: string;
  approvers?: string[];
  deadlineAt: string;
}

/** Published when a pipeline's execution resumed outside the release (RetryStageExecution). */
export const PIPELINE_RESUMED_DETAIL_TYPE = "Pipeline Resumed";

/** "Pipeline Resumed" detail: which execution resumed, and whether its new end counts for the release. */
export interface PipelineResumedDetail {
  releaseId: string;
  pipeline: string;
  pipelineExecutionId: string;
  /** The execution's attempt that resumed (CodePipeline's `pipeline-execution-attempt`). */
  executionAttempt: number;
  /** True while the release is open: the new end counts; false once its outcome is decided. */
  counts: boolean;
  /** The release's status when the resume was recorded. */
  releaseStatus: string;
  /** Always `outside the release`: the release machine never retries a stage itself. */
  resumedBy: string;
}
