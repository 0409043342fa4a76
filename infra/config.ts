/**
 * The stack's settings: every key is declared in Pulumi.yaml with a description and default,
 * read once here and validated with messages that say what to set.
 */
import {
  DEFAULT_MANIFEST_RULES,
  MANIFEST_RULE_LIMITS,
  PIPELINE_NAME_PATTERN,
} from "../contract/manifest-schema";
import type { FailurePolicy } from "../stepfunction/release-workflow";
import { CONFIGURED_TIMEOUT_LIMIT, MAX_CONFIGURED_TIMEOUT_HOURS } from "../contract/execution-limits";
import { readNotifications } from "./notification-settings";
import type { NotificationSettings } from "./notifications";

export interface ReleaseMachineSettings {
  /** The pipelines this machine may release; IAM is scoped to exactly these. */
  pipelines: string[];
  maxPipelines: number;
  maxManifestBytes: number;
  longestPipelineRunHours: number;
  failurePolicy: FailurePolicy;
  /** EventBridge schedule expression of the reconciler, e.g. "rate(5 minutes)". */
  reconcileSchedule: string;
  logRetentionDays: number;
  deletionProtection: boolean;
  apiThrottleRateLimit: number;
  apiThrottleBurstLimit: number;
  /** Set the account's API Gateway CloudWatch role (needed once per account and region for API logs). */
  manageApiGatewayAccount: boolean;
  /** Record every write to the release bucket (who uploaded each manifest) with CloudTrail. */
  auditTrail: boolean;
  /** Whether a release's submitter may approve its own approval gates (four eyes when false). */
  allowSelfApproval: boolean;
  /** How long a stop-and-wait may stay pending before the reconciler abandons it (handlers/stops.ts). */
  stopGraceMinutes: number;
  /**
   * The notification topic, its email subscriptions and extra topics (infra/notifications.ts); none
   * when unset. An object, so set in the stack's config (`--path`), not declared in Pulumi.yaml.
   */
  notifications?: NotificationSettings;
}

/** The project's defaults, identical to Pulumi.yaml's (a test keeps the two equal). */
export const DEFAULT_SETTINGS: Omit<ReleaseMachineSettings, "pipelines"> = {
  maxPipelines: DEFAULT_MANIFEST_RULES.maxPipelines,
  maxManifestBytes: DEFAULT_MANIFEST_RULES.maxBytes,
  longestPipelineRunHours: 168,
  failurePolicy: "stopRemaining",
  reconcileSchedule: "rate(5 minutes)",
  logRetentionDays: 30,
  deletionProtection: true,
  apiThrottleRateLimit: 10,
  apiThrottleBurstLimit: 20,
  manageApiGatewayAccount: true,
  auditTrail: true,
  allowSelfApproval: false,
  stopGraceMinutes: 15,
};

/** CloudWatch Logs accepts only these retention periods. */
const RETENTION_DAYS = [
  1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653,
];

/** A misconfigured stack; the message names the key and how to fix it. */
export class SettingsError extends Error {
  override readonly name = "SettingsError";
}

/** Reads a raw config getter (e.g. pulumi.Config#get) into validated settings. */
export function readSettings(
  get: (key: string) => string | undefined,
  project = "release-machine",
): ReleaseMachineSettings {
  const problems: string[] = [];
  const set = (key: string, rule: string) => problems.push(`${project}:${key} ${rule}`);
  const integer = (key: keyof typeof DEFAULT_SETTINGS, min: number, max: number, limit?: string) =>
    readInteger(get, set, key, min, max, limit);
  const boolean = (key: keyof typeof DEFAULT_SETTINGS) => readBoolean(get, set, key);

  const pipelines = readPipelines(get, set);
  const failurePolicy = readFailurePolicy(get, set);
  const reconcileSchedule = readReconcileSchedule(get, set);
  const logRetentionDays = integer("logRetentionDays", 1, 3653);
  if (!RETENTION_DAYS.includes(logRetentionDays)) {
    set("logRetentionDays", `must be one of CloudWatch's periods: ${RETENTION_DAYS.join(", ")}`);
  }

  const settings: ReleaseMachineSettings = {
    pipelines,
    // Capped so that no accepted manifest can take the workflow past a Step Functions quota.
    maxPipelines: integer("maxPipelines", 1, MANIFEST_RULE_LIMITS.maxPipelines),
    maxManifestBytes: integer("maxManifestBytes", 256, MANIFEST_RULE_LIMITS.maxBytes),
    longestPipelineRunHours: integer(
      "longestPipelineRunHours",
      1,
      MAX_CONFIGURED_TIMEOUT_HOURS,
      CONFIGURED_TIMEOUT_LIMIT,
    ),
    failurePolicy,
    reconcileSchedule,
    logRetentionDays,
    deletionProtection: boolean("deletionProtection"),
    apiThrottleRateLimit: integer("apiThrottleRateLimit", 1, 10_000),
    apiThrottleBurstLimit: integer("apiThrottleBurstLimit", 1, 5_000),
    manageApiGatewayAccount: boolean("manageApiGatewayAccount"),
    auditTrail: boolean("auditTrail"),
    allowSelfApproval: boolean("allowSelfApproval"),
    // At most 7 days: a manual approval, the longest wait a stop-and-wait can have, times out then.
    stopGraceMinutes: integer("stopGraceMinutes", 1, 7 * 24 * 60),
  };
  const notifications = readNotifications(get("notifications"), set);
  if (notifications) settings.notifications = notifications;
  if (problems.length > 0)
    throw new SettingsError(`invalid stack configuration:\n  - ${problems.join("\n  - ")}`);
  return settings;
}

