/**
 * The in-process EventBridge stand-in: matches events against the same patterns the Pulumi program
 * declares (contract/event-patterns.ts) and delivers them asynchronously, at least once, with bounded
 * retries, as EventBridge does; a fault-injection hook can drop, duplicate or delay deliveries.
 * No maintained npm package evaluates EventBridge patterns, so `compilePattern` does (a library could
 * replace it). It validates the whole pattern first: one we cannot evaluate throws, never guesses.
 */
import type { EventBridgeEvent } from "aws-lambda";
import { randomUUID } from "node:crypto";
import type { PutEventsRequestEntry, PutEventsResultEntry } from "@aws-sdk/client-eventbridge";
import { isRecord } from "../contract/json";

export type EventPattern = { [field: string]: EventPattern | EventPattern[] | Matcher[] };
export type Matcher = string | number | boolean | null | { [operator: string]: unknown };

/** An event as EventBridge delivers it (the envelope type of @types/aws-lambda). */
export type EventEnvelope = EventBridgeEvent<string, Record<string, unknown>>;

/** A pattern EventBridge would reject, or one using a matcher this stand-in does not implement. */
export class EventPatternError extends Error {
  override readonly name = "EventPatternError";
}

type Leaf = string | number | boolean | null;
type Test = (value: unknown) => boolean;
const isLeaf = (v: unknown): v is Leaf => v === null || ["string", "number", "boolean"].includes(typeof v);
const [lower, show] = [(s: string) => s.toLowerCase(), (value: unknown) => JSON.stringify(value)];
function invalid(where: string, why: string): never {
  throw new EventPatternError(`${where}: ${why}`);
}

/** Values at one path: arrays are transparent; objects are not leaves, so `exists` ignores them. */
const leavesOf = (v: unknown): Leaf[] => (Array.isArray(v) ? v.flatMap(leavesOf) : isLeaf(v) ? [v] : []);
const objectsOf = (value: unknown): Record<string, unknown>[] =>
  Array.isArray(value) ? value.flatMap(objectsOf) : isRecord(value) ? [value] : [];

function strings(operand: unknown, where: string, listAllowed = false): string[] {
  const list: unknown[] = listAllowed && Array.isArray(operand) ? operand : [operand];
  if (!list.length || list.some((s) => typeof s !== "string")) invalid(where, `bad operand ${show(operand)}`);
  return list as string[];
}

/** `*` is any run of characters; `\*` and `\\` are literal; `**` and other escapes are invalid. */
function wildcard(pattern: string, where: string): RegExp {
  if (/\*\*|\\/.test(pattern.replace(/\\[*\\]/g, "_"))) invalid(where, "has ** or a bad \\ escape");
  const escape = (t: string) => (t === "*" ? ".*" : t.length === 2 ? t : `\\${t}`);
  return new RegExp(`^${pattern.replace(/\\[*\\]|[*.+?^${}()|[\]]/g, escape)}$`, "s");
}

/** Each operator as the signs of (value - bound) it accepts. */
const NUMERIC: Record<string, number[]> = { "=": [0], "<": [-1], "<=": [-1, 0], ">": [1], ">=": [0, 1] };
function numeric(operand: unknown, where: string): Test {
  const list: unknown[] = Array.isArray(operand) ? operand : [];
  const pairs = Array.from({ length: Math.ceil(list.length / 2) }, (_, i) => list.slice(2 * i, 2 * i + 2));
  const ok = pairs.every(([op, n]) => Object.hasOwn(NUMERIC, String(op)) && Number.isFinite(n));
  if (!ok || pairs.length === 0 || pairs.length > 2) invalid(where, `bad comparisons ${show(operand)}`);
  const checks = pairs as [string, number][]; // Numbers only: never numeric strings, as EventBridge.
  return (v) => typeof v === "number" && checks.every(([op, n]) => NUMERIC[op].includes(Math.sign(v - n)));
}

