/**
 * A release that a restart of local mode cannot take up (its execution is not in the journal: a
 * data folder from before the journal, or a journal lost) is marked FAILED as interrupted: the
 * restart prints one line per such release, its cause says that `release-machine retry` resumes
 * it, and its endedAt is when it stopped (its last recorded event), not the restart. Each machine
 * is a real child process (local/main.ts, as `npm start` runs it), killed with SIGKILL; the test
 * waits on its output lines and HTTP answers, never on time.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { createServer } from "node:http";
import { DynamoDBClient, ListTablesCommand } from "@aws-sdk/client-dynamodb";
import { listen } from "../local/http";
import { readSettings, startFromSettings, startupMessage } from "../local/main";
import type { ReleaseStatusView } from "../contract/release-view";
import { until } from "./local-helpers";
import { type FollowedChild, freePort, kill9, startLocalMain, stopGently } from "./child-process-helpers";

/** Everything the view shows was recorded for the release, latest last. */
function lastShown(release: ReleaseStatusView): string {
  const times = [
    release.startedAt,
    ...release.pipelines.flatMap((p) => [p.startedAt, p.endedAt, ...p.history.map((h) => h.at)]),
  ].filter((at): at is string => Boolean(at));
  return times.sort().at(-1) ?? "";
}

