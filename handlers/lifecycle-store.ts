/**
 * Sends the declared lifecycle changes (contract/lifecycle.ts) to DynamoDB: every write to a
 * Releases or ReleasePipelines item goes through here. A change whose condition does not hold
 * answers `{ changed: false }` (another writer won, or the item is not where the caller read it);
 * any other error is thrown.
 */
import { PutCommand, UpdateCommand } from "@aws-sdk/lib-dynamodb";
import {
  PIPELINE_CHANGES,
  type PipelineChanges,
  type PipelineItem,
  RELEASE_CHANGES,
  type ReleaseChanges,
  type ReleaseItem,
} from "../contract/lifecycle";
import { type ChangeCall, createInput, updateInput } from "../contract/lifecycle-expression";
import { ReleasePipelinesTable, ReleasesTable } from "../contract/tables";
import { type ExecutionDeps, isConditionFailure } from "./executions";

type StoreDeps = Pick<ExecutionDeps, "ddb" | "tables">;

/** What a change did: the item as written, or nothing because its condition did not hold. */
export type Changed<T> = { changed: true; item: T } | { changed: false };

export const releaseKey = (releaseId: string) => ({ [ReleasesTable.hashKey]: releaseId });
export const pipelineKey = (releaseId: string, pipeline: string) => ({
  [ReleasePipelinesTable.hashKey]: releaseId,
  [ReleasePipelinesTable.rangeKey]: pipeline,
});

const isItem = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && typeof Reflect.get(value, "status") === "string";

function isReleaseItem(value: unknown): value is ReleaseItem {
  return isItem(value) && typeof value.releaseId === "string";
}

function isPipelineItem(value: unknown): value is PipelineItem {
  return isItem(value) && typeof value.pipeline === "string";
}

async function update<T>(
  deps: StoreDeps,
  input: { TableName: string; Key: Record<string, string> } & ReturnType<typeof updateInput>,
  guard: (value: unknown) => value is T,
): Promise<Changed<T>> {
  try {
    const { Attributes } = await deps.ddb.send(new UpdateCommand({ ...input, ReturnValues: "ALL_NEW" }));
    if (!guard(Attributes)) throw new Error(`${input.TableName} answered an item without its key or status`);
    return { changed: true, item: Attributes };
  } catch (error) {
    if (isConditionFailure(error)) return { changed: false };
    throw error;
  }
}

/** Any declared change of a release, or of a pipeline. */
type DeclaredReleaseChange = ReleaseChanges[keyof ReleaseChanges];
type DeclaredPipelineChange = PipelineChanges[keyof PipelineChanges];

/**
 * Executes one declared change of a release. Callers pass the declaration itself
 * (`RELEASE_CHANGES.cancel`), so a serialized function carries only the changes it makes.
 */
export function changeRelease<C extends DeclaredReleaseChange>(
  deps: StoreDeps,
  releaseId: string,
  change: C,
  call: ChangeCall<C, ReleaseItem>,
): Promise<Changed<ReleaseItem>> {
  const input = updateInput(change, "release", call, releaseId);
  return update(
    deps,
    { TableName: deps.tables.releases, Key: releaseKey(releaseId), ...input },
    isReleaseItem,
  );
}

/** Executes one declared change of a release's pipeline. */
export function changePipeline<C extends DeclaredPipelineChange>(
  deps: StoreDeps,
  releaseId: string,
  pipeline: string,
  change: C,
  call: ChangeCall<C, PipelineItem>,
): Promise<Changed<PipelineItem>> {
  const input = updateInput(change, "pipeline", call);
  return update(
    deps,
    { TableName: deps.tables.releasePipelines, Key: pipelineKey(releaseId, pipeline), ...input },
    isPipelineItem,
  );
}

/** Writes a pipeline's schedule item, Pending; false when an earlier registration wrote it. */
export async function schedulePipeline(
  deps: StoreDeps,
  item: Omit<PipelineItem, "status">,
): Promise<boolean> {
  try {
    await deps.ddb.send(
      new PutCommand({
        TableName: deps.tables.releasePipelines,
        ...createInput(PIPELINE_CHANGES.schedule, "pipeline", item),
      }),
    );
    return true;
  } catch (error) {
    if (isConditionFailure(error)) return false;
    throw error;
  }
}

/** Records a refused submission apart from any release, under its own key, REJECTED. */
export async function recordRejectionApart(
  deps: StoreDeps,
  item: Omit<
    ReleaseItem,
    "status" | "attempt" | "failurePolicy" | "pipelineCount" | "pipelineTimeoutSeconds" | "executionArn"
  > & { executionArn?: string },
): Promise<void> {
  await deps.ddb.send(
    new PutCommand({
      TableName: deps.tables.releases,
      ...createInput(RELEASE_CHANGES.rejectApart, "release", item),
    }),
  );
}
