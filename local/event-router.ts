/**
 * The in-process EventBridge stand-in: matches events against the same patterns the Pulumi
 * program declares (handlers/event-patterns.ts) and delivers them to targets asynchronously,
 * at least once, with bounded retries, as EventBridge does. A fault-injection hook can drop,
 * duplicate or delay deliveries.
 *
 * No maintained npm package evaluates EventBridge patterns, so the content filter is written
 * here: a pattern it does not understand throws instead of guessing.
 */
import { randomUUID } from "node:crypto";

export type EventPattern = { [key: string]: EventPattern | Matcher[] };
export type Matcher = string | number | boolean | null | { [operator: string]: unknown };

export interface EventEnvelope {
  version: string;
  id: string;
  "detail-type": string;
  source: string;
  account: string;
  time: string;
  region: string;
  resources: string[];
  detail: Record<string, unknown>;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

function wildcardToRegExp(pattern: string): RegExp {
  const escaped = pattern.replace(/[.+?^${}()|[\]\\]/g, "\\$&").replace(/\*/g, ".*");
  return new RegExp(`^${escaped}$`, "s");
}

function numericMatches(conditions: unknown[], value: unknown): boolean {
  if (typeof value !== "number") return false;
  for (let i = 0; i < conditions.length; i += 2) {
    const [op, bound] = [conditions[i], Number(conditions[i + 1])];
    const ok =
      op === "="
        ? value === bound
        : op === "<"
          ? value < bound
          : op === "<="
            ? value <= bound
            : op === ">"
              ? value > bound
              : op === ">="
                ? value >= bound
                : undefined;
    if (ok === undefined) throw new Error(`unknown numeric operator ${String(op)}`);
    if (!ok) return false;
  }
  return true;
}

/** One matcher against one (non-array) value. `exists` is handled by the caller. */
function matcherMatches(matcher: Matcher, value: unknown): boolean {
  if (!isObject(matcher)) {
    if (typeof matcher === "number" && typeof value === "number") return matcher === value;
    return matcher === value;
  }
  const [operator, operand] = Object.entries(matcher)[0] ?? [];
  switch (operator) {
    case "prefix":
      if (isObject(operand) && typeof operand["equals-ignore-case"] === "string") {
        return (
          typeof value === "string" &&
          value.toLowerCase().startsWith(operand["equals-ignore-case"].toLowerCase())
        );
      }
      return typeof value === "string" && value.startsWith(String(operand));
    case "suffix":
      if (isObject(operand) && typeof operand["equals-ignore-case"] === "string") {
        return (
          typeof value === "string" &&
          value.toLowerCase().endsWith(operand["equals-ignore-case"].toLowerCase())
        );
      }
      return typeof value === "string" && value.endsWith(String(operand));
    case "equals-ignore-case":
      return typeof value === "string" && value.toLowerCase() === String(operand).toLowerCase();
    case "wildcard":
      return typeof value === "string" && wildcardToRegExp(String(operand)).test(value);
    case "numeric":
      return numericMatches(operand as unknown[], value);
    case "anything-but": {
      if (value === undefined) return false;
      if (isObject(operand)) return !matcherMatches(operand as Matcher, value);
      const excluded = Array.isArray(operand) ? operand : [operand];
      return !excluded.some((e) => matcherMatches(e as Matcher, value));
    }
    default:
      throw new Error(`unsupported EventBridge pattern matcher ${JSON.stringify(matcher)}`);
  }
}

function fieldMatches(matchers: Matcher[], value: unknown): boolean {
  return matchers.some((matcher) => {
    if (isObject(matcher) && "exists" in matcher) return (value !== undefined) === (matcher.exists === true);
    if (value === undefined) return false;
    if (Array.isArray(value)) return value.some((v) => matcherMatches(matcher, v));
    return matcherMatches(matcher, value);
  });
}

/** True when `event` satisfies every field of `pattern` (EventBridge content filtering). */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  const record = isObject(event) ? event : {};
  return Object.entries(pattern).every(([key, expected]) => {
    if (key === "$or") {
      return (expected as unknown as EventPattern[]).some((alternative) =>
        matchesPattern(alternative, record),
      );
    }
    if (Array.isArray(expected)) return fieldMatches(expected, record[key]);
    if (isObject(expected)) return matchesPattern(expected as EventPattern, record[key]);
    throw new Error(`pattern field ${key} must be an array of matchers or an object`);
  });
}

