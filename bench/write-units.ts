/**
 * DynamoDB write units as AWS bills on-demand writes, counted from the real item images on the
 * local DynamoDB (dynalite reports the table's ConsumedCapacity when asked, but no index units).
 *
 * A write to the table costs ceil(max(old item size, new item size) / 1 KB) write units, at least
 * one; a write whose condition fails still costs the item's size ("Capacity unit consumption for
 * write operations"; item sizes: CapacityUnitCalculations.html, below):
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html
 * Each global secondary index whose projected copy the write creates, changes or deletes costs the
 * projected entry's size the same way; an update that changes the index key costs a delete of the
 * old entry and a put of the new one; a write that leaves the entry alone costs the index nothing
 * ("Provisioned throughput considerations for global secondary indexes", "Writes"):
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html#GSI.Writes
 *
 * The meter is bench-only: an SDK middleware that, per written key (one at a time), reads the item
 * before and after the write with a client of its own and prices the difference.
 */
import {
  type AttributeValue,
  DynamoDBClient,
  GetItemCommand,
  type DynamoDBClientConfig,
} from "@aws-sdk/client-dynamodb";
import type { TableShape } from "../contract/tables";

type Item = Record<string, AttributeValue>;

const utf8 = (s: string) => Buffer.byteLength(s, "utf8");

/**
 * A number's size: about one byte per two significant digits, plus one
 * (https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/CapacityUnitCalculations.html).
 */
function numberSize(n: string): number {
  const digits = n
    .replace(/^-/, "")
    .replace(/[eE].*$/, "")
    .replace(".", "")
    .replace(/^0+/, "")
    .replace(/0+$/, "");
  return Math.ceil(Math.max(digits.length, 1) / 2) + 1;
}

/** One value's size by DynamoDB's item size rules (CapacityUnitCalculations.html). */
export function valueSize(value: AttributeValue): number {
  if (value.S !== undefined) return utf8(value.S);
  if (value.N !== undefined) return numberSize(value.N);
  if (value.B !== undefined) return value.B.byteLength;
  if (value.BOOL !== undefined || value.NULL !== undefined) return 1;
  if (value.SS !== undefined) return value.SS.reduce((sum, s) => sum + utf8(s), 0);
  if (value.NS !== undefined) return value.NS.reduce((sum, n) => sum + numberSize(n), 0);
  if (value.BS !== undefined) return value.BS.reduce((sum, b) => sum + b.byteLength, 0);
  // A list or map: 3 bytes, 1 byte per element, the elements (and a map's names).
  if (value.L !== undefined) return 3 + value.L.reduce((sum, v) => sum + 1 + valueSize(v), 0);
  if (value.M !== undefined)
    return 3 + Object.entries(value.M).reduce((sum, [k, v]) => sum + 1 + utf8(k) + valueSize(v), 0);
  throw new Error(`bench: no size rule for ${JSON.stringify(value)}`);
}

/** An item's size: each attribute's name (UTF-8 bytes) plus its value. */
export function itemSize(item: Item): number {
  return Object.entries(item).reduce((sum, [name, value]) => sum + utf8(name) + valueSize(value), 0);
}

const units = (bytes: number) => Math.max(1, Math.ceil(bytes / 1024));

/** What a table's index holds of an item: nothing when the item lacks an index key (sparse). */
function projected(shape: TableShape, index: TableShape["globalSecondaryIndexes"][number], item?: Item) {
  if (!item || item[index.hashKey] === undefined) return undefined;
  if (index.rangeKey && item[index.rangeKey] === undefined) return undefined;
  const keys = [shape.hashKey, shape.rangeKey, index.hashKey, index.rangeKey].filter(
    (k): k is string => k !== undefined,
  );
  const projection = index.projection ?? "ALL";
  const names =
    projection === "ALL" ? Object.keys(item) : [...keys, ...(projection === "KEYS_ONLY" ? [] : projection)];
  return Object.fromEntries(names.filter((n) => item[n] !== undefined).map((n) => [n, item[n]]));
}

const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);

export interface WriteCost {
  table: number;
  indexes: number;
}

