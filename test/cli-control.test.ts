/**
 * The CLI's release-control commands (`cancel`, `retry`, `approve`, `reject`, `list`) and what
 * `status`/`watch` show of dependencies, gates and deciders, against the real local server started
 * in-process; one test per behaviour and exit code. Pipelines never end by themselves here: a test
 * ends them with the stand-in's `finish()`.
 */
import assert from "node:assert/strict";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { formatReleaseEvent } from "../local/release-events";
import type { LocalServer, ReleaseEvent } from "../local/server";
import { type CliServer, type Run, runCli, runMain, startCliServer } from "./cli-harness";
import { newReleaseId, until } from "./local-helpers";

let testServer: CliServer;
let server: LocalServer;
let dataDir: string;
/** What `npm start` would log, line by line. */
const logged: ReleaseEvent[] = [];

/** Runs one command line in-process as `user`. */
const cli = (args: string[], user = "alice"): Promise<Run> =>
  runCli(server, args, { RELEASE_MACHINE_USER: user });

async function submitted(
  manifest: { releaseId: string; pipelines: unknown[] },
  user = "alice",
): Promise<void> {
  const file = path.join(dataDir, `${manifest.releaseId}.json`);
  writeFileSync(file, JSON.stringify(manifest));
  const run = await cli(["submit", file], user);
  assert.equal(run.code, 0, run.stderr);
}

async function pipelineStatus(releaseId: string, pipeline: string): Promise<string | undefined> {
  return (await server.machine.readRelease(releaseId))?.pipelines.find((p) => p.name === pipeline)?.status;
}

async function finish(pipeline: string, status: "Succeeded" | "Failed"): Promise<void> {
  const record = await until(`${pipeline} to run`, () =>
    server.machine.codepipeline.executions(pipeline).find((e) => e.status === "InProgress"),
  );
  server.machine.codepipeline.finish(record.pipelineExecutionId, status);
  await server.machine.router.idle();
}

async function releaseStatus(releaseId: string, status: string): Promise<void> {
  await until(`${releaseId} to be ${status}`, async () =>
    (await server.machine.readRelease(releaseId))?.status === status ? true : undefined,
  );
}

