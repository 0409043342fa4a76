/**
 * Local mode killed with SIGKILL (`kill -9`) and started again on the same data folder: nothing it
 * acknowledged is lost, and what ran is followed to its real end. Each machine is a real child
 * process (local/main.ts, as `npm start` runs it); the tests wait on its output lines and HTTP
 * answers, never on time.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { CodePipelineClient, ListPipelineExecutionsCommand } from "@aws-sdk/client-codepipeline";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ReleaseStatusView } from "../contract/release-view";
import { localS3ClientConfig } from "../contract/local-s3-config";
import { startLocalServer } from "../local/server";
import { until } from "./local-helpers";
import {
  type FollowedChild,
  freePort,
  kill9,
  startLocalMain as startMachine,
  stopGently,
} from "./child-process-helpers";

type Machine = FollowedChild;

/** One folder, fixed ports and clients for the machines started on it. */
async function killableSetup(pipelines: object[]) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "rm-kill-"));
  const pipelinesFile = path.join(dataDir, "pipelines.json");
  writeFileSync(pipelinesFile, JSON.stringify({ pipelines }));
  const [api, s3Port, cpPort] = [await freePort(), await freePort(), await freePort()];
  const env = {
    RELEASE_MACHINE_DATA_DIR: dataDir,
    RELEASE_MACHINE_PIPELINES: pipelinesFile,
    RELEASE_MACHINE_PORT: String(api),
    RELEASE_MACHINE_S3_PORT: String(s3Port),
    RELEASE_MACHINE_CODEPIPELINE_PORT: String(cpPort),
  };
  const url = `http://127.0.0.1:${api}`;
  const s3 = new S3Client(localS3ClientConfig(`http://127.0.0.1:${s3Port}`));
  const codepipeline = new CodePipelineClient({
    endpoint: `http://127.0.0.1:${cpPort}`,
    region: "us-east-1",
    credentials: { accessKeyId: "local", secretAccessKey: "local" },
  });
  return {
    dataDir,
    start: () => startMachine(env),
    async post(manifest: object, route = "/releases"): Promise<number> {
      const response = await fetch(`${url}${route}`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(manifest),
      });
      await response.text();
      return response.status;
    },
    async upload(manifest: { releaseId: string }): Promise<void> {
      await s3.send(
        new PutObjectCommand({
          Bucket: "release-manifests",
          Key: `releases/${manifest.releaseId}.json`,
          Body: JSON.stringify(manifest),
        }),
      );
    },
    async get(releaseId: string): Promise<ReleaseStatusView | undefined> {
      const response = await fetch(`${url}/releases/${encodeURIComponent(releaseId)}`);
      return response.status === 200 ? ((await response.json()) as ReleaseStatusView) : undefined;
    },
    async executions(pipelineName: string) {
      const listed = await codepipeline.send(new ListPipelineExecutionsCommand({ pipelineName }));
      return listed.pipelineExecutionSummaries ?? [];
    },
    close() {
      s3.destroy();
      codepipeline.destroy();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

const ended = (releaseId: string) => new RegExp(`^\\S+ {2}(succeeded|failed) +release ${releaseId}\\b`, "m");

describe("local mode killed with kill -9 and started again", function () {
  this.timeout(90_000);
  let setup: Awaited<ReturnType<typeof killableSetup>>;
  let machine: Machine | undefined;
  let beforeKill: ReleaseStatusView;

  before(async () => {
    setup = await killableSetup([
      { name: "svc-a", durationMs: 100, outcome: "Succeeded" },
      { name: "svc-slow", durationMs: 2500, outcome: "Failed", stages: ["Build"] },
    ]);
    machine = await setup.start();
    // A release with one pipeline that succeeds at once and one still running at the kill.
    assert.equal(await setup.post({ releaseId: "k-mixed", pipelines: ["svc-a", "svc-slow"] }), 202);
    await machine.logged(/pipeline +svc-a SUCCEEDED +\(release k-mixed\)/);
    beforeKill = await until("svc-slow's execution to be recorded", async () => {
      const release = await setup.get("k-mixed");
      return release?.pipelines[0]?.status === "Succeeded" && release.pipelines[1]?.pipelineExecutionId
        ? release
        : undefined;
    });
    // Acknowledged, then killed before anything else can happen.
    assert.equal(await setup.post({ releaseId: "k-api", pipelines: ["svc-a"] }), 202);
    await setup.upload({ releaseId: "k-s3", pipelines: ["svc-a"] } as { releaseId: string });
    await kill9(machine);
    machine = await setup.start();
  });

  after(async () => {
    await stopGently(machine);
    setup.close();
  });

  it("an API submission answered before kill -9 runs after the restart", async () => {
    await machine?.logged(ended("k-api"));
    assert.equal((await setup.get("k-api"))?.status, "SUCCEEDED");
  });

  it("an S3 upload acknowledged before kill -9 runs after the restart", async () => {
    await machine?.logged(ended("k-s3"));
    const release = await setup.get("k-s3");
    assert.equal(release?.status, "SUCCEEDED");
    assert.equal(release?.source, "s3://release-manifests/releases/k-s3.json");
  });

  it("a pipeline still running at kill -9 is followed to its real end after the restart", async () => {
    await machine?.logged(ended("k-mixed"));
    const release = await setup.get("k-mixed");
    const slowId = beforeKill.pipelines[1].pipelineExecutionId;
    assert.equal(release?.status, "FAILED");
    assert.deepEqual(
      release?.pipelines.map((p) => [p.name, p.status, p.pipelineExecutionId]),
      [
        ["svc-a", "Succeeded", beforeKill.pipelines[0].pipelineExecutionId],
        ["svc-slow", "Failed", slowId],
      ],
    );
    assert.deepEqual(
      (await setup.executions("svc-slow")).map((e) => [e.pipelineExecutionId, e.status]),
      [[slowId, "Failed"]],
      "CodePipeline ran it once, to its scripted end",
    );
  });

  it("a pipeline that succeeded before kill -9 reads Succeeded after the restart and is not run again by a retry", async () => {
    await machine?.logged(ended("k-mixed"));
    assert.equal(await setup.post({}, "/releases/k-mixed/retry"), 202);
    const retried = await until(
      "the retry to end",
      async () => {
        const release = await setup.get("k-mixed");
        return release?.attempt === 2 && release.status !== "RUNNING" ? release : undefined;
      },
      30_000,
    );
    assert.deepEqual(
      retried.pipelines.map((p) => [p.name, p.status, p.attempt]),
      [
        ["svc-a", "Succeeded", 1],
        ["svc-slow", "Failed", 2],
      ],
    );
    assert.equal(retried.pipelines[0].pipelineExecutionId, beforeKill.pipelines[0].pipelineExecutionId);
    // svc-a ran for k-mixed once, for k-api once and for k-s3 once: the retry started none.
    assert.equal((await setup.executions("svc-a")).length, 3);
  });
});

/** mulberry32: a small seeded generator, so a failing run can be repeated with its seed. */
function seeded(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe("local mode killed at random moments", function () {
  this.timeout(120_000);
  const seed = Number(process.env.RELEASE_MACHINE_KILL_SEED ?? 18);
  const ROUNDS = 2;

  it(`loses no accepted submission, through ${ROUNDS} kills at moments chosen by seed ${seed}`, async () => {
    const random = seeded(seed);
    const setup = await killableSetup([
      // PARALLEL: releases running together never supersede each other's executions.
      { name: "svc-a", durationMs: 100, outcome: "Succeeded", executionMode: "PARALLEL" },
      { name: "svc-b", durationMs: 300, outcome: "Succeeded", executionMode: "PARALLEL" },
    ]);
    const accepted: string[] = [];
    const moments: string[] = [];
    let machine: Machine | undefined;
    try {
      for (let round = 1; round <= ROUNDS; round += 1) {
        machine = await setup.start();
        const count = 1 + Math.floor(random() * 4);
        for (let i = 1; i <= count; i += 1) {
          const releaseId = `r${round}-${i}`;
          const manifest = { releaseId, pipelines: random() < 0.5 ? ["svc-a"] : ["svc-a", "svc-b"] };
          if (random() < 0.5) assert.equal(await setup.post(manifest), 202);
          else await setup.upload(manifest);
          accepted.push(releaseId);
        }
        const moment = Math.floor(random() * 3);
        const last = accepted.at(-1) ?? "";
        if (moment === 1) {
          // One more submission in flight: not acknowledged, so the kill may or may not lose it.
          void setup.post({ releaseId: `r${round}-unanswered`, pipelines: ["svc-a"] }).catch(() => 0);
        } else if (moment === 2) {
          await machine.logged(new RegExp(`started +release ${last}\\b`));
        }
        moments.push(["right after the last answer", "with a request in flight", "mid-run"][moment]);
        await kill9(machine);
      }
      machine = await setup.start();
      for (const releaseId of accepted) {
        const release = await until(
          `${releaseId} to end (kills: ${moments.join(", ")})`,
          async () => {
            const found = await setup.get(releaseId);
            return found && found.status !== "RUNNING" ? found : undefined;
          },
          30_000,
        );
        assert.equal(release.status, "SUCCEEDED", `${releaseId}: ${release.cause ?? ""}`);
      }
    } finally {
      await stopGently(machine);
      setup.close();
    }
  });
});

describe("an execution the journal saw start but not end", function () {
  this.timeout(60_000);

  it("runs again to the outcome its release already recorded, starting no pipeline again", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "rm-replay-"));
    const options = {
      port: 0,
      s3Port: 0,
      dataDir,
      pipelines: [
        { name: "svc-a", durationMs: 20, outcome: "Succeeded" as const },
        { name: "svc-f", durationMs: 20, outcome: "Failed" as const },
      ],
      retryPauseMs: 5,
      reconcileEveryMs: 3_600_000,
    };
    let server = await startLocalServer(options);
    try {
      const manifests = { ok: ["svc-a"], bad: ["svc-a", "svc-f"] };
      for (const [releaseId, pipelines] of Object.entries(manifests)) {
        const body = JSON.stringify({ releaseId, pipelines });
        const headers = { "content-type": "application/json" };
        const answer = await fetch(`${server.url}/releases`, { method: "POST", headers, body });
        assert.equal(answer.status, 202);
      }
      const first = server.machine;
      const ended = async (releaseId: string) =>
        until(`${releaseId} to end`, async () => {
          const release = await first.readRelease(releaseId);
          return release && release.status !== "RUNNING" ? release : undefined;
        });
      const before = [await ended("ok"), await ended("bad")];
      await Promise.all(first.engine.listExecutions().map((e) => e.done));
      await server.close();
      // As if killed after the Mark states wrote the outcome and before the end was journaled.
      const journal = path.join(dataDir, "executions.jsonl");
      const lines = readFileSync(journal, "utf8").split("\n");
      writeFileSync(journal, lines.filter((line) => !line.includes('"kind":"ended"')).join("\n"));

      server = await startLocalServer(options);

      assert.equal(server.machine.resumed.length, 2);
      await Promise.all(server.machine.resumed.map((execution) => execution.done));
      const after = [await server.machine.readRelease("ok"), await server.machine.readRelease("bad")];
      const shown = (r: ReleaseStatusView | undefined) => [
        r?.status,
        r?.error,
        r?.pipelines.map((p) => [p.name, p.status, p.pipelineExecutionId]),
      ];
      assert.deepEqual(after.map(shown), before.map(shown));
      assert.equal(server.machine.codepipeline.executions("svc-a").length, 2, "svc-a ran once per release");
      assert.equal(server.machine.codepipeline.executions("svc-f").length, 1);
    } finally {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
