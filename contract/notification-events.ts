/**
 * The release machine's lifecycle events as one typed family: every transition a person may want to
 * hear of is a "Release State Change" event (contract/tables.ts) whose detail names its `kind`, the
 * release, the pipeline, the submitter where the publisher knows it, a one-line `summary` and the
 * exact CLI `command` to act on it. One detail type with a `kind` field, not one detail type per
 * kind, because the existing consumers of "Release State Change" keep working unchanged, one rule
 * pattern selects any set of kinds (`detail.kind`), and a kind added later (issue 20) needs no new
 * detail type. The one transition announced before this family existed under its own detail type,
 * "Pipeline Resumed", is mapped (its detail gains the same fields), never published twice.
 * docs/architecture.md, "Notifications", has the table.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-event-patterns.html
 */
import { RELEASE_EVENT_DETAIL_TYPE, RELEASE_EVENT_SOURCE } from "./tables";

/** Every kind of the family, in the order of the table in docs/architecture.md. */
export const NOTIFICATION_KINDS = [
  "release.started",
  "release.queued",
  "release.frozen",
  "release.succeeded",
  "release.failed",
  "release.cancelling",
  "release.cancelled",
  "release.retried",
  "pipeline.started",
  "pipeline.ended",
  "pipeline.resumed",
  "pipeline.superseded",
  "gate.opened",
  "gate.approved",
  "gate.rejected",
  "gate.expired",
  "freeze.overridden",
] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** What a stack's `notifications` sends when it names no `events`: the moments that need a person. */
export const DEFAULT_NOTIFICATION_KINDS: readonly NotificationKind[] = [
  "gate.opened",
  "release.failed",
  "release.frozen",
  "release.succeeded",
];

/** Published when a pipeline's execution resumed outside the release (RetryStageExecution). */
export const PIPELINE_RESUMED_DETAIL_TYPE = "Pipeline Resumed";

/** Published when a release's freezes are overridden (issue 20: its own event, IAM-auditable). */
export const FREEZE_OVERRIDDEN_DETAIL_TYPE = "Release Freeze Overridden";

export interface KindSpec {
  /** The summary, with `{releaseId}` and `{pipeline}` placeholders. */
  summary: string;
  /** The CLI command that acts on it, with the same placeholders. */
  command: string;
  detailType:
    | typeof RELEASE_EVENT_DETAIL_TYPE
    | typeof PIPELINE_RESUMED_DETAIL_TYPE
    | typeof FREEZE_OVERRIDDEN_DETAIL_TYPE;
  /** Where it is published, or `declared` when the transition is not built yet (issue 20). */
  publishedBy: string;
}

const watch = "release-machine watch {releaseId}";
const status = "release-machine status {releaseId}";
const retry = "release-machine retry {releaseId}";
const ISSUE_20 = "declared: published by the queue and freeze work (issue 20)";
const state = (summary: string, command: string, publishedBy: string): KindSpec => ({
  summary,
  command,
  detailType: RELEASE_EVENT_DETAIL_TYPE,
  publishedBy,
});

export const KINDS: Record<NotificationKind, KindSpec> = {
  "release.started": state("Release {releaseId} started.", watch, "RegisterRelease"),
  "release.queued": state("Release {releaseId} is queued behind another release.", status, ISSUE_20),
  "release.frozen": state("Release {releaseId} is held by a freeze.", status, ISSUE_20),
  "release.succeeded": state("Release {releaseId} succeeded.", status, "the workflow's PublishSucceeded"),
  "release.failed": state("Release {releaseId} failed.", retry, "the workflow's PublishFailed, the backstop"),
  "release.cancelling": state("Release {releaseId} is being cancelled.", watch, "the cancel route"),
  "release.cancelled": state("Release {releaseId} was cancelled.", retry, "the workflow's PublishCancelled"),
  "release.retried": state("Release {releaseId} was retried.", watch, "RetryRelease"),
  "pipeline.started": state(
    "Pipeline {pipeline} of release {releaseId} started.",
    watch,
    "the start's record",
  ),
  "pipeline.ended": state("Pipeline {pipeline} of release {releaseId} ended.", status, "the end's record"),
  "pipeline.resumed": {
    summary: "Pipeline {pipeline} of release {releaseId} resumed outside the release.",
    command: status,
    detailType: PIPELINE_RESUMED_DETAIL_TYPE,
    publishedBy: "the pipeline-event function (resume)",
  },
  "pipeline.superseded": state(
    "Pipeline {pipeline} of release {releaseId} was superseded.",
    status,
    ISSUE_20,
  ),
  "gate.opened": state(
    "Pipeline {pipeline} of release {releaseId} awaits approval.",
    "release-machine approve {releaseId} {pipeline}",
    "the progress step that opens the gate",
  ),
  "gate.approved": state(
    "Pipeline {pipeline} of release {releaseId} was approved.",
    watch,
    "the approve route",
  ),
  "gate.rejected": state(
    "Pipeline {pipeline} of release {releaseId} was rejected.",
    status,
    "the reject route",
  ),
  "gate.expired": state(
    "The gate of {pipeline} in release {releaseId} expired.",
    status,
    "the reconciler (expireGates)",
  ),
  "freeze.overridden": {
    summary: "A freeze was overridden for release {releaseId}.",
    command: watch,
    detailType: FREEZE_OVERRIDDEN_DETAIL_TYPE,
    publishedBy: "the override route (POST /releases/{releaseId}/override-freeze)",
  },
};

