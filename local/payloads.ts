/**
 * The local engine hands each workflow function its payload as JSON it evaluated from the rendered
 * definition, so as `unknown`; each function's payload is decoded here, once, into the event its
 * handler (handlers/wiring.ts) takes. A payload of another shape is a defect of the definition: it
 * fails the task with a TypeError naming the field, as a deployed function would fail on it.
 */
import type { PlannedPipeline } from "../contract/manifest";
import type { FailurePolicy } from "../contract/tables";
import type { HandlerEvent } from "../handlers/wiring";
import type { FailExecutionRequest } from "../handlers/release/ended";
import type { WorkflowFunction } from "../stepfunction/release-workflow";

type Fields = Record<string, unknown>;

function fieldsOf(value: unknown, at: string): Fields {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new TypeError(`${at} must be an object`);
  return Object.fromEntries(Object.entries(value));
}

function text(value: unknown, at: string): string {
  if (typeof value !== "string") throw new TypeError(`${at} must be a string`);
  return value;
}

function count(value: unknown, at: string): number {
  if (typeof value !== "number") throw new TypeError(`${at} must be a number`);
  return value;
}

function optionalText(value: unknown, at: string): string | undefined {
  return value === undefined ? undefined : text(value, at);
}

function listOf<T>(value: unknown, at: string, item: (value: unknown, at: string) => T): T[] {
  if (!Array.isArray(value)) throw new TypeError(`${at} must be an array`);
  return value.map((entry: unknown, i) => item(entry, `${at}[${i}]`));
}

function failurePolicy(value: unknown, at: string): FailurePolicy {
  if (value !== "stopRemaining" && value !== "letFinish")
    throw new TypeError(`${at} must be "stopRemaining" or "letFinish"`);
  return value;
}

/** A planned pipeline as ValidateManifest produced it; fields it left out stay out. */
function plannedPipeline(value: unknown, at: string): PlannedPipeline {
  const p = fieldsOf(value, at);
  const planned: PlannedPipeline = { name: text(p.name, `${at}.name`) };
  if (p.approval !== undefined) {
    const gate = fieldsOf(p.approval, `${at}.approval`);
    planned.approval = { timeoutHours: count(gate.timeoutHours, `${at}.approval.timeoutHours`) };
    if (gate.approvers !== undefined)
      planned.approval.approvers = listOf(gate.approvers, `${at}.approval.approvers`, text);
  }
  if (p.dependsOn !== undefined) planned.dependsOn = listOf(p.dependsOn, `${at}.dependsOn`, text);
  if (p.variables !== undefined) {
    const variables = fieldsOf(p.variables, `${at}.variables`);
    planned.variables = Object.fromEntries(
      Object.entries(variables).map(([name, value]) => [name, text(value, `${at}.variables.${name}`)]),
    );
  }
  if (p.sourceRevisions !== undefined)
    planned.sourceRevisions = listOf(p.sourceRevisions, `${at}.sourceRevisions`, (entry, where) => {
      const r = fieldsOf(entry, where);
      return {
        actionName: text(r.actionName, `${where}.actionName`),
        revisionType: text(r.revisionType, `${where}.revisionType`),
        revisionValue: text(r.revisionValue, `${where}.revisionValue`),
      };
    });
  return planned;
}

/** RegisterRelease's payload, or RetryRelease's (attempt n+1, through the same function). */
function registration(payload: unknown): HandlerEvent<"registerRelease"> {
  const p = fieldsOf(payload, "payload");
  if (p.startRoots !== undefined) {
    const batch = fieldsOf(p.startRoots, "startRoots");
    return {
      startRoots: {
        releaseId: text(batch.releaseId, "startRoots.releaseId"),
        from: count(batch.from, "startRoots.from"),
      },
    };
  }
  if (p.retry !== undefined) {
    const retry = fieldsOf(p.retry, "retry");
    return {
      retry: {
        releaseId: text(retry.releaseId, "retry.releaseId"),
        attempt: count(retry.attempt, "retry.attempt"),
        requestedBy: text(retry.requestedBy, "retry.requestedBy"),
      },
      executionArn: text(p.executionArn, "executionArn"),
    };
  }
  const submittedBy = optionalText(p.submittedBy, "submittedBy");
  const options = p.options === undefined ? undefined : fieldsOf(p.options, "options");
  const chosen = options?.failurePolicy;
  return {
    releaseId: text(p.releaseId, "releaseId"),
    executionArn: text(p.executionArn, "executionArn"),
    startedAt: text(p.startedAt, "startedAt"),
    source: text(p.source, "source"),
    ...(submittedBy === undefined ? {} : { submittedBy }),
    failurePolicy: failurePolicy(p.failurePolicy, "failurePolicy"),
    ...(options === undefined
      ? {}
      : {
          options:
            chosen === undefined ? {} : { failurePolicy: failurePolicy(chosen, "options.failurePolicy") },
        }),
    longestPipelineRunSeconds: count(p.longestPipelineRunSeconds, "longestPipelineRunSeconds"),
    pipelines: listOf(p.pipelines, "pipelines", plannedPipeline),
  };
}

/** FailRegistration's and FailRetry's request (stepfunction/failed-registration.ts). */
function failedExecution(value: unknown): FailExecutionRequest {
  const f = fieldsOf(value, "failExecution");
  return {
    releaseId: text(f.releaseId, "failExecution.releaseId"),
    executionArn: text(f.executionArn, "failExecution.executionArn"),
    error: text(f.error, "failExecution.error"),
    cause: text(f.cause, "failExecution.cause"),
    ...(f.attempt === undefined ? {} : { attempt: count(f.attempt, "failExecution.attempt") }),
  };
}

/** Each workflow function's payload decoder. */
export const PAYLOADS: { [N in WorkflowFunction]: (payload: unknown) => HandlerEvent<N> } = {
  loadManifest: (payload) => ({ request: fieldsOf(payload, "payload").request }),
  validateManifest: (payload) => {
    const { text: manifest, location, submittedBy } = fieldsOf(payload, "payload");
    return { text: manifest, location, submittedBy };
  },
  recordRejection: (payload) => {
    const p = fieldsOf(payload, "payload");
    const error = fieldsOf(p.error, "error");
    return {
      request: p.request,
      error: { Error: text(error.Error, "error.Error"), Cause: text(error.Cause, "error.Cause") },
      executionArn: text(p.executionArn, "executionArn"),
      executionName: text(p.executionName, "executionName"),
      startedAt: text(p.startedAt, "startedAt"),
    };
  },
  registerRelease: registration,
  awaitRelease: (payload) => {
    const p = fieldsOf(payload, "payload");
    return {
      taskToken: text(p.taskToken, "taskToken"),
      releaseId: text(p.releaseId, "releaseId"),
      executionArn: text(p.executionArn, "executionArn"),
    };
  },
  stopRelease: (payload) => {
    const p = fieldsOf(payload, "payload");
    if (p.failExecution !== undefined) return { failExecution: failedExecution(p.failExecution) };
    const [reason, error] = [optionalText(p.reason, "reason"), optionalText(p.error, "error")];
    return {
      releaseId: text(p.releaseId, "releaseId"),
      ...(reason === undefined ? {} : { reason }),
      ...(error === undefined ? {} : { error }),
    };
  },
};
