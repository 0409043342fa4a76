/**
 * `GET /releases`: both listing indexes hold every release in one of a few shards: `newest` in
 * LISTED_SHARDS, `byStatus` in a status's STATUS_SHARDS (contract/tables.ts). A page queries each
 * shard newest first and merges them, so the answer is the same newest-first list one partition
 * gave. The nextToken is opaque: per shard, the index key of the last release answered from it (or
 * that the shard is done); one decoder checks it for both listings.
 */
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import { RequestRefused } from "../contract/errors";
import type { ReleaseItem } from "../contract/lifecycle";
import { LISTED_SHARDS, ReleasesTable, statusShards } from "../contract/tables";
import type { ExecutionDeps } from "./executions";

type IndexKey = Record<string, string>;

/** Where each shard's next page starts: after this key, or from its newest; absent when it is done. */
type Cursors = Record<string, IndexKey | "start">;

/** A sharded listing: its index and the partitions a page merges. */
interface Listing {
  index: { name: string; hashKey: string; rangeKey: string };
  shards: readonly string[];
}
/** The refusal of a nextToken this API never answered. */
export const invalidNextToken = () =>
  new RequestRefused(
    400,
    "InvalidNextToken",
    "nextToken must be the value a previous GET /releases answered, with the same status filter",
  );

/** The JSON object a nextToken encodes (base64url JSON), or a refusal. */
export function tokenObject(token: string): Record<string, unknown> {
  let decoded: unknown;
  try {
    decoded = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
  } catch {
    throw invalidNextToken();
  }
  if (typeof decoded !== "object" || decoded === null || Array.isArray(decoded)) throw invalidNextToken();
  return decoded as Record<string, unknown>;
}

/** Whether `value` is a key of `listing` in `partition`: the table's and the index's keys, all strings. */
export function isListingKey(
  value: unknown,
  listing: { hashKey: string; rangeKey: string },
  partition: string,
): value is IndexKey {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return false;
  const key = value as Record<string, unknown>;
  const expected = [ReleasesTable.hashKey, listing.hashKey, listing.rangeKey].sort();
  return (
    JSON.stringify(Object.keys(key).sort()) === JSON.stringify(expected) &&
    Object.values(key).every((v) => typeof v === "string") &&
    key[listing.hashKey] === partition
  );
}

/** A token this listing answered, or a refusal: anything else never reaches DynamoDB. */
function decode(token: string, listing: Listing): Cursors {
  const cursors: Cursors = {};
  for (const [shard, cursor] of Object.entries(tokenObject(token))) {
    if (
      !listing.shards.includes(shard) ||
      !(cursor === "start" || isListingKey(cursor, listing.index, shard))
    )
      throw invalidNextToken();
    cursors[shard] = cursor;
  }
  if (Object.keys(cursors).length === 0) throw invalidNextToken();
  return cursors;
}

/** One page of one partition of a listing index, newest first. */
export async function queryNewestFirst(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  listing: { name: string; hashKey: string },
  value: string,
  limit: number,
  startKey: Record<string, unknown> | undefined,
): Promise<{ items: ReleaseItem[]; lastKey?: Record<string, unknown> }> {
  const page = await deps.ddb.send(
    new QueryCommand({
      TableName: deps.tables.releases,
      IndexName: listing.name,
      KeyConditionExpression: "#key = :value",
      ExpressionAttributeNames: { "#key": listing.hashKey },
      ExpressionAttributeValues: { ":value": value },
      ScanIndexForward: false,
      Limit: limit,
      ...(startKey ? { ExclusiveStartKey: startKey } : {}),
    }),
  );
  return {
    items: (page.Items ?? []) as ReleaseItem[],
    ...(page.LastEvaluatedKey ? { lastKey: page.LastEvaluatedKey } : {}),
  };
}

const encode = (cursors: Cursors) => Buffer.from(JSON.stringify(cursors)).toString("base64url");

const keyOf = (item: ReleaseItem, listing: Listing, shard: string): IndexKey => ({
  [ReleasesTable.hashKey]: item.releaseId,
  [listing.index.hashKey]: shard,
  [listing.index.rangeKey]: item.startedAt ?? "",
});

type ListDeps = Pick<ExecutionDeps, "ddb" | "tables">;
type ListPage = { items: ReleaseItem[]; nextToken?: string };

/** One page of every release, newest first, merged from the `newest` index's shards. */
export function listNewest(deps: ListDeps, limit: number, nextToken: string | undefined): Promise<ListPage> {
  return listMerged(deps, { index: ReleasesTable.newestIndex, shards: LISTED_SHARDS }, limit, nextToken);
}

/**
 * One page of the releases in `status`, newest first, merged from the status's `byStatus` shards
 * (`GET /releases?status=`; the reconciler's pass over RUNNING releases).
 */
export function listReleasesByStatus(
  deps: ListDeps,
  status: string,
  limit: number,
  nextToken: string | undefined,
): Promise<ListPage> {
  const listing = { index: ReleasesTable.byStatusIndex, shards: statusShards(status) };
  return listMerged(deps, listing, limit, nextToken);
}

/** Every release in `status`, newest first, page after page (e.g. every RUNNING release). */
export async function* releasesByStatus(
  deps: ListDeps,
  status: string,
  pageSize = 100,
): AsyncGenerator<ReleaseItem> {
  let nextToken: string | undefined;
  do {
    const page = await listReleasesByStatus(deps, status, pageSize, nextToken);
    yield* page.items;
    nextToken = page.nextToken;
  } while (nextToken !== undefined);
}

/** One page of a sharded listing, newest first: each shard queried from its cursor, then merged. */
async function listMerged(
  deps: ListDeps,
  listing: Listing,
  limit: number,
  nextToken: string | undefined,
): Promise<ListPage> {
  const cursors: Cursors =
    nextToken === undefined
      ? Object.fromEntries(listing.shards.map((s) => [s, "start"]))
      : decode(nextToken, listing);
  const pages = await Promise.all(
    Object.entries(cursors).map(async ([shard, cursor]) => {
      const startKey = cursor === "start" ? undefined : cursor;
      const page = await queryNewestFirst(deps, listing.index, shard, limit, startKey);
      return { shard, items: page.items, more: page.lastKey !== undefined };
    }),
  );
  // A merge of newest-first lists: each shard's own order is kept, the newest head goes first.
  const items: ReleaseItem[] = [];
  const taken = new Map<string, number>(pages.map((p) => [p.shard, 0]));
  while (items.length < limit) {
    let best: (typeof pages)[number] | undefined;
    for (const page of pages) {
      const head = page.items[taken.get(page.shard) ?? 0];
      const bestHead = best?.items[taken.get(best.shard) ?? 0];
      if (head && (!bestHead || (head.startedAt ?? "") > (bestHead.startedAt ?? ""))) best = page;
    }
    if (!best) break;
    const at = taken.get(best.shard) ?? 0;
    items.push(best.items[at]);
    taken.set(best.shard, at + 1);
  }
  const next: Cursors = {};
  for (const page of pages) {
    const used = taken.get(page.shard) ?? 0;
    if (used < page.items.length || page.more)
      next[page.shard] =
        used > 0 ? keyOf(page.items[used - 1], listing, page.shard) : (cursors[page.shard] ?? "start");
  }
  return { items, ...(Object.keys(next).length > 0 ? { nextToken: encode(next) } : {}) };
}
