/**
 * What the release API answers, as one set of shapes for both ends: handlers/release-status.ts
 * (and the local server, through it) builds them, the CLI reads them. `GET /releases/{releaseId}`
 * answers a ReleaseStatusView; the control routes answer the smaller shapes below.
 */
import type { FreezeOverride } from "./lifecycle-freeze";
import type { ManifestProblem } from "./errors";
import type { AttemptRecord } from "./lifecycle-view";
import {
  type PipelineExecutionStatus,
  RELEASE_STATUSES,
  type ReleaseStatus,
  SCHEDULE_STATUSES,
} from "./lifecycle";

/** A release's status as the view shows it: a running release reads CANCELLING once cancelled. */
export type ReleaseViewStatus = ReleaseStatus | "CANCELLING";

/** Every status `GET /releases/{releaseId}` can answer for a release (the CLI's help lists them). */
export const RELEASE_VIEW_STATUSES: readonly ReleaseViewStatus[] = [
  ...RELEASE_STATUSES.slice(0, 1),
  "CANCELLING",
  ...RELEASE_STATUSES.slice(1),
];

/** CodePipeline's execution statuses (GetPipelineExecution), each once; the Record keeps it whole. */
const EXECUTION_STATUS_SET: Record<PipelineExecutionStatus, true> = {
  InProgress: true,
  Stopping: true,
  Succeeded: true,
  Failed: true,
  Stopped: true,
  Cancelled: true,
  Superseded: true,
};

/**
 * Every status a pipeline's entry can show: its schedule status, except that a claimed or started
 * one shows its execution's (`Started` until the first event, then CodePipeline's).
 */
export const PIPELINE_VIEW_STATUSES: readonly string[] = [
  ...new Set([
    ...SCHEDULE_STATUSES.filter((s) => s !== "Starting" && s !== "Skipped"),
    ...Object.keys(EXECUTION_STATUS_SET),
    "Skipped",
    // A Pending pipeline a freeze holds (contract/lifecycle-freeze.ts): its turn came, nothing starts it.
    "Frozen",
  ]),
];

export interface ApprovalView {
  timeoutHours: number;
  approvers?: string[];
  requestedAt?: string;
  deadlineAt?: string;
  decision?: string;
  decidedBy?: string;
  decidedAt?: string;
  comment?: string;
}

export interface PipelineStatusView {
  name: string;
  /**
   * "Pending" while it waits for its dependencies, "Skipped" if it never started, otherwise its
   * execution's status in CodePipeline's API spelling ("Started" until the first event).
   */
  status: string;
  dependsOn?: string[];
  /** The release attempt whose execution this is (a retry restarts only what did not succeed). */
  attempt?: number;
  /** Its approval gate: who may decide, until when, and who decided what. Never a task token. */
  approval?: ApprovalView;
  pipelineExecutionId?: string;
  /** ISO 8601, once known. */
  startedAt?: string;
  endedAt?: string;
  cause?: string;
  /** Where its execution failed, as CodePipeline names it (a Failed pipeline, when it says). */
  failedStage?: string;
  failedAction?: string;
  /** The pipeline whose failure stopped this one, or kept it from starting. */
  stoppedBy?: string;
  /** Its runs in earlier attempts of the release, oldest first: `startedAt`/`endedAt` are the current one's. */
  earlierAttempts?: AttemptRecord[];
  /** While `Frozen`: the freezes holding it, and when the latest ends (null: one has no end). */
  frozenBy?: string[];
  until?: string | null;
  history: { state: string; at: string }[];
}

/** A release's fields that the view shows as the releases table stores them. */
export interface ReleaseRecordView {
  /** 1, then one more per retry. */
  attempt?: number;
  submittedBy?: string;
  /** The failure policy the release runs under: its manifest's, else the stack's at submission. */
  failurePolicy?: "stopRemaining" | "letFinish";
  cancelledBy?: string;
  cancelReason?: string;
  retriedBy?: string;
  executionArn?: string;
  source?: string;
  /** When the release was first submitted; `attemptStartedAt` is when its current attempt started. */
  startedAt?: string;
  /** After a retry: when the current attempt started (its duration counts from here). */
  attemptStartedAt?: string;
  endedAt?: string;
  /** Earlier attempts, oldest first, each with its status and times. */
  earlierAttempts?: AttemptRecord[];
  cause?: string;
  /** For a REJECTED submission: every problem, by field (JSON Pointer) and rule. */
  problems?: ManifestProblem[];
}

export interface RejectionSummary {
  at: string;
  source: string;
  errorName: string;
  problemCount?: number;
  executionArn?: string;
}

export interface ReleaseStatusView extends ReleaseRecordView {
  releaseId: string;
  /** CANCELLING from the cancel until the release's outcome is recorded. */
  status: ReleaseViewStatus;
  error?: string;
  /** The last submissions of this releaseId that were rejected (at most 10), oldest first. */
  rejections?: RejectionSummary[];
  /** Every audited override of the freezes holding it: who, when, why (contract/lifecycle-freeze.ts). */
  freezeOverrides?: FreezeOverride[];
  /**
   * Pipelines whose execution was resumed outside the release (RetryStageExecution): while it ran
   * (their new end counted) and after its outcome (recorded only).
   */
  resumedOutside?: { whileRunning?: string[]; afterEnd?: string[] };
  pipelines: PipelineStatusView[];
}

/**
 * `POST /releases`, 202: the release's execution started (or, for an exact repeat of the request
 * while it runs, the one the first request started). GET /releases/{releaseId} reads it RUNNING
 * once the workflow registered it.
 */
export interface Submitted {
  releaseId: string;
  executionArn: string;
  status: "SUBMITTED";
}

/** `POST /releases/{releaseId}/cancel`: `{releaseId, status: "CANCELLING", cancelledBy}`. */
export interface Cancelling {
  releaseId: string;
  status: "CANCELLING";
  cancelledBy: string;
}

/** `POST /releases/{releaseId}/retry`: the new attempt and its execution. */
export interface Retried {
  releaseId: string;
  attempt: number;
  executionArn: string;
}

/** `POST /releases/{releaseId}/approvals/{pipeline}`: the recorded decision. */
export interface Decided {
  releaseId: string;
  pipeline: string;
  decision: "approve" | "reject";
  decidedBy: string;
  status: string;
}

/** `GET /releases`: one page, newest first. */
export interface ReleaseList {
  releases: {
    releaseId: string;
    status: string;
    startedAt?: string;
    endedAt?: string;
    submittedBy?: string;
    attempt?: number;
  }[];
  nextToken?: string;
}

/** Any error status: the error's name and words, and for a refused manifest its problems. */
export interface ApiErrorBody {
  error?: string;
  message?: string;
  problems?: ManifestProblem[];
  releaseId?: string;
}
