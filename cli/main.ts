/**
 * `release-machine`: submit a release manifest and follow it. Parses the arguments, picks the API
 * (local by default, API Gateway with SigV4 for an https:// URL) and dispatches to the command.
 */
import { readFile } from "node:fs/promises";
import { type ParseArgsConfig, parseArgs } from "node:util";
import { InvalidManifest } from "../contract/errors";
import {
  type ApiTarget,
  ApiError,
  DEFAULT_API_URL,
  Unreachable,
  cancelRelease,
  decideApproval,
  getRelease,
  listReleases,
  needsSigning,
  regionFromApiUrl,
  retryRelease,
  submitRelease,
} from "./api";
import { EXIT } from "./exit-codes";
import { freezeCommand } from "./freeze";
import { HELP } from "./help";
import { exitCodeFor, formatTimestamp, renderApiError, renderStatus } from "./render";
import { type Output, watchRelease } from "./watch";

export interface Io {
  stdout: Output;
  stderr: Output;
  env: Record<string, string | undefined>;
  /** stdout is a terminal: `watch` redraws in place. */
  isTTY: boolean;
  columns?: () => number | undefined;
}

/** A mistake in the command line: exit 2 with a pointer to the help. */
class UsageError extends Error {}

type Values = Record<string, string | boolean | undefined>;

