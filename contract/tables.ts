/**
 * The release machine's data model: table keys, index names, statuses and the mapping of
 * CodePipeline's two spellings of a state. One source for the handlers, the workflow
 * definition, the Pulumi tables (infra/) and the local tables (local/). The items and their
 * statuses are the lifecycle's (contract/lifecycle.ts).
 */
import { PIPELINE_ENDS, type PipelineExecutionStatus } from "./lifecycle";

/**
 * What `GET /releases` shows of each release (contract/release-view.ts, `ReleaseList`;
 * `cancelledBy` makes a running one read CANCELLING): all the listing indexes hold besides the keys,
 * so a write to any other attribute (a settle, a stored wait) writes no index entry.
 */
export const LISTING_FIELDS = [
  "status",
  "startedAt",
  "endedAt",
  "submittedBy",
  "attempt",
  "cancelledBy",
] as const;

/** `Releases` table: one item per releaseId (plus `rejected:<execution>` items for rejected manifests). */
export const ReleasesTable = {
  hashKey: "releaseId",
  /**
   * Sparse: every registered release carries `listed` (contract/tables.ts, `listedShard`), so
   * `GET /releases` reads them newest first with one Query per shard (rejected submissions are
   * not listed).
   */
  newestIndex: { name: "newest", hashKey: "listed", rangeKey: "startedAt", projection: LISTING_FIELDS },
  /**
   * Releases of one status, newest first (`GET /releases?status=`): keyed by `statusShard`, the
   * status and one of STATUS_SHARDS shards (`RUNNING#3`), written with every status, so no status
   * puts all its releases on one partition; the listing merges a status's shards.
   */
  byStatusIndex: {
    name: "byStatus",
    hashKey: "statusShard",
    rangeKey: "startedAt",
    projection: LISTING_FIELDS,
  },
  /**
   * The release an execution holds, by its ARN (the backstop's lookup for an execution whose name
   * does not encode its releaseId, such as one an upload started): keys only, written only when
   * `executionArn` changes (registration, a retry).
   */
  byExecutionIndex: { name: "byExecution", hashKey: "executionArn", projection: "KEYS_ONLY" },
} as const;

/** How many `byStatus` partitions each status spreads over. */
export const STATUS_SHARDS = 8;

/**
 * A release's shard number from its releaseId: the same for `listed` and `statusShard`. FNV-1a
 * (32 bits), then MurmurHash3's finalizer: FNV-1a's low bits depend only on the low bits of each
 * byte, so ids that differ in a counter (`5.16`, `5.17`) fell on as few as 2 of 8 shards; the
 * finalizer mixes every bit into the low ones. Readers merge every shard, so the shard a release
 * was written on never needs recomputing.
 */
export function shardNumber(releaseId: string, shards: number): number {
  let hash = 0x811c9dc5;
  for (const byte of Buffer.from(releaseId, "utf8")) hash = Math.imul(hash ^ byte, 0x01000193) >>> 0;
  hash ^= hash >>> 16;
  hash = Math.imul(hash, 0x85ebca6b) >>> 0;
  hash ^= hash >>> 13;
  hash = Math.imul(hash, 0xc2b2ae35) >>> 0;
  hash ^= hash >>> 16;
  return (hash >>> 0) % shards;
}

/** The `statusShard` value of a release in `status` on shard `shard`. */
export const statusShard = (status: string, shard: number | string): string => `${status}#${shard}`;

/** Every `byStatus` partition of one status. */
export const statusShards = (status: string): string[] =>
  Array.from({ length: STATUS_SHARDS }, (_, i) => statusShard(status, i));

/** The `statusShard` the handlers write for a release entering `status`: its releaseId's shard. */
export const statusShardOf = (releaseId: string, status: string): string =>
  statusShard(status, shardNumber(releaseId, STATUS_SHARDS));

/**
 * The `newest` index's partitions: a release's `listed` is one of these, by a hash of its
 * releaseId, so releases spread over several partitions instead of all writing one
 * (docs/aws-facts.md, "DynamoDB"). The first keeps the one value earlier releases carry, so they
 * stay listed. `GET /releases` merges the shards newest first (handlers/release-list.ts).
 */
export const LISTED_SHARDS: readonly string[] = [
  "release",
  ...Array.from({ length: 7 }, (_, i) => `release#${i + 1}`),
];

/** The `listed` value of a release: its shard, fixed by its releaseId (FNV-1a, 32 bits). */
export function listedShard(releaseId: string): string {
  return LISTED_SHARDS[shardNumber(releaseId, LISTED_SHARDS.length)];
}

/**
 * `ReleasePipelines` table: one item per (release, pipeline), the release's schedule. It holds
 * what the pipeline waits for (`dependsOn`, and `depsSucceeded`, a string set that grows by one
 * name per dependency that succeeded, so recording one twice is harmless), who waits for it
 * (`dependants`), its start request and its status. docs/architecture.md, "Scheduling".
 */
export const ReleasePipelinesTable = {
  hashKey: "releaseId",
  rangeKey: "pipeline",
  /** Sparse: only pipelines awaiting approval, keyed by when their gate expires (the reconciler expires them). */
  gatesIndex: { name: "gates", hashKey: "approvalDeadlineAt" },
} as const;

