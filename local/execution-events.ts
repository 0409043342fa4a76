/**
 * "Step Functions Execution Status Change" events, as Step Functions sends them to the default
 * EventBridge bus for a STANDARD workflow's executions: one when an execution starts (RUNNING) and
 * one when it ends (SUCCEEDED, FAILED, TIMED_OUT, ABORTED). The detail carries what
 * DescribeExecution shows; input and output are JSON strings, left out (null, `included: false`)
 * when the escaped payloads pass 248 KB together (docs/aws-facts.md, "Step Functions").
 */
import { randomUUID } from "node:crypto";
import type { LocalExecution } from "./engine";
import { EXECUTION_STATUS_CHANGE } from "../contract/event-patterns";
import type { EventEnvelope } from "./event-router";

export { EXECUTION_STATUS_CHANGE };
export const STATES_SOURCE = "aws.states";
/** The combined size of escaped input and output an event carries at most. */
export const EVENT_PAYLOAD_LIMIT_BYTES = 248 * 1024;

const escapedBytes = (text: string | null) => (text === null ? 0 : Buffer.byteLength(JSON.stringify(text)));

/** The event for `execution`'s current status (a snapshot: the execution object changes later). */
export function executionStatusChangeEvent(
  execution: LocalExecution,
  where: { stateMachineArn: string; region: string; accountId: string },
): EventEnvelope {
  const ended = execution.status !== "RUNNING";
  let output = execution.status === "SUCCEEDED" ? JSON.stringify(execution.output ?? null) : null;
  if (escapedBytes(output) > EVENT_PAYLOAD_LIMIT_BYTES) output = null;
  let input: string | null = JSON.stringify(execution.input ?? null);
  if (escapedBytes(input) + escapedBytes(output) > EVENT_PAYLOAD_LIMIT_BYTES) input = null;
  const succeeded = execution.status === "SUCCEEDED";
  return {
    version: "0",
    id: randomUUID(),
    "detail-type": EXECUTION_STATUS_CHANGE,
    source: STATES_SOURCE,
    account: where.accountId,
    time: new Date().toISOString().replace(/\.\d{3}Z$/, "Z"),
    region: where.region,
    resources: [execution.executionArn],
    detail: {
      executionArn: execution.executionArn,
      stateMachineArn: where.stateMachineArn,
      name: execution.name,
      status: execution.status,
      // Milliseconds since the epoch, as the documented examples show them.
      startDate: execution.startDate.getTime(),
      stopDate: ended ? (execution.stopDate ?? new Date()).getTime() : null,
      input,
      output,
      inputDetails: { included: input !== null },
      outputDetails: succeeded ? { included: output !== null } : null,
      error: ended ? (execution.error ?? null) : null,
      cause: ended ? (execution.cause ?? null) : null,
    },
  };
}
