/**
 * DynamoDB's 400 KB item limit holds locally: a write through the handlers' own DocumentClient
 * (handlers/clients.ts) that grows an item past it fails with ValidationException, as on AWS
 * (docs/aws-facts.md, "DynamoDB").
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { GetCommand, PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import { type LocalDynamo, createReleaseTables, startDynamo } from "../local/dynamodb";
import { LOCAL_CREDENTIALS, LOCAL_REGION, LOCAL_TABLES } from "../local/release-machine";

const KB = 1024;

describe("DynamoDB's item size limit in local mode", function () {
  this.timeout(20000);
  let dynamo: LocalDynamo;
  let client: DynamoDBClient;

  before(async () => {
    dynamo = await startDynamo();
    client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: LOCAL_REGION,
      credentials: LOCAL_CREDENTIALS,
    });
    await createReleaseTables(client, LOCAL_TABLES);
  });
  after(async () => {
    client.destroy();
    await dynamo.close();
  });

  it("refuses an UpdateItem that grows a release's item past 400 KB, and keeps the item as it was", async () => {
    const ddb = documentClient(client);
    const Key = { releaseId: "item-limit" };
    const TableName = LOCAL_TABLES.releases;
    await ddb.send(new PutCommand({ TableName, Item: { ...Key, cause: "x".repeat(300 * KB) } }));
    // Still under the limit: accepted.
    await ddb.send(
      new UpdateCommand({
        TableName,
        Key,
        UpdateExpression: "SET #p = :p",
        ExpressionAttributeNames: { "#p": "problems" },
        ExpressionAttributeValues: { ":p": "y".repeat(90 * KB) },
      }),
    );

    await assert.rejects(
      ddb.send(
        new UpdateCommand({
          TableName,
          Key,
          UpdateExpression: "SET #s = :s",
          ExpressionAttributeNames: { "#s": "source" },
          ExpressionAttributeValues: { ":s": "z".repeat(20 * KB) },
        }),
      ),
      // DynamoDB's words for an UpdateItem; a PutItem's follow below.
      { name: "ValidationException", message: "Item size to update has exceeded the maximum allowed size" },
    );
    const { Item } = await ddb.send(new GetCommand({ TableName, Key, ConsistentRead: true }));
    assert.equal(Item?.source, undefined);
    assert.equal((Item?.problems as string).length, 90 * KB);
  });

  it("refuses a PutItem of an item over 400 KB", async () => {
    const ddb = documentClient(client);
    await assert.rejects(
      ddb.send(
        new PutCommand({
          TableName: LOCAL_TABLES.executions,
          Item: { pipelineExecutionId: "too-big", history: "h".repeat(401 * KB) },
        }),
      ),
      { name: "ValidationException", message: "Item size has exceeded the maximum allowed size" },
    );
  });
});