/** prefix / suffix, with a string or `{ "equals-ignore-case": string }` operand. */
function affix(operand: unknown, where: string, test: (value: string, affix: string) => boolean): Test {
  if (isRecord(operand) && Object.keys(operand).join() === "equals-ignore-case") {
    const [s] = strings(operand["equals-ignore-case"], where);
    return (v) => typeof v === "string" && test(lower(v), lower(s));
  }
  const [s] = strings(operand, where);
  return (v) => typeof v === "string" && test(v, s);
}

const NEGATABLE = ["prefix", "suffix", "equals-ignore-case", "wildcard"];
/** A string or number, a list only of strings or only of numbers, or a NEGATABLE matcher. */
function anythingBut(operand: unknown, where: string): Test {
  const list: unknown[] = Array.isArray(operand) ? operand : [operand];
  const uniform = ["string", "number"].some((type) => list.every((e) => typeof e === type));
  const excluded =
    isRecord(operand) && NEGATABLE.includes(Object.keys(operand).join())
      ? leafTest(operand, where, true)
      : list.length > 0 && uniform
        ? (v: unknown) => list.includes(v)
        : invalid(where, `bad operand ${show(operand)}`);
  return (v) => !excluded(v);
}

/** One matcher against one leaf value (`exists` is the field's: it looks at absence). */
function leafTest(matcher: unknown, where: string, listAllowed = false): Test {
  if (isLeaf(matcher)) return (v) => v === matcher;
  if (!isRecord(matcher) || Object.keys(matcher).length !== 1) invalid(where, `bad matcher ${show(matcher)}`);
  const [[op, operand]] = Object.entries(matcher);
  const at = `${where} ${op}`;
  switch (op) {
    case "prefix":
      return affix(operand, at, (v, s) => v.startsWith(s));
    case "suffix":
      return affix(operand, at, (v, s) => v.endsWith(s));
    case "equals-ignore-case": {
      const targets = strings(operand, at, listAllowed).map(lower);
      return (v) => typeof v === "string" && targets.includes(lower(v));
    }
    case "wildcard": {
      const regexps = strings(operand, at, listAllowed).map((s) => wildcard(s, at));
      return (v) => typeof v === "string" && regexps.some((r) => r.test(v));
    }
    case "numeric":
      return numeric(operand, at);
    case "anything-but":
      return anythingBut(operand, at);
    case "exists": // valid only as a field's matcher, with a boolean (see fieldTest)
      return invalid(at, `needs true or false, got ${show(operand)}`);
    default:
      return invalid(where, `unsupported EventBridge pattern matcher ${show(matcher)}`);
  }
}

/** A field's matchers: any may match (OR); over an array value, any element may. */
function fieldTest(matchers: unknown[], where: string): Test {
  if (matchers.length === 0) invalid(where, "an empty matcher list is not allowed");
  const tests = matchers.map((m): ((leaves: Leaf[]) => boolean) => {
    const exists = ['{"exists":false}', '{"exists":true}'].indexOf(show(m));
    if (exists >= 0) return (leaves) => leaves.length > 0 === (exists === 1);
    const test = leafTest(m, where);
    return (leaves) => leaves.some(test);
  });
  return (value) => tests.some((test) => test(leavesOf(value)));
}

function objectTest(pattern: unknown, where: string): Test {
  if (!isRecord(pattern) || Object.keys(pattern).length === 0) invalid(where, "must be a non-empty object");
  const tests = Object.entries(pattern).map(([key, expected]): Test => {
    const path = where === "pattern" ? key : `${where}.${key}`;
    if (key === "$or") {
      if (!Array.isArray(expected) || expected.length < 2) invalid(path, "needs at least two patterns");
      const alternatives = expected.map((alt, i) => objectTest(alt, `${path}[${i}]`));
      return (node) => alternatives.some((alt) => alt(node));
    }
    const child = (node: unknown) => (isRecord(node) ? node[key] : undefined);
    if (Array.isArray(expected)) {
      const test = fieldTest(expected, path);
      return (node) => test(child(node));
    }
    const nested = objectTest(expected, path);
    // Over an array of objects, one element must match the whole nested pattern.
    return (node) => {
      const objects = objectsOf(child(node));
      return objects.length === 0 ? nested(undefined) : objects.some(nested);
    };
  });
  return (node) => tests.every((test) => test(node));
}

