/**
 * `npm start`: runs the release machine locally until Ctrl-C, printing where everything listens
 * and then one line per release event. Settings by environment: RELEASE_MACHINE_PORT (API,
 * default 3000), RELEASE_MACHINE_S3_PORT (default 4569), RELEASE_MACHINE_CODEPIPELINE_PORT (the
 * CodePipeline stand-in; default a free port on each start), RELEASE_MACHINE_SFN_PORT (the Step
 * Functions endpoint; default a free port on each start), RELEASE_MACHINE_DYNAMODB_PORT (the local
 * DynamoDB, dynalite; default a free port on each start), RELEASE_MACHINE_DATA_DIR (default
 * .release-machine/), RELEASE_MACHINE_PIPELINES (default pipelines.local.json),
 * RELEASE_MACHINE_ALLOW_SELF_APPROVAL (the stack's allowSelfApproval; default false),
 * RELEASE_MACHINE_STOP_GRACE_MINUTES (the stack's stopGraceMinutes: how long a stop-and-wait may
 * stay pending before the reconciler abandons it; 1 to 10080, default 15),
 * RELEASE_MACHINE_FAILURE_POLICY (the stack's failurePolicy, for releases whose manifest chooses
 * none: stopRemaining or letFinish; default stopRemaining).
 */
import path from "node:path";
import { DataDirInUse } from "./data-dir-lock";
import { PortInUse } from "./http";
import { InvalidPipelinesFile, readLocalPipelines } from "./pipelines-file";
import { formatReleaseEvent } from "./release-events";
import { LOCAL_REGION } from "./release-machine";
import { S3RVER_CREDENTIALS } from "../contract/local-s3-config";
import { LOCAL_BUCKET, type LocalServer, startLocalServer } from "./server";
import type { LocalPipelineSpec } from "./codepipeline-service";
import { outcomesOf } from "./codepipeline-spec";
import { FAILURE_POLICIES } from "../contract/manifest-schema";

export interface Settings {
  port: number;
  s3Port: number;
  /** The CodePipeline stand-in's port; 0 or unset: a free port on each start. */
  codepipelinePort?: number;
  /** The Step Functions endpoint's port; 0 or unset: a free port on each start. */
  sfnPort?: number;
  /** The local DynamoDB's (dynalite's) port; 0 or unset: a free port on each start. */
  dynamodbPort?: number;
  dataDir: string;
  pipelinesFile: string;
  /** Whether a release's submitter may approve its own gates (as the stack's `allowSelfApproval`). */
  allowSelfApproval?: boolean;
  /** The stack's `stopGraceMinutes`; unset: its default. */
  stopGraceMinutes?: number;
  /** The stack's `failurePolicy` (a manifest's own `failurePolicy` wins); unset: stopRemaining. */
  failurePolicy?: (typeof FAILURE_POLICIES)[number];
}

/** A setting with a value that cannot be used; the message names it. */
export class SettingError extends Error {
  override readonly name = "SettingError";
}

const ROOT = path.join(__dirname, "..");

function port(env: NodeJS.ProcessEnv, name: string, fallback: number): number {
  const raw = env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new SettingError(`${name} must be a port number from 0 to 65535, got "${raw}"`);
  }
  return value;
}

/** Whole minutes from 1 to a week, the range the stack's stopGraceMinutes accepts (infra/config.ts). */
function minutes(env: NodeJS.ProcessEnv, name: string): number | undefined {
  const raw = env[name];
  if (raw === undefined || raw === "") return undefined;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1 || value > 7 * 24 * 60)
    throw new SettingError(`${name} must be a whole number of minutes from 1 to 10080, got "${raw}"`);
  return value;
}

function flag(env: NodeJS.ProcessEnv, name: string, fallback: boolean): boolean {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  if (raw !== "true" && raw !== "false")
    throw new SettingError(`${name} must be true or false, got "${raw}"`);
  return raw === "true";
}

/** RELEASE_MACHINE_FAILURE_POLICY: one of FAILURE_POLICIES, or unset (the workflow's default). */
function failurePolicy(env: NodeJS.ProcessEnv): Settings["failurePolicy"] {
  const raw = env.RELEASE_MACHINE_FAILURE_POLICY;
  if (raw === undefined || raw === "") return undefined;
  const policy = FAILURE_POLICIES.find((p) => p === raw);
  if (!policy)
    throw new SettingError(
      `RELEASE_MACHINE_FAILURE_POLICY must be one of ${FAILURE_POLICIES.join(", ")}, got "${raw}"`,
    );
  return policy;
}

