/**
 * `npm start` as a user runs it: a child process on real loopback ports with a temporary data
 * folder, driven over HTTP and through the local S3 bucket, then restarted on the same folder.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ReleaseStatusView } from "../handlers/release-status";
import { S3RVER_CREDENTIALS } from "../local/s3";

const ROOT = path.join(__dirname, "..");

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as { port: number };
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

interface Started {
  child: ChildProcess;
  output: () => string;
}

async function npmStart(env: Record<string, string>): Promise<Started> {
  // Its own process group, so a SIGINT reaches npm and the server as Ctrl-C would in a terminal.
  const child = spawn("npm", ["start", "--silent"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
    detached: true,
  });
  let output = "";
  child.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 30_000;
  while (!output.includes("Release Machine is running locally")) {
    if (child.exitCode !== null || Date.now() > deadline)
      throw new Error(`npm start did not come up:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { child, output: () => output };
}

async function stop(started: Started): Promise<void> {
  if (started.child.exitCode !== null) return;
  const exited = new Promise((resolve) => started.child.once("exit", resolve));
  process.kill(-(started.child.pid as number), "SIGINT");
  const killed = setTimeout(() => process.kill(-(started.child.pid as number), "SIGKILL"), 15_000);
  await exited;
  clearTimeout(killed);
}

describe("npm start, used as a user would", function () {
  this.timeout(120_000);
  let dataDir: string;
  let api: string;
  let s3Url: string;
  let env: Record<string, string>;
  let started: Started;

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
  const ended = async (releaseId: string): Promise<ReleaseStatusView> => {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const { status, body } = await get(releaseId);
      if (status === 200 && body.status !== "RUNNING") return body;
      if (Date.now() > deadline) throw new Error(`release ${releaseId} did not end: ${JSON.stringify(body)}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  };

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "rm-start-"));
    const pipelinesFile = path.join(dataDir, "pipelines.json");
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
    const [port, s3Port] = [await freePort(), await freePort()];
    api = `http://127.0.0.1:${port}`;
    s3Url = `http://127.0.0.1:${s3Port}`;
    env = {
      RELEASE_MACHINE_PORT: String(port),
      RELEASE_MACHINE_S3_PORT: String(s3Port),
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
      new RegExp(
        `curl -X POST ${api}/releases -H 'content-type: application/json' -d @release-manifest.json`,
      ),
    );
    assert.match(output, /aws s3 cp release-manifest.json s3:\/\/release-manifests\/ --endpoint-url/);
  });

  it("runs a release submitted over HTTP to SUCCEEDED with every pipeline's history", async () => {
    const submitted = await post(JSON.stringify({ releaseId: "http-1", pipelines: ["svc-a", "svc-b"] }));
    assert.equal(submitted.status, 200);
    assert.match(String(submitted.body.executionArn), /:execution:release-machine:release-http-1$/);
    assert.equal(typeof submitted.body.startDate, "number");

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
    const s3 = new S3Client({
      endpoint: s3Url,
      region: "us-east-1",
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
    await s3.send(
      new PutObjectCommand({
        Bucket: "release-manifests",
        Key: "releases/s3-1.json",
        Body: JSON.stringify({ releaseId: "s3-1", pipelines: ["svc-b", "svc-a"] }),
      }),
    );
    s3.destroy();
    const deadline = Date.now() + 15_000;
    while ((await get("s3-1")).status === 404 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    const release = await ended("s3-1");
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
      200,
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

  it("keeps finished releases readable after a restart, and reports a release cut off by the stop as FAILED", async () => {
    assert.equal((await post(JSON.stringify({ releaseId: "cut-1", pipelines: ["svc-slow"] }))).status, 200);
    const deadline = Date.now() + 10_000;
    while ((await get("cut-1")).status !== 200 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 100));
    await stop(started);

    started = await npmStart(env);

    assert.equal((await get("http-1")).body.status, "SUCCEEDED");
    assert.equal((await get("fail-1")).body.status, "FAILED");
    const cut = await get("cut-1");
    assert.equal(cut.body.status, "FAILED");
    assert.equal(cut.body.error, "LocalEngineStopped");
    assert.match(
      started.output(),
      /Marked FAILED \(they were running when the machine last stopped\): cut-1/,
    );
  });
});