/**
 * `Executions` table: one item per CodePipeline execution, read by its id (the schedule names it;
 * BatchGetItem: handlers/executions.ts, executionsByIds). No index: the reconciler finds the
 * executions still awaiting their end, and the stuck claims, on the schedule of every RUNNING
 * release (the Releases `byStatus` index, then one keyed Query per release), so neither a start,
 * an event nor a settle writes an index entry (docs/architecture.md, "Write units").
 */
export const ExecutionsTable = {
  hashKey: "pipelineExecutionId",
} as const;

/** Attributes of a table's keys and indexes, for creating the table (DynamoDB or dynalite). */
export interface TableShape {
  hashKey: string;
  rangeKey?: string;
  attributes: { name: string; type: "S" }[];
  globalSecondaryIndexes: IndexShape[];
}

/**
 * What an index holds of each item besides the keys: `ALL`, `KEYS_ONLY`, or the named attributes
 * (`INCLUDE`). Every write that changes a projected attribute also writes the index.
 */
export type Projection = "ALL" | "KEYS_ONLY" | readonly string[];

export interface IndexShape {
  name: string;
  hashKey: string;
  rangeKey?: string;
  /** `ALL` when unset. */
  projection?: Projection;
}

type KeySchema = { readonly hashKey: string; readonly rangeKey?: string };

/** A table's shape from its keys and indexes: every key attribute once, a string. */
function tableShape(
  table: KeySchema,
  indexes: readonly (KeySchema & { readonly name: string; readonly projection?: Projection })[],
): TableShape {
  const keys = [table, ...indexes].flatMap((k) => (k.rangeKey ? [k.hashKey, k.rangeKey] : [k.hashKey]));
  return {
    hashKey: table.hashKey,
    ...(table.rangeKey ? { rangeKey: table.rangeKey } : {}),
    attributes: [...new Set(keys)].map((name) => ({ name, type: "S" as const })),
    // The keys are always projected; DynamoDB's NonKeyAttributes names only the others.
    globalSecondaryIndexes: indexes.map((index) => {
      const { projection, ...keys } = index;
      if (projection === undefined || typeof projection === "string") return { ...index };
      const own = [table.hashKey, table.rangeKey, index.hashKey, index.rangeKey];
      return { ...keys, projection: projection.filter((name) => !own.includes(name)) };
    }),
  };
}

export const releasesTableShape = tableShape(ReleasesTable, [
  ReleasesTable.newestIndex,
  ReleasesTable.byStatusIndex,
  ReleasesTable.byExecutionIndex,
]);

export const releasePipelinesTableShape = tableShape(ReleasePipelinesTable, [
  ReleasePipelinesTable.gatesIndex,
]);

export const executionsTableShape = tableShape(ExecutionsTable, []);

// The statuses and the items' shapes belong to the lifecycle; these names stay importable from here.
export {
  type FailurePolicy,
  type PipelineExecutionStatus,
  RELEASE_STATUSES,
  type ReleaseStatus,
  SETTLED_STATUSES,
  type ScheduleStatus,
} from "./lifecycle";

/** CodePipeline EventBridge states ("CodePipeline Pipeline Execution State Change" detail.state). */
export type PipelineEventState =
  "STARTED" | "RESUMED" | "STOPPING" | "STOPPED" | "SUCCEEDED" | "FAILED" | "CANCELED" | "SUPERSEDED";

/** How an execution's status is stored: the API's spelling, plus STARTED before anything is known. */
export type ExecutionStatus = PipelineExecutionStatus | "Started";

const eventStateToStatus: Record<PipelineEventState, PipelineExecutionStatus> = {
  STARTED: "InProgress",
  RESUMED: "InProgress",
  STOPPING: "Stopping",
  STOPPED: "Stopped",
  SUCCEEDED: "Succeeded",
  FAILED: "Failed",
  CANCELED: "Cancelled",
  SUPERSEDED: "Superseded",
};

/** The event state that reports a status (`Cancelled` -> `CANCELED`; `InProgress` -> `STARTED`). */
export function eventStateOf(status: PipelineExecutionStatus): PipelineEventState {
  const states = Object.keys(eventStateToStatus) as PipelineEventState[];
  return states.find((state) => eventStateToStatus[state] === status) ?? "STARTED";
}

/** Normalises an event state (`CANCELED`) to the API's status spelling (`Cancelled`). */
export function statusFromEventState(state: string): PipelineExecutionStatus | undefined {
  return (eventStateToStatus as Record<string, PipelineExecutionStatus | undefined>)[state];
}

/** An execution's end statuses: the ends a pipeline's schedule item takes over. */
export const TERMINAL_STATUSES: readonly PipelineExecutionStatus[] = PIPELINE_ENDS;

export function isTerminal(status: string | undefined): status is PipelineExecutionStatus {
  return status !== undefined && (TERMINAL_STATUSES as readonly string[]).includes(status);
}

/** Source of the release-machine's own EventBridge events. */
export const RELEASE_EVENT_SOURCE = "release-machine";
/** The bus the release machine publishes to. */
export const RELEASE_EVENT_BUS = "default";
export const RELEASE_EVENT_DETAIL_TYPE = "Release State Change";
/** Published when a gated pipeline's dependencies succeeded and it waits for a decision. */
export const APPROVAL_REQUESTED_DETAIL_TYPE = "Release Approval Requested";

/** The CodePipeline event the pipeline-event handler consumes. */
export const PIPELINE_EVENT_DETAIL_TYPE = "CodePipeline Pipeline Execution State Change";