export interface Rule {
  name: string;
  eventBusName?: string;
  pattern: EventPattern;
  target: (event: EventEnvelope) => Promise<unknown> | unknown;
}

/** What the fault-injection hook decides for one delivery. */
export type Interception = "deliver" | "drop" | "duplicate" | { delayMs: number };

export interface PutEventsEntry {
  Source: string;
  DetailType: string;
  Detail: string;
  EventBusName?: string;
  Resources?: string[];
  Time?: Date | string;
}

export class EventRouter {
  private readonly rules: Rule[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private inFlight = 0;
  private readonly quiet: (() => void)[] = [];
  readonly published: EventEnvelope[] = [];
  readonly deliveryFailures: { rule: string; eventId: string; error: string }[] = [];
  intercept?: (event: EventEnvelope, ruleName: string) => Interception;
  private readonly region: string;
  private readonly accountId: string;
  private readonly maxAttempts: number;
  private readonly retryDelayMs: number;

  constructor(
    options: { region?: string; accountId?: string; maxAttempts?: number; retryDelayMs?: number } = {},
  ) {
    this.region = options.region ?? "us-east-1";
    this.accountId = options.accountId ?? "000000000000";
    this.maxAttempts = options.maxAttempts ?? 3;
    this.retryDelayMs = options.retryDelayMs ?? 20;
  }

  addRule(rule: Rule): void {
    // Evaluate once now so a pattern we cannot evaluate fails at startup, not at the first event.
    matchesPattern(rule.pattern, {});
    this.rules.push(rule);
  }

  publish(event: EventEnvelope): void {
    this.published.push(event);
    for (const rule of this.rules) {
      if (!matchesPattern(rule.pattern, event)) continue;
      const decision = this.intercept ? this.intercept(event, rule.name) : "deliver";
      if (decision === "drop") continue;
      const copies = decision === "duplicate" ? 2 : 1;
      const delayMs = typeof decision === "object" ? decision.delayMs : 0;
      for (let i = 0; i < copies; i += 1) this.schedule(() => this.deliver(rule, event, 1), delayMs);
    }
  }

  putEvents(entries: PutEventsEntry[]): { FailedEntryCount: number; Entries: object[] } {
    const results = entries.map((entry) => {
      let detail: unknown;
      try {
        detail = JSON.parse(entry.Detail);
      } catch {
        detail = undefined;
      }
      if (!isObject(detail))
        return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is not a JSON object" };
      const event: EventEnvelope = {
        version: "0",
        id: randomUUID(),
        "detail-type": entry.DetailType,
        source: entry.Source,
        account: this.accountId,
        time: new Date(entry.Time ?? Date.now()).toISOString(),
        region: this.region,
        resources: entry.Resources ?? [],
        detail,
      };
      this.publish(event);
      return { EventId: event.id };
    });
    return { FailedEntryCount: results.filter((r) => "ErrorCode" in r).length, Entries: results };
  }

  /** Resolves once no delivery is pending, including those that deliveries caused. */
  idle(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve();
    return new Promise((resolve) => this.quiet.push(resolve));
  }

  close(): void {
    for (const timer of this.timers) clearTimeout(timer);
    this.timers.clear();
    this.inFlight = 0;
    this.quiet.splice(0).forEach((resolve) => resolve());
  }

  private schedule(task: () => Promise<void>, delayMs: number): void {
    this.inFlight += 1;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void task().finally(() => {
        this.inFlight -= 1;
        if (this.inFlight === 0) this.quiet.splice(0).forEach((resolve) => resolve());
      });
    }, delayMs);
    this.timers.add(timer);
  }

  private async deliver(rule: Rule, event: EventEnvelope, attempt: number): Promise<void> {
    try {
      await rule.target(event);
    } catch (error) {
      if (attempt < this.maxAttempts) {
        this.schedule(() => this.deliver(rule, event, attempt + 1), this.retryDelayMs * attempt);
        return;
      }
      this.deliveryFailures.push({
        rule: rule.name,
        eventId: event.id,
        error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      });
    }
  }
}