type Getter = (key: string) => string | undefined;
/** Records a problem with one key: the rule it breaks and how to fix it. */
type Problem = (key: string, rule: string) => void;

function readInteger(
  get: Getter,
  set: Problem,
  key: keyof typeof DEFAULT_SETTINGS,
  min: number,
  max: number,
  /** Why `max` is the limit, when a quota sets it. */
  limit?: string,
): number {
  const raw = get(key);
  const fallback = DEFAULT_SETTINGS[key] as number;
  if (raw === undefined) return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min || value > max) {
    set(
      key,
      `must be an integer from ${min} to ${max}${limit ? `, the limit ${limit}` : ""} (got "${raw}"); e.g. pulumi config set ${key} ${fallback}`,
    );
    return fallback;
  }
  return value;
}

function readBoolean(get: Getter, set: Problem, key: keyof typeof DEFAULT_SETTINGS): boolean {
  const raw = get(key);
  if (raw === undefined) return DEFAULT_SETTINGS[key] as boolean;
  if (raw !== "true" && raw !== "false") set(key, `must be true or false (got "${raw}")`);
  return raw === "true";
}

/** The allow-list: a non-empty list of distinct names CodePipeline accepts. */
function readPipelines(get: Getter, set: Problem): string[] {
  let failed = false;
  const note: Problem = (key, rule) => {
    failed = true;
    set(key, rule);
  };
  let pipelines: string[] = [];
  const rawPipelines = get("pipelines");
  try {
    const parsed: unknown = rawPipelines === undefined ? [] : JSON.parse(rawPipelines);
    if (!Array.isArray(parsed) || !parsed.every((p) => typeof p === "string")) throw new Error("not a list");
    pipelines = parsed;
  } catch {
    note(
      "pipelines",
      "must be a list of pipeline names (pulumi config set --path 'pipelines[0]' my-pipeline)",
    );
  }
  if (pipelines.length === 0 && rawPipelines !== undefined && !failed) {
    note("pipelines", "is empty; list the pipelines this machine may release");
  }
  if (rawPipelines === undefined) {
    note(
      "pipelines",
      "is not set; list the pipelines this machine may release (pulumi config set --path 'pipelines[0]' my-pipeline)",
    );
  }
  const badNames = pipelines.filter((p) => !new RegExp(PIPELINE_NAME_PATTERN).test(p));
  if (badNames.length > 0) note("pipelines", `has names CodePipeline does not allow: ${badNames.join(", ")}`);
  const repeated = pipelines.filter((p, i) => pipelines.indexOf(p) !== i);
  if (repeated.length > 0) note("pipelines", `lists ${repeated.join(", ")} more than once`);
  return pipelines;
}

function readFailurePolicy(get: Getter, set: Problem): FailurePolicy {
  const failurePolicy = get("failurePolicy") ?? DEFAULT_SETTINGS.failurePolicy;
  if (failurePolicy !== "stopRemaining" && failurePolicy !== "letFinish") {
    set("failurePolicy", `must be stopRemaining or letFinish (got "${failurePolicy}")`);
  }
  return failurePolicy as FailurePolicy;
}

function readReconcileSchedule(get: Getter, set: Problem): string {
  const reconcileSchedule = get("reconcileSchedule") ?? DEFAULT_SETTINGS.reconcileSchedule;
  if (!/^(rate\(\d+ (minute|minutes|hour|hours|day|days)\)|cron\(.+\))$/.test(reconcileSchedule)) {
    set(
      "reconcileSchedule",
      `must be an EventBridge schedule such as "rate(5 minutes)" (got "${reconcileSchedule}")`,
    );
  }
  return reconcileSchedule;
}