/** The fields every event of the family carries, besides its own. */
export interface NotificationFields {
  kind: NotificationKind;
  /** Who submitted the release, where the publisher knows it. */
  submittedBy?: string;
  summary: string;
  command: string;
}

/** Fills a kind's template with the release and pipeline. */
export function fill(template: string, releaseId: string, pipeline = ""): string {
  return template.replaceAll("{releaseId}", releaseId).replaceAll("{pipeline}", pipeline);
}

/** The family's fields of one event of `kind`. */
export function notificationFields(
  kind: NotificationKind,
  releaseId: string,
  pipeline?: string,
): Omit<NotificationFields, "submittedBy"> {
  const spec = KINDS[kind];
  return {
    kind,
    summary: fill(spec.summary, releaseId, pipeline),
    command: fill(spec.command, releaseId, pipeline),
  };
}

/** The kind of each end of a release. */
export const END_KINDS = {
  SUCCEEDED: "release.succeeded",
  FAILED: "release.failed",
  CANCELLED: "release.cancelled",
} as const satisfies Record<string, NotificationKind>;

/**
 * The family's summary and command of a kind as Step Functions intrinsics, `{releaseId}` taken from
 * the state's input (the workflow's Publish states). The templates of the ends hold no other brace,
 * quote or backslash, which States.Format would need escaped:
 * https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-generic
 */
export function notificationIntrinsics(kind: NotificationKind): { summary: string; command: string } {
  const format = (template: string) => {
    const parts = template.split("{releaseId}");
    if (/[{}'\\]/.test(parts.join(""))) throw new Error(`${kind}: cannot format ${template}`);
    return `States.Format('${parts.join("{}")}'${", $.releaseId".repeat(parts.length - 1)})`;
  };
  return { summary: format(KINDS[kind].summary), command: format(KINDS[kind].command) };
}

/** The pattern of one kind: the rules that feed the notification topic (infra/, local/). */
export function notificationPattern(kind: NotificationKind) {
  return {
    source: [RELEASE_EVENT_SOURCE],
    "detail-type": [KINDS[kind].detailType],
    detail: { kind: [kind] },
  };
}

/** How the topic's message is worded: plain text (email), or Amazon Q Developer's custom notification. */
export type NotificationFormat = "text" | "chat";

/**
 * The rules' input transformer: a readable message from the family's fields. A string template is
 * quoted; its values are our own summaries, commands and principals, which never hold a quote.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-transform-target-input.html
 * The chat form is Amazon Q Developer in chat applications' custom notification:
 * https://docs.aws.amazon.com/chatbot/latest/adminguide/custom-notifs.html
 */
export function notificationInput(format: NotificationFormat) {
  const inputPaths = {
    summary: "$.detail.summary",
    command: "$.detail.command",
    causedBy: "$.detail.causedBy",
  };
  const inputTemplate =
    format === "text"
      ? '"<summary> (by <causedBy>) Act: <command>"'
      : '{"version":"1.0","source":"custom","content":{"textType":"client-markdown","title":"<summary>","description":"By <causedBy>. Act: `<command>`"}}';
  return { inputPaths, inputTemplate };
}

/**
 * Applies an input transformer of `notificationInput` to an event, as EventBridge does: each
 * `<name>` becomes the value at its path (empty when absent). Local mode prints what it renders.
 */
export function renderNotification(
  input: { inputPaths: Record<string, string>; inputTemplate: string },
  event: { detail: Record<string, unknown> },
): string {
  let text = input.inputTemplate;
  for (const [name, path] of Object.entries(input.inputPaths)) {
    const value = event.detail[path.replace(/^\$\.detail\./, "")];
    text = text.replaceAll(`<${name}>`, typeof value === "string" ? value : "");
  }
  return text.startsWith('"') ? (JSON.parse(text) as string) : text;
}
