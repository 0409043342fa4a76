/** Events and errors as AWS delivers them, for handler tests: one builder each, used by every test file. */
import type { PipelineStateChangeEvent } from "../contract/pipeline-events";

/** An error as the AWS SDK throws it: its `name` is the service's error code. */
export function awsError(name: string, message = name): Error {
  const error = new Error(message);
  error.name = name;
  return error;
}

/** CodePipeline's "Pipeline Execution State Change" event, as EventBridge delivers it. */
export function pipelineEvent(event: {
  id: string;
  pipeline: string;
  executionId: string;
  state: string;
  time?: string;
}): PipelineStateChangeEvent {
  return {
    id: event.id,
    "detail-type": "CodePipeline Pipeline Execution State Change",
    source: "aws.codepipeline",
    version: "0",
    account: "123456789012",
    region: "us-east-1",
    resources: [],
    time: event.time ?? new Date().toISOString(),
    detail: { pipeline: event.pipeline, "execution-id": event.executionId, state: event.state },
  };
}
