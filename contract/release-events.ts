/**
 * The "Release State Change" event's detail: one shape for every publisher, the handlers
 * (handlers/release-events.ts) and the workflow's Publish states (stepfunction/release-workflow.ts).
 * Its failure fields are spelled as the release's outcome spells them (contract/lifecycle.ts).
 */
import type { PipelineEnd, ReleaseEnd } from "./lifecycle";
import {
  END_KINDS,
  type NotificationFields,
  notificationIntrinsics,
  type NotificationKind,
  PIPELINE_RESUMED_DETAIL_TYPE,
  FREEZE_OVERRIDDEN_DETAIL_TYPE,
  notificationFields,
} from "./notification-events";

export { FREEZE_OVERRIDDEN_DETAIL_TYPE, PIPELINE_RESUMED_DETAIL_TYPE };

/** An end's kind, and its summary and command as the workflow's Publish states render them. */
export function endFamily(status: ReleaseEnd) {
  return { kind: END_KINDS[status], paths: notificationIntrinsics(END_KINDS[status]) };
}

/** The release's status after the change: its own, or a moment of a running release. */
export type ReleaseEventStatus = "RUNNING" | "AWAITING_APPROVAL" | "CANCELLING" | ReleaseEnd;

/**
 * A release's change as its publisher states it; `announce` adds the family's fields
 * (contract/notification-events.ts): its kind, summary and command.
 */
export interface ReleaseChange {
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
  /** Who submitted the release, where the publisher knows it. */
  submittedBy?: string;
  /**
   * A pipeline's own change (`pipeline.started`, `pipeline.ended`): its status on the schedule
   * once the start or the end was recorded, and the CodePipeline execution.
   */
  pipelineStatus?: "Started" | PipelineEnd;
  pipelineExecutionId?: string;
}

/** The "Release State Change" detail: a change, and the family's fields. */
export type ReleaseStateDetail = ReleaseChange & NotificationFields;

/**
 * The kind a change is: a gate's opening or decision, a cancel, a start or retry (its attempt), or
 * an end. Each publisher states its change through these fields, so the kind follows from them.
 */
export function kindOf(change: ReleaseChange): NotificationKind {
  if (change.pipelineStatus !== undefined)
    return change.pipelineStatus === "Started" ? "pipeline.started" : "pipeline.ended";
  if (change.status === "AWAITING_APPROVAL") return "gate.opened";
  if (change.decision === "approve") return "gate.approved";
  if (change.decision === "reject") return "gate.rejected";
  if (change.decision === "expired") return "gate.expired";
  if (change.status === "CANCELLING") return "release.cancelling";
  if (change.status === "RUNNING") return (change.attempt ?? 1) > 1 ? "release.retried" : "release.started";
  return END_KINDS[change.status];
}

/** The change as the family announces it. */
export function announce(change: ReleaseChange): ReleaseStateDetail {
  const kind = kindOf(change);
  // A release's start is caused by its submitter.
  const submitter = kind === "release.started" && !change.submittedBy ? { submittedBy: change.causedBy } : {};
  return { ...change, ...submitter, ...notificationFields(kind, change.releaseId, change.pipeline) };
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
  "submittedBy",
  "pipelineStatus",
  "pipelineExecutionId",
  "kind",
  "summary",
  "command",
] as const satisfies readonly (keyof ReleaseStateDetail)[];

/** "Release Approval Requested" detail. Never a task token: the gate is decided through the API. */
export interface ApprovalRequestedDetail {
  releaseId: string;
  pipeline: string;
  submittedBy: string;
  approvers?: string[];
  deadlineAt: string;
}

/** "Pipeline Resumed" detail: which execution resumed, and whether its new end counts for the release. */
export interface PipelineResumedChange {
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

/** The "Pipeline Resumed" detail: the family's `pipeline.resumed`. */
export type PipelineResumedDetail = PipelineResumedChange & NotificationFields;

export function announceResumed(change: PipelineResumedChange): PipelineResumedDetail {
  return { ...change, ...notificationFields("pipeline.resumed", change.releaseId, change.pipeline) };
}

/** "Release Freeze Overridden" detail: who let which of a release's frozen pipelines start, and why. */
export interface FreezeOverriddenChange {
  releaseId: string;
  overriddenBy: string;
  at: string;
  reason: string;
  freezes: string[];
  pipelines: string[];
}

/** The "Release Freeze Overridden" detail: the family's `freeze.overridden`. */
export type FreezeOverriddenDetail = FreezeOverriddenChange & NotificationFields & { causedBy: string };

export function announceFreezeOverridden(change: FreezeOverriddenChange): FreezeOverriddenDetail {
  return {
    ...change,
    causedBy: change.overriddenBy,
    ...notificationFields("freeze.overridden", change.releaseId),
  };
}
