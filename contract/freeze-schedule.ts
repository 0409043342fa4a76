/**
 * Recurring freeze windows: an RFC 5545 RRULE (https://www.rfc-editor.org/rfc/rfc5545#section-3.3.10)
 * read in a named IANA time zone, each occurrence holding `durationMinutes` of real time.
 *
 * The `rrule` package (BSD-3-Clause) expands the rule in *floating* time: its Dates carry the
 * zone's wall-clock fields in their UTC fields, so a rule's BYHOUR=9 is 09:00 on the zone's clocks
 * on either side of a daylight-saving change (the package's own advice for local-time rules,
 * https://github.com/jkbrzt/rrule#timezone-support). Each wall-clock occurrence becomes an instant
 * through the runtime's IANA database (Intl, full ICU in Node.js); a wall-clock time that a
 * spring-forward skips lands one offset later, a time that a fall-back repeats takes its first
 * instant.
 */
import { RRule } from "rrule";

export interface FreezeSchedule {
  /** The RRULE's value, e.g. `FREQ=WEEKLY;BYDAY=FR;BYHOUR=16;BYMINUTE=0` (no DTSTART). */
  rrule: string;
  durationMinutes: number;
  /** An IANA time zone, e.g. `Europe/Berlin`. */
  timezone: string;
  /** The local date the series counts from (DTSTART at 00:00 local); the creation day by default. */
  startsOn?: string;
}

interface Problem {
  path: string;
  rule: string;
  message: string;
}

/** The longest single occurrence: a week. */
export const MAX_DURATION_MINUTES = 7 * 24 * 60;

/** Whether `zone` names an IANA time zone the runtime knows. */
export function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: zone });
    return zone.length > 0;
  } catch {
    return false;
  }
}

/** The zone's offset from UTC, in ms, at instant `ms`. */
function offsetAt(zone: string, ms: number): number {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone,
    hourCycle: "h23",
    ...{
      year: "numeric",
      month: "numeric",
      day: "numeric",
      hour: "numeric",
      minute: "numeric",
      second: "numeric",
    },
  }).formatToParts(new Date(ms));
  const field = (type: string) => Number(parts.find((p) => p.type === type)?.value ?? 0);
  const wall = Date.UTC(
    field("year"),
    field("month") - 1,
    field("day"),
    field("hour"),
    field("minute"),
    field("second"),
  );
  return wall - Math.floor(ms / 1000) * 1000;
}

/** The wall-clock time of instant `ms` in `zone`, as a floating Date. */
export function wallClockOf(zone: string, ms: number): Date {
  return new Date(ms + offsetAt(zone, ms));
}

/** The instant of floating wall-clock time `wall` in `zone`. */
export function instantOf(zone: string, wall: Date): number {
  const guess = wall.getTime();
  const first = guess - offsetAt(zone, guess);
  const second = guess - offsetAt(zone, first);
  return offsetAt(zone, second) === offsetAt(zone, first) ? Math.min(first, second) : second;
}

const RRULE_RANGES: [key: "byhour" | "byminute" | "bysecond", max: number][] = [
  ["byhour", 23],
  ["byminute", 59],
  ["bysecond", 59],
];