/** The settings from the environment, checked. */
export function readSettings(env: NodeJS.ProcessEnv): Settings {
  const settings = {
    port: port(env, "RELEASE_MACHINE_PORT", 3000),
    s3Port: port(env, "RELEASE_MACHINE_S3_PORT", 4569),
    codepipelinePort: port(env, "RELEASE_MACHINE_CODEPIPELINE_PORT", 0),
    sfnPort: port(env, "RELEASE_MACHINE_SFN_PORT", 0),
    dynamodbPort: port(env, "RELEASE_MACHINE_DYNAMODB_PORT", 0),
    dataDir: path.resolve(env.RELEASE_MACHINE_DATA_DIR || path.join(ROOT, ".release-machine")),
    pipelinesFile: path.resolve(env.RELEASE_MACHINE_PIPELINES || path.join(ROOT, "pipelines.local.json")),
    allowSelfApproval: flag(env, "RELEASE_MACHINE_ALLOW_SELF_APPROVAL", false),
    stopGraceMinutes: minutes(env, "RELEASE_MACHINE_STOP_GRACE_MINUTES"),
    failurePolicy: failurePolicy(env),
  };
  const ports: [string, number][] = [
    ["RELEASE_MACHINE_PORT", settings.port],
    ["RELEASE_MACHINE_S3_PORT", settings.s3Port],
    ["RELEASE_MACHINE_CODEPIPELINE_PORT", settings.codepipelinePort],
    ["RELEASE_MACHINE_SFN_PORT", settings.sfnPort],
    ["RELEASE_MACHINE_DYNAMODB_PORT", settings.dynamodbPort],
  ];
  for (const [i, [name, value]] of ports.entries()) {
    const same = ports.slice(i + 1).find(([, other]) => value !== 0 && other === value);
    if (same) throw new SettingError(`${name} and ${same[0]} are both ${value}; give them different ports`);
  }
  return settings;
}

/** Why `npm start` could not start, in words that name the setting to change. */
export function startupMessage(error: unknown, settings?: Settings): string {
  if (error instanceof PortInUse) {
    const setting =
      error.port === settings?.codepipelinePort
        ? "RELEASE_MACHINE_CODEPIPELINE_PORT"
        : error.port === settings?.sfnPort
          ? "RELEASE_MACHINE_SFN_PORT"
          : error.port === settings?.dynamodbPort
            ? "RELEASE_MACHINE_DYNAMODB_PORT"
            : error.port === settings?.s3Port
              ? "RELEASE_MACHINE_S3_PORT"
              : "RELEASE_MACHINE_PORT";
    return `${error.message} (another npm start?); stop that process or set ${setting} to a free port`;
  }
  if (error instanceof DataDirInUse) {
    return `${error.message}; stop it, or set RELEASE_MACHINE_DATA_DIR to another folder`;
  }
  if (error instanceof InvalidPipelinesFile) {
    return `${error.message}\n(RELEASE_MACHINE_PIPELINES names the file; default pipelines.local.json)`;
  }
  return error instanceof Error ? error.message : String(error);
}

