/**
 * CodePipeline's EventBridge events, as one set of types for both ends: the stand-in
 * (local/codepipeline-service.ts) emits them, the pipeline-event handler (handlers/pipeline-events.ts)
 * reads them. The envelope is @types/aws-lambda's EventBridgeEvent.
 * https://docs.aws.amazon.com/codepipeline/latest/userguide/detect-state-changes-cloudwatch-events.html
 */
import type { EventBridgeEvent } from "aws-lambda";

/** The detail-type of a stage's change; the pipeline's is PIPELINE_EVENT_DETAIL_TYPE (contract/tables.ts). */
export const STAGE_EVENT_DETAIL_TYPE = "CodePipeline Stage Execution State Change";

/** A CodePipeline event as EventBridge delivers it. */
export type CodePipelineEvent<DetailType extends string, Detail> = EventBridgeEvent<DetailType, Detail>;

/**
 * The detail of a "CodePipeline Pipeline Execution State Change" event: the fields the handler
 * reads, and the others CodePipeline sends. A type, not an interface, so that it stays assignable
 * to the routers' `Record<string, unknown>` details (local/event-router.ts).
 */
export type PipelineStateChangeDetail = {
  pipeline: string;
  "execution-id": string;
  /** One of PipelineEventState (contract/tables.ts); the handler ignores anything else. */
  state: string;
  "start-time"?: string;
  version?: number;
  "pipeline-execution-attempt"?: number;
  "execution-trigger"?: { "trigger-type": string; "trigger-detail": string };
};

/**
 * A pipeline execution's change. Its detail-type stays a string: the handler is subscribed by a
 * rule (contract/event-patterns.ts) but still checks it before acting.
 */
export type PipelineStateChangeEvent = CodePipelineEvent<string, PipelineStateChangeDetail>;

/** A stage's state in "CodePipeline Stage Execution State Change" events (RESUMED: a retried stage). */
export type StageEventState = "STARTED" | "RESUMED" | "SUCCEEDED" | "FAILED" | "STOPPED";

export type StageStateChangeEvent = CodePipelineEvent<
  typeof STAGE_EVENT_DETAIL_TYPE,
  { pipeline: string; "execution-id": string; stage: string; state: StageEventState; version: number }
>;
