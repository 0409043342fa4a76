/**
 * The stack's `notifications` setting, validated: `{ emails, topicArns, events?, format? }`, set with
 * `pulumi config set --path 'notifications.emails[0]' team@example.com`. It is an object, which
 * Pulumi.yaml's typed declarations (string, integer, boolean, array) do not describe, so it is read
 * from the stack's config and not declared there:
 * https://www.pulumi.com/docs/iac/concepts/projects/project-file/#config-options
 */
import { isRecord } from "../contract/json";
import {
  DEFAULT_NOTIFICATION_KINDS,
  NOTIFICATION_KINDS,
  type NotificationKind,
} from "../contract/notification-events";
import type { NotificationSettings } from "./notifications";

/**
 * EventBridge allows five targets per rule: the topic, and at most four more.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
 */
export const MAX_EXTRA_TOPICS = 4;

/** SNS topic ARNs: the partition, region, account and name SNS allows. */
const TOPIC_ARN = /^arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?$/;
/** An address SNS can send to: something@domain, no spaces. */
const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const KEYS = ["emails", "topicArns", "events", "format"];
const EXAMPLE = "pulumi config set --path 'notifications.emails[0]' team@example.com";

type Problem = (key: string, rule: string) => void;

function stringList(value: unknown, field: string, set: Problem): string[] {
  if (value === undefined) return [];
  if (!Array.isArray(value) || !value.every((v) => typeof v === "string")) {
    set(`notifications.${field}`, `must be a list of strings (got ${JSON.stringify(value)})`);
    return [];
  }
  const repeated = value.filter((v, i) => value.indexOf(v) !== i);
  if (repeated.length > 0) set(`notifications.${field}`, `lists ${repeated.join(", ")} more than once`);
  return value;
}

/** The setting, or undefined when unset; every problem is recorded with `set`. */
export function readNotifications(raw: string | undefined, set: Problem): NotificationSettings | undefined {
  if (raw === undefined) return undefined;
  let value: unknown;
  try {
    value = JSON.parse(raw);
  } catch {
    value = raw;
  }
  if (!isRecord(value)) {
    set("notifications", `must be an object { emails, topicArns, events, format } (${EXAMPLE})`);
    return undefined;
  }
  const unknown = Object.keys(value).filter((k) => !KEYS.includes(k));
  if (unknown.length > 0)
    set("notifications", `has unknown keys ${unknown.join(", ")}; use ${KEYS.join(", ")}`);
  const emails = stringList(value.emails, "emails", set);
  const bad = emails.filter((e) => !EMAIL.test(e));
  if (bad.length > 0) set("notifications.emails", `has addresses SNS cannot send to: ${bad.join(", ")}`);
  const topicArns = stringList(value.topicArns, "topicArns", set);
  const badArns = topicArns.filter((a) => !TOPIC_ARN.test(a));
  if (badArns.length > 0)
    set("notifications.topicArns", `has values that are not SNS topic ARNs: ${badArns.join(", ")}`);
  if (topicArns.length > MAX_EXTRA_TOPICS) {
    set(
      "notifications.topicArns",
      `lists ${topicArns.length} topics; a rule has at most ${MAX_EXTRA_TOPICS + 1} targets (the stack's topic and ${MAX_EXTRA_TOPICS} more)`,
    );
  }
  const events = readEvents(value.events, set);
  const format = value.format ?? "text";
  if (format !== "text" && format !== "chat") {
    set(
      "notifications.format",
      `must be text (email) or chat (Amazon Q Developer in chat applications) (got ${JSON.stringify(format)})`,
    );
  }
  return { emails, topicArns, events, format: format === "chat" ? "chat" : "text" };
}

function readEvents(value: unknown, set: Problem): NotificationKind[] {
  if (value === undefined) return [...DEFAULT_NOTIFICATION_KINDS];
  const events = stringList(value, "events", set);
  const known: readonly string[] = NOTIFICATION_KINDS;
  const unknown = events.filter((e) => !known.includes(e));
  if (unknown.length > 0) {
    set(
      "notifications.events",
      `has unknown kinds ${unknown.join(", ")}; the kinds are ${NOTIFICATION_KINDS.join(", ")}`,
    );
  }
  if (Array.isArray(value) && value.length === 0) {
    set("notifications.events", "is empty; list the kinds to send, or leave it out for the defaults");
  }
  return events.filter((e): e is NotificationKind => known.includes(e));
}