/** What runs where, and the exact commands to use it. */
export function banner(
  server: LocalServer,
  settings: Settings,
  pipelines: LocalPipelineSpec[],
  interrupted: readonly Interrupted[] = [],
): string[] {
  const { accessKeyId, secretAccessKey } = S3RVER_CREDENTIALS;
  const { releases, releasePipelines, executions } = server.tables;
  const lines = [
    "Release Machine is running locally (no AWS account involved).",
    "",
    `  API            ${server.url}  (POST /releases, GET /releases[/{releaseId}], POST /releases/{releaseId}/cancel|retry|approvals/{pipeline})`,
    `  S3             ${server.s3Endpoint}  bucket ${LOCAL_BUCKET}  (access key ${accessKeyId} / secret ${secretAccessKey})`,
    `  DynamoDB       ${server.dynamoEndpoint}  tables ${releases}, ${releasePipelines}, ${executions}  (any access key; region ${LOCAL_REGION}; ${settings.dynamodbPort ? "RELEASE_MACHINE_DYNAMODB_PORT" : "a new port each start: RELEASE_MACHINE_DYNAMODB_PORT fixes it"})`,
    `  CodePipeline   ${server.codepipelineEndpoint}  (any access key; region ${LOCAL_REGION})`,
    `  Step Functions ${server.sfnEndpoint}  (StopExecution, DescribeExecution; any access key; region ${LOCAL_REGION})`,
    `  data           ${settings.dataDir}`,
    `  pipelines      ${pipelines.map((p) => `${p.name}${outcomesOf(p).includes("Failed") ? " (fails)" : ""}`).join(", ")}`,
    "",
    "In another terminal, in this folder:",
    `  export RELEASE_MACHINE_URL=${server.url} RELEASE_MACHINE_S3_URL=${server.s3Endpoint}`,
    "  npx release-machine submit release-manifest.json",
    "  npx release-machine watch <releaseId>",
    "Or without the CLI:",
    `  curl -X POST ${server.url}/releases -H 'content-type: application/json' -d @release-manifest.json`,
    `  AWS_ACCESS_KEY_ID=${accessKeyId} AWS_SECRET_ACCESS_KEY=${secretAccessKey} aws s3 cp release-manifest.json s3://${LOCAL_BUCKET}/ --endpoint-url ${server.s3Endpoint}`,
    `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws dynamodb scan --table-name ${releases} --endpoint-url ${server.dynamoEndpoint} --region ${LOCAL_REGION}`,
    `  AWS_ACCESS_KEY_ID=local AWS_SECRET_ACCESS_KEY=local aws codepipeline list-pipeline-executions --pipeline-name <pipeline> --endpoint-url ${server.codepipelineEndpoint} --region ${LOCAL_REGION}`,
    "",
    "Ctrl-C stops it; releases survive a restart (those running are taken up again).",
  ];
  return [...lines, ...interruptedLines(interrupted), "", "Release events:"];
}

/** A release the restart marked FAILED, and when it stopped (its endedAt: its last recorded event). */
export interface Interrupted {
  releaseId: string;
  stoppedAt?: string;
}

/**
 * One line per release the restart marked FAILED (running when the machine stopped, with no
 * journaled execution to take it up), each with the command that resumes it.
 */
export function interruptedLines(interrupted: readonly Interrupted[]): string[] {
  if (interrupted.length === 0) return [];
  return [
    "",
    `Interrupted (running when the machine stopped, nothing to take them up), marked FAILED: ${interrupted.length}`,
    ...interrupted.map(
      ({ releaseId, stoppedAt }) =>
        `  release ${releaseId} stopped at ${stoppedAt ?? "?"}; resume it: npx release-machine retry ${releaseId}`,
    ),
  ];
}

/** The releases the restart marked, each with its endedAt as recorded. */
async function interruptedReleases(server: LocalServer): Promise<Interrupted[]> {
  return Promise.all(
    server.recovered.map(async (releaseId) => {
      const endedAt = (await server.machine.readRelease(releaseId))?.endedAt;
      return { releaseId, ...(endedAt ? { stoppedAt: endedAt } : {}) };
    }),
  );
}

/** Starts the local machine from these settings, printing events to `out`. */
export async function startFromSettings(
  settings: Settings,
  out: { write(text: string): unknown },
): Promise<LocalServer> {
  const pipelines = readLocalPipelines(settings.pipelinesFile);
  const server = await startLocalServer({
    port: settings.port,
    s3Port: settings.s3Port,
    ...(settings.codepipelinePort !== undefined && { codepipelinePort: settings.codepipelinePort }),
    ...(settings.sfnPort !== undefined && { sfnPort: settings.sfnPort }),
    ...(settings.dynamodbPort !== undefined && { dynamodbPort: settings.dynamodbPort }),
    dataDir: settings.dataDir,
    pipelines,
    allowSelfApproval: settings.allowSelfApproval ?? false,
    ...(settings.stopGraceMinutes !== undefined && { stopGraceMinutes: settings.stopGraceMinutes }),
    ...(settings.failurePolicy !== undefined && { failurePolicy: settings.failurePolicy }),
    onReleaseEvent: (event) => out.write(`${formatReleaseEvent(event)}\n`),
    onNotification: (line) => out.write(`${line}\n`),
  });
  const interrupted = await interruptedReleases(server);
  out.write(`${banner(server, settings, pipelines, interrupted).join("\n")}\n`);
  return server;
}

async function main(): Promise<void> {
  let settings: Settings | undefined;
  let server: LocalServer;
  try {
    settings = readSettings(process.env);
    server = await startFromSettings(settings, process.stdout);
  } catch (error) {
    process.stderr.write(`release-machine: ${startupMessage(error, settings)}\n`);
    process.exit(1);
  }
  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("Stopping…\n");
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`release-machine: ${error instanceof Error ? error.message : String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

if (require.main === module) void main();
