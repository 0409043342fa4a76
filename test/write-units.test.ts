/**
 * The bench's write-unit meter (bench/write-units.ts) prices writes as AWS bills them: item sizes
 * by DynamoDB's rules, the table's units from the larger image, and each index entry a write puts,
 * changes or deletes (docs/aws-facts.md, "DynamoDB").
 */
import assert from "node:assert/strict";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { itemSize, writeCost } from "../bench/write-units";
import { meterRelease } from "../bench/write-units-bench";
import { type TableShape, executionsTableShape } from "../contract/tables";

const shape: TableShape = {
  hashKey: "id",
  attributes: [],
  globalSecondaryIndexes: [
    { name: "all", hashKey: "group", rangeKey: "at" },
    { name: "some", hashKey: "status", projection: ["title"] },
  ],
};

const s = (value: string): AttributeValue => ({ S: value });
const big = "x".repeat(1500);

describe("the bench's write-unit meter", () => {
  it("sizes items as DynamoDB does: names and values in UTF-8, numbers by significant digits, lists and maps with overhead", () => {
    assert.equal(itemSize({ id: s("ab") }), 4);
    assert.equal(itemSize({ é: s("é") }), 4);
    assert.equal(itemSize({ n: { N: "12345" } }), 1 + 3 + 1);
    assert.equal(itemSize({ n: { N: "1000" } }), 1 + 1 + 1);
    assert.equal(itemSize({ b: { BOOL: true } }), 2);
    assert.equal(itemSize({ l: { L: [s("ab"), s("c")] } }), 1 + 3 + (1 + 2) + (1 + 1));
    assert.equal(itemSize({ m: { M: { k: s("v") } } }), 1 + 3 + 1 + 1 + 1);
    assert.equal(itemSize({ ss: { SS: ["ab", "cde"] } }), 2 + 5);
  });

  it("bills the table the larger image in started KB, and an index entry the write leaves alone nothing", () => {
    const before = { id: s("1"), group: s("g"), at: s("t"), body: s(big) };
    const after = { ...before, body: s(`${big}${big}`) };
    // 3,0xx bytes after: 3 units; the `all` entry changes (ALL projects body): 3 more.
    assert.deepEqual(writeCost(shape, before, after, true), { table: 3, indexes: 3 });
    // `some` holds only its key and title: a body change leaves it alone.
    const listed = { id: s("1"), status: s("RUNNING"), title: s("t"), body: s(big) };
    assert.deepEqual(writeCost(shape, listed, { ...listed, body: s(`${big}!`) }, true), {
      table: 2,
      indexes: 0,
    });
  });

  it("bills a changed index key as a delete and a put, and an entry's arrival or departure once", () => {
    const running = { id: s("1"), status: s("RUNNING"), title: s("t") };
    assert.deepEqual(writeCost(shape, running, { ...running, status: s("SUCCEEDED") }, true), {
      table: 1,
      indexes: 2,
    });
    assert.deepEqual(writeCost(shape, undefined, running, true), { table: 1, indexes: 1 });
    assert.deepEqual(writeCost(shape, running, undefined, true), { table: 1, indexes: 1 });
  });

  it("bills a write whose condition failed the existing item's units and no index", () => {
    const item = { id: s("1"), group: s("g"), at: s("t"), body: s(big) };
    assert.deepEqual(writeCost(shape, item, item, false), { table: 2, indexes: 0 });
    assert.deepEqual(writeCost(shape, undefined, undefined, false), { table: 1, indexes: 0 });
  });
});

describe("a release's metered writes on the local machine", () => {
  it("writes each pipeline's schedule item four times: its success and its settled mark are one write", async () => {
    const { byTable } = await meterRelease(2);
    // Registration, the claim, the recorded start, and the success marked settled with it: each
    // item is under 1 KB, one unit per write; a separate mark would make it 5 per pipeline.
    assert.equal(byTable["release-pipelines"]?.table, 8);
    // The `starting` index: the claim puts the entry, the recorded start deletes it.
    assert.equal(byTable["release-pipelines"]?.indexes, 4);
  });

  it("the Executions table has exactly the waiting index: a history append or a status change writes no index entry", () => {
    // A release's executions are read by the ids its schedule names (executionsByIds); an index
    // listing them by release (byRelease) had no reader left and cost one write unit per pipeline.
    assert.deepEqual(
      executionsTableShape.globalSecondaryIndexes.map((index) => index.name),
      ["waiting"],
    );
    const item = {
      pipelineExecutionId: s("e-1"),
      releaseId: s("r-1"),
      pipeline: s("p-1"),
      status: s("InProgress"),
      history: { L: [{ M: { state: s("STARTED"), at: s("t1"), eventId: s("ev-1") } }] },
    };
    const after = {
      ...item,
      status: s("Succeeded"),
      history: { L: [...item.history.L, { M: { state: s("SUCCEEDED"), at: s("t2"), eventId: s("ev-2") } }] },
    };
    assert.deepEqual(writeCost(executionsTableShape, item, after, true), { table: 1, indexes: 0 });
    // Claiming the execution for its release writes no index entry either.
    const { releaseId: _, ...unclaimed } = item;
    assert.deepEqual(writeCost(executionsTableShape, unclaimed, item, true), { table: 1, indexes: 0 });
    // While waiting, `waiting` holds the status the reconciler reads, never the history.
    const waiting = { ...item, awaitingRelease: s("r-1") };
    assert.deepEqual(writeCost(executionsTableShape, waiting, { ...waiting, history: after.history }, true), {
      table: 1,
      indexes: 0,
    });
  });
});
