/**
 * The backstop: no execution ends with its release RUNNING (docs/architecture.md, "The backstop").
 * An execution of the release workflow that ended FAILED, TIMED_OUT or ABORTED without recording
 * its release's outcome (a Mark state's write failed, an uncatchable error, a StopExecution, the
 * execution limit) is acted on twice over: EventBridge's "Step Functions Execution Status Change"
 * runs `onExecutionEnded`, and, since that delivery is best effort, the reconciler's pass
 * `endReleasesOfEndedExecutions` asks Step Functions about every RUNNING release's execution.
 * Both end the release the same way (`endRelease`): the outcome it already decided when every
 * pipeline settled, or else FAILED after the stop pass (handlers/release/ended.ts). Only the
 * execution that holds the release acts on it, and every write is conditional, so repeats and
 * the two paths racing change nothing.
 */
import { DescribeExecutionCommand } from "@aws-sdk/client-sfn";
import { QueryCommand } from "@aws-sdk/lib-dynamodb";
import type { EventBridgeEvent } from "aws-lambda";
import { EXECUTION_ENDS_WITHOUT_OUTCOME } from "../../contract/event-patterns";
import { releaseIdFromExecutionName } from "../../contract/execution-name";
import { MACHINE, RELEASE_CHANGES, type ReleaseItem } from "../../contract/lifecycle";
import { ReleasesTable } from "../../contract/tables";
import { type ExecutionDeps, nowIso } from "../executions";
import { changeRelease } from "../lifecycle-store";
import { publishReleaseEvent } from "../release-events";
import { releasesByStatus } from "../release-list";
import { finishLostCancel } from "./cancel-sweep";
import { failExecution } from "./ended";
import { readReleaseItem } from "./reads";

/** The detail fields of "Step Functions Execution Status Change" the backstop reads. */
export interface ExecutionStatusDetail {
  executionArn: string;
  stateMachineArn?: string;
  name?: string;
  status: string;
  error?: string | null;
  cause?: string | null;
}
export type ExecutionStatusChangeEvent = EventBridgeEvent<string, ExecutionStatusDetail>;

/** What the backstop did for one release: recorded its decided outcome, failed it, or nothing. */
export type EndedRelease = { releaseId: string; recorded: "outcome" | "failed" | "nothing" };

/** The error a release records when its execution ended without one (an ABORTED execution has none). */
const END_ERRORS: Record<string, string> = {
  FAILED: "ExecutionFailed",
  TIMED_OUT: "ExecutionTimedOut",
  ABORTED: "ExecutionAborted",
};

/** Why the release ends: the execution's error and cause, or its end in words. */
function endFacts(detail: Pick<ExecutionStatusDetail, "status" | "error" | "cause" | "name">) {
  const error = detail.error || (END_ERRORS[detail.status] ?? `Execution${detail.status}`);
  const cause =
    detail.cause ||
    `The release's workflow execution ${detail.name ?? ""} ended ${detail.status} without recording its outcome`;
  return { error, cause };
}

const DECIDED_CHANGES = {
  SUCCEEDED: RELEASE_CHANGES.recordDecidedSucceeded,
  FAILED: RELEASE_CHANGES.recordDecidedFailed,
  CANCELLED: RELEASE_CHANGES.recordDecidedCancelled,
} as const;

/** Records the outcome the release decided when every pipeline settled, and announces it. */
async function recordDecidedOutcome(deps: ExecutionDeps, release: ReleaseItem, executionArn: string) {
  const outcome = release.outcome;
  if (!outcome) return false;
  const endedAt = nowIso(deps);
  const { releaseId } = release;
  const failure = { errorName: outcome.error ?? "", cause: outcome.cause ?? "" };
  const marked =
    outcome.status === "SUCCEEDED"
      ? await changeRelease(deps, releaseId, DECIDED_CHANGES.SUCCEEDED, {
          fields: { endedAt },
          where: { executionArn },
        })
      : await changeRelease(deps, releaseId, DECIDED_CHANGES[outcome.status], {
          fields: { endedAt, ...failure },
          where: { executionArn },
        });
  if (!marked.changed) return false;
  const facts = outcome.status === "SUCCEEDED" ? {} : { error: outcome.error, cause: outcome.cause };
  await publishReleaseEvent(deps, {
    releaseId,
    status: outcome.status,
    executionArn,
    causedBy: outcome.causedBy ?? MACHINE,
    ...facts,
  });
  return true;
}

