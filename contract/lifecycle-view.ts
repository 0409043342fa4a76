/**
 * What the release's view shows beyond statuses. Where a pipeline failed, and which failure
 * stopped or skipped the others, on each pipeline's own item, so `GET /releases/{releaseId}` and the CLI show them on the pipeline's line and not only in
 * the release's cause. The failing stage and action are what CodePipeline's ListActionExecutions
 * answers for the execution (`stageName`, `actionName` of the failed ActionExecutionDetail;
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ListActionExecutions.html,
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_ActionExecutionDetail.html),
 * else GetPipelineState (handlers/failure-cause.ts). And the earlier attempts of a retried release
 * and of each pipeline it ran again, so durations count from the current attempt's start and the
 * earlier ones stay readable. Spread into contract/lifecycle.ts, which checks these declarations
 * against its types; kept apart only for that file's size.
 */

/** A pipeline item's fields about its own failure and about the failure that ended it. */
export interface PipelineFailureFields {
  /** The stage its execution failed at, as CodePipeline names it (a Failed end only). */
  failedStage?: string;
  /** The action that failed in that stage, when CodePipeline names one. */
  failedAction?: string;
  /**
   * The pipeline whose failure ended this one: stopped it (stopRemaining) or kept it from
   * starting (a dependency failed, or stopRemaining).
   */
  stoppedBy?: string;
}

/** recordEnd writes them when given; skip writes `stoppedBy` when a failure skipped it. */
export const FAILURE_POINT_FIELDS = {
  failedStage: "optional",
  failedAction: "optional",
  stoppedBy: "optional",
} as const;

export const STOPPED_BY_FIELD = { stoppedBy: "optional" } as const;

/** A retry's reset and a resume remove them with the end they describe. */
export const FAILURE_POINT_REMOVED = ["failedStage", "failedAction", "stoppedBy"] as const;

/** One earlier attempt of a release or of a pipeline in it, as it ended before a retry. */
export interface AttemptRecord {
  attempt: number;
  status: string;
  startedAt?: string;
  endedAt?: string;
  pipelineExecutionId?: string;
}

/** Earlier attempts, oldest first: a release's and a pipeline's item keep them. */
export interface AttemptFields {
  earlierAttempts?: AttemptRecord[];
}

/** A retry appends the attempt it ends to the release and to each pipeline it resets. */
export const ATTEMPT_APPENDED = { earlierAttempts: "append" } as const;

/** A retry records who asked and when, and appends the attempt it ends. */
export const RETRY_RECORD = { retriedBy: "set", retriedAt: "set", ...ATTEMPT_APPENDED } as const;
