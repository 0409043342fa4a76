/**
 * A release whose registration failed for good can be submitted again under its releaseId
 * (issue 19 item 3; contract/lifecycle-reregister.ts), end to end on local mode through every
 * door: the API (the submission function), the bucket and `release-machine submit`. The failure is
 * injected in RegisterRelease (test/crash-injection.ts): it dies after writing the release and
 * one schedule item, and the workflow's Catch records the release FAILED with its schedule
 * pending. The identical or corrected resubmission runs and succeeds with a schedule that is
 * exactly its manifest's; a release FAILED after its pipelines ran still answers 409.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import { LOCAL_BUCKET } from "../local/server";
import { runCli } from "./cli-harness";
import { crashAfterWrites } from "./crash-injection";
import { localPipelines, newReleaseId, until } from "./local-helpers";
import { type Answer, localServerFixture } from "./local-server-fixture";

const PIPELINES = localPipelines({ "rs-a": 20, "rs-b": 20, "rs-c": 20, "rs-bad": 0 }, ["rs-bad"]);
/** The manifest whose registration fails: its first pipeline's item is written, then it dies. */
const FIRST = ["rs-a", { name: "rs-b", dependsOn: ["rs-a"] }, "rs-c"];
/** A corrected manifest: rs-a (the leftover item) is gone. */
const CORRECTED = ["rs-c", { name: "rs-b", dependsOn: ["rs-c"] }];

describe("a release whose registration failed for good, submitted again through each door", function () {
  this.timeout(120_000);
  const fixture = localServerFixture("resubmission", PIPELINES);
  const post = (body: string): Promise<Answer> => fixture.post(body);
  const record = async (releaseId: string) => ({
    release: await readReleaseItem(fixture.server.machine.deps, releaseId),
    items: await pipelinesOfRelease(fixture.server.machine.deps, releaseId),
  });
  const releaseWhen = (releaseId: string, what: string, status: string) =>
    until(`${releaseId} to be ${what}`, async () => {
      const { release } = await record(releaseId);
      return release?.status === status ? release : undefined;
    });

  /** Submits FIRST through the API while RegisterRelease dies after its second write: FAILED, schedule pending. */
  async function failedForGood(label: string): Promise<{ releaseId: string; body: string }> {
    const releaseId = newReleaseId(label);
    const body = JSON.stringify({ releaseId, pipelines: FIRST });
    const crash = crashAfterWrites(fixture.server.machine.functionDeps("registerRelease").execution, 2);
    try {
      assert.equal((await post(body)).status, 202);
      await releaseWhen(releaseId, "FAILED", "FAILED");
    } finally {
      crash.restore();
    }
    const { release, items } = await record(releaseId);
    assert.ok(release?.schedulePending, "the release says its schedule is incomplete");
    assert.deepEqual(
      items.map((i) => `${i.pipeline} ${i.status}`),
      ["rs-a Skipped"],
    );
    return { releaseId, body };
  }

  /** The release succeeded under `executionArn` with exactly the schedule `expected` names. */
  async function succeededWith(releaseId: string, expected: string[], executionArn?: unknown) {
    const release = await releaseWhen(releaseId, "SUCCEEDED", "SUCCEEDED");
    const { items } = await record(releaseId);
    assert.deepEqual(
      items.map((i) => `${i.pipeline} ${i.status}`),
      expected.map((p) => `${p} Succeeded`),
    );
    assert.equal(release.pipelineCount, items.length, "the pipeline count is the schedule's");
    assert.equal(release.settledCount, items.length);
    assert.deepEqual(
      [release.schedulePending, release.firstFailure, release.attempt],
      [undefined, undefined, 1],
    );
    if (executionArn !== undefined) assert.equal(release.executionArn, executionArn);
  }

  it("runs the identical manifest through the API under a new execution, and answers a repeat while it runs with that execution", async () => {
    const { releaseId, body } = await failedForGood("again-api");
    const failedArn = (await record(releaseId)).release?.executionArn;
    const again = await post(body);
    assert.equal(again.status, 202, JSON.stringify(again.body));
    assert.notEqual(again.body.executionArn, failedArn);
    const repeat = await post(body);
    assert.deepEqual([repeat.status, repeat.body.executionArn], [202, again.body.executionArn]);
    await succeededWith(releaseId, ["rs-a", "rs-b", "rs-c"], again.body.executionArn);
    assert.equal((await post(body)).status, 409, "it ran: a releaseId runs once");
  });

  it("runs a corrected manifest through the API with no leftover of the failed schedule", async () => {
    const { releaseId } = await failedForGood("fix-api");
    const corrected = await post(JSON.stringify({ releaseId, pipelines: CORRECTED }));
    assert.equal(corrected.status, 202, JSON.stringify(corrected.body));
    await succeededWith(releaseId, ["rs-c", "rs-b"], corrected.body.executionArn);
  });

  it("runs a corrected manifest uploaded to the bucket", async () => {
    const { releaseId } = await failedForGood("fix-s3");
    await fixture.s3.send(
      new PutObjectCommand({
        Bucket: LOCAL_BUCKET,
        Key: `releases/${releaseId}.json`,
        Body: JSON.stringify({ releaseId, pipelines: CORRECTED }),
      }),
    );
    await succeededWith(releaseId, ["rs-c", "rs-b"]);
    assert.equal(
      (await record(releaseId)).release?.source,
      `s3://${LOCAL_BUCKET}/releases/${releaseId}.json`,
    );
  });

  it("runs a corrected manifest submitted with `release-machine submit`", async () => {
    const { releaseId } = await failedForGood("fix-cli");
    const file = path.join(fixture.dataDir, `${releaseId}.json`);
    writeFileSync(file, JSON.stringify({ releaseId, pipelines: CORRECTED }));
    const submitted = await runCli(fixture.server, ["submit", file, "--json"]);
    assert.equal(submitted.code, 0, submitted.stderr);
    const answer = JSON.parse(submitted.stdout) as { releaseId: string; executionArn: string };
    assert.equal(answer.releaseId, releaseId);
    await succeededWith(releaseId, ["rs-c", "rs-b"], answer.executionArn);
  });

  it("answers 409 to a resubmission of a release that FAILED after a pipeline ran, through the API and the CLI", async () => {
    const releaseId = newReleaseId("ran");
    const body = JSON.stringify({ releaseId, pipelines: ["rs-bad"] });
    const first = await post(body);
    assert.equal(first.status, 202);
    const failed = await releaseWhen(releaseId, "FAILED", "FAILED");
    assert.equal(failed.schedulePending, undefined);
    const again = await post(JSON.stringify({ releaseId, pipelines: ["rs-a"] }));
    assert.deepEqual([again.status, again.body.error], [409, "DuplicateRelease"]);
    assert.match(String(again.body.message), /already submitted \(FAILED\)/);
    const file = path.join(fixture.dataDir, `${releaseId}.json`);
    writeFileSync(file, JSON.stringify({ releaseId, pipelines: ["rs-a"] }));
    const submitted = await runCli(fixture.server, ["submit", file, "--json"]);
    assert.notEqual(submitted.code, 0);
    const { release } = await record(releaseId);
    assert.deepEqual([release?.status, release?.executionArn], ["FAILED", first.body.executionArn]);
  });
});
