/**
 * `npm start` as a user runs it: a child process on real loopback ports with a temporary data
 * folder, driven over HTTP and through the local S3 bucket, then restarted on the same folder.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CodePipelineClient, ListPipelineExecutionsCommand } from "@aws-sdk/client-codepipeline";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ExecutionDoesNotExist, SFNClient, StopExecutionCommand } from "@aws-sdk/client-sfn";
import type { ReleaseStatusView } from "../contract/release-view";
import { readSettings, startFromSettings, startupMessage } from "../local/main";
import { localS3ClientConfig } from "../contract/local-s3-config";
import { until } from "./local-helpers";
import { type FollowedChild, followChild, freePort } from "./child-process-helpers";

const ROOT = path.join(__dirname, "..");

type Started = FollowedChild;

/** `npm start` in a child process; resolves once its banner is out, rejects if it exits first. */
async function npmStart(env: Record<string, string>, until = /^Release events:$/m): Promise<Started> {
  // Its own process group, so a SIGINT reaches npm and the server as Ctrl-C would in a terminal.
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  const followed = followChild(child, "npm start");
  await followed.logged(until);
  return followed;
}

async function stop(started: Started): Promise<void> {
  if (started.child.exitCode !== null) return;
  process.kill(-(started.child.pid as number), "SIGINT");
  const killed = setTimeout(() => process.kill(-(started.child.pid as number), "SIGKILL"), 15_000);
  await started.exited;
  clearTimeout(killed);
}

