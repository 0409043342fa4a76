/**
 * The DynamoDB reads the handlers share: one item, read consistently (it decides what a handler
 * does next), and every item a Query or Scan finds, page after page (one call answers at most
 * 1 MB, and `LastEvaluatedKey` says where the next page starts).
 */
import {
  type DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  type QueryCommandInput,
  ScanCommand,
  type ScanCommandInput,
} from "@aws-sdk/lib-dynamodb";

export type PagedRequest =
  | { query: Omit<QueryCommandInput, "ExclusiveStartKey"> }
  | { scan: Omit<ScanCommandInput, "ExclusiveStartKey"> };

/** The items one page at a time, so a long scan acts on what it read before reading more. */
export async function* paged<T>(ddb: DynamoDBDocumentClient, request: PagedRequest): AsyncGenerator<T> {
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await ddb.send(
      "query" in request
        ? new QueryCommand({ ...request.query, ExclusiveStartKey: startKey })
        : new ScanCommand({ ...request.scan, ExclusiveStartKey: startKey }),
    );
    startKey = page.LastEvaluatedKey;
    yield* (page.Items ?? []) as T[];
  } while (startKey);
}

/** Every item, read to the last page. */
export async function allItems<T>(ddb: DynamoDBDocumentClient, request: PagedRequest): Promise<T[]> {
  const items: T[] = [];
  for await (const item of paged<T>(ddb, request)) items.push(item);
  return items;
}

/** One item by its key, read consistently; undefined when there is none. */
export async function readItem<T>(
  ddb: DynamoDBDocumentClient,
  table: string,
  key: Record<string, string>,
): Promise<T | undefined> {
  const { Item } = await ddb.send(new GetCommand({ TableName: table, Key: key, ConsistentRead: true }));
  return Item as T | undefined;
}
