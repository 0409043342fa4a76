/**
 * `release-machine freeze add|list|remove` (issue 20, items 3-4): the freeze routes
 * (`POST /freezes`, `GET /freezes`, `DELETE /freezes/{name}`). The API checks every field (the
 * freeze function, handlers/freezes.ts); the CLI only shapes the request and prints the answer.
 */
import { type ApiTarget, ApiError, call } from "./api";
import { EXIT } from "./exit-codes";
import { formatTimestamp } from "./render";
import type { Output } from "./watch";

type Values = Record<string, string | boolean | undefined>;

/** A freeze as `GET /freezes` answers it. */
interface ListedFreeze {
  name: string;
  pipelines: string[];
  reason: string;
  createdBy: string;
  start?: string;
  end?: string;
  schedule?: { rrule: string; durationMinutes: number; timezone: string };
  active: boolean;
  until?: string | null;
}

const text = (values: Values, key: string) => values[key] as string | undefined;
const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

/** The `POST /freezes` body from the command line; `usage` reports a mistake in it. */
export function freezeBody(name: string, values: Values, usage: (message: string) => never): object {
  const pipelines = (text(values, "pipelines") ?? "")
    .split(",")
    .map((glob) => glob.trim())
    .filter(Boolean);
  if (pipelines.length === 0) usage("freeze add needs --pipelines GLOB[,GLOB…] ('*' for every pipeline)");
  const reason = text(values, "reason");
  if (!reason) usage("freeze add needs --reason TEXT: why the pipelines are frozen");
  const rrule = text(values, "rrule");
  const scheduled = ["duration", "timezone", "starts-on"].filter((key) => values[key] !== undefined);
  if (rrule === undefined && scheduled.length > 0) usage(`--${scheduled[0]} goes with --rrule`);
  let schedule: object | undefined;
  if (rrule !== undefined) {
    const duration = text(values, "duration");
    const timezone = text(values, "timezone");
    if (duration === undefined || !/^\d+$/.test(duration))
      usage("--rrule needs --duration MINUTES, a whole number");
    if (!timezone) usage("--rrule needs --timezone ZONE, an IANA zone such as Europe/Berlin");
    const startsOn = text(values, "starts-on");
    schedule = { rrule, durationMinutes: Number(duration), timezone, ...(startsOn ? { startsOn } : {}) };
  }
  const start = text(values, "start");
  const end = text(values, "end");
  return {
    name,
    pipelines,
    reason,
    ...(start ? { start } : {}),
    ...(end ? { end } : {}),
    ...(schedule ? { schedule } : {}),
  };
}

/** One freeze request; the body for `expected`, ApiError for any other answer. */
async function request<T>(
  target: ApiTarget,
  method: "GET" | "POST" | "DELETE",
  route: string,
  expected: number,
  body?: object,
): Promise<T> {
  const answer = await call(target, method, route, body === undefined ? undefined : JSON.stringify(body));
  if (answer.status !== expected) {
    const errorBody =
      typeof answer.body === "object" && answer.body !== null
        ? answer.body
        : { message: String(answer.body) };
    throw new ApiError(answer.status, errorBody as ConstructorParameters<typeof ApiError>[1]);
  }
  return answer.body as T;
}

function window(freeze: ListedFreeze): string {
  if (freeze.schedule) {
    const { rrule, durationMinutes, timezone } = freeze.schedule;
    return `${rrule} for ${durationMinutes} min (${timezone})`;
  }
  return `${freeze.start ? formatTimestamp(freeze.start) : "from creation"} → ${freeze.end ? formatTimestamp(freeze.end) : "until removed"}`;
}

/** `freeze add NAME`, `freeze list`, `freeze remove NAME`. */
export async function freezeCommand(
  positionals: string[],
  values: Values,
  target: () => Promise<ApiTarget>,
  stdout: Output,
  usage: (message: string) => never,
): Promise<number> {
  const [action, name, ...extra] = positionals;
  if (extra.length > 0) usage(`freeze ${action} takes one NAME; got ${positionals.length - 1} arguments`);
  if (action === "list") {
    if (name !== undefined) usage("freeze list takes no NAME");
    const { freezes } = await request<{ freezes: ListedFreeze[] }>(await target(), "GET", "/freezes", 200);
    if (values.json) stdout.write(json({ freezes }));
    else if (freezes.length === 0) stdout.write("No freezes.\n");
    else {
      const lines = freezes.map((f) => {
        const state = f.active ? `ACTIVE until ${f.until ? formatTimestamp(f.until) : "removed"}` : "waiting";
        return `${f.name}  [${f.pipelines.join(", ")}]  ${window(f)}  ${state}  by ${f.createdBy}: ${f.reason}`;
      });
      stdout.write(`${lines.join("\n")}\n`);
    }
    return EXIT.ok;
  }
  if (action !== "add" && action !== "remove" && action !== "override")
    usage("freeze needs add, list, remove or override");
  if (name === undefined) usage(`freeze ${action} needs a NAME`);
  if (action === "remove") {
    const answer = await request<object>(
      await target(),
      "DELETE",
      `/freezes/${encodeURIComponent(name)}`,
      200,
    );
    stdout.write(values.json ? json(answer) : `Freeze ${name} removed: the releases it held start again.\n`);
    return EXIT.ok;
  }
  if (action === "override") return overrideCommand(name, values, target, stdout, usage);
  const body = freezeBody(name, values, usage);
  const answer = await request<{ warnings: string[] }>(await target(), "POST", "/freezes", 201, body);
  if (values.json) stdout.write(json(answer));
  else
    stdout.write([`Freeze ${name} added.`, ...answer.warnings.map((w) => `  warning: ${w}`), ""].join("\n"));
  return EXIT.ok;
}

/** `freeze override RELEASE_ID --reason TEXT`: `POST /releases/{releaseId}/override-freeze`. */
async function overrideCommand(
  releaseId: string,
  values: Values,
  target: () => Promise<ApiTarget>,
  stdout: Output,
  usage: (message: string) => never,
): Promise<number> {
  const reason = text(values, "reason");
  if (!reason) usage("freeze override needs --reason TEXT: why this release may start while frozen");
  const route = `/releases/${encodeURIComponent(releaseId)}/override-freeze`;
  const answer = await request<{ freezeOverride: { freezes: string[]; pipelines: string[] } }>(
    await target(),
    "POST",
    route,
    202,
    { reason },
  );
  const { freezes, pipelines } = answer.freezeOverride;
  stdout.write(
    values.json
      ? json(answer)
      : `Release ${releaseId}: ${freezes.join(", ")} overridden; ${pipelines.join(", ")} start on the reconciler's next pass.\n`,
  );
  return EXIT.ok;
}
