/**
 * One submission path, end to end on local mode: the API (the submission function) and the bucket
 * (the workflow) refuse alike, record alike, and accept a corrected manifest after each other's
 * rejections; concurrent requests start one release; the byte limit and the longest releaseIds
 * behave as the README's API table says.
 */
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { PutObjectCommand } from "@aws-sdk/client-s3";
import { LOCAL_BUCKET } from "../local/server";
import { runCli } from "./cli-harness";
import { localPipelines, newReleaseId, until } from "./local-helpers";
import { type Answer, localServerFixture } from "./local-server-fixture";

type Problem = { path: string; rule: string; message: string };

const PIPELINES = localPipelines({ "svc-a": 20, "svc-hold": null });
const MAX_BYTES = 65536;

describe("one submission path through the API and the bucket", function () {
  this.timeout(120_000);
  const fixture = localServerFixture("submission", PIPELINES);
  const post = (body: string): Promise<Answer> => fixture.post(body);
  const get = async (id: string): Promise<Answer> => {
    const response = await fetch(`${fixture.server.url}/releases/${encodeURIComponent(id)}`);
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  };
  const upload = (key: string, body: string) =>
    fixture.s3.send(new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: key, Body: body }));
  /** The release once `probe` holds for it. */
  const releaseWhen = (id: string, what: string, probe: (body: Record<string, unknown>) => boolean) =>
    until(`${id}: ${what}`, async () => {
      const answer = await get(id);
      return answer.status === 200 && probe(answer.body) ? answer.body : undefined;
    });
  const rejectedTimes = (id: string, count: number) =>
    releaseWhen(
      id,
      `rejected ${count} times`,
      (b) => b.status === "REJECTED" && (b.rejections as unknown[] | undefined)?.length === count,
    );
  const running = (id: string) =>
    releaseWhen(id, "running", (b) => b.status === "RUNNING" || b.status === "SUCCEEDED");
  const rulesOf = (problems: unknown) => (problems as Problem[]).map((p) => [p.path, p.rule]);

  it("refuses the same bad manifest through the API and the bucket with the same problems, recorded under its releaseId", async () => {
    const releaseId = newReleaseId("same-bad");
    const bad = JSON.stringify({ releaseId, pipelines: ["svc-a", "svc-nope", "svc-a"], extra: 1 });
    const refused = await post(bad);
    assert.equal(refused.status, 400);
    assert.equal(refused.body.recordedAs, releaseId);
    const byApi = await rejectedTimes(releaseId, 1);
    await upload(`releases/${releaseId}.json`, bad);
    const byUpload = await rejectedTimes(releaseId, 2);
    assert.deepEqual(rulesOf(byUpload.problems), rulesOf(refused.body.problems));
    assert.deepEqual(byUpload.problems, byApi.problems);
    assert.deepEqual(
      (byUpload.rejections as { source: string }[]).map((r) => r.source.split("/")[0]),
      ["api", "s3:"],
    );
  });

  it("runs a manifest corrected through the bucket after the API refused it, and through the API after the bucket refused it", async () => {
    const first = newReleaseId("fix-by-upload");
    assert.equal((await post(JSON.stringify({ releaseId: first, pipelines: ["svc-nope"] }))).status, 400);
    await rejectedTimes(first, 1);
    await upload(`releases/${first}.json`, JSON.stringify({ releaseId: first, pipelines: ["svc-a"] }));
    assert.equal((await running(first)).source, `s3://${LOCAL_BUCKET}/releases/${first}.json`);

    const second = newReleaseId("fix-by-api");
    await upload(`releases/${second}.json`, JSON.stringify({ releaseId: second, pipelines: ["svc-nope"] }));
    await rejectedTimes(second, 1);
    const corrected = await post(JSON.stringify({ releaseId: second, pipelines: ["svc-a"] }));
    assert.equal(corrected.status, 202, JSON.stringify(corrected.body));
    assert.equal((await running(second)).executionArn, corrected.body.executionArn);
  });

  it("runs a manifest corrected with `release-machine submit` after the bucket refused it, and after the API refused it", async () => {
    const [afterUpload, afterApi] = [newReleaseId("cli-after-s3"), newReleaseId("cli-after-api")];
    await upload(
      `releases/${afterUpload}.json`,
      JSON.stringify({ releaseId: afterUpload, pipelines: ["nope"] }),
    );
    await rejectedTimes(afterUpload, 1);
    assert.equal((await post(JSON.stringify({ releaseId: afterApi, pipelines: ["nope"] }))).status, 400);
    for (const releaseId of [afterUpload, afterApi]) {
      const file = path.join(fixture.dataDir, `${releaseId}.json`);
      writeFileSync(file, JSON.stringify({ releaseId, pipelines: ["svc-a"] }));
      const submitted = await runCli(fixture.server, ["submit", file, "--json"]);
      assert.equal(submitted.code, 0, submitted.stderr);
      assert.equal((JSON.parse(submitted.stdout) as { releaseId: string }).releaseId, releaseId);
      await running(releaseId);
    }
  });

  it("runs a manifest corrected through the API after the API refused it, and answers 409 once it runs", async () => {
    const releaseId = newReleaseId("fix-by-api-again");
    assert.equal((await post(JSON.stringify({ releaseId, pipelines: ["svc-nope"] }))).status, 400);
    const corrected = await post(JSON.stringify({ releaseId, pipelines: ["svc-hold"] }));
    assert.equal(corrected.status, 202);
    await running(releaseId);
    const other = await post(JSON.stringify({ releaseId, pipelines: ["svc-a"] }));
    assert.equal(other.status, 409);
    assert.equal(other.body.error, "DuplicateRelease");
  });

  it("starts one execution for 20 concurrent identical POSTs, answering each 202 with the same executionArn", async () => {
    const releaseId = newReleaseId("same-20");
    const body = JSON.stringify({ releaseId, pipelines: ["svc-hold"] });
    const answers = await Promise.all(Array.from({ length: 20 }, () => post(body)));
    assert.deepEqual(
      answers.map((a) => a.status),
      answers.map(() => 202),
    );
    const arns = new Set(answers.map((a) => a.body.executionArn));
    assert.equal(arns.size, 1);
    const release = await running(releaseId);
    assert.equal(release.executionArn, [...arns][0]);
    const named = fixture.server.machine.engine
      .listExecutions()
      .filter((e) => e.executionArn === release.executionArn);
    assert.equal(named.length, 1);
  });

  it("runs one of 20 concurrent different manifests of one releaseId and answers the others 409", async () => {
    const releaseId = newReleaseId("different-20");
    const bodies = Array.from({ length: 20 }, (_, i) =>
      JSON.stringify({ releaseId, pipelines: [{ name: "svc-hold", variables: { TRY: String(i) } }] }),
    );
    const answers = await Promise.all(bodies.map(post));
    const statuses = answers.map((a) => a.status).sort();
    assert.deepEqual(statuses, [202, ...Array.from({ length: 19 }, () => 409)]);
    const winner = answers.find((a) => a.status === 202);
    assert.equal((await running(releaseId)).executionArn, winner?.body.executionArn);
    const started = fixture.server.machine.engine
      .listExecutions()
      .filter((e) => e.executionArn.includes(`:${releaseId}-`));
    assert.equal(started.length, 1);
  });

  it("accepts a body of exactly the byte limit with escaped characters, and answers 413 to one byte more", async () => {
    const releaseId = newReleaseId("limit");
    const core = JSON.stringify({
      releaseId,
      pipelines: [{ name: "svc-hold", variables: { NOTE: 'a "quote", a \\ backslash, é, ✓ and \t' } }],
    });
    const pad = (extra: number) =>
      `${core.slice(0, -1)}${" ".repeat(MAX_BYTES - Buffer.byteLength(core) + extra)}}`;
    assert.equal(Buffer.byteLength(pad(0)), MAX_BYTES);
    const over = await post(pad(1));
    assert.equal(over.status, 413);
    assert.deepEqual(rulesOf(over.body.problems), [["", "maxBytes"]]);
    // Refused, and recorded under the releaseId its start names; then the body at the limit runs.
    assert.equal(over.body.recordedAs, releaseId);
    const accepted = await post(pad(0));
    assert.equal(accepted.status, 202, JSON.stringify(accepted.body));
    await running(releaseId);
  });

  it("names the execution of a 64-character releaseId with '.' and '_' within 80 characters, and answers a different manifest 409", async () => {
    const releaseId = `${newReleaseId("long")}.v_1`.padEnd(64, "x");
    assert.equal(releaseId.length, 64);
    const body = JSON.stringify({ releaseId, pipelines: ["svc-hold"] });
    const first = await post(body);
    assert.equal(first.status, 202);
    const name = String(first.body.executionArn).split(":").pop() ?? "";
    assert.equal(name.length, 80);
    assert.ok(name.startsWith(releaseId.replace(/\./g, "_")), name);
    assert.equal((await post(body)).body.executionArn, first.body.executionArn);
    const other = await post(JSON.stringify({ releaseId, pipelines: ["svc-a"] }));
    assert.equal(other.status, 409);
  });

  it("records an oversized upload under the releaseId its start names, and runs the corrected manifest through the API", async () => {
    const releaseId = newReleaseId("big-upload");
    const big = `{"releaseId": "${releaseId}", "pipelines": ["svc-a"], "pad": "${"x".repeat(MAX_BYTES)}"}`;
    await upload(`releases/${releaseId}.json`, big);
    const rejected = await rejectedTimes(releaseId, 1);
    assert.deepEqual(rulesOf(rejected.problems), [["", "maxBytes"]]);
    assert.equal((await post(JSON.stringify({ releaseId, pipelines: ["svc-a"] }))).status, 202);
    await running(releaseId);
  });

  it("lists an upload with an unusable releaseId under the id the list shows, and reads it by that id", async () => {
    const key = `releases/${newReleaseId("unusual")}.json`;
    const marker = `bad id ${newReleaseId("x")}`;
    await upload(key, JSON.stringify({ releaseId: marker, pipelines: ["svc-a"] }));
    const listed = await until("the rejection listed", async () => {
      const response = await fetch(`${fixture.server.url}/releases?status=REJECTED&limit=100`);
      const { releases } = (await response.json()) as { releases: { releaseId: string }[] };
      for (const { releaseId } of releases.filter((r) => r.releaseId.startsWith("rejected:"))) {
        const read = await get(releaseId);
        if (read.status === 200 && read.body.source === `s3://${LOCAL_BUCKET}/${key}`) return read.body;
      }
      return undefined;
    });
    assert.equal(listed.status, "REJECTED");
    assert.deepEqual(rulesOf(listed.problems), [["/releaseId", "pattern"]]);
  });

  it("records a refused body for a releaseId that already ran apart, readable by the id the answer gives", async () => {
    const releaseId = newReleaseId("ran");
    assert.equal((await post(JSON.stringify({ releaseId, pipelines: ["svc-hold"] }))).status, 202);
    await running(releaseId);
    const refused = await post(JSON.stringify({ releaseId, pipelines: ["svc-nope"] }));
    assert.equal(refused.status, 400);
    const recordedAs = String(refused.body.recordedAs);
    assert.match(recordedAs, /^rejected:api-/);
    const read = await get(recordedAs);
    assert.equal(read.status, 200);
    assert.deepEqual(rulesOf(read.body.problems), [["/pipelines/0", "allowList"]]);
    assert.equal((await get(releaseId)).body.status, "RUNNING");
  });
});
