/**
 * The release cost the benchmark reports (bench/cost.ts): counts times cited prices, Lambda
 * durations as billed, and read units as DynamoDB reports them on the local DynamoDB.
 */
import assert from "node:assert/strict";
import { GetCommand, PutCommand, QueryCommand } from "@aws-sdk/lib-dynamodb";
import { LambdaClock, PRICES, ReadUnitMeter, costUsd } from "../bench/cost";
import { COST_FRACTION_OF_BASELINE } from "../bench/targets";
import { documentClient } from "../handlers/clients";
import { LOCAL_TABLES } from "../local/release-machine";
import { startReleaseTables, stopReleaseTables } from "./local-helpers";

describe("the benchmark's release cost", () => {
  it("prices a release as each count times its us-east-1 on-demand price", () => {
    const counts = {
      transitions: 1000,
      lambdaInvocations: 1e6,
      lambdaGbSeconds: 1,
      dynamoWriteUnits: 1e6,
      dynamoReadUnits: 1e6,
      eventBridgeEvents: 1e6,
    };
    // $0.025 per 1,000 transitions, $0.20 per million requests, $0.0000133334 per GB-s (Arm),
    // $0.625 and $0.125 per million write and read units, $1 per million events.
    const expected = 0.025 + 0.2 + 0.0000133334 + 0.625 + 0.125 + 1;
    assert.ok(Math.abs(costUsd(counts) - expected) < 1e-9, `${costUsd(counts)} vs ${expected}`);
    assert.equal(
      costUsd({
        ...counts,
        transitions: 0,
        lambdaInvocations: 0,
        lambdaGbSeconds: 0,
        dynamoWriteUnits: 0,
        dynamoReadUnits: 0,
        eventBridgeEvents: 0,
      }),
      0,
    );
  });

  it("cites an AWS pricing page for every price, and aims at a fifth of the baseline", () => {
    for (const price of Object.values(PRICES))
      assert.match(price.url, /^https:\/\/aws\.amazon\.com\/[a-z-]+\/pricing\//);
    assert.equal(COST_FRACTION_OF_BASELINE, 1 / 5);
  });

  it("bills each Lambda invocation its duration rounded up to 1 ms, at 256 MB", async () => {
    const clock = new LambdaClock();
    clock.add(0.2);
    clock.add(10.5);
    assert.equal(await clock.time(() => Promise.resolve(7)), 7);
    assert.equal(clock.invocations, 3);
    // 1 + 11 + at least 1 ms
    assert.ok(clock.meanMs() >= 13 / 3);
    assert.ok(Math.abs(clock.gbSeconds(1) - (clock.meanMs() * 3) / 1000) < 1e-12);
    assert.ok(Math.abs(clock.gbSeconds() - clock.gbSeconds(1) / 4) < 1e-12);
  });

  describe("read units on the local DynamoDB", () => {
    let tables: Awaited<ReturnType<typeof startReleaseTables>>;
    before(async () => {
      tables = await startReleaseTables(LOCAL_TABLES);
    });
    after(() => stopReleaseTables(tables));

    it("sums the capacity DynamoDB reports: a strongly consistent read of up to 4 KB is one unit", async () => {
      const meter = new ReadUnitMeter();
      meter.attach(tables.raw);
      const ddb = documentClient(tables.raw);
      await ddb.send(
        new PutCommand({ TableName: LOCAL_TABLES.releases, Item: { releaseId: "r-1", status: "RUNNING" } }),
      );
      assert.equal(meter.units, 0, "a write is not a read");
      await ddb.send(
        new GetCommand({ TableName: LOCAL_TABLES.releases, Key: { releaseId: "r-1" }, ConsistentRead: true }),
      );
      assert.equal(meter.units, 1);
      await ddb.send(
        new QueryCommand({
          TableName: LOCAL_TABLES.releases,
          KeyConditionExpression: "releaseId = :r",
          ExpressionAttributeValues: { ":r": "r-1" },
        }),
      );
      assert.equal(meter.units, 1.5, "an eventually consistent Query of one small item is half a unit");
    });
  });
});
