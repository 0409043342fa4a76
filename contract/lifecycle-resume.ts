/**
 * A pipeline's execution resumed outside the release (RetryStageExecution from the console or the
 * CLI): the same execution id emits RESUMED and ends again, and while the release is open its new
 * end counts (docs/architecture.md, "Lifecycle"; docs/aws-facts.md, RetryStageExecution).
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/API_RetryStageExecution.html
 * https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html
 * Spread into RELEASE_CHANGES and PIPELINE_CHANGES (contract/lifecycle.ts), which check them
 * against their types; kept apart only for that file's size.
 */
import { FAILURE_POINT_REMOVED } from "./lifecycle-view";

/** Release changes of a resumed execution. */
export const RESUME_RELEASE_CHANGES = {
  noteResume: {
    why: "An execution of the open release resumed: the release records it, while no outcome exists",
    from: ["RUNNING"],
    fields: { resumedPipelines: "add", lastResumedAt: "set" },
    when: ["attribute_not_exists(#outcome)"],
  },
  noteLateResume: {
    why: "An execution resumed after its release's outcome: recorded and announced, the outcome stays",
    fields: { resumedAfterEnd: "add", lastResumedAt: "set" },
    exists: true,
  },
  unsettle: {
    why: "A resumed pipeline is no longer settled: counted out once, after its item's mark was removed",
    fields: { settledCount: "add" },
    exists: true,
  },
  clearFailure: {
    why: "The pipeline whose failure was the release's first succeeded on a retry, and its failure stopped or skipped nothing",
    from: ["RUNNING"],
    remove: ["firstFailure", "firstFailureError", "firstFailureBy", "firstFailurePipeline"],
    when: [
      "#firstFailurePipeline = :pipeline",
      "attribute_not_exists(#outcome)",
      "attribute_not_exists(#halted)",
    ],
    where: ["pipeline"],
  },
} as const;

/** Schedule changes of a resumed execution. */
export const RESUME_PIPELINE_CHANGES = {
  resume: {
    why: "Its execution resumed (RESUMED, a later attempt) while the release is open: it runs again and is no longer settled",
    from: ["Failed", "Stopped"],
    to: ["Started"],
    fields: { executionAttempt: "set", resumedAt: "set" },
    remove: ["endedAt", "cause", "settled", ...FAILURE_POINT_REMOVED],
    when: [
      "#pipelineExecutionId = :pipelineExecutionId",
      "(attribute_not_exists(#executionAttempt) OR #executionAttempt < :executionAttempt)",
    ],
    where: ["pipelineExecutionId"],
  },
} as const;
