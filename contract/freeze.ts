/**
 * Freeze windows (issue 20, items 3-4): what a freeze is, where it is stored and how a request for
 * one is checked. One source for the freeze function (handlers/freezes.ts), local mode and the CLI.
 *
 * Every freeze of a stack lives in ONE item of the Releases table, `releaseId = FREEZES_KEY`, a map
 * `freezes` from name to record: `GET /freezes` and the scheduler's check read it with one GetItem,
 * an add (`attribute_not_exists(freezes.#name)`) and a delete (`attribute_exists(freezes.#name)`)
 * are single conditional writes, and no new table, index or grant is needed. The key holds a `:`,
 * which no releaseId may (contract/manifest-schema.ts, RELEASE_ID_PATTERN), and carries no
 * `listed` or `statusShard`, so it is never listed as a release. MAX_FREEZES keeps the item far
 * below DynamoDB's 400 KB item limit (docs/aws-facts.md, "DynamoDB";
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ServiceQuotas.html).
 */
import { type FreezeSchedule, activeSchedule, scheduleProblems } from "./freeze-schedule";

/** The Releases table key of the item holding every freeze. */
export const FREEZES_KEY = "freezes:windows";
/** The most freezes a stack holds at once (each record is at most ~3 KB: 100 stay under 400 KB). */
export const MAX_FREEZES = 100;
/** A freeze's name: it is a path segment of `DELETE /freezes/{name}` and a DynamoDB map key. */
export const FREEZE_NAME_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;
/** A pipeline glob: CodePipeline's name alphabet plus `*` (any run) and `?` (one character). */
export const PIPELINE_GLOB_PATTERN = /^[A-Za-z0-9.@_*?-]{1,100}$/;
export const MAX_REASON_LENGTH = 1000;
export const MAX_GLOBS = 50;

/** A stored freeze: a fixed window (start?, end?; no end = until removed) or a recurring one (schedule). */
export interface FreezeRecord {
  name: string;
  /** Globs over pipeline names; `*` covers every pipeline. */
  pipelines: string[];
  /** ISO 8601 instants; a fixed window without `start` holds from its creation. */
  start?: string;
  end?: string;
  schedule?: FreezeSchedule;
  reason: string;
  createdBy: string;
  createdAt: string;
}

/** What a request names wrong: the field as a JSON Pointer, the rule, in words. */
export interface FreezeProblem {
  path: string;
  rule: string;
  message: string;
}

export type FreezeRequestResult =
  | { freeze: Omit<FreezeRecord, "createdBy" | "createdAt">; problems?: undefined }
  | { problems: FreezeProblem[]; freeze?: undefined };

const FIELDS = ["name", "pipelines", "start", "end", "schedule", "reason"];

/** Whether `glob` covers `pipeline` (`*` any run of characters, `?` one). */
export function globMatches(glob: string, pipeline: string): boolean {
  const pattern = glob
    .replace(/[.+^${}()|[\]\\@-]/g, "\\$&")
    .replace(/\*/g, ".*")
    .replace(/\?/g, ".");
  return new RegExp(`^${pattern}$`).test(pipeline);
}

/** The globs of `pipelines` that match none of `allowed` (the stack's allow-list), for a warning. */
export function unmatchedGlobs(pipelines: readonly string[], allowed: readonly string[]): string[] {
  return pipelines.filter((glob) => !allowed.some((name) => globMatches(glob, name)));
}

function isoInstant(value: unknown, path: string, problems: FreezeProblem[]): string | undefined {
  if (value === undefined) return undefined;
  const text = typeof value === "string" ? value : "";
  const ms = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:\d{2})$/.test(text)
    ? Date.parse(text)
    : Number.NaN;
  if (Number.isNaN(ms)) {
    const message = `${path.slice(1)} must be an ISO 8601 date-time with a zone, e.g. 2026-12-24T00:00:00Z`;
    problems.push({ path, rule: "format", message });
    return undefined;
  }
  return new Date(ms).toISOString();
}

function checkName(body: Record<string, unknown>, problems: FreezeProblem[]): string {
  const { name } = body;
  if (typeof name !== "string" || !FREEZE_NAME_PATTERN.test(name)) {
    const message =
      "name is required: 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit";
    problems.push({ path: "/name", rule: "pattern", message });
    return "";
  }
  return name;
}

