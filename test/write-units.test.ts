/**
 * The bench's write-unit meter (bench/write-units.ts) prices writes as AWS bills them: item sizes
 * by DynamoDB's rules, the table's units from the larger image, and each index entry a write puts,
 * changes or deletes (docs/aws-facts.md, "DynamoDB").
 */
import assert from "node:assert/strict";
import type { AttributeValue } from "@aws-sdk/client-dynamodb";
import { itemSize, writeCost } from "../bench/write-units";
import { meterRelease } from "../bench/write-units-bench";
import { type TableShape, executionsTableShape, releasePipelinesTableShape } from "../contract/tables";

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
  it("writes each pipeline's schedule item four times and no index entry: registration, claim, start record, success marked settled", async () => {
    const { byTable } = await meterRelease(2, "afterRecord");
    // Each item is under 1 KB, one unit per write; a separate settled mark would make it 5 per
    // pipeline, and an index of claims or of running pipelines 2 more (the reconciler reads the
    // schedules of RUNNING releases instead).
    assert.deepEqual(byTable["release-pipelines"], { table: 8, indexes: 0 });
    // One write per execution, its link to the release: the STARTED event writes nothing (the link
    // stands for it) and the success is recorded by the schedule's write that acts on it.
    assert.deepEqual(byTable.executions, { table: 2, indexes: 0 });
  });

  it("an end that races its start record costs the execution one more write, never an index entry or a failed write", async () => {
    const { byTable } = await meterRelease(2);
    // Instant pipelines: an end may arrive before the link (the handler cannot know the release and
    // records it for the start to act on), at most once per pipeline; exactly one of the two acts.
    const executions = byTable.executions ?? { table: 0, indexes: 0 };
    assert.ok(executions.table >= 2 && executions.table <= 4, `executions table units ${executions.table}`);
    assert.equal(executions.indexes, 0);
    assert.deepEqual(byTable["release-pipelines"], { table: 8, indexes: 0 });
  });

  it("no table but Releases has an index a pipeline's writes reach: Executions none, the schedule only its gates", () => {
    assert.deepEqual(executionsTableShape.globalSecondaryIndexes, []);
    assert.deepEqual(
      releasePipelinesTableShape.globalSecondaryIndexes.map((index) => index.name),
      ["gates"],
    );
    const item = {
      pipelineExecutionId: s("e-1"),
      releaseId: s("r-1"),
      pipeline: s("p-1"),
      status: s("InProgress"),
      history: { L: [{ M: { state: s("FAILED"), at: s("t1"), eventId: s("ev-1") } }] },
    };
    const { releaseId: _, ...unlinked } = item;
    assert.deepEqual(writeCost(executionsTableShape, unlinked, item, true), { table: 1, indexes: 0 });
  });
});