describe("npm start, used as a user would", function () {
  this.timeout(120_000);
  let dataDir: string;
  let api: string;
  let s3Url: string;
  let codepipelineUrl: string;
  let sfnUrl: string;
  let env: Record<string, string>;
  let started: Started;
  let pipelinesFile: string;

  const post = async (body: string, route = "/releases") => {
    const response = await fetch(`${api}${route}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body,
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const get = async (releaseId: string) => {
    const response = await fetch(`${api}/releases/${encodeURIComponent(releaseId)}`);
    return {
      status: response.status,
      body: (await response.json()) as ReleaseStatusView & { error?: string },
    };
  };
  /** The release once `npm start` has logged its end. */
  const ended = async (releaseId: string): Promise<ReleaseStatusView> => {
    await started.logged(new RegExp(`^\\S+ {2}(succeeded|failed|rejected) +release ${releaseId}\\b`, "m"));
    return (await get(releaseId)).body;
  };

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "rm-start-"));
    pipelinesFile = path.join(dataDir, "pipelines.json");
    writeFileSync(
      pipelinesFile,
      JSON.stringify({
        pipelines: [
          { name: "svc-a", durationMs: 150, outcome: "Succeeded" },
          { name: "svc-b", durationMs: 250, outcome: "Succeeded" },
          { name: "svc-bad", durationMs: 100, outcome: "Failed" },
          { name: "svc-slow", durationMs: 60_000, outcome: "Succeeded" },
        ],
      }),
    );
    const [port, s3Port, codepipelinePort, sfnPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    codepipelineUrl = `http://127.0.0.1:${codepipelinePort}`;
    sfnUrl = `http://127.0.0.1:${sfnPort}`;
    api = `http://127.0.0.1:${port}`;
    s3Url = `http://127.0.0.1:${s3Port}`;
    env = {
      RELEASE_MACHINE_PORT: String(port),
      RELEASE_MACHINE_S3_PORT: String(s3Port),
      RELEASE_MACHINE_CODEPIPELINE_PORT: String(codepipelinePort),
      RELEASE_MACHINE_SFN_PORT: String(sfnPort),
      RELEASE_MACHINE_DATA_DIR: path.join(dataDir, "data"),
      RELEASE_MACHINE_PIPELINES: pipelinesFile,
    };
    started = await npmStart(env);
  });

  after(async () => {
    if (started) await stop(started);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints what runs where, with commands to copy", () => {
    const output = started.output();
    assert.match(output, new RegExp(`API\\s+${api}`));
    assert.match(output, new RegExp(`S3\\s+${s3Url}\\s+bucket release-manifests`));
    assert.match(
      output,
      new RegExp(`^ {2}export RELEASE_MACHINE_URL=${api} RELEASE_MACHINE_S3_URL=${s3Url}$`, "m"),
    );
    assert.match(output, /^ {2}npx release-machine submit release-manifest\.json$/m);
    const [, dynamo] =
      output.match(
        /^ {2}DynamoDB +(http:\/\/127\.0\.0\.1:\d+) {2}tables releases, release-pipelines, executions /m,
      ) ?? [];
    assert.ok(dynamo, output);
    assert.match(
      output,
      new RegExp(`aws dynamodb scan --table-name releases --endpoint-url ${dynamo} --region us-east-1$`, "m"),
    );
    assert.match(
      output,
      new RegExp(
        `curl -X POST ${api}/releases -H 'content-type: application/json' -d @release-manifest.json`,
      ),
    );
    assert.match(output, /aws s3 cp release-manifest.json s3:\/\/release-manifests\/ --endpoint-url/);
  });

  it("prints the CodePipeline stand-in's URL, on RELEASE_MACHINE_CODEPIPELINE_PORT, where the SDK (and so the AWS CLI) reaches it", async () => {
    assert.match(started.output(), new RegExp(`^ {2}CodePipeline +${codepipelineUrl} `, "m"));
    assert.match(
      started.output(),
      new RegExp(
        `aws codepipeline list-pipeline-executions --pipeline-name <pipeline> --endpoint-url ${codepipelineUrl} `,
      ),
    );
    const client = new CodePipelineClient({
      endpoint: codepipelineUrl,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const listed = await client.send(new ListPipelineExecutionsCommand({ pipelineName: "svc-a" }));
      assert.ok(Array.isArray(listed.pipelineExecutionSummaries));
    } finally {
      client.destroy();
    }
  });

  it("runs a release submitted over HTTP to SUCCEEDED with every pipeline's history", async () => {
    const submitted = await post(JSON.stringify({ releaseId: "http-1", pipelines: ["svc-a", "svc-b"] }));
    assert.equal(submitted.status, 202);
    assert.match(String(submitted.body.executionArn), /:execution:release-machine:http-1-[0-9a-f]{15}$/);
    assert.equal(submitted.body.releaseId, "http-1");
    assert.equal(submitted.body.status, "SUBMITTED");

    const release = await ended("http-1");
    assert.equal(release.status, "SUCCEEDED");
    assert.deepEqual(
      release.pipelines.map((p) => [p.name, p.status, p.history.map((h) => h.state)]),
      [
        ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
      ],
    );
  });

  it("runs a release uploaded to the local bucket, through the same rule pattern as on AWS", async () => {
    const s3 = new S3Client(localS3ClientConfig(s3Url));
    await s3.send(
      new PutObjectCommand({
        Bucket: "release-manifests",
        Key: "releases/s3-1.json",
        Body: JSON.stringify({ releaseId: "s3-1", pipelines: ["svc-b", "svc-a"] }),
      }),
    );
    await s3.send(
      new PutObjectCommand({
        Bucket: "release-manifests",
        Key: "releases/s3-bad.json",
        Body: JSON.stringify({ releaseId: "s3-bad", pipelines: ["nope"] }),
      }),
    );
    s3.destroy();
    const release = await ended("s3-1");
    await started.logged(/^\S+ {2}rejected {3}release s3-bad: /m);
    assert.equal(release.status, "SUCCEEDED");
    assert.equal(release.source, "s3://release-manifests/releases/s3-1.json");
    assert.deepEqual(
      release.pipelines.map((p) => [p.name, p.history.map((h) => h.state)]),
      [
        ["svc-b", ["STARTED", "SUCCEEDED"]],
        ["svc-a", ["STARTED", "SUCCEEDED"]],
      ],
    );
  });

  it("ends a release with a failing pipeline FAILED, naming it, and stops the rest", async () => {
    assert.equal(
      (await post(JSON.stringify({ releaseId: "fail-1", pipelines: ["svc-slow", "svc-bad"] }))).status,
      202,
    );
    const release = await ended("fail-1");
    assert.equal(release.status, "FAILED");
    assert.equal(release.error, "PipelineFailed");
    assert.match(String(release.cause), /Pipeline svc-bad did not succeed/);
    const slow = release.pipelines.find((p) => p.name === "svc-slow");
    assert.ok(slow && ["Stopping", "Stopped"].includes(slow.status), JSON.stringify(slow));
  });

  it("answers a duplicate releaseId with 409 naming the existing release", async () => {
    const again = await post(JSON.stringify({ releaseId: "http-1", pipelines: ["svc-a"] }), "/");
    assert.equal(again.status, 409);
    assert.equal(again.body.error, "DuplicateRelease");
    assert.equal(again.body.releaseId, "http-1");
    assert.match(String(again.body.message), /release http-1 was already submitted \(SUCCEEDED\)/);
  });

  it("answers a bad manifest with 400 listing every field and rule", async () => {
    const bad = await post(
      JSON.stringify({ releaseId: "bad id", pipelines: ["svc-a", "svc-a", "nope"], extra: 1 }),
    );
    assert.equal(bad.status, 400);
    assert.equal(bad.body.error, "InvalidManifest");
    assert.deepEqual(
      (bad.body.problems as { path: string; rule: string }[]).map((p) => [p.path, p.rule]),
      [
        ["/extra", "additionalProperties"],
        ["/pipelines/1", "uniqueItems"],
        ["/pipelines/2", "allowList"],
        ["/releaseId", "pattern"],
      ],
    );
    assert.equal((await get("bad id")).status, 400);
  });

  it("answers an unknown releaseId with 404", async () => {
    const missing = await get("never-submitted");
    assert.equal(missing.status, 404);
    assert.equal(missing.body.error, "ReleaseNotFound");
  });

  it("logs one line per release event: submitted, started, each pipeline's end, and the outcome", () => {
    const lines = started.output().split("\n");
    const at = (pattern: RegExp) => lines.findIndex((line) => pattern.test(line));
    const http1 = [
      /^\d\d:\d\d:\d\dZ {2}submitted {2}release http-1 from the API$/,
      /^\S+ {2}started {4}release http-1 {2}\(execution http-1-[0-9a-f]{15}\)$/,
      /^\S+ {2}pipeline {3}svc-a SUCCEEDED {2}\(release http-1\)$/,
      /^\S+ {2}succeeded {2}release http-1$/,
    ].map(at);
    assert.ok(
      http1.every((index, i) => index >= 0 && (i === 0 || index > http1[i - 1])),
      JSON.stringify(http1),
    );
    assert.ok(at(/^\S+ {2}pipeline {3}svc-b SUCCEEDED {2}\(release http-1\)$/) < http1[3]);
    assert.ok(at(/^\S+ {2}failed {5}release fail-1: PipelineFailed: Pipeline svc-bad did not succeed/) >= 0);
    assert.ok(
      at(/^\S+ {2}submitted {2}release s3-1 from s3:\/\/release-manifests\/releases\/s3-1\.json$/) >= 0,
    );
    assert.ok(at(/^\S+ {2}rejected {3}release bad id from the API: /) >= 0);
    assert.ok(
      at(
        /^\S+ {2}rejected {3}release s3-bad: InvalidManifest: \/pipelines\/0: pipeline "nope" is not on this machine's allow-list/,
      ) >= 0,
      started.output(),
    );
    assert.ok(
      at(/^\S+ {2}rejected {3}release http-1 from the API: release http-1 was already submitted/) >= 0,
    );
  });

  it("prints each notification the default rules would send: a success, a failure with its retry command", () => {
    const notes = started
      .output()
      .split("\n")
      .filter((line) => / {2}notify {5}/.test(line));
    assert.ok(
      notes.some((line) =>
        /^\S+ {2}notify {5}Release http-1 succeeded\. \(by .+\) Act: release-machine status http-1$/.test(
          line,
        ),
      ),
      notes.join("\n"),
    );
    assert.ok(
      notes.some((line) =>
        /^\S+ {2}notify {5}Release fail-1 failed\. \(by .+\) Act: release-machine retry fail-1$/.test(line),
      ),
      notes.join("\n"),
    );
    // A release's start is not among the default kinds: nothing is printed for it.
    assert.ok(!notes.some((line) => /started\./.test(line)), notes.join("\n"));
  });

  it("reads a body without Content-Type as JSON, as API Gateway does", async () => {
    const response = await fetch(`${api}/releases`, {
      method: "POST",
      body: Buffer.from(JSON.stringify({ releaseId: "untyped-1", pipelines: ["svc-a"] })),
    });
    assert.equal(response.status, 202, await response.text());
    assert.equal((await ended("untyped-1")).status, "SUCCEEDED");
  });

  it("answers 415 naming the header for text/plain and form bodies, and accepts JSON with a charset", async () => {
    const submit = async (contentType: string, releaseId: string) => {
      const response = await fetch(`${api}/releases`, {
        method: "POST",
        headers: { "content-type": contentType },
        body: JSON.stringify({ releaseId, pipelines: ["svc-a"] }),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const [plain, form, charset] = [
      await submit("text/plain", "typed-1"),
      await submit("application/x-www-form-urlencoded", "typed-2"),
      await submit("application/json; charset=utf-8", "typed-3"),
    ];
    const unsupported = {
      error: "UnsupportedMediaType",
      message: "send the manifest with the header Content-Type: application/json",
    };
    assert.deepEqual(
      [plain, form],
      [
        { status: 415, body: unsupported },
        { status: 415, body: unsupported },
      ],
    );
    assert.equal(charset.status, 202);
    assert.deepEqual([(await get("typed-1")).status, (await get("typed-2")).status], [404, 404]);
  });

  it("answers 415 for a text/plain body before reading what it holds, as the submission function does", async () => {
    const response = await fetch(`${api}/releases`, {
      method: "POST",
      headers: { "content-type": "text/plain" },
      body: JSON.stringify({ releaseId: "typed-bad", pipelines: ["nope"] }),
    });
    assert.equal(response.status, 415);
    assert.equal(((await response.json()) as { error: string }).error, "UnsupportedMediaType");
    assert.equal((await get("typed-bad")).status, 404);
  });

  it("refuses a second npm start on the same data folder with one line naming RELEASE_MACHINE_DATA_DIR", async () => {
    const second = await npmStart(env, /^release-machine: /m).catch((error: Error) => error);
    assert.ok(!(second instanceof Error), String(second));
    assert.equal(await second.exited, 1);
    const said = second
      .output()
      .split("\n")
      .filter((line) => line.startsWith("release-machine: "));
    assert.deepEqual(said, [
      `release-machine: the data folder ${env.RELEASE_MACHINE_DATA_DIR} is in use by another release machine ` +
        `(process ${said[0]?.match(/process (\d+)/)?.[1]}); stop it, or set RELEASE_MACHINE_DATA_DIR to another folder`,
    ]);
    assert.doesNotMatch(second.output(), /Database is (closed|not open)|^\s+at |code: '/m);
  });

  it("names the port setting to change when the S3 or the API port is taken, and leaves nothing running", async () => {
    const other = (name: string) => path.join(dataDir, name);
    const out = { write: () => true };
    const settings = {
      port: 0,
      s3Port: Number(env.RELEASE_MACHINE_S3_PORT),
      dataDir: other("s3-taken"),
      pipelinesFile,
    };
    const s3Taken = await startFromSettings(settings, out).catch((error: unknown) =>
      startupMessage(error, settings),
    );
    const apiSettings = {
      port: Number(env.RELEASE_MACHINE_PORT),
      s3Port: 0,
      dataDir: other("api-taken"),
      pipelinesFile,
    };
    const apiTaken = await startFromSettings(apiSettings, out).catch((error: unknown) =>
      startupMessage(error, apiSettings),
    );

    assert.deepEqual(
      [s3Taken, apiTaken],
      [
        `port ${settings.s3Port} on 127.0.0.1 is already in use (another npm start?); stop that process or set RELEASE_MACHINE_S3_PORT to a free port`,
        `port ${apiSettings.port} on 127.0.0.1 is already in use (another npm start?); stop that process or set RELEASE_MACHINE_PORT to a free port`,
      ],
    );
    // What had started was closed again: the data folder can be used at once.
    const again = await startFromSettings({ ...apiSettings, port: 0 }, out);
    await again.close();
  });

  it("names RELEASE_MACHINE_CODEPIPELINE_PORT when the CodePipeline port is taken, and leaves nothing running", async () => {
    const settings = {
      port: 0,
      s3Port: 0,
      codepipelinePort: Number(new URL(codepipelineUrl).port),
      dataDir: path.join(dataDir, "codepipeline-taken"),
      pipelinesFile,
    };
    const out = { write: () => true };
    const taken = await startFromSettings(settings, out).catch((error: unknown) =>
      startupMessage(error, settings),
    );

    assert.equal(
      taken,
      `port ${settings.codepipelinePort} on 127.0.0.1 is already in use (another npm start?); stop that process or set RELEASE_MACHINE_CODEPIPELINE_PORT to a free port`,
    );
    const again = await startFromSettings({ ...settings, codepipelinePort: 0 }, out);
    await again.close();
  });

  it("prints the Step Functions endpoint on RELEASE_MACHINE_SFN_PORT, which answers the AWS SDK", async () => {
    assert.match(started.output(), new RegExp(`^ {2}Step Functions +${sfnUrl} `, "m"));
    const sfn = new SFNClient({
      endpoint: sfnUrl,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    const executionArn = "arn:aws:states:us-east-1:000000000000:execution:release-machine:no-such";
    await assert.rejects(sfn.send(new StopExecutionCommand({ executionArn })), ExecutionDoesNotExist);
    sfn.destroy();
  });

  it("reads RELEASE_MACHINE_SFN_PORT (default 0, a free port), refusing one another setting uses", () => {
    assert.equal(readSettings({}).sfnPort, 0);
    assert.equal(readSettings({ RELEASE_MACHINE_SFN_PORT: "4571" }).sfnPort, 4571);
    assert.throws(
      () => readSettings({ RELEASE_MACHINE_CODEPIPELINE_PORT: "4571", RELEASE_MACHINE_SFN_PORT: "4571" }),
      /RELEASE_MACHINE_CODEPIPELINE_PORT and RELEASE_MACHINE_SFN_PORT are both 4571/,
    );
  });

  it("reads RELEASE_MACHINE_CODEPIPELINE_PORT (default 0, a free port), refusing one another setting uses", () => {
    assert.equal(readSettings({}).codepipelinePort, 0);
    assert.equal(readSettings({ RELEASE_MACHINE_CODEPIPELINE_PORT: "4570" }).codepipelinePort, 4570);
    assert.throws(
      () => readSettings({ RELEASE_MACHINE_S3_PORT: "4570", RELEASE_MACHINE_CODEPIPELINE_PORT: "4570" }),
      {
        name: "SettingError",
        message:
          "RELEASE_MACHINE_S3_PORT and RELEASE_MACHINE_CODEPIPELINE_PORT are both 4570; give them different ports",
      },
    );
  });

  it("reads RELEASE_MACHINE_ALLOW_SELF_APPROVAL as true or false, naming it otherwise", () => {
    assert.equal(readSettings({}).allowSelfApproval, false);
    assert.equal(readSettings({ RELEASE_MACHINE_ALLOW_SELF_APPROVAL: "true" }).allowSelfApproval, true);
    assert.throws(() => readSettings({ RELEASE_MACHINE_ALLOW_SELF_APPROVAL: "yes" }), {
      name: "SettingError",
      message: 'RELEASE_MACHINE_ALLOW_SELF_APPROVAL must be true or false, got "yes"',
    });
  });

  it("reads RELEASE_MACHINE_STOP_GRACE_MINUTES as whole minutes within the stack's range, naming it otherwise", () => {
    assert.equal(readSettings({}).stopGraceMinutes, undefined);
    assert.equal(readSettings({ RELEASE_MACHINE_STOP_GRACE_MINUTES: "2" }).stopGraceMinutes, 2);
    for (const raw of ["0", "1.5", "10081", "soon"]) {
      assert.throws(() => readSettings({ RELEASE_MACHINE_STOP_GRACE_MINUTES: raw }), {
        name: "SettingError",
        message: `RELEASE_MACHINE_STOP_GRACE_MINUTES must be a whole number of minutes from 1 to 10080, got "${raw}"`,
      });
    }
  });

  it("hands RELEASE_MACHINE_STOP_GRACE_MINUTES to the functions that stop pipelines", async () => {
    const settings = { ...readSettings({ RELEASE_MACHINE_STOP_GRACE_MINUTES: "3" }), port: 0, s3Port: 0 };
    const server = await startFromSettings(
      { ...settings, dataDir: path.join(dataDir, "stop-grace"), pipelinesFile },
      { write: () => true },
    );
    try {
      const graces = (["reconciler", "pipelineEvent", "stopRelease"] as const).map(
        (name) => server.machine.functionDeps(name).execution.stopGraceMinutes,
      );
      assert.deepEqual(graces, [3, 3, 3]);
    } finally {
      await server.close();
    }
  });

  it("refuses the same port for the API and S3, naming both settings", () => {
    assert.throws(() => readSettings({ RELEASE_MACHINE_PORT: "4000", RELEASE_MACHINE_S3_PORT: "4000" }), {
      name: "SettingError",
      message: "RELEASE_MACHINE_PORT and RELEASE_MACHINE_S3_PORT are both 4000; give them different ports",
    });
  });

  it("keeps finished releases readable after a restart, and takes up a release cut off by the stop where it stood", async () => {
    assert.equal((await post(JSON.stringify({ releaseId: "cut-1", pipelines: ["svc-slow"] }))).status, 202);
    const running = await until("cut-1's pipeline to run", async () => {
      const release = (await get("cut-1")).body;
      return release.pipelines?.[0]?.pipelineExecutionId ? release : undefined;
    });
    await stop(started);

    started = await npmStart(env);

    assert.equal((await get("http-1")).body.status, "SUCCEEDED");
    assert.equal((await get("fail-1")).body.status, "FAILED");
    const cut = await get("cut-1");
    assert.equal(cut.body.status, "RUNNING");
    assert.deepEqual(
      cut.body.pipelines.map((p) => [p.name, p.status, p.pipelineExecutionId]),
      [["svc-slow", "InProgress", running.pipelines[0].pipelineExecutionId]],
      "the same execution, still running in CodePipeline",
    );
    assert.doesNotMatch(started.output(), /marked FAILED/i);
  });
});