/** Validates the whole pattern once and returns its predicate; throws EventPatternError. */
export function compilePattern(pattern: EventPattern): (event: unknown) => boolean {
  return objectTest(pattern, "pattern");
}
/** True when `event` satisfies `pattern` (EventBridge content filtering); throws EventPatternError. */
export function matchesPattern(pattern: EventPattern, event: unknown): boolean {
  return compilePattern(pattern)(event);
}

export interface EventRule {
  name: string;
  eventBusName?: string /* name or ARN; "default" when unset */;
  pattern: EventPattern;
  target: (event: EventEnvelope) => Promise<unknown> | unknown;
}

/** What the fault-injection hook decides for one delivery of one event to one rule. */
export type Interception = "deliver" | "drop" | "duplicate" | { delayMs: number };
export type DeliveryFailure = { rule: string; eventId: string; error: string /* "Name: message" */ };
export type PutEventsEntry = Omit<PutEventsRequestEntry, "Time"> & { Time?: Date | string };
export interface EventRouterOptions {
  region?: string;
  accountId?: string;
  maxAttempts?: number /* per delivery, the first included; default 3 */;
  retryDelayMs?: number /* before the first retry, doubled for each further one; default 10 */;
  /**
   * Deliveries running at once; the rest wait their turn, in order (a retry waits anew). Default:
   * unbounded. Bounding them delays events, which AWS allows (delivery is asynchronous): never kinder.
   */
  maxConcurrentDeliveries?: number;
}

/**
 * The local release machine's bound on deliveries at once. Every function runs in one process
 * there, so hundreds of asynchronous invocations at once (a cancel's stop pass, a burst of
 * pipeline events) would queue a control call's few requests behind all of theirs; on AWS each
 * runs in its own sandbox. Four at a time keep the machine busy and the answers prompt
 * (`bench/control-latency.ts`).
 */
export const LOCAL_DELIVERY_CONCURRENCY = 4;