/** One write's units: the table's, and every index entry it puts, changes or deletes. */
export function writeCost(
  shape: TableShape,
  before: Item | undefined,
  after: Item | undefined,
  written: boolean,
): WriteCost {
  const size = Math.max(before ? itemSize(before) : 0, after ? itemSize(after) : 0);
  if (!written) return { table: units(before ? itemSize(before) : 0), indexes: 0 };
  let indexes = 0;
  for (const index of shape.globalSecondaryIndexes) {
    const [old, now] = [projected(shape, index, before), projected(shape, index, after)];
    if (same(old, now)) continue;
    const keyOf = (e: Item) => [e[index.hashKey], index.rangeKey ? e[index.rangeKey] : undefined];
    if (old && now && same(keyOf(old), keyOf(now))) {
      indexes += units(Math.max(itemSize(old), itemSize(now)));
    } else {
      if (old) indexes += units(itemSize(old));
      if (now) indexes += units(itemSize(now));
    }
  }
  return { table: units(size), indexes };
}

const WRITES = new Set(["PutItem", "UpdateItem", "DeleteItem"]);

interface WireRequest {
  TableName: string;
  Item?: Item;
  Key?: Item;
}

/** Counts the write units of every write sent through the clients it is attached to. */
export class WriteUnitMeter {
  private reader?: DynamoDBClient;
  private readonly locks = new Map<string, Promise<void>>();
  readonly total: WriteCost = { table: 0, indexes: 0 };
  readonly byTable = new Map<string, WriteCost>();

  constructor(
    private readonly config: DynamoDBClientConfig,
    private readonly shapes: Record<string, TableShape>,
  ) {}

  /** Meters `client`; the meter reads the items from `endpoint` with a client of its own. */
  attach(client: DynamoDBClient, endpoint: string): void {
    this.reader ??= new DynamoDBClient({ ...this.config, endpoint });
    client.middlewareStack.add(
      (next) => async (args) => {
        const request = args.request as { headers?: Record<string, string>; body?: unknown };
        const operation = String(request.headers?.["x-amz-target"] ?? "").replace(/^DynamoDB_\d+\./, "");
        if (operation === "TransactWriteItems" || operation === "BatchWriteItem")
          throw new Error(`bench: ${operation} is not metered`);
        if (!WRITES.has(operation)) return next(args);
        const body = request.body;
        const text =
          typeof body === "string"
            ? body
            : body instanceof Uint8Array
              ? Buffer.from(body).toString("utf8")
              : undefined;
        if (text === undefined) throw new Error(`bench: ${operation}'s body is not serialized yet`);
        const wire = JSON.parse(text) as WireRequest;
        return this.metered(wire, () => next(args));
      },
      { step: "build", name: "benchWriteUnitMeter" },
    );
  }

  units(): number {
    return this.total.table + this.total.indexes;
  }

  close(): void {
    this.reader?.destroy();
  }

  private async metered<T>(wire: WireRequest, write: () => Promise<T>): Promise<T> {
    const shape = this.shapes[wire.TableName];
    if (!shape) throw new Error(`bench: no shape for table ${wire.TableName}`);
    const source = wire.Key ?? wire.Item ?? {};
    const key = Object.fromEntries(
      [shape.hashKey, shape.rangeKey].filter((k): k is string => k !== undefined).map((k) => [k, source[k]]),
    );
    const lockKey = `${wire.TableName}:${JSON.stringify(key)}`;
    // One write per key at a time, so the images before and after are this write's.
    const previous = this.locks.get(lockKey) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((resolve) => (release = resolve));
    const chained = previous.then(() => mine);
    this.locks.set(lockKey, chained);
    await previous;
    try {
      const before = await this.read(wire.TableName, key);
      let written = false;
      try {
        const result = await write();
        written = true;
        return result;
      } finally {
        const after = written ? await this.read(wire.TableName, key) : before;
        this.add(wire.TableName, writeCost(shape, before, after, written));
      }
    } finally {
      release();
      if (this.locks.get(lockKey) === chained) this.locks.delete(lockKey);
    }
  }

  private async read(table: string, key: Item): Promise<Item | undefined> {
    if (!this.reader) throw new Error("bench: the meter is attached to no client");
    const answer = await this.reader.send(
      new GetItemCommand({ TableName: table, Key: key, ConsistentRead: true }),
    );
    return answer.Item;
  }

  private add(table: string, cost: WriteCost): void {
    const t = this.byTable.get(table) ?? { table: 0, indexes: 0 };
    t.table += cost.table;
    t.indexes += cost.indexes;
    this.byTable.set(table, t);
    this.total.table += cost.table;
    this.total.indexes += cost.indexes;
  }
}
