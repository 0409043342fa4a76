/**
 * What the release API answers, as one set of shapes for both ends: handlers/release-status.ts
 * (and the local server, through it) builds them, the CLI reads them. `GET /releases/{releaseId}`
 * answers a ReleaseStatusView; the control routes answer the smaller shapes below.
 */
import type { ManifestProblem } from "./errors";
import type { ReleaseStatus } from "./tables";

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
  startedAt?: string;
  endedAt?: string;
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
  status: ReleaseStatus | "CANCELLING";
  error?: string;
  /** The last submissions of this releaseId that were rejected (at most 10), oldest first. */
  rejections?: RejectionSummary[];
  /**
   * Pipelines whose execution was resumed outside the release (RetryStageExecution): while it ran
   * (their new end counted) and after its outcome (recorded only).
   */
  resumedOutside?: { whileRunning?: string[]; afterEnd?: string[] };
  pipelines: PipelineStatusView[];
}

/** `POST /releases`: the started execution (its name encodes the releaseId: contract/execution-name.ts). */
export interface Submitted {
  executionArn: string;
  startDate: number;
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
