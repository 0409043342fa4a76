/** Events and errors as AWS delivers them, for handler tests: one builder each, used by every test file. */
import type { PipelineStateChangeEvent } from "../contract/pipeline-events";
import type { ExecutionStatusChangeEvent } from "../handlers/release/execution-ended";

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

/**
 * Step Functions' "Step Functions Execution Status Change" event of an ended execution, as
 * EventBridge delivers it (https://docs.aws.amazon.com/step-functions/latest/dg/cw-events.html).
 */
export function executionStatusChange(event: {
  executionArn: string;
  name: string;
  status: string;
  error?: string | null;
  cause?: string | null;
}): ExecutionStatusChangeEvent {
  const stateMachineArn = event.executionArn.replace(/:execution:([^:]+):.*$/, ":stateMachine:$1");
  return {
    id: `status-${event.name}-${event.status}`,
    "detail-type": "Step Functions Execution Status Change",
    source: "aws.states",
    version: "0",
    account: "123456789012",
    region: "us-east-1",
    resources: [event.executionArn],
    time: new Date().toISOString(),
    detail: {
      executionArn: event.executionArn,
      stateMachineArn,
      name: event.name,
      status: event.status,
      error: event.error ?? null,
      cause: event.cause ?? null,
    },
  };
}
