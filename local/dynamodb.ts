/**
 * Local DynamoDB: dynalite (the real DynamoDB HTTP API) in memory or persisted under a folder,
 * with the release machine's tables created from the same shapes the Pulumi program uses.
 */
import type { Server } from "node:http";
import {
  CreateTableCommand,
  DynamoDBClient,
  PutItemCommand,
  ResourceInUseException,
  ScanCommand,
} from "@aws-sdk/client-dynamodb";
import type { AttributeValue, Projection as DynamoProjection } from "@aws-sdk/client-dynamodb";
import {
  type Projection,
  type TableShape,
  executionsTableShape,
  releasePipelinesTableShape,
  releasesTableShape,
} from "../contract/tables";
import { listen } from "./http";

// dynalite ships no type declarations. It answers a node:http Server (https only with TLS
// options, which are never given).
// eslint-disable-next-line @typescript-eslint/no-require-imports
const dynalite = require("dynalite") as (options: { path?: string; createTableMs?: number }) => Server;

export interface LocalDynamo {
  endpoint: string;
  close(): Promise<void>;
}

/**
 * Starts dynalite on 127.0.0.1, on `port` (0 or unset: any free port; a taken one rejects with
 * PortInUse); `path` persists the data (one process per folder: LevelDB locks it).
 */
export async function startDynamo(options: { path?: string; port?: number } = {}): Promise<LocalDynamo> {
  const server = dynalite({ ...(options.path ? { path: options.path } : {}), createTableMs: 0 });
  const { port } = await listen(server, options.port ?? 0);
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

/** An index's projection as CreateTable takes it (dynalite stores only the projected attributes, as AWS does). */
function projectionOf(projection: Projection = "ALL"): DynamoProjection {
  return typeof projection === "string"
    ? { ProjectionType: projection }
    : { ProjectionType: "INCLUDE", NonKeyAttributes: [...projection] };
}

export async function createTable(client: DynamoDBClient, name: string, shape: TableShape): Promise<void> {
  try {
    await client.send(
      new CreateTableCommand({
        TableName: name,
        BillingMode: "PAY_PER_REQUEST",
        AttributeDefinitions: shape.attributes.map((a) => ({ AttributeName: a.name, AttributeType: a.type })),
        KeySchema: [
          { AttributeName: shape.hashKey, KeyType: "HASH" },
          ...(shape.rangeKey ? [{ AttributeName: shape.rangeKey, KeyType: "RANGE" as const }] : []),
        ],
        ...(shape.globalSecondaryIndexes.length > 0
          ? {
              GlobalSecondaryIndexes: shape.globalSecondaryIndexes.map((index) => ({
                IndexName: index.name,
                KeySchema: [
                  { AttributeName: index.hashKey, KeyType: "HASH" as const },
                  ...(index.rangeKey ? [{ AttributeName: index.rangeKey, KeyType: "RANGE" as const }] : []),
                ],
                Projection: projectionOf(index.projection),
              })),
            }
          : {}),
      }),
    );
  } catch (error) {
    // Already there: a persisted data folder from an earlier run.
    if (!(error instanceof ResourceInUseException)) throw error;
  }
}

export async function createReleaseTables(
  client: DynamoDBClient,
  names: { releases: string; executions: string; releasePipelines: string },
): Promise<void> {
  await createTable(client, names.releases, releasesTableShape);
  await createTable(client, names.executions, executionsTableShape);
  await createTable(client, names.releasePipelines, releasePipelinesTableShape);
}

/**
 * Writes every item of these tables again as it is, so each index holds an entry for every item
 * that has the index's key. dynalite keeps an item and its index entries as separate LevelDB
 * writes (index first), and a `kill -9` has been seen to leave a claimed schedule item off the
 * sparse `starting` index, where recovery looks for it; DynamoDB itself propagates every item to its
 * global secondary indexes (eventually), so local mode restores that at start-up, before anything
 * reads an index. Returns how many items it wrote. docs/architecture.md, "Restarts".
 */
export async function reindexTables(client: DynamoDBClient, tables: readonly string[]): Promise<number> {
  let written = 0;
  for (const TableName of tables) {
    let ExclusiveStartKey: Record<string, AttributeValue> | undefined;
    do {
      const page = await client.send(new ScanCommand({ TableName, ConsistentRead: true, ExclusiveStartKey }));
      for (const Item of page.Items ?? []) {
        await client.send(new PutItemCommand({ TableName, Item }));
        written += 1;
      }
      ExclusiveStartKey = page.LastEvaluatedKey;
    } while (ExclusiveStartKey);
  }
  return written;
}