function checkGlobs(body: Record<string, unknown>, problems: FreezeProblem[]): string[] {
  const { pipelines } = body;
  if (!Array.isArray(pipelines) || pipelines.length === 0 || pipelines.length > MAX_GLOBS) {
    const message = `pipelines is required: a list of 1-${MAX_GLOBS} pipeline names or globs ('*' covers all)`;
    problems.push({ path: "/pipelines", rule: "minItems", message });
    return [];
  }
  pipelines.forEach((glob, i) => {
    if (typeof glob !== "string" || !PIPELINE_GLOB_PATTERN.test(glob)) {
      const message = `pipelines[${i}] must be a pipeline name or glob: 1-100 of A-Z a-z 0-9 . @ _ - * ?`;
      problems.push({ path: `/pipelines/${i}`, rule: "pattern", message });
    }
  });
  return [...new Set(pipelines as string[])];
}

function checkReason(body: Record<string, unknown>, problems: FreezeProblem[]): string {
  const { reason } = body;
  if (typeof reason !== "string" || reason.trim() === "" || reason.length > MAX_REASON_LENGTH) {
    const message = `reason is required: 1-${MAX_REASON_LENGTH} characters saying why`;
    problems.push({ path: "/reason", rule: "required", message });
    return "";
  }
  return reason;
}

/** Checks a `POST /freezes` body at `now`: the freeze, or every problem (field, rule). */
export function parseFreezeRequest(body: unknown, now: Date): FreezeRequestResult {
  if (typeof body !== "object" || body === null || Array.isArray(body)) {
    return { problems: [{ path: "", rule: "type", message: "the body must be a JSON object" }] };
  }
  const fields = body as Record<string, unknown>;
  const problems: FreezeProblem[] = Object.keys(fields)
    .filter((key) => !FIELDS.includes(key))
    .map((key) => ({
      path: `/${key}`,
      rule: "additionalProperties",
      message: `${key} is not a freeze field (${FIELDS.join(", ")})`,
    }));
  const name = checkName(fields, problems);
  const pipelines = checkGlobs(fields, problems);
  const reason = checkReason(fields, problems);
  const start = isoInstant(fields.start, "/start", problems);
  const end = isoInstant(fields.end, "/end", problems);
  if (start !== undefined && end !== undefined && Date.parse(end) <= Date.parse(start)) {
    problems.push({
      path: "/end",
      rule: "afterStart",
      message: `end (${end}) must be after start (${start})`,
    });
  }
  if (end !== undefined && Date.parse(end) <= now.getTime()) {
    problems.push({
      path: "/end",
      rule: "future",
      message: `end (${end}) has passed: the window would hold nothing`,
    });
  }
  let schedule: FreezeSchedule | undefined;
  if (fields.schedule !== undefined) {
    if (start !== undefined || end !== undefined) {
      const message =
        "a freeze is either a fixed window (start, end) or a recurring one (schedule), not both";
      problems.push({ path: "/schedule", rule: "oneOf", message });
    }
    const checked = scheduleProblems(fields.schedule, now);
    problems.push(...checked.problems);
    schedule = checked.schedule;
  }
  if (problems.length > 0) return { problems };
  return {
    freeze: {
      name,
      pipelines,
      reason,
      ...(start !== undefined ? { start } : {}),
      ...(end !== undefined ? { end } : {}),
      ...(schedule ? { schedule } : {}),
    },
  };
}

/** When freeze `freeze` holds at instant `at`: its end (ms), `null` for no end, undefined when it does not. */
export function activeUntil(freeze: FreezeRecord, at: number): number | null | undefined {
  if (freeze.schedule) return activeSchedule(freeze.schedule, at);
  const start = Date.parse(freeze.start ?? freeze.createdAt);
  const end = freeze.end === undefined ? null : Date.parse(freeze.end);
  return start <= at && (end === null || at < end) ? end : undefined;
}

/** What holds a pipeline at `at`: every freeze covering it, and the latest end (`null`: none). */
export interface FreezeHold {
  frozenBy: string[];
  /** ISO 8601; null while any covering freeze has no end. */
  until: string | null;
}

/** The freezes holding `pipeline` at `at` (overlapping ones all apply; the later end holds). */
export function freezeHold(
  freezes: readonly FreezeRecord[],
  pipeline: string,
  at: number,
): FreezeHold | undefined {
  const holding = freezes
    .filter((freeze) => freeze.pipelines.some((glob) => globMatches(glob, pipeline)))
    .map((freeze) => ({ name: freeze.name, until: activeUntil(freeze, at) }))
    .filter((hold): hold is { name: string; until: number | null } => hold.until !== undefined);
  if (holding.length === 0) return undefined;
  const ends = holding.map((hold) => hold.until);
  const until = ends.includes(null) ? null : Math.max(...(ends as number[]));
  return {
    frozenBy: holding.map((hold) => hold.name).sort(),
    until: until === null ? null : new Date(until).toISOString(),
  };
}