/** `arn:aws:events:…:event-bus/NAME` and `NAME` name the same bus. */
const busName = (nameOrArn = "default") => nameOrArn.replace(/^arn:[^:]+:events:[^:]*:[^:]*:event-bus\//, "");

export class EventRouter {
  /** Every envelope published, matched or not, in order. */
  readonly published: EventEnvelope[] = [];
  /** Deliveries still throwing after the last attempt (EventBridge would dead-letter them). */
  readonly deliveryFailures: DeliveryFailure[] = [];
  intercept?: (event: EventEnvelope, ruleName: string) => Interception;
  /** Wraps each delivery to its target (tests: what one invocation did). */
  aroundDelivery?: (
    event: EventEnvelope,
    ruleName: string,
    deliver: () => Promise<unknown>,
  ) => Promise<unknown>;
  private readonly rules: { rule: EventRule; bus: string; matches: Test }[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  private readonly quiet: (() => void)[] = [];
  private inFlight = 0;
  private running = 0;
  private readonly waiting: (() => void)[] = [];
  private closed = false;
  private readonly options: Required<EventRouterOptions>;
  constructor(options: EventRouterOptions = {}) {
    const { region = "us-east-1", accountId = "000000000000", maxAttempts = 3, retryDelayMs = 10 } = options;
    const maxConcurrentDeliveries = options.maxConcurrentDeliveries ?? Infinity;
    this.options = { region, accountId, maxAttempts, retryDelayMs, maxConcurrentDeliveries };
  }

  /** Compiles the pattern now, so one we cannot evaluate fails at startup. Like PutRule, the
   *  same name on the same bus replaces the rule. */
  addRule(rule: EventRule): void {
    const [bus, matches] = [busName(rule.eventBusName), compilePattern(rule.pattern)];
    const index = this.rules.findIndex((r) => r.rule.name === rule.name && r.bus === bus);
    this.rules.splice(index < 0 ? this.rules.length : index, 1, { rule, bus, matches });
  }

  /** Routes one event; deliveries start on a later tick, never inside this call. */
  publish(event: EventEnvelope, eventBusName?: string): void {
    this.published.push(event);
    const bus = busName(eventBusName);
    for (const { rule } of this.rules.filter((r) => r.bus === bus && r.matches(event))) {
      const decision = this.intercept?.(event, rule.name) ?? "deliver";
      if (decision === "drop") continue;
      const delayMs = typeof decision === "object" ? decision.delayMs : 0;
      for (let copy = decision === "duplicate" ? 2 : 1; copy > 0; copy -= 1) {
        // Each delivery gets its own JSON copy, as over the wire: no target can alter another's.
        const delivered = JSON.parse(JSON.stringify(event)) as EventEnvelope;
        this.schedule(() => this.deliver(rule, delivered, 1), delayMs);
      }
    }
  }

  /** PutEvents: wraps each entry in the EventBridge envelope and publishes it. */
  putEvents(entries: PutEventsEntry[]): { FailedEntryCount: number; Entries: PutEventsResultEntry[] } {
    const results = entries.map((entry): PutEventsResultEntry => {
      const time = new Date(entry.Time ?? Date.now());
      if (!entry.Source || !entry.DetailType || Number.isNaN(time.getTime()))
        return { ErrorCode: "InvalidArgument", ErrorMessage: "Source, DetailType or Time is not valid." };
      let detail: unknown;
      try {
        detail = JSON.parse(entry.Detail ?? "");
      } catch {
        // Not JSON: reported below like any other non-object Detail.
      }
      if (!isRecord(detail)) return { ErrorCode: "MalformedDetail", ErrorMessage: "Detail is malformed." };
      const [{ accountId: account, region }, id] = [this.options, randomUUID()];
      const event = { version: "0", id, "detail-type": entry.DetailType, source: entry.Source, account };
      const rest = { time: time.toISOString(), region, resources: entry.Resources ?? [], detail };
      this.publish({ ...event, ...rest }, entry.EventBusName);
      return { EventId: id };
    });
    return { FailedEntryCount: results.filter((r) => r.ErrorCode).length, Entries: results };
  }

  /** Resolves once no delivery is pending or running, including those that deliveries caused. */
  async idle(): Promise<void> {
    for (;;) {
      while (this.inFlight > 0) await new Promise<void>((resolve) => this.quiet.push(resolve));
      // A finished delivery may publish from a later continuation: look again after one turn.
      await new Promise((resolve) => setImmediate(resolve));
      if (this.inFlight === 0) return;
    }
  }

  /** Cancels delayed deliveries and retries; later publishes are recorded but not delivered. */
  close(): void {
    this.closed = true;
    for (const timer of this.timers) clearTimeout(timer);
    this.settle(this.timers.size);
    this.timers.clear();
  }

  private schedule(task: () => Promise<void>, delayMs: number): void {
    if (this.closed) return;
    this.inFlight += 1;
    const timer = setTimeout(() => {
      this.timers.delete(timer);
      void this.inTurn(task).finally(() => this.settle(1));
    }, delayMs);
    this.timers.add(timer);
  }

  /** Runs `task` once fewer than maxConcurrentDeliveries run, in the order they asked. */
  private async inTurn(task: () => Promise<void>): Promise<void> {
    if (this.running >= this.options.maxConcurrentDeliveries)
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    this.running += 1;
    try {
      await task();
    } finally {
      this.running -= 1;
      this.waiting.shift()?.();
    }
  }

  private settle(count: number): void {
    this.inFlight -= count;
    if (this.inFlight === 0) this.quiet.splice(0).forEach((resolve) => resolve());
  }

  private async deliver(rule: EventRule, event: EventEnvelope, attempt: number): Promise<void> {
    try {
      const deliver = async () => rule.target(event);
      await (this.aroundDelivery ? this.aroundDelivery(event, rule.name, deliver) : deliver());
    } catch (error) {
      const { maxAttempts, retryDelayMs } = this.options;
      if (attempt < maxAttempts) {
        // Scheduled before this attempt settles, so idle() never sees a gap between attempts.
        this.schedule(() => this.deliver(rule, event, attempt + 1), retryDelayMs * 2 ** (attempt - 1));
        return;
      }
      this.deliveryFailures.push({ rule: rule.name, eventId: event.id, error: String(error) });
    }
  }
}
