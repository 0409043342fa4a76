/**
 * The EventBridge patterns of the release machine's rules: one source for the Pulumi rules
 * (infra/) and the local event router (local/).
 */
import { CLOUDTRAIL_DETAIL_TYPE, UPLOAD_EVENT_NAMES } from "./identity";
import { PIPELINE_EVENT_DETAIL_TYPE, RELEASE_EVENT_SOURCE } from "./tables";

/** A manifest (`*.json`) written to the release bucket: S3's "Object Created" event. */
export function manifestUploadedPattern(bucketName: string) {
  return {
    source: ["aws.s3"],
    "detail-type": ["Object Created"],
    detail: { bucket: { name: [bucketName] }, object: { key: [{ suffix: ".json" }] } },
  };
}

/**
 * CloudTrail's record of an object stored in the release bucket (the audit trail's data events,
 * infra/audit-trail.ts): who uploaded a manifest, for four eyes (handlers/release/uploader.ts).
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html
 */
export function manifestUploadRecordedPattern(bucketName: string) {
  return {
    source: ["aws.s3"],
    "detail-type": [CLOUDTRAIL_DETAIL_TYPE],
    detail: {
      eventSource: ["s3.amazonaws.com"],
      eventName: [...UPLOAD_EVENT_NAMES],
      requestParameters: { bucketName: [bucketName] },
    },
  };
}

/** State changes of the pipelines this machine may release, and no others. */
export function pipelineStateChangePattern(pipelineNames: readonly string[]) {
  return {
    source: ["aws.codepipeline"],
    "detail-type": [PIPELINE_EVENT_DETAIL_TYPE],
    detail: { pipeline: [...pipelineNames] },
  };
}

/**
 * The S3 rule's input transformer: what a manifest upload hands the workflow. The same mapping
 * is applied by the local router, so both paths start executions with identical input.
 */
export const manifestUploadedInput = {
  inputPaths: {
    bucket: "$.detail.bucket.name",
    key: "$.detail.object.key",
    versionId: "$.detail.object.version-id",
    // Who uploaded it, as S3's event says (an account or principal id): the release's submittedBy.
    requester: "$.detail.requester",
  },
  inputTemplate:
    '{"source":"s3","bucket":<bucket>,"key":<key>,"versionId":<versionId>,"requester":<requester>}',
} as const;

/** EventBridge's detail-type of Step Functions' execution status changes. */
export const EXECUTION_STATUS_CHANGE = "Step Functions Execution Status Change";
/** The ends of an execution that may leave its release without a recorded outcome. */
export const EXECUTION_ENDS_WITHOUT_OUTCOME = ["FAILED", "TIMED_OUT", "ABORTED"] as const;

/**
 * The release workflow's executions that ended FAILED, TIMED_OUT or ABORTED: Step Functions sends
 * "Step Functions Execution Status Change" (source `aws.states`) to the default bus with the
 * execution's ARN, its state machine's ARN, its name and status, and its error and cause.
 * https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html
 */
export function executionEndedPattern(stateMachineArn: string) {
  return {
    source: ["aws.states"],
    "detail-type": [EXECUTION_STATUS_CHANGE],
    detail: { stateMachineArn: [stateMachineArn], status: [...EXECUTION_ENDS_WITHOUT_OUTCOME] },
  };
}

/**
 * The control function's hand-off (handlers/release/follow-up.ts): a cancel or a gate's decision
 * is recorded, and the work it implies (the stop pass, the approved start, the rejected gate's
 * halt) is left to the pipeline-event function, which this event reaches through a rule as an
 * asynchronous invocation, with EventBridge's and Lambda's retries and their dead-letter queues.
 */
export const CONTROL_DECIDED_DETAIL_TYPE = "Release Control Decided";

export interface ControlDecidedDetail {
  releaseId: string;
  action: "cancel" | "approve" | "reject";
  /** The gated pipeline (approve, reject). */
  pipeline?: string;
  /** The start claim the approval took: the follow-up takes it over from exactly this claimant. */
  claim?: string;
  /** Abandon rather than stop-and-wait (a forced cancel). */
  force?: boolean;
}

/**
 * The hand-off of a pipeline's dependants beyond a first batch (handlers/release/dependants.ts):
 * the pipeline-event function readies one batch per delivery and hands the next on, through the
 * same rule as the control function's hand-offs.
 */
export const STARTS_PENDING_DETAIL_TYPE = "Release Starts Pending";

export interface StartsPendingDetail {
  releaseId: string;
  /** The pipeline whose success readies its dependants, and the execution that succeeded. */
  pipeline: string;
  pipelineExecutionId: string;
  /** The index in the pipeline's `dependants` where this batch begins. */
  from: number;
}

/** The hand-offs the pipeline-event function takes from the release bus. */
export function controlDecidedPattern() {
  return {
    source: [RELEASE_EVENT_SOURCE],
    "detail-type": [CONTROL_DECIDED_DETAIL_TYPE, STARTS_PENDING_DETAIL_TYPE],
  };
}
