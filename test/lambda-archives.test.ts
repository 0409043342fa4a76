/**
 * The serialized Lambda archives — the exact code `pulumi up` would upload — written to disk,
 * loaded in a fresh Node process and invoked against the local stand-ins, pointed there by
 * environment alone. The AWS SDK comes from a separate folder, as the Lambda runtime provides it.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import { clientRequestToken } from "../contract/manifest";
import { type CodePipelineService, startCodePipelineService } from "../local/codepipeline-service";
import { createReleaseTables, type LocalDynamo, startDynamo } from "../local/dynamodb";
import { type LocalS3, S3RVER_CREDENTIALS, startS3 } from "../local/s3";
import { TaskTokenRegistry, type SfnService, startSfnService } from "../local/sfn-service";
import { type EventsService, startEventsService } from "../local/events-service";
import type { PutEventsEntry } from "../local/event-router";
import { RUNTIME_PROVIDED_PACKAGES } from "../infra/functions";
import { HANDLER_NAMES } from "../contract/permissions";
import { cloudTrailUpload } from "./cloudtrail-events";
import { archiveBytes, archivePackages, lambdaNode, materialize } from "./lambda-archive-files";
import { until } from "./local-helpers";
import { DEV_PIPELINES, loadProgram, own } from "./pulumi-mocks";

const run = promisify(execFile);
const SUBMITTER = "arn:aws:iam::000000000000:user/alice";
const ROOT = path.join(__dirname, "..");
const RUNTIME_PACKAGES = RUNTIME_PROVIDED_PACKAGES;

/** The runtime's node_modules: the SDK packages and everything they depend on, and nothing else. */
function runtimeModules(into: string): void {
  const seen = new Set<string>();
  const visit = (name: string) => {
    if (seen.has(name)) return;
    const dir = path.join(ROOT, "node_modules", name);
    if (!existsSync(dir)) return; // a nested copy: resolved from its parent's folder
    seen.add(name);
    mkdirSync(path.dirname(path.join(into, name)), { recursive: true });
    symlinkSync(dir, path.join(into, name));
    const manifest = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
      dependencies?: Record<string, string>;
    };
    Object.keys(manifest.dependencies ?? {}).forEach(visit);
  };
  RUNTIME_PACKAGES.forEach(visit);
}

const HANDLERS = HANDLER_NAMES;

/** The environment the program gives validateManifest (all functions share it). */
function deployedEnvironment(): Record<string, string> {
  const fn = own("aws:lambda/function:Function", "validateManifest").inputs;
  return (fn.environment as { variables: Record<string, string> }).variables;
}

const INVOKE = `
const { handler } = require(process.argv[1]);
Promise.resolve(handler(JSON.parse(process.argv[2]), {})).then(
  (result) => process.stdout.write(JSON.stringify({ result: result === undefined ? null : result })),
  (error) => process.stdout.write(JSON.stringify({ errorType: error.name, errorMessage: error.message, isError: error instanceof Error && require("node:util").types.isNativeError(error) })),
);`;

