/**
 * The stack's event rules, locally: the same patterns (contract/event-patterns.ts) deliver the same
 * events to the same handlers through the one wiring, each under its function's timeout, as
 * infra/events.ts's rules deliver them on AWS.
 */
import {
  controlDecidedPattern,
  executionEndedPattern,
  manifestUploadRecordedPattern,
  pipelineStateChangePattern,
} from "../contract/event-patterns";
import { isUploadRecorded } from "../handlers/release/uploader";
import { pipelineStateChange } from "../handlers/pipeline-events";
import type { ExecutionStatusChangeEvent } from "../handlers/release/execution-ended";
import { isControlDecided } from "../handlers/release/hand-off";
import { isStartsPending } from "../handlers/release/dependants";
import { type HandlerDeps, wire } from "../handlers/wiring";
import type { EventRouter } from "./event-router";
import { type FunctionTimeouts, timeoutOf, withLambdaTimeout } from "./lambda-timeout";
import { LOCAL_STATE_MACHINE_ARN } from "./local-names";
import {
  DEFAULT_NOTIFICATION_KINDS,
  type NotificationFormat,
  type NotificationKind,
  notificationInput,
  notificationPattern,
  renderNotification,
} from "../contract/notification-events";

/** CodePipeline's state changes of the allowed pipelines reach the pipeline-event handler, as the stack's rule does. */
export function routePipelineEvents(
  router: EventRouter,
  deps: HandlerDeps,
  allowed: readonly string[],
  timeouts: FunctionTimeouts = {},
): void {
  const handle = withLambdaTimeout(timeoutOf("pipelineEvent", timeouts), wire("pipelineEvent", deps));
  router.addRule({
    name: "pipeline-state-changed",
    pattern: pipelineStateChangePattern(allowed),
    target: async (event) => {
      const change = pipelineStateChange(event);
      return change ? handle(change) : "ignored";
    },
  });
  // The control function's hand-offs reach the same function, as the stack's rule does (infra/events.ts).
  router.addRule({
    name: "control-decided",
    pattern: controlDecidedPattern(),
    target: async (event) => (isControlDecided(event) || isStartsPending(event) ? handle(event) : "ignored"),
  });
}

/**
 * The engine's executions that end FAILED, TIMED_OUT or ABORTED reach the backstop, as the stack's
 * rule does. Until `shutDown()`: the executions close() aborts are cut off by the machine stopping,
 * which a restart records (LocalEngineStopped, failOrphanedReleases), not ended by an operator.
 */
export function routeExecutionEnds(router: EventRouter, deps: HandlerDeps, timeouts: FunctionTimeouts = {}) {
  const handle = withLambdaTimeout(timeoutOf("executionEnded", timeouts), wire("executionEnded", deps));
  let open = true;
  router.addRule({
    name: "execution-ended",
    pattern: executionEndedPattern(LOCAL_STATE_MACHINE_ARN),
    // The pattern admits only status changes, whose detail is the execution's (local/execution-events.ts).
    target: (event) => (open ? handle(event as unknown as ExecutionStatusChangeEvent) : "ignored"),
  });
  return { shutDown: () => void (open = false) };
}

/**
 * CloudTrail's records of objects stored in the bucket reach the uploaderEvent function, as the
 * stack's rule does (infra/events.ts). Local mode has no CloudTrail, so nothing publishes them by
 * itself: an upload's uploader stays unknown, as on a stack without its audit trail, unless a
 * record is published to the router (the tests play CloudTrail's part).
 */
export function routeUploadRecords(
  router: EventRouter,
  deps: HandlerDeps,
  bucket: string,
  timeouts: FunctionTimeouts = {},
): void {
  const handle = withLambdaTimeout(timeoutOf("uploaderEvent", timeouts), wire("uploaderEvent", deps));
  router.addRule({
    name: "upload-recorded",
    pattern: manifestUploadRecordedPattern(bucket),
    target: async (event) => (isUploadRecorded(event) ? handle(event) : "ignored"),
  });
}

/**
 * The notifications the stack's `notifications` rules would send (infra/notifications.ts): local
 * mode has no SNS, so each is printed, one line, worded by the same input transformer.
 */
export function routeNotifications(
  router: EventRouter,
  print: (line: string) => void,
  kinds: readonly NotificationKind[] = DEFAULT_NOTIFICATION_KINDS,
  format: NotificationFormat = "text",
): void {
  const input = notificationInput(format);
  for (const kind of kinds) {
    router.addRule({
      name: `notify-${kind}`,
      pattern: notificationPattern(kind),
      target: (event) =>
        print(`${event.time.slice(11, 19)}Z  notify     ${renderNotification(input, event)}`),
    });
  }
}