const COMMON_OPTIONS = {
  api: { type: "string" },
  region: { type: "string" },
  user: { type: "string" },
  json: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

const OPTIONS = {
  submit: {
    ...COMMON_OPTIONS,
    bucket: { type: "string" },
    key: { type: "string" },
    aws: { type: "boolean" },
  },
  status: COMMON_OPTIONS,
  watch: { ...COMMON_OPTIONS, interval: { type: "string" }, timeout: { type: "string" } },
  cancel: { ...COMMON_OPTIONS, reason: { type: "string" }, force: { type: "boolean" } },
  retry: COMMON_OPTIONS,
  approve: { ...COMMON_OPTIONS, comment: { type: "string" } },
  reject: { ...COMMON_OPTIONS, comment: { type: "string" } },
  list: {
    ...COMMON_OPTIONS,
    status: { type: "string" },
    limit: { type: "string" },
    "next-token": { type: "string" },
  },
  dashboard: { ...COMMON_OPTIONS, port: { type: "string" }, "no-open": { type: "boolean" } },
  // Freezes (issue 20): add NAME, list, remove NAME (cli/freeze.ts).
  freeze: {
    ...COMMON_OPTIONS,
    pipelines: { type: "string" },
    reason: { type: "string" },
    start: { type: "string" },
    end: { type: "string" },
    rrule: { type: "string" },
    duration: { type: "string" },
    timezone: { type: "string" },
    "starts-on": { type: "string" },
  },
} as const;

type Command = keyof typeof OPTIONS;

/** `500`, `500ms`, `30s`, `2m` → milliseconds. */
export function parseDuration(text: string, option: string): number {
  const match = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(text.trim());
  if (!match)
    throw new UsageError(`--${option} must be a duration such as 500, 500ms, 30s or 2m; got "${text}"`);
  const value = Number(match[1]) * ({ ms: 1, s: 1000, m: 60_000 }[match[2] ?? "ms"] ?? 1);
  return Math.round(value);
}

async function apiTarget(values: Values, env: Io["env"]): Promise<ApiTarget> {
  const url = ((values.api as string | undefined) ?? env.RELEASE_MACHINE_URL ?? DEFAULT_API_URL).trim();
  try {
    new URL(url);
  } catch {
    throw new UsageError(`the API URL "${url}" is not a URL`);
  }
  const user = ((values.user as string | undefined) ?? env.RELEASE_MACHINE_USER)?.trim();
  if (!needsSigning(url)) return { url, ...(user ? { user } : {}) };
  if (values.user !== undefined) {
    throw new UsageError(
      "--user names the caller of the local API only; on AWS the caller is the IAM identity that signs",
    );
  }
  const region =
    (values.region as string | undefined) ??
    regionFromApiUrl(url) ??
    env.AWS_REGION ??
    env.AWS_DEFAULT_REGION;
  if (!region) throw new UsageError(`cannot tell the AWS region of ${url}; pass --region`);
  // Loaded only for AWS: the credential chain pulls in the SSO/STS clients.
  const { defaultProvider } = await import("@aws-sdk/credential-provider-node");
  return { url, signing: { region, credentials: defaultProvider() } };
}

function twoArguments(positionals: string[], what: string, command: Command): [string, string] {
  if (positionals.length !== 2)
    throw new UsageError(`${command} needs ${what}; got ${positionals.length} argument(s)`);
  return [positionals[0], positionals[1]];
}

function oneArgument(positionals: string[], what: string, command: Command): string {
  if (positionals.length !== 1) {
    throw new UsageError(
      positionals.length === 0
        ? `${command} needs ${what}`
        : `${command} takes one ${what}; got ${positionals.length}`,
    );
  }
  return positionals[0];
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

async function submit(file: string, values: Values, io: Io): Promise<number> {
  let text: string;
  try {
    text = await readFile(file, "utf8");
  } catch (error) {
    throw new UsageError(`cannot read ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`);
  }
  if (typeof values.bucket === "string") return upload(file, text, values.bucket, values, io);
  if (values.key !== undefined || values.aws) throw new UsageError("--key and --aws go with --bucket");

  const target = await apiTarget(values, io.env);
  const answer = await submitRelease(target, text);
  if (values.json) {
    io.stdout.write(json(answer));
    return EXIT.ok;
  }
  // The answer names the releaseId as the API read it (5.10 stays "5.10").
  const { releaseId } = answer;
  const api = values.api ? ` --api ${target.url}` : "";
  io.stdout.write(
    [
      `Release ${releaseId} submitted; its workflow started.`,
      `  execution  ${answer.executionArn}`,
      `Follow it:   npx release-machine watch ${releaseId}${api}`,
      "",
    ].join("\n"),
  );
  return EXIT.ok;
}

async function upload(file: string, text: string, bucket: string, values: Values, io: Io): Promise<number> {
  const { DEFAULT_S3_URL, manifestReleaseId, uploadManifest } = await import("./upload");
  const releaseId = manifestReleaseId(text);
  const key = (values.key as string | undefined) ?? `${releaseId}.json`;
  if (!key.endsWith(".json")) {
    throw new UsageError(`--key must end in .json: the bucket's rule starts releases only for *.json`);
  }
  const local = !values.aws;
  // A releaseId runs once; uploading it again would only fail the new run. Check where we can.
  if (local || values.api) {
    const existing = await apiTarget(values, io.env)
      .then((target) => getRelease(target, releaseId))
      .catch(() => undefined);
    if (existing) {
      throw new ApiError(409, {
        error: "DuplicateRelease",
        message: `release ${releaseId} was already submitted (${existing.status}); a releaseId runs once`,
        releaseId,
      });
    }
  }
  const endpoint = local ? (io.env.RELEASE_MACHINE_S3_URL ?? DEFAULT_S3_URL) : undefined;
  let uploaded;
  try {
    uploaded = await uploadManifest({
      bucket,
      key,
      text,
      ...(endpoint ? { endpoint } : {}),
      ...(typeof values.region === "string" ? { region: values.region } : {}),
    });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (endpoint && code === "ECONNREFUSED") {
      throw new Unreachable(
        `cannot reach the local S3 at ${endpoint} (ECONNREFUSED); is \`npm start\` running?`,
      );
    }
    throw error;
  }
  if (values.json) {
    io.stdout.write(json({ releaseId, ...uploaded }));
    return EXIT.ok;
  }
  io.stdout.write(
    [
      `Uploaded ${file} to ${uploaded.location}${endpoint ? ` (local S3 ${endpoint})` : ""}.`,
      `Release ${releaseId} starts when the bucket's upload event arrives. Follow it:`,
      `  npx release-machine watch ${releaseId}${values.api ? ` --api ${String(values.api)}` : ""}`,
      "",
    ].join("\n"),
  );
  return EXIT.ok;
}

async function status(releaseId: string, values: Values, io: Io): Promise<number> {
  const view = await getRelease(await apiTarget(values, io.env), releaseId);
  if (!view) {
    throw new ApiError(404, { error: "ReleaseNotFound", message: `no release has releaseId ${releaseId}` });
  }
  io.stdout.write(values.json ? json(view) : `${renderStatus(view, new Date()).join("\n")}\n`);
  return exitCodeFor(view);
}

async function watch(releaseId: string, values: Values, io: Io): Promise<number> {
  const intervalMs = parseDuration((values.interval as string | undefined) ?? "1000", "interval");
  const timeoutMs = parseDuration((values.timeout as string | undefined) ?? "30s", "timeout");
  if (intervalMs < 10) throw new UsageError("--interval must be at least 10 ms");
  const target = await apiTarget(values, io.env);
  return watchRelease(
    target,
    releaseId,
    {
      intervalMs,
      timeoutMs,
      json: Boolean(values.json),
      tty: io.isTTY,
      ...(io.columns ? { columns: io.columns } : {}),
    },
    io.stdout,
    io.stderr,
  );
}

async function cancel(releaseId: string, values: Values, io: Io): Promise<number> {
  const reason = values.reason as string | undefined;
  const force = values.force === true;
  const answer = await cancelRelease(await apiTarget(values, io.env), releaseId, reason, force);
  io.stdout.write(
    values.json
      ? json(answer)
      : [
          `Release ${releaseId} is ${answer.status} (by ${answer.cancelledBy}): nothing more starts, running pipelines are being ${force ? "abandoned" : "stopped"}.`,
          `Follow it:   npx release-machine watch ${releaseId}`,
          "",
        ].join("\n"),
  );
  return EXIT.ok;
}

async function retry(releaseId: string, values: Values, io: Io): Promise<number> {
  const answer = await retryRelease(await apiTarget(values, io.env), releaseId);
  io.stdout.write(
    values.json
      ? json(answer)
      : [
          `Release ${releaseId} attempt ${answer.attempt} started: only the pipelines that did not succeed run again.`,
          `  execution  ${answer.executionArn}`,
          `Follow it:   npx release-machine watch ${releaseId}`,
          "",
        ].join("\n"),
  );
  return EXIT.ok;
}

async function decide(
  decision: "approve" | "reject",
  [releaseId, pipeline]: [string, string],
  values: Values,
  io: Io,
): Promise<number> {
  const comment = values.comment as string | undefined;
  const answer = await decideApproval(
    await apiTarget(values, io.env),
    releaseId,
    pipeline,
    decision,
    comment,
  );
  const outcome =
    decision === "approve"
      ? `approved by ${answer.decidedBy}: it starts now`
      : `rejected by ${answer.decidedBy}: the release fails (ApprovalRejected)`;
  io.stdout.write(values.json ? json(answer) : `Pipeline ${pipeline} of release ${releaseId} ${outcome}.\n`);
  return EXIT.ok;
}

async function list(values: Values, io: Io): Promise<number> {
  const raw = values.limit as string | undefined;
  const limit = raw === undefined ? undefined : Number(raw);
  if (limit !== undefined && (!/^\d+$/.test(raw ?? "") || limit < 1 || limit > 100)) {
    throw new UsageError(`--limit must be an integer from 1 to 100; got "${raw}"`);
  }
  const status = (values.status as string | undefined)?.toUpperCase();
  const nextToken = values["next-token"] as string | undefined;
  const page = await listReleases(await apiTarget(values, io.env), {
    ...(status ? { status } : {}),
    ...(limit !== undefined ? { limit } : {}),
    ...(nextToken ? { nextToken } : {}),
  });
  if (values.json) {
    io.stdout.write(json(page));
    return EXIT.ok;
  }
  if (page.releases.length === 0) {
    io.stdout.write(`No releases${status ? ` ${status}` : ""}.\n`);
    return EXIT.ok;
  }
  const width = Math.max(10, ...page.releases.map((r) => r.releaseId.length));
  const lines = [
    `${"RELEASE".padEnd(width)}  ${"STATUS".padEnd(10)}  ${"STARTED".padEnd(20)}  ${"ENDED".padEnd(20)}  SUBMITTED BY`,
  ];
  for (const r of page.releases) {
    lines.push(
      `${r.releaseId.padEnd(width)}  ${r.status.padEnd(10)}  ${formatTimestamp(r.startedAt).padEnd(20)}  ${formatTimestamp(r.endedAt).padEnd(20)}  ${r.submittedBy ?? "-"}`,
    );
  }
  if (page.nextToken)
    lines.push(
      `More: npx release-machine list --next-token ${page.nextToken}${status ? ` --status ${status}` : ""}`,
    );
  io.stdout.write(`${lines.join("\n")}\n`);
  return EXIT.ok;
}

async function dashboard(values: Values, io: Io): Promise<number> {
  const raw = values.port as string | undefined;
  const port = raw === undefined ? 0 : Number(raw);
  if (raw !== undefined && (!/^\d+$/.test(raw) || port > 65535)) {
    throw new UsageError(`--port must be an integer from 0 to 65535; got "${raw}"`);
  }
  const target = await apiTarget(values, io.env);
  const { runDashboard } = await import("./dashboard/command");
  return runDashboard(target, { port, open: values["no-open"] !== true }, io.stdout);
}

async function dispatch(command: Command, values: Values, positionals: string[], io: Io): Promise<number> {
  switch (command) {
    case "cancel":
      return cancel(oneArgument(positionals, "RELEASE_ID", command), values, io);
    case "retry":
      return retry(oneArgument(positionals, "RELEASE_ID", command), values, io);
    case "approve":
    case "reject":
      return decide(command, twoArguments(positionals, "RELEASE_ID PIPELINE", command), values, io);
    case "list":
      if (positionals.length > 0) throw new UsageError("list takes no arguments; filter with --status");
      return list(values, io);
    case "submit":
      return submit(oneArgument(positionals, "manifest FILE", command), values, io);
    case "status":
      return status(oneArgument(positionals, "RELEASE_ID", command), values, io);
    case "watch":
      return watch(oneArgument(positionals, "RELEASE_ID", command), values, io);
    case "dashboard":
      if (positionals.length > 0) throw new UsageError("dashboard takes no arguments");
      return dashboard(values, io);
    case "freeze":
      return freezeCommand(
        positionals,
        values,
        () => apiTarget(values, io.env),
        io.stdout,
        (message) => {
          throw new UsageError(message);
        },
      );
  }
}

/** Runs one command line; returns the exit code. Never throws. */
export async function main(argv: string[], io: Io): Promise<number> {
  const [first, ...rest] = argv;
  if (first === undefined || first === "--help" || first === "-h" || first === "help") {
    const topic = first === "help" && rest[0] && rest[0] in OPTIONS ? rest[0] : "top";
    (first === undefined ? io.stderr : io.stdout).write(HELP[topic]);
    return first === undefined ? EXIT.usage : EXIT.ok;
  }
  let wantsJson = argv.includes("--json");
  try {
    if (!(first in OPTIONS)) throw new UsageError(`unknown command "${first}"`);
    const command = first as Command;
    let parsed: { values: Values; positionals: string[] };
    try {
      const options: ParseArgsConfig["options"] = OPTIONS[command];
      const { values, positionals } = parseArgs({
        args: rest,
        options,
        allowPositionals: true,
        strict: true,
      });
      // No option is `multiple`, so every value is a string or a boolean.
      parsed = { values: values as Values, positionals };
    } catch (error) {
      throw new UsageError((error as Error).message);
    }
    if (parsed.values.help) {
      io.stdout.write(HELP[command]);
      return EXIT.ok;
    }
    wantsJson = Boolean(parsed.values.json);
    return await dispatch(command, parsed.values, parsed.positionals, io);
  } catch (error) {
    if (error instanceof UsageError) {
      const help = first in OPTIONS ? `release-machine ${first} --help` : "release-machine --help";
      io.stderr.write(`release-machine: ${error.message}\nRun "${help}" for usage.\n`);
      return EXIT.usage;
    }
    if (error instanceof ApiError || error instanceof InvalidManifest) {
      const [status, body] =
        error instanceof ApiError
          ? [error.status, error.body]
          : [undefined, { error: "InvalidManifest", message: error.message, problems: error.problems }];
      // An InvalidManifest of our own comes from checking a manifest before uploading it.
      const note = error instanceof InvalidManifest ? ["Nothing was uploaded."] : [];
      if (wantsJson) io.stdout.write(json(body));
      else io.stderr.write(`${[...renderApiError(status, body), ...note].join("\n")}\n`);
      return EXIT.failed;
    }
    io.stderr.write(`release-machine: ${error instanceof Error ? error.message : String(error)}\n`);
    return EXIT.failed;
  }
}

/** The executable's entry point (cli/release-machine.js). */
export function run(argv: string[] = process.argv.slice(2)): void {
  void main(argv, {
    stdout: process.stdout,
    stderr: process.stderr,
    env: process.env,
    isTTY: Boolean(process.stdout.isTTY),
    columns: () => process.stdout.columns,
  }).then((code) => {
    process.exitCode = code;
  });
}
