/**
 * A releaseId rejected again and again keeps a bounded history (handlers/rejections.ts): the last
 * REJECTIONS_KEPT in brief, the current rejection's problems in full, the item within DynamoDB's
 * 400 KB (dynalite enforces it), through the real RecordRejected handler.
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { ManifestProblem } from "../contract/errors";
import { cappedRejection, rejectionMessage } from "../contract/rejection";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import { REJECTIONS_KEPT, recordRejection } from "../handlers/rejections";
import { releaseStatusApi } from "../handlers/release-status";
import type { LocalDynamo } from "../local/dynamodb";
import { startReleaseTables, stopReleaseTables } from "./local-helpers";

const tables = { releases: "releases", executions: "executions", releasePipelines: "release-pipelines" };

/**
 * The largest rejection a Cause can carry: a long readable summary (about 16 KB, as a rejection of
 * many problems reads) and as many problems as the message budget keeps. `char` fills both: "x"
 * for ASCII (dynalite measures strings in UTF-16 units, DynamoDB in UTF-8 bytes, so only ASCII is
 * measured alike), "€" for the most bytes per character the budget counts.
 */
function largestCause(releaseId: string, n: number, char = "x"): string {
  const summary = `rejection ${n}: ${char.repeat(16_000)}`;
  const problems: ManifestProblem[] = Array.from({ length: 400 }, (_, i) => ({
    path: `/pipelines/${i}`,
    rule: "allowList",
    message: char.repeat(200),
  }));
  const message = rejectionMessage(summary, cappedRejection(summary, { releaseId, problems }));
  return JSON.stringify({ errorType: "InvalidManifest", errorMessage: message, trace: [] });
}

describe("a releaseId's rejection history", function () {
  this.timeout(60_000);
  let dynamo: LocalDynamo;
  let raw: DynamoDBClient;

  before(async () => {
    ({ dynamo, raw } = await startReleaseTables(tables));
  });
  after(() => stopReleaseTables({ dynamo, raw }));

  const reject = (releaseId: string, n: number, char = "x") =>
    recordRejection(
      { ddb: documentClient(raw), tables, now: () => new Date(Date.UTC(2026, 11, 7, 10, 0, n)) },
      {
        request: { source: "s3", bucket: "releases", key: `r-${n}.json`, versionId: `v${n}` },
        error: { Error: "InvalidManifest", Cause: largestCause(releaseId, n, char) },
        executionArn: `arn:aws:states:us-east-1:0:execution:m:e${n}`,
        executionName: `e${n}`,
        startedAt: "2026-12-07T10:00:00.000Z",
      },
    );

  it("keeps the last 10 of 30 rejections in brief, newest last, with the current problems in full, readable by GET", async () => {
    const releaseId = "rejected-30";
    for (let n = 1; n <= 30; n += 1) {
      assert.equal((await reject(releaseId, n)).recordedAs, releaseId, `rejection ${n}`);
    }

    const response = await releaseStatusApi(
      { ddb: documentClient(raw), tables },
      {
        pathParameters: { releaseId },
      },
    );
    assert.equal(response.statusCode, 200);
    const view = JSON.parse((response as { body: string }).body) as {
      status: string;
      cause: string;
      problems: ManifestProblem[];
      rejections: {
        at: string;
        source: string;
        errorName: string;
        problemCount: number;
        executionArn: string;
      }[];
    };
    assert.equal(view.status, "REJECTED");
    assert.equal(REJECTIONS_KEPT, 10);
    assert.deepEqual(
      view.rejections.map((r) => r.source),
      Array.from({ length: 10 }, (_, i) => `s3://releases/r-${21 + i}.json?versionId=v${21 + i}`),
    );
    const newest = view.rejections[9];
    assert.deepEqual(newest, {
      at: "2026-12-07T10:00:30.000Z",
      source: "s3://releases/r-30.json?versionId=v30",
      errorName: "InvalidManifest",
      problemCount: view.problems.length,
      executionArn: "arn:aws:states:us-east-1:0:execution:m:e30",
    });
    // The current rejection in full: its readable cause and every problem the Cause carried.
    assert.match(view.cause, /^rejection 30: x/);
    assert.ok(view.problems.length > 20, `${view.problems.length} problems`);
    assert.equal(view.problems[view.problems.length - 1].rule, "tooManyProblems");
  });

  it("keeps the item within 400 KB in UTF-8 bytes when every character of the rejections takes 3 bytes", async () => {
    const releaseId = "rejected-wide";
    for (let n = 1; n <= 12; n += 1) await reject(releaseId, n, "€");

    const { Item } = await documentClient(raw).send(
      new GetCommand({ TableName: tables.releases, Key: { releaseId } }),
    );
    // JSON spends at least DynamoDB's per-attribute and per-element overhead on names and punctuation.
    const bytes = Buffer.byteLength(JSON.stringify(Item), "utf8");
    assert.ok(bytes < 400 * 1000, `${bytes} bytes`);
    assert.ok(bytes > 60 * 1000, `${bytes} bytes: the case did carry wide characters`);
    assert.equal(Item?.rejections.length, REJECTIONS_KEPT);
    assert.equal(Item?.rejectionCount, 12);
  });

  it("records both of two racing rejections of one releaseId", async () => {
    const releaseId = "rejected-racing";
    const recorded = await Promise.all([reject(releaseId, 1), reject(releaseId, 2)]);

    assert.deepEqual(
      recorded.map((r) => r.recordedAs),
      [releaseId, releaseId],
    );
    const response = await releaseStatusApi(
      { ddb: documentClient(raw), tables },
      {
        pathParameters: { releaseId },
      },
    );
    const view = JSON.parse((response as { body: string }).body) as { rejections: { source: string }[] };
    assert.deepEqual(view.rejections.map((r) => r.source).sort(), [
      "s3://releases/r-1.json?versionId=v1",
      "s3://releases/r-2.json?versionId=v2",
    ]);
  });
});