describe("local mode restarted with a release it cannot take up", function () {
  this.timeout(90_000);
  const dataDir = mkdtempSync(path.join(tmpdir(), "rm-restart-"));
  let machine: FollowedChild | undefined;
  let url: string;
  let dynamodbPort: number;
  let env: Record<string, string>;
  const seen = new Map<string, ReleaseStatusView>();
  let restartedAt: string;

  const get = async (releaseId: string): Promise<ReleaseStatusView | undefined> => {
    const response = await fetch(`${url}/releases/${encodeURIComponent(releaseId)}`);
    return response.status === 200 ? ((await response.json()) as ReleaseStatusView) : undefined;
  };
  const post = async (route: string, body: object): Promise<number> => {
    const response = await fetch(`${url}${route}`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify(body),
    });
    await response.text();
    return response.status;
  };
  /** The release once every pipeline named in `running` has its first event and the others succeeded. */
  const settledBeforeKill = (releaseId: string, pipelines: string[], running: string[]) =>
    until(`${releaseId}'s pipelines to run`, async () => {
      const release = await get(releaseId);
      const ready = release?.pipelines.every((p) =>
        running.includes(p.name)
          ? p.history.length > 0 && Boolean(p.startedAt)
          : p.status === "Succeeded" && Boolean(p.endedAt),
      );
      return ready && release?.pipelines.length === pipelines.length ? release : undefined;
    });

  before(async () => {
    const pipelinesFile = path.join(dataDir, "pipelines.json");
    writeFileSync(
      pipelinesFile,
      JSON.stringify({
        pipelines: [
          { name: "svc-a", durationMs: 50, outcome: "Succeeded" },
          { name: "hold-a", durationMs: null, outcome: "Succeeded" },
          { name: "hold-b", durationMs: null, outcome: "Succeeded" },
        ],
      }),
    );
    const [api, s3] = [await freePort(), await freePort()];
    dynamodbPort = await freePort();
    url = `http://127.0.0.1:${api}`;
    env = {
      RELEASE_MACHINE_DATA_DIR: path.join(dataDir, "data"),
      RELEASE_MACHINE_PIPELINES: pipelinesFile,
      RELEASE_MACHINE_PORT: String(api),
      RELEASE_MACHINE_S3_PORT: String(s3),
      RELEASE_MACHINE_DYNAMODB_PORT: String(dynamodbPort),
    };
    machine = await startLocalMain(env);
    assert.equal(await post("/releases", { releaseId: "cut-1", pipelines: ["svc-a", "hold-a"] }), 202);
    assert.equal(await post("/releases", { releaseId: "cut-2", pipelines: ["hold-b"] }), 202);
    seen.set("cut-1", await settledBeforeKill("cut-1", ["svc-a", "hold-a"], ["hold-a"]));
    seen.set("cut-2", await settledBeforeKill("cut-2", ["hold-b"], ["hold-b"]));
    await kill9(machine);
    // What a data folder from before the execution journal looks like: nothing to run again.
    rmSync(path.join(dataDir, "data", "executions.jsonl"));
    restartedAt = new Date().toISOString();
    machine = await startLocalMain(env);
  });

  after(async () => {
    await stopGently(machine);
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("prints one line per release it marked, with when it stopped and the command that resumes it", () => {
    const output = machine?.output() ?? "";
    assert.match(
      output,
      /^Interrupted \(running when the machine stopped, nothing to take them up\), marked FAILED: 2$/m,
    );
    for (const releaseId of ["cut-1", "cut-2"]) {
      const stoppedAt = lastShown(seen.get(releaseId) as ReleaseStatusView);
      assert.match(
        output,
        new RegExp(
          `^ {2}release ${releaseId} stopped at ${stoppedAt.replace(/\./g, "\\.")}; resume it: npx release-machine retry ${releaseId}$`,
          "m",
        ),
      );
    }
  });

  it("says in the cause that the release was interrupted and that release-machine retry resumes it", async () => {
    const release = await get("cut-1");
    assert.equal(release?.status, "FAILED");
    assert.equal(release?.error, "LocalEngineStopped");
    assert.match(
      release?.cause ?? "",
      /^Interrupted: the local release machine stopped while this release was running/,
    );
    assert.match(release?.cause ?? "", /`release-machine retry cut-1` resumes it/);
    assert.doesNotMatch(release?.cause ?? "", /new releaseId/);
  });

  it("dates the release's end, and its stopped pipeline's, by its last recorded event, not the restart", async () => {
    const earlier = seen.get("cut-1") as ReleaseStatusView;
    const stoppedAt = lastShown(earlier);
    assert.ok(stoppedAt < restartedAt, `${stoppedAt} is before the restart at ${restartedAt}`);
    const release = await get("cut-1");
    assert.equal(release?.endedAt, stoppedAt);
    assert.deepEqual(
      release?.pipelines.map((p) => [p.name, p.status, p.endedAt]),
      [
        ["svc-a", "Succeeded", earlier.pipelines[0].endedAt],
        ["hold-a", "Stopped", stoppedAt],
      ],
    );
  });

  it("puts the local DynamoDB on RELEASE_MACHINE_DYNAMODB_PORT, at each start, and prints it", async () => {
    const endpoint = `http://127.0.0.1:${dynamodbPort}`;
    assert.match(machine?.output() ?? "", new RegExp(`^ {2}DynamoDB +${endpoint} {2}tables releases, `, "m"));
    const client = new DynamoDBClient({
      endpoint,
      region: "us-east-1",
      credentials: { accessKeyId: "local", secretAccessKey: "local" },
    });
    try {
      const { TableNames } = await client.send(new ListTablesCommand({}));
      assert.deepEqual(TableNames?.sort(), ["executions", "release-pipelines", "releases"]);
    } finally {
      client.destroy();
    }
  });

  it("resumes an interrupted release with release-machine retry: attempt 2 runs what did not succeed", async () => {
    const earlier = seen.get("cut-1") as ReleaseStatusView;
    assert.equal(await post("/releases/cut-1/retry", {}), 202);
    const retried = await until("attempt 2 to start hold-a again", async () => {
      const release = await get("cut-1");
      const hold = release?.pipelines[1];
      // Its execution linked (InProgress): "Started" reads only until the start's link is written.
      return release?.attempt === 2 && hold?.pipelineExecutionId && hold.status === "InProgress"
        ? release
        : undefined;
    });
    assert.equal(retried.status, "RUNNING");
    assert.deepEqual(
      retried.pipelines.map((p) => [p.name, p.status, p.attempt]),
      [
        ["svc-a", "Succeeded", 1],
        ["hold-a", "InProgress", 2],
      ],
    );
    assert.equal(retried.pipelines[0].pipelineExecutionId, earlier.pipelines[0].pipelineExecutionId);
    assert.notEqual(retried.pipelines[1].pipelineExecutionId, earlier.pipelines[1].pipelineExecutionId);
  });
});

describe("RELEASE_MACHINE_DYNAMODB_PORT", () => {
  it("is read as a port (default 0: a free port on each start), refusing one another setting uses", () => {
    assert.equal(readSettings({}).dynamodbPort, 0);
    assert.equal(readSettings({ RELEASE_MACHINE_DYNAMODB_PORT: "4572" }).dynamodbPort, 4572);
    assert.throws(() => readSettings({ RELEASE_MACHINE_DYNAMODB_PORT: "dynamo" }), {
      name: "SettingError",
      message: 'RELEASE_MACHINE_DYNAMODB_PORT must be a port number from 0 to 65535, got "dynamo"',
    });
    assert.throws(
      () => readSettings({ RELEASE_MACHINE_PORT: "4572", RELEASE_MACHINE_DYNAMODB_PORT: "4572" }),
      {
        name: "SettingError",
        message:
          "RELEASE_MACHINE_PORT and RELEASE_MACHINE_DYNAMODB_PORT are both 4572; give them different ports",
      },
    );
  });

  it("stops the start with one line naming it when its port is taken, and leaves nothing running", async function () {
    this.timeout(60_000);
    const dataDir = mkdtempSync(path.join(tmpdir(), "rm-dynamo-port-"));
    const pipelinesFile = path.join(dataDir, "pipelines.json");
    writeFileSync(
      pipelinesFile,
      JSON.stringify({ pipelines: [{ name: "svc-a", durationMs: 50, outcome: "Succeeded" }] }),
    );
    const holder = createServer();
    const { port } = await listen(holder, 0);
    const settings = {
      port: 0,
      s3Port: 0,
      dynamodbPort: port,
      dataDir: path.join(dataDir, "data"),
      pipelinesFile,
    };
    const out = { write: () => true };
    try {
      const taken = await startFromSettings(settings, out).then(
        () => "started",
        (error: unknown) => startupMessage(error, settings),
      );
      assert.equal(
        taken,
        `port ${port} on 127.0.0.1 is already in use (another npm start?); stop that process or set RELEASE_MACHINE_DYNAMODB_PORT to a free port`,
      );
      // Nothing was left running: the data folder starts again at once.
      const again = await startFromSettings({ ...settings, dynamodbPort: 0 }, out);
      await again.close();
    } finally {
      await new Promise<void>((resolve) => holder.close(() => resolve()));
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