describe("the serialized Lambda archives, run in a fresh Node process against the stand-ins", function () {
  this.timeout(90000);
  let work: string;
  let dynamo: LocalDynamo;
  let s3: LocalS3;
  let sfn: SfnService;
  let codepipeline: CodePipelineService;
  const tokens = new TaskTokenRegistry();
  let env: Record<string, string>;
  let events: EventsService;
  /** Release events the archives published, through the EventBridge stand-in. */
  const published: PutEventsEntry[] = [];
  let raw: DynamoDBClient;
  let node: string;

  before(async () => {
    await loadProgram();
    node = lambdaNode(String(own("aws:lambda/function:Function", "validateManifest").inputs.runtime));
    work = mkdtempSync(path.join(tmpdir(), "rm-archives-"));
    runtimeModules(path.join(work, "runtime", "node_modules"));
    dynamo = await startDynamo();
    raw = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: "us-east-1",
      credentials: S3RVER_CREDENTIALS,
    });
    await createReleaseTables(raw, {
      releases: "releases",
      executions: "executions",
      releasePipelines: "release-pipelines",
    });
    s3 = await startS3({
      directory: path.join(work, "s3"),
      buckets: ["manifests"],
      region: "us-east-1",
      accountId: "000000000000",
    });
    sfn = await startSfnService({
      registry: tokens,
      // The releases' executions still run: the reconciler's backstop pass leaves their releases alone.
      executions: {
        stateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:release-machine",
        stop: () => undefined,
        describe: (executionArn) => ({
          executionArn,
          name: executionArn.split(":").at(-1) ?? "",
          status: "RUNNING",
          startDate: new Date(),
          input: {},
        }),
      },
    });
    events = await startEventsService({
      putEvents: (entries) => {
        published.push(...entries);
        return { FailedEntryCount: 0, Entries: entries.map(() => ({ EventId: "e" })) };
      },
    });
    codepipeline = await startCodePipelineService({
      pipelines: DEV_PIPELINES.map((name) => ({ name, durationMs: 0, outcome: "Succeeded" as const })),
      onEvent: () => undefined,
    });
    env = {
      PATH: String(process.env.PATH),
      NODE_PATH: path.join(work, "runtime", "node_modules"),
      AWS_REGION: "us-east-1",
      AWS_ACCESS_KEY_ID: S3RVER_CREDENTIALS.accessKeyId,
      AWS_SECRET_ACCESS_KEY: S3RVER_CREDENTIALS.secretAccessKey,
      AWS_ENDPOINT_URL_DYNAMODB: dynamo.endpoint,
      AWS_ENDPOINT_URL_S3: s3.endpoint,
      AWS_ENDPOINT_URL_SFN: sfn.endpoint,
      AWS_ENDPOINT_URL_CODEPIPELINE: codepipeline.endpoint,
      AWS_ENDPOINT_URL_EVENTBRIDGE: events.endpoint,
      // The control function's own settings (the retry route starts this machine).
      STATE_MACHINE_ARN: "arn:aws:states:us-east-1:000000000000:stateMachine:release-machine",
      ALLOW_SELF_APPROVAL: "false",
      RELEASES_TABLE: "releases",
      EXECUTIONS_TABLE: "executions",
      RELEASE_PIPELINES_TABLE: "release-pipelines",
      // The program's own setting: the allow-list file inside each archive.
      ALLOWED_PIPELINES_FILE: deployedEnvironment().ALLOWED_PIPELINES_FILE,
      MAX_PIPELINES: "50",
      MAX_MANIFEST_BYTES: "65536",
    };
  });

  after(async () => {
    raw?.destroy();
    await Promise.all([dynamo?.close(), s3?.close(), sfn?.close(), codepipeline?.close(), events?.close()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  async function invoke(
    handler: string,
    event: unknown,
  ): Promise<{ result?: unknown; errorType?: string; errorMessage?: string; isError?: boolean }> {
    const entry = await materialize(handler, work);
    const { stdout } = await run(node, ["-e", INVOKE, entry, JSON.stringify(event)], {
      env: { ...env, LAMBDA_TASK_ROOT: path.dirname(entry) },
      cwd: path.dirname(entry),
    });
    return JSON.parse(stdout);
  }

  it("runs the archives on the Node major of every function's runtime", async () => {
    for (const handler of HANDLERS) {
      const runtime = String(own("aws:lambda/function:Function", handler).inputs.runtime);
      const { stdout } = await run(node, ["-p", "process.versions.node"], { env });
      assert.equal(`nodejs${stdout.trim().split(".")[0]}.x`, runtime, handler);
    }
  });

  it("validateManifest turns the seed manifest into a release plan", async () => {
    const text = readFileSync(path.join(ROOT, "release-manifest.json"), "utf8");
    const { result } = await invoke("validateManifest", { text });
    assert.deepEqual(result, {
      releaseId: "5.15",
      location: "api",
      submittedBy: "unknown",
      pipelines: DEV_PIPELINES.map((name) => ({ name })),
      options: {},
    });
  });

  it("validateManifest raises InvalidManifest, by name, for a pipeline off the allow-list", async () => {
    const outcome = await invoke("validateManifest", { text: '{"releaseId":"r","pipelines":["other"]}' });
    const { errorType, errorMessage } = outcome;
    assert.equal(errorType, "InvalidManifest", JSON.stringify(outcome));
    assert.equal(outcome.isError, true, "the Lambda runtime reports only Error instances by name");
    assert.match(
      String(errorMessage),
      /\/pipelines\/0: pipeline "other" is not on this machine's allow-list/,
    );
  });

  it("recordRejection records a refusal from ValidateManifest's error alone: its problems and releaseId travel in the message", async () => {
    const refused = await invoke("validateManifest", {
      text: '{"releaseId":"rej-archive","pipelines":["other"]}',
    });
    assert.equal(refused.errorType, "InvalidManifest", JSON.stringify(refused));
    // What Step Functions catches: the error's name, and the runtime's JSON Cause.
    const error = {
      Error: String(refused.errorType),
      Cause: JSON.stringify({ errorType: refused.errorType, errorMessage: refused.errorMessage, trace: [] }),
    };
    const { result } = await invoke("recordRejection", {
      request: { source: "api", body: "(not read again)" },
      error,
      executionArn: "arn:aws:states:us-east-1:000000000000:execution:release-machine:rej-archive",
      executionName: "rej-archive",
      startedAt: "2026-11-27T00:00:00.000Z",
    });
    const cause = String(refused.errorMessage).split("\n")[0];
    assert.deepEqual(result, { error: "InvalidManifest", cause, recordedAs: "rej-archive" });
    const { Item } = await documentClient(raw).send(
      new GetCommand({ TableName: "releases", Key: { releaseId: "rej-archive" } }),
    );
    assert.equal(Item?.status, "REJECTED");
    assert.equal(Item?.cause, cause);
    assert.deepEqual(
      Item?.problems.map((p: { path: string; rule: string }) => [p.path, p.rule]),
      [["/pipelines/0", "allowList"]],
    );
  });

  it("loadManifest reads the uploaded object from S3", async () => {
    await s3
      .client()
      .send(new PutObjectCommand({ Bucket: "manifests", Key: "r1.json", Body: '{"releaseId":"r1"}' }));
    const { result } = await invoke("loadManifest", {
      request: { source: "s3", bucket: "manifests", key: "r1.json" },
    });
    assert.deepEqual(result, {
      text: '{"releaseId":"r1"}',
      location: "s3://manifests/r1.json",
      submittedBy: "unknown",
    });
  });

  it("loadManifest reads a key with spaces, + and % exactly as EventBridge's Object Created event names it", async () => {
    // S3 URL-encodes keys only in its event notifications (notification-content-structure.html);
    // its EventBridge events carry detail.object.key as the key (ev-events.html), so the key is
    // used as it arrives and never decoded: "a+b" stays "a+b".
    const key = "releases/5.16 hot+fix 100%.json";
    await s3
      .client()
      .send(new PutObjectCommand({ Bucket: "manifests", Key: key, Body: '{"releaseId":"5.16"}' }));
    const { result } = await invoke("loadManifest", { request: { source: "s3", bucket: "manifests", key } });
    assert.deepEqual(result, {
      text: '{"releaseId":"5.16"}',
      location: `s3://manifests/${key}`,
      submittedBy: "unknown",
    });
  });

  it("uploaderEvent records the uploader CloudTrail names, apart until its release is registered", async () => {
    const key = "releases/uploaded by alice.json";
    await s3
      .client()
      .send(new PutObjectCommand({ Bucket: "manifests", Key: key, Body: '{"releaseId":"up-1"}' }));
    const arn = "arn:aws:sts::000000000000:assumed-role/Deployer/alice";
    const { result } = await invoke("uploaderEvent", cloudTrailUpload({ bucket: "manifests", key, arn }));
    assert.deepEqual(result, { recorded: "pending", location: `s3://manifests/${key}` });
  });

  /** Registers a one-pipeline release through the registerRelease and awaitRelease archives. */
  async function registeredRelease(releaseId: string, pipeline: string) {
    const executionArn = `arn:aws:states:us-east-1:000000000000:execution:release-machine:${releaseId}`;
    const registered = await invoke("registerRelease", {
      releaseId,
      executionArn,
      startedAt: "2026-11-27T00:00:00.000Z",
      source: "api",
      submittedBy: SUBMITTER,
      failurePolicy: "stopRemaining",
      longestPipelineRunSeconds: 3600,
      pipelines: [{ name: pipeline }],
    });
    assert.deepEqual(
      registered.result,
      { releaseId, pipelineCount: 1, startsFrom: null },
      JSON.stringify(registered),
    );
    // Its release event reached the EventBridge stand-in, pointed there by environment alone.
    const running = published
      .map((entry) => JSON.parse(entry.Detail ?? "{}") as Record<string, unknown>)
      .find((detail) => detail.releaseId === releaseId);
    assert.deepEqual(running, {
      releaseId,
      status: "RUNNING",
      attempt: 1,
      causedBy: SUBMITTER,
      submittedBy: SUBMITTER,
      kind: "release.started",
      summary: `Release ${releaseId} started.`,
      command: `release-machine watch ${releaseId}`,
    });
    const token = tokens.create();
    const outcome = tokens.wait(token);
    const waiter = await invoke("awaitRelease", { taskToken: token, releaseId, executionArn });
    assert.deepEqual(waiter.result, { completedAtOnce: false }, JSON.stringify(waiter));
    const [started] = codepipeline
      .executions(pipeline)
      .filter((e) => e.clientRequestToken === clientRequestToken(releaseId, pipeline));
    assert.ok(started, `${pipeline} was started by the registerRelease archive`);
    return { outcome, pipelineExecutionId: started.pipelineExecutionId };
  }

  it("registerRelease starts the release's pipelines, and pipelineEvent acts on the end and completes the release's wait", async () => {
    const { outcome, pipelineExecutionId } = await registeredRelease("r1", DEV_PIPELINES[0]);
    const { result } = await invoke("pipelineEvent", {
      id: "event-1",
      "detail-type": "CodePipeline Pipeline Execution State Change",
      source: "aws.codepipeline",
      time: "2026-11-27T00:00:00Z",
      detail: { pipeline: DEV_PIPELINES[0], "execution-id": pipelineExecutionId, state: "SUCCEEDED" },
    });
    assert.equal(result, "ended");
    assert.deepEqual(await outcome, { status: "SUCCEEDED", causedBy: SUBMITTER });
    // The schedule named the execution: the success is recorded by the schedule's write that acts
    // on it, and the execution's item keeps only its link to the release.
    const { Item } = await documentClient(raw).send(
      new GetCommand({ TableName: "executions", Key: { pipelineExecutionId } }),
    );
    assert.equal(Item?.releaseId, "r1");
    assert.equal(Item?.history, undefined);
    const schedule = await documentClient(raw).send(
      new GetCommand({
        TableName: "release-pipelines",
        Key: { releaseId: "r1", pipeline: DEV_PIPELINES[0] },
      }),
    );
    assert.deepEqual([schedule.Item?.status, schedule.Item?.settled], ["Succeeded", true]);
  });

  it("reconciler asks CodePipeline and completes a release whose pipeline's end event was lost", async () => {
    const { outcome, pipelineExecutionId } = await registeredRelease("r2", DEV_PIPELINES[1]);
    await until(
      "the stand-in to end the pipeline",
      () =>
        codepipeline.executions(DEV_PIPELINES[1]).find((e) => e.pipelineExecutionId === pipelineExecutionId)
          ?.status === "Succeeded",
    );
    const { result } = await invoke("reconciler", { source: "aws.events", "detail-type": "Scheduled Event" });
    assert.deepEqual(result, {
      checked: 1,
      completed: 1,
      resumedStarts: 0,
      expiredGates: 0,
      endedReleases: 0,
      abandonedStops: 0,
      finishedCancels: 0,
      repairedSettles: 0,
      failures: [],
    });
    assert.deepEqual(await outcome, { status: "SUCCEEDED", causedBy: SUBMITTER });
  });

  it("releaseStatus answers the API with 404 for an unknown release", async () => {
    const { result } = await invoke("releaseStatus", { pathParameters: { releaseId: "nope" } });
    assert.deepEqual(result, {
      statusCode: 404,
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ error: "ReleaseNotFound", message: "no release has releaseId nope" }),
    });
  });

  it("freezeControl checks a recurring window with the rrule package its archive carries, and stores it", async () => {
    const requestContext = { identity: { userArn: "arn:aws:iam::123456789012:user/rm" } };
    const schedule = {
      rrule: "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16",
      durationMinutes: 60,
      timezone: "Europe/Berlin",
    };
    const body = JSON.stringify({ name: "archive-weekly", pipelines: ["*"], reason: "archive", schedule });
    const added = await invoke("freezeControl", {
      resource: "/freezes",
      httpMethod: "POST",
      body,
      requestContext,
    });
    assert.equal((added.result as { statusCode: number }).statusCode, 201, JSON.stringify(added.result));
    const bad = JSON.stringify({
      name: "archive-bad",
      pipelines: ["*"],
      reason: "r",
      schedule: { ...schedule, rrule: "FREQ=NEVER" },
    });
    const refused = await invoke("freezeControl", {
      resource: "/freezes",
      httpMethod: "POST",
      body: bad,
      requestContext,
    });
    const answer = refused.result as { statusCode: number; body: string };
    assert.equal(answer.statusCode, 400);
    assert.match(answer.body, /schedule.rrule is not a valid RFC 5545 RRULE/);
  });

  it("loads every archive, building its clients from the environment alone", async () => {
    for (const handler of HANDLERS) {
      const entry = await materialize(handler, work);
      const { stdout } = await run(
        node,
        ["-e", "process.stdout.write(typeof require(process.argv[1]).handler)", entry],
        { env, cwd: path.dirname(entry) },
      );
      assert.equal(stdout, "function", handler);
    }
  });

  it("ships no development-only package in any archive (the AGPL IAM engine of local mode among them)", async () => {
    const manifest = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      devDependencies: Record<string, string>;
    };
    const shipped = new Set<string>();
    for (const handler of HANDLERS) (await archivePackages(handler)).forEach((name) => shipped.add(name));
    // The archives do carry packages: an empty set would prove nothing.
    assert.ok(shipped.has("ajv"), [...shipped].join(", "));
    const devOnly = [...shipped].filter(
      (name) => name in manifest.devDependencies || name.startsWith("@cloud-copilot/"),
    );
    assert.deepEqual(devOnly, []);
  });

  it("keeps every archive under 1 MB compressed", async () => {
    for (const handler of HANDLERS) {
      const bytes = await archiveBytes(handler);
      assert.ok(bytes < 1_000_000, `${handler}: ${bytes} bytes`);
    }
  });
});