describe("release-machine CLI: release control", function () {
  this.timeout(30_000);

  before(async () => {
    testServer = await startCliServer(
      "cli-control",
      [
        ...["c-build", "c-prod", "c-other"].map((name) => ({
          name,
          durationMs: null,
          outcome: "Succeeded" as const,
        })),
        // Its one action is a manual approval: a stop-and-wait waits for it (up to 7 days on AWS).
        {
          name: "c-held",
          durationMs: null,
          outcome: "Succeeded" as const,
          stages: [{ name: "Deploy", actions: [{ name: "Approve", manualApproval: true }] }],
        },
      ],
      { onReleaseEvent: (event) => logged.push(event) },
    );
    ({ server, dataDir } = testServer);
  });

  after(async () => {
    await testServer?.close();
  });

  it("prints the usage of cancel, retry, approve, reject and list for --help", async () => {
    for (const [command, usage] of [
      ["cancel", "cancel RELEASE_ID"],
      ["retry", "retry RELEASE_ID"],
      ["approve", "approve RELEASE_ID PIPELINE"],
      ["reject", "reject RELEASE_ID PIPELINE"],
      ["list", "list"],
    ]) {
      const run = await cli([command, "--help"]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, new RegExp(`^Usage: release-machine ${usage} \\[options\\]$`, "m"));
      assert.match(run.stdout, /Exits\s+0|Exit codes as approve/);
    }
  });

  it("cancels a running release (exit 0), then refuses a second cancel with 409 (exit 1)", async () => {
    const releaseId = newReleaseId("cli-cancel");
    await submitted({ releaseId, pipelines: ["c-build", { name: "c-prod", dependsOn: ["c-build"] }] });
    await until("c-build to run", async () =>
      (await pipelineStatus(releaseId, "c-build")) === "InProgress" ? true : undefined,
    );

    const cancelled = await cli(["cancel", releaseId, "--reason", "bad build"], "bob");
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, new RegExp(`^Release ${releaseId} is CANCELLING \\(by bob\\)`));
    await releaseStatus(releaseId, "CANCELLED");

    const watched = await cli(["watch", releaseId, "--interval", "20ms"]);
    assert.equal(watched.code, 1, "watch exits 1 for a CANCELLED release");
    assert.match(watched.stdout, /^ {2}cancelled by bob: bad build$/m);
    const status = await cli(["status", releaseId]);
    assert.equal(status.code, 1, "a CANCELLED release exits 1");
    assert.match(status.stdout, /^ {2}cancel {3}by bob: bad build$/m);
    assert.match(status.stdout, /c-prod +Skipped/);

    const again = await cli(["cancel", releaseId, "--json"], "bob");
    assert.equal(again.code, 1);
    assert.equal((JSON.parse(again.stdout) as { error: string }).error, "ReleaseNotRunning");
  });

  it("cancel --force abandons at once a pipeline whose manual approval a stop-and-wait would wait for", async () => {
    const releaseId = newReleaseId("cli-force");
    await submitted({ releaseId, pipelines: ["c-held"] });
    // The release waits (its registration, which started c-held, is done), and the approval is open.
    await until(`${releaseId} to wait`, async () => {
      const { Item } = await server.machine.deps.ddb.send(
        new GetCommand({ TableName: server.machine.tables.releases, Key: { releaseId } }),
      );
      return Item?.taskToken !== undefined;
    });
    await until("c-held's approval to be open", () =>
      server.machine.router.published.some(
        (e) =>
          e["detail-type"] === "CodePipeline Stage Execution State Change" &&
          e.detail.pipeline === "c-held" &&
          e.detail.state === "STARTED",
      ),
    );

    const cancelled = await cli(["cancel", releaseId, "--force"], "bob");
    assert.equal(cancelled.code, 0, cancelled.stderr);
    assert.match(cancelled.stdout, /running pipelines are being abandoned/);
    await releaseStatus(releaseId, "CANCELLED");
    const held = (await server.machine.readRelease(releaseId))?.pipelines[0];
    assert.deepEqual(
      [held?.status, held?.history.map((h) => h.state)],
      ["Stopped", ["STARTED", "ABANDONED_FORCED", "STOPPING", "STOPPED"]],
    );
  });

  it("shows a gate awaiting approval, refuses the submitter's own approval with 403, and records another person's", async () => {
    const releaseId = newReleaseId("cli-gate");
    await submitted({
      releaseId,
      pipelines: ["c-build", { name: "c-prod", dependsOn: ["c-build"], approval: { timeoutHours: 2 } }],
    });
    await until("c-build to run", async () =>
      (await pipelineStatus(releaseId, "c-build")) === "InProgress" ? true : undefined,
    );
    const waiting = await cli(["status", releaseId]);
    assert.match(waiting.stdout, /c-prod +Pending +not started; after c-build; gated$/m);
    await finish("c-build", "Succeeded");
    const gated = await cli(["status", releaseId]);
    assert.match(
      gated.stdout,
      /^ {2}\|\| c-prod +AwaitingApproval +not started; awaits approval until \d{4}-/m,
    );
    assert.match(gated.stdout, /^ {2}by {7}alice$/m);

    const own = await cli(["approve", releaseId, "c-prod"], "alice");
    assert.equal(own.code, 1);
    assert.match(own.stderr, /^SelfApprovalNotAllowed \(HTTP 403\): alice submitted release/);

    const approved = await cli(["approve", releaseId, "c-prod", "--comment", "go", "--json"], "bob");
    assert.equal(approved.code, 0, approved.stderr);
    assert.deepEqual(JSON.parse(approved.stdout), {
      releaseId,
      pipeline: "c-prod",
      decision: "approve",
      decidedBy: "bob",
      status: "Starting",
    });
    await finish("c-prod", "Succeeded");
    await releaseStatus(releaseId, "SUCCEEDED");
    const watched = await cli(["watch", releaseId, "--interval", "20ms"]);
    assert.equal(watched.code, 0, watched.stderr);
    assert.match(watched.stdout, /c-prod +Succeeded \(SUCCEEDED\); approved by bob \("go"\)/);
  });

  it("rejects a gate, failing the release with ApprovalRejected, and then retries what did not succeed", async () => {
    const releaseId = newReleaseId("cli-reject");
    await submitted({ releaseId, pipelines: [{ name: "c-other", approval: true }] });
    await until("the gate", async () =>
      (await pipelineStatus(releaseId, "c-other")) === "AwaitingApproval" ? true : undefined,
    );
    const rejected = await cli(["reject", releaseId, "c-other", "--comment", "freeze"], "bob");
    assert.equal(rejected.code, 0, rejected.stderr);
    assert.match(
      rejected.stdout,
      /c-other of release .* rejected by bob: the release fails \(ApprovalRejected\)/,
    );
    await releaseStatus(releaseId, "FAILED");
    // The log reports an end once the events it caused were delivered (the backstop's among them).
    await until("the first end to be logged", () =>
      logged.some((e) => e.type === "ended" && e.releaseId === releaseId && e.status === "FAILED"),
    );

    const retried = await cli(["retry", releaseId, "--json"], "carol");
    assert.equal(retried.code, 0, retried.stderr);
    const answer = JSON.parse(retried.stdout) as { attempt: number; executionArn: string };
    assert.equal(answer.attempt, 2);
    await until("the gate of attempt 2", async () =>
      (await pipelineStatus(releaseId, "c-other")) === "AwaitingApproval" ? true : undefined,
    );
    const running = await cli(["retry", releaseId], "carol");
    assert.equal(running.code, 1);
    assert.match(running.stderr, /^ReleaseNotRetryable \(HTTP 409\)/);
    assert.equal((await cli(["cancel", releaseId], "carol")).code, 0);
    // npm start's log follows the retry's execution too, to its CANCELLED end.
    await until("the retry's end to be logged", () =>
      logged.some((e) => e.type === "ended" && e.releaseId === releaseId && e.status === "CANCELLED"),
    );
    assert.deepEqual(
      logged
        .filter((e) => e.releaseId === releaseId && (e.type === "started" || e.type === "ended"))
        .map((e) => (e.type === "ended" ? `ended ${e.status}` : e.type)),
      ["started", "ended FAILED", "started", "ended CANCELLED"],
    );
    // ...and says who opened, decided, retried and cancelled what.
    assert.deepEqual(
      logged
        .filter((e) => e.type === "control" && e.releaseId === releaseId)
        .map((e) => formatReleaseEvent(e).slice("00:00:00Z  ".length)),
      [
        `gate       c-other awaits approval  (release ${releaseId})`,
        `rejected   c-other by bob: freeze  (release ${releaseId})`,
        `retried    release ${releaseId} by carol: attempt 2`,
        `gate       c-other awaits approval  (release ${releaseId})`,
        `cancel     release ${releaseId} by carol`,
      ],
    );
  });

  it("lists releases newest first with who submitted them, page by page, and refuses a bad status or limit", async () => {
    const first = newReleaseId("cli-list");
    await submitted({ releaseId: first, pipelines: [{ name: "c-other", approval: true }] }, "dave");
    const second = newReleaseId("cli-list");
    await submitted({ releaseId: second, pipelines: [{ name: "c-other", approval: true }] }, "erin");

    // Each is listed once its workflow registered it.
    for (const releaseId of [first, second]) {
      await until(`${releaseId} to be registered`, async () =>
        (await server.machine.readRelease(releaseId)) ? true : undefined,
      );
    }
    const page = await cli(["list", "--limit", "2"]);
    assert.equal(page.code, 0, page.stderr);
    const rows = page.stdout.split("\n");
    assert.match(rows[0], /^RELEASE +STATUS +STARTED +ENDED +SUBMITTED BY$/);
    assert.match(rows[1], new RegExp(`^${second} +RUNNING .* erin$`));
    assert.match(rows[2], new RegExp(`^${first} +RUNNING .* dave$`));
    assert.match(rows[3], /^More: npx release-machine list --next-token \S+$/);

    const json = await cli(["list", "--limit", "1", "--json"]);
    const parsed = JSON.parse(json.stdout) as { releases: { releaseId: string }[]; nextToken: string };
    assert.deepEqual(
      parsed.releases.map((r) => r.releaseId),
      [second],
    );
    const next = await cli(["list", "--limit", "1", "--next-token", parsed.nextToken, "--json"]);
    assert.deepEqual(
      (JSON.parse(next.stdout) as { releases: { releaseId: string }[] }).releases.map((r) => r.releaseId),
      [first],
    );

    const badStatus = await cli(["list", "--status", "done"]);
    assert.equal(badStatus.code, 1);
    assert.match(badStatus.stderr, /^InvalidStatus \(HTTP 400\): status must be one of RUNNING, SUCCEEDED/);
    const badLimit = await cli(["list", "--limit", "0"]);
    assert.equal(badLimit.code, 2);
    assert.match(badLimit.stderr, /--limit must be an integer from 1 to 100/);
    for (const releaseId of [first, second]) {
      assert.equal((await cli(["cancel", releaseId])).code, 0);
      await releaseStatus(releaseId, "CANCELLED");
    }
  });

  it("records the uploading account as the submitter of a release started by an upload, as S3's event names it", async () => {
    const releaseId = newReleaseId("cli-upload");
    const file = path.join(dataDir, `${releaseId}.json`);
    writeFileSync(file, JSON.stringify({ releaseId, pipelines: [{ name: "c-other", approval: true }] }));
    const uploaded = await cli(["submit", file, "--bucket", "release-manifests"]);
    assert.equal(uploaded.code, 0, uploaded.stderr);
    await until("the uploaded release to register", async () =>
      (await server.machine.readRelease(releaseId)) ? true : undefined,
    );
    assert.equal((await server.machine.readRelease(releaseId))?.submittedBy, "000000000000");
    assert.equal((await cli(["cancel", releaseId])).code, 0);
    await releaseStatus(releaseId, "CANCELLED");
  });

  it("exits 2 for --user against API Gateway, where the IAM identity is the caller", async () => {
    const { code, stderr } = await runMain(
      ["list", "--api", "https://abc.execute-api.eu-west-1.amazonaws.com/v1", "--user", "x"],
      { AWS_ACCESS_KEY_ID: "a", AWS_SECRET_ACCESS_KEY: "b" },
    );
    assert.equal(code, 2);
    assert.match(stderr, /--user names the caller of the local API only/);
  });
});