/** The rule over its series' floating DTSTART, or the problem with its text. */
function ruleOf(schedule: FreezeSchedule): RRule | string {
  const text = schedule.rrule.replace(/^RRULE:/i, "");
  if (/DTSTART|TZID|\n/i.test(text)) return "give the RRULE's value only (FREQ=…); the zone is `timezone`";
  let options: ReturnType<typeof RRule.parseString>;
  try {
    options = RRule.parseString(text);
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
  if (options.freq === undefined) return "FREQ is required";
  for (const [key, max] of RRULE_RANGES) {
    const values = options[key];
    const list = values === null || values === undefined ? [] : Array.isArray(values) ? values : [values];
    if (list.some((v) => v < 0 || v > max)) return `${key.toUpperCase()} must lie within 0-${max}`;
  }
  const startsOn = schedule.startsOn ?? "2000-01-01";
  return new RRule({ ...options, dtstart: new Date(`${startsOn}T00:00:00Z`) });
}

/** Checks a request's `schedule` at `now`: the normalised schedule, or every problem. */
export function scheduleProblems(
  value: unknown,
  now: Date,
): { schedule?: FreezeSchedule; problems: Problem[] } {
  const problems: Problem[] = [];
  const fields = typeof value === "object" && value !== null ? (value as Record<string, unknown>) : {};
  const { rrule, durationMinutes, timezone, startsOn } = fields;
  if (typeof timezone !== "string" || !isTimeZone(timezone)) {
    const message = `schedule.timezone must be an IANA time zone such as Europe/Berlin (got ${JSON.stringify(timezone)})`;
    problems.push({ path: "/schedule/timezone", rule: "timeZone", message });
  }
  if (
    !Number.isInteger(durationMinutes) ||
    (durationMinutes as number) < 1 ||
    (durationMinutes as number) > MAX_DURATION_MINUTES
  ) {
    const message = `schedule.durationMinutes must be a whole number of minutes, 1-${MAX_DURATION_MINUTES}`;
    problems.push({ path: "/schedule/durationMinutes", rule: "range", message });
  }
  if (
    startsOn !== undefined &&
    (typeof startsOn !== "string" ||
      !/^\d{4}-\d{2}-\d{2}$/.test(startsOn) ||
      Number.isNaN(Date.parse(startsOn)))
  ) {
    problems.push({
      path: "/schedule/startsOn",
      rule: "format",
      message: "schedule.startsOn must be a date, YYYY-MM-DD",
    });
  }
  if (typeof rrule !== "string" || rrule.trim() === "") {
    problems.push({
      path: "/schedule/rrule",
      rule: "required",
      message: "schedule.rrule is required, e.g. FREQ=WEEKLY;BYDAY=FR;BYHOUR=16",
    });
  }
  if (problems.length > 0) return { problems };
  const zone = timezone as string;
  const schedule: FreezeSchedule = {
    rrule: (rrule as string).replace(/^RRULE:/i, ""),
    durationMinutes: durationMinutes as number,
    timezone: zone,
    startsOn: (startsOn as string | undefined) ?? wallClockOf(zone, now.getTime()).toISOString().slice(0, 10),
  };
  const rule = ruleOf(schedule);
  if (typeof rule === "string") {
    return {
      problems: [
        {
          path: "/schedule/rrule",
          rule: "rrule",
          message: `schedule.rrule is not a valid RFC 5545 RRULE: ${rule}`,
        },
      ],
    };
  }
  if (
    activeSchedule(schedule, now.getTime()) === undefined &&
    rule.after(wallClockOf(zone, now.getTime()), true) === null
  ) {
    const message = `schedule.rrule never occurs after ${now.toISOString()}: the window would hold nothing`;
    return { problems: [{ path: "/schedule/rrule", rule: "neverOccurs", message }] };
  }
  return { schedule, problems };
}

/**
 * The end of the occurrence of `schedule` covering instant `at`, or undefined when none does. Of
 * overlapping occurrences the later end holds.
 */
export function activeSchedule(schedule: FreezeSchedule, at: number): number | undefined {
  const rule = ruleOf(schedule);
  if (typeof rule === "string") return undefined;
  const { timezone: zone, durationMinutes } = schedule;
  const span = durationMinutes * 60_000;
  // Occurrences whose wall-clock start lies within a duration (plus a day for offsets) before `at`.
  const from = wallClockOf(zone, at - span - 86_400_000);
  const to = wallClockOf(zone, at + 86_400_000);
  const ends = rule
    .between(from, to, true)
    .map((wall) => instantOf(zone, wall))
    .filter((start) => start <= at && at < start + span)
    .map((start) => start + span);
  return ends.length === 0 ? undefined : Math.max(...ends);
}