/**
 * Ends the release `executionArn` holds, if it is still RUNNING: its decided outcome, or FAILED
 * with the execution's error after stopping what runs. Anything else is left as it is.
 */
export async function endRelease(
  deps: ExecutionDeps,
  request: { releaseId: string; executionArn: string; error: string; cause: string },
): Promise<EndedRelease> {
  const { releaseId, executionArn } = request;
  const release = await readReleaseItem(deps, releaseId);
  const nothing: EndedRelease = { releaseId, recorded: "nothing" };
  if (release?.status !== "RUNNING" || release.executionArn !== executionArn) return nothing;
  if (release.outcome)
    return (await recordDecidedOutcome(deps, release, executionArn))
      ? { releaseId, recorded: "outcome" }
      : nothing;
  const failed = await failExecution(deps, request);
  return { releaseId, recorded: failed.recorded === "failed" ? "failed" : "nothing" };
}

/**
 * The releases an execution may hold: the one its name encodes (an API submission's name,
 * contract/execution-name.ts, read consistently), else those whose `executionArn` it is on the
 * keys-only `byExecution` index (an upload's execution, or an id the name cannot encode). The
 * event's input is never needed: Step Functions leaves it out past 256 KB.
 */
export async function releasesHeldBy(
  deps: ExecutionDeps,
  execution: { executionArn: string; name?: string },
): Promise<string[]> {
  const named = execution.name ? releaseIdFromExecutionName(execution.name) : undefined;
  if (named !== undefined) {
    const release = await readReleaseItem(deps, named);
    if (release?.executionArn === execution.executionArn) return [named];
  }
  const index = ReleasesTable.byExecutionIndex;
  const { Items = [] } = await deps.ddb.send(
    new QueryCommand({
      TableName: deps.tables.releases,
      IndexName: index.name,
      KeyConditionExpression: "#arn = :arn",
      ExpressionAttributeNames: { "#arn": index.hashKey },
      ExpressionAttributeValues: { ":arn": execution.executionArn },
    }),
  );
  return Items.map((item) => String(item[ReleasesTable.hashKey]));
}

/** The executionEnded function: the release an ended execution held, ended as its schedule says. */
export async function onExecutionEnded(
  deps: ExecutionDeps,
  event: ExecutionStatusChangeEvent,
): Promise<EndedRelease[]> {
  const { detail } = event;
  const ends: readonly string[] = EXECUTION_ENDS_WITHOUT_OUTCOME;
  if (typeof detail?.executionArn !== "string" || !ends.includes(detail.status)) return [];
  const { error, cause } = endFacts(detail);
  const ended: EndedRelease[] = [];
  for (const releaseId of await releasesHeldBy(deps, detail)) {
    ended.push(await endRelease(deps, { releaseId, executionArn: detail.executionArn, error, cause }));
  }
  return ended;
}

/** The execution as Step Functions describes it; undefined for one it does not know (none to act on). */
async function describedExecution(deps: ExecutionDeps, executionArn: string) {
  try {
    return await deps.sfn.send(new DescribeExecutionCommand({ executionArn }));
  } catch (error) {
    if (error instanceof Error && error.name === "ExecutionDoesNotExist") return undefined;
    throw error;
  }
}

/**
 * The reconciler's pass: every RUNNING release whose execution has ended (DescribeExecution) is
 * ended as the event would have ended it. Returns how many it ended. On the way, a cancelling
 * release whose stop pass was lost has it repeated (cancel-sweep.ts), counted in
 * `counts.finishedCancels`.
 */
export async function endReleasesOfEndedExecutions(
  deps: ExecutionDeps,
  counts: { finishedCancels: number } = { finishedCancels: 0 },
): Promise<number> {
  let ended = 0;
  for await (const listed of releasesByStatus(deps, "RUNNING")) {
    // The listing index holds only the listing's fields: the item names the execution.
    const release = await readReleaseItem(deps, listed.releaseId);
    if (release?.status !== "RUNNING" || !release.executionArn) continue;
    if (await finishLostCancel(deps, release)) counts.finishedCancels += 1;
    const execution = await describedExecution(deps, release.executionArn);
    if (!execution) continue;
    if (
      execution.status === undefined ||
      execution.status === "RUNNING" ||
      execution.status === "PENDING_REDRIVE"
    )
      continue;
    const facts = endFacts({ ...execution, status: execution.status, name: execution.name });
    const result = await endRelease(deps, {
      releaseId: release.releaseId,
      executionArn: release.executionArn,
      ...facts,
    });
    if (result.recorded !== "nothing") ended += 1;
  }
  return ended;
}
