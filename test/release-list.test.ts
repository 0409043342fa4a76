/**
 * The sharded listings of GET /releases (handlers/release-list.ts) and the Executions reads that
 * replaced the byRelease index (handlers/executions.ts, executionsByIds).
 */
import assert from "node:assert/strict";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { LOCAL_TABLES } from "../local/release-machine";
import { documentClient } from "../handlers/clients";
import { executionsByIds, recordedHistory } from "../handlers/executions";
import { listRoute } from "../handlers/release-control";
import { releasesByStatus } from "../handlers/release-list";
import { pipelinesOfRelease } from "../handlers/release/reads";
import { STATUS_SHARDS, shardNumber, statusShardOf, statusShards } from "../contract/tables";
import { startReleaseTables, stopReleaseTables, withLocalMachine } from "./local-helpers";

type Tables = Awaited<ReturnType<typeof startReleaseTables>>;

describe("GET /releases?status= over the byStatus shards", () => {
  let tables: Tables;
  let deps: { ddb: ReturnType<typeof documentClient>; tables: typeof LOCAL_TABLES };
  const base = Date.parse("2031-01-01T00:00:00.000Z");
  const running = Array.from({ length: 27 }, (_, i) => `run-${i}`);
  const succeeded = Array.from({ length: 9 }, (_, i) => `done-${i}`);

  before(async () => {
    tables = await startReleaseTables(LOCAL_TABLES);
    deps = { ddb: documentClient(tables.raw), tables: LOCAL_TABLES };
    const put = (releaseId: string, status: string, at: number) =>
      deps.ddb.send(
        new PutCommand({
          TableName: LOCAL_TABLES.releases,
          Item: {
            releaseId,
            status,
            statusShard: statusShardOf(releaseId, status),
            startedAt: new Date(base + at * 1000).toISOString(),
            attempt: 1,
          },
        }),
      );
    // Interleaved in time, so a page that read one shard only would be out of order.
    for (const [i, id] of running.entries()) await put(id, "RUNNING", i * 2);
    for (const [i, id] of succeeded.entries()) await put(id, "SUCCEEDED", i * 2 + 1);
  });

  after(() => stopReleaseTables(tables));

  it("spreads one status over several partitions of the index", () => {
    const shards = new Set(running.map((id) => statusShardOf(id, "RUNNING")));
    assert.ok(shards.size >= 4, `27 RUNNING releases on ${shards.size} partitions`);
    assert.deepEqual(statusShards("RUNNING").length, STATUS_SHARDS);
  });

  it("spreads ids that vary in two places at once over most shards (FNV-1a's low bits alone put these 23 on 2)", () => {
    let counter = 19;
    const ids = Array.from({ length: 23 }, (_, i) => `shard-${i}-s-mitvfg1s-${(counter += 1)}`);
    const shards = new Set(ids.map((id) => shardNumber(id, STATUS_SHARDS)));
    assert.ok(shards.size >= 5, `23 releases on ${shards.size} of ${STATUS_SHARDS} shards`);
  });

  it("pages across every shard newest first, each release once, until the listing ends", async () => {
    const seen: string[] = [];
    let nextToken: string | undefined;
    let pages = 0;
    do {
      const page = await listRoute(deps, {
        status: "RUNNING",
        limit: "4",
        ...(nextToken ? { nextToken } : {}),
      });
      assert.ok(page.releases.length <= 4);
      assert.ok(page.releases.every((r) => r.status === "RUNNING"));
      seen.push(...page.releases.map((r) => r.releaseId));
      nextToken = page.nextToken;
      pages += 1;
    } while (nextToken && pages < 50);
    assert.equal(nextToken, undefined, "the listing ends");
    assert.deepEqual(seen, [...running].reverse(), "every RUNNING release, newest first");
  });

  it("lists every release of a status for the reconciler, page after page", async () => {
    const all: string[] = [];
    for await (const release of releasesByStatus(deps, "SUCCEEDED", 2)) all.push(release.releaseId);
    assert.deepEqual(all, [...succeeded].reverse());
  });

  it("refuses a nextToken of one status's listing for another status, and a forged shard", async () => {
    const first = await listRoute(deps, { status: "RUNNING", limit: "2" });
    assert.equal(typeof first.nextToken, "string");
    await assert.rejects(listRoute(deps, { status: "SUCCEEDED", nextToken: first.nextToken }), {
      name: "InvalidNextToken",
    });
    const forged = Buffer.from(JSON.stringify({ "RUNNING#99": "start" })).toString("base64url");
    await assert.rejects(listRoute(deps, { status: "RUNNING", nextToken: forged }), {
      name: "InvalidNextToken",
    });
    // The unfiltered listing's decoder is the same one: a status token is not one of its shards.
    await assert.rejects(listRoute(deps, { nextToken: first.nextToken }), { name: "InvalidNextToken" });
  });
});

describe("a release's status and its byStatus partition, on the local machine", () => {
  it("moves an ended release to its end status's shards and reads its executions by the ids its schedule names", async () => {
    await withLocalMachine(
      { pipelines: [{ name: "p-1", durationMs: 0, outcome: "Succeeded" as const }] },
      async (m) => {
        const releaseId = "status-shard-1";
        const done = await m.submit({ releaseId, pipelines: ["p-1"] }).done;
        assert.equal(done.status, "SUCCEEDED");
        const list = async (status: string) =>
          (await listRoute(m.control, { status })).releases.map((r) => r.releaseId);
        assert.ok((await list("SUCCEEDED")).includes(releaseId));
        assert.ok(!(await list("RUNNING")).includes(releaseId));
        // No index lists a release's executions: the schedule names them, and they are read by id.
        const [scheduled] = await pipelinesOfRelease(m.deps, releaseId);
        assert.ok(scheduled.pipelineExecutionId);
        const [execution] = await executionsByIds(m.deps, [scheduled.pipelineExecutionId]);
        assert.equal(execution.releaseId, releaseId);
        // Its success is on the execution's item, or (an end after the start's record) on the
        // schedule's alone: the status view's history shows it either way.
        const states = recordedHistory(execution, scheduled).map((h) => h.state);
        assert.deepEqual(states, ["STARTED", "SUCCEEDED"]);
      },
    );
  });
});

describe("executionsByIds", () => {
  it("reads 100 keys a call and asks again for the keys DynamoDB left unprocessed", async () => {
    const calls: number[] = [];
    let unprocessedOnce = true;
    const ddb = {
      send: (command: { input: { RequestItems: Record<string, { Keys: Record<string, string>[] }> } }) => {
        const keys = command.input.RequestItems.executions.Keys;
        calls.push(keys.length);
        // The first call answers half and leaves the rest unprocessed, as a throttled batch does.
        const answered = unprocessedOnce ? keys.slice(0, 50) : keys;
        const left = unprocessedOnce ? keys.slice(50) : [];
        unprocessedOnce = false;
        return Promise.resolve({
          Responses: { executions: answered.map((k) => ({ ...k, status: "Succeeded" })) },
          ...(left.length > 0 ? { UnprocessedKeys: { executions: { Keys: left } } } : {}),
        });
      },
    };
    const ids = Array.from({ length: 230 }, (_, i) => `e-${i}`);
    const items = await executionsByIds(
      { ddb: ddb as unknown as ReturnType<typeof documentClient>, tables: LOCAL_TABLES },
      [...ids, "e-0"],
    );
    assert.deepEqual(calls, [100, 50, 100, 30]);
    assert.deepEqual(items.map((i) => i.pipelineExecutionId).sort(), [...ids].sort());
  });
});
