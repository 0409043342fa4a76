/**
 * `GET /releases/{releaseId}` as the CLI reads it: the fields the API sends, the newer ones
 * optional so that the CLI works against an older or newer API. A rejected submission comes back
 * as `{releaseId, status: "REJECTED", error, cause, problems, source}`, without pipelines.
 */

/** One problem of a manifest: the field (JSON Pointer), the rule it breaks, in words. */
export interface Problem {
  path: string;
  rule: string;
  message: string;
}

export interface PipelineView {
  name: string;
  /** The execution's status in CodePipeline's spelling, or "Pending" before it started. */
  status: string;
  pipelineExecutionId?: string;
  startedAt?: string;
  history?: { state: string; at: string }[];
  /** Where a failed pipeline failed, when the API knows. */
  failedStage?: string;
  failedAction?: string;
}

export interface ReleaseView {
  releaseId: string;
  /** RUNNING, SUCCEEDED, FAILED, REJECTED (and CANCELLED once the API has it). */
  status: string;
  executionArn?: string;
  source?: string;
  startedAt?: string;
  endedAt?: string;
  error?: string;
  cause?: string;
  problems?: Problem[];
  pipelines?: PipelineView[];
}
