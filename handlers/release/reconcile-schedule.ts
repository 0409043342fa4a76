/**
 * The reconciler's pass over the schedules: no index lists the pipelines it looks after. Every
 * RUNNING release (the Releases `byStatus` index) has its schedule read with one keyed Query, and
 * in it the reconciler finds, within one period:
 * - claims stuck Starting past STUCK_START_SECONDS: taken over and started (./progress.ts);
 * - executions Started whose end no event brought: CodePipeline is asked, and an end is acted on;
 *   one running past its deadline is stopped, a stop-and-wait past its grace abandoned;
 * - an end recorded on the schedule whose settle did not finish (an unmarked end), a success whose
 *   dependants lack its mark or were never claimed once ready (a lost hand-off, a handler that
 *   died), and a release whose pipelines are all marked but whose count fell short (a settle that
 *   died between its mark and its count): each repeated.
 * Only a release that still runs can wait on any of these: a release's outcome needs every
 * pipeline settled, and a resumed execution counts only while its release runs
 * (handlers/release/resume.ts). docs/architecture.md, "The reconciler".
 */
import { GetPipelineExecutionCommand } from "@aws-sdk/client-codepipeline";
import { UpdateCommand } from "@aws-sdk/lib-dynamodb";
import { type PipelineItem, RELEASE_CHANGES } from "../../contract/lifecycle";
import {
  ExecutionsTable,
  type PipelineExecutionStatus,
  eventStateOf,
  isTerminal,
} from "../../contract/tables";
import {
  type ExecutionDeps,
  type ExecutionItem,
  executionsByIds,
  nowIso,
  recordStart,
  recordState,
} from "../executions";
import { changeRelease } from "../lifecycle-store";
import { releasesByStatus } from "../release-list";
import { abandonPastGrace, stopExecution } from "../stops";
import { completeReleaseIfSettled } from "./outcome";
import { onPipelineEnded, readyDependants, resumeStuckStart, stuckCutoff } from "./progress";
import { pipelinesOfRelease, readReleaseItem } from "./reads";
import { thawHeld } from "./thaw";

/** What one pass over the schedules did. */
export interface SchedulePass {
  /** Executions asked about (Started on a running release's schedule). */
  checked: number;
  completed: number;
  resumedStarts: number;
  abandonedStops: number;
  /** Settles, hand-offs and counts repeated after their writer died. */
  repairedSettles: number;
  failures: { pipelineExecutionId: string; error: string }[];
}

const failureOf = (pipelineExecutionId: string, error: unknown) => ({
  pipelineExecutionId,
  error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
});

/**
 * Every RUNNING release's schedule, one release at a time; a broken release or execution is
 * reported and the pass goes on. `olderThanSeconds`: how old a claim or an unfinished settle must
 * be to count as stuck (0 only where every claimant is known to have stopped: local mode's restart).
 * An unfinished end, hand-off or count is repeated at once: each is idempotent, so racing a live
 * handler repeats nothing that matters.
 */
export async function reconcileSchedules(
  deps: ExecutionDeps,
  pass: SchedulePass,
  olderThanSeconds?: number,
): Promise<void> {
  const cutoff = stuckCutoff(deps, olderThanSeconds);
  for await (const listed of releasesByStatus(deps, "RUNNING")) {
    try {
      await reconcileRelease(deps, listed.releaseId, cutoff, pass);
    } catch (error) {
      pass.failures.push(failureOf("", error));
    }
  }
}

/** Starts claimed before `cutoff` and never recorded, taken over; returns how many. */
export async function resumeStuckStarts(deps: ExecutionDeps, olderThanSeconds?: number): Promise<number> {
  const cutoff = stuckCutoff(deps, olderThanSeconds);
  let resumed = 0;
  for await (const listed of releasesByStatus(deps, "RUNNING")) {
    for (const item of await pipelinesOfRelease(deps, listed.releaseId)) {
      if (await resumeStuckStart(deps, item, cutoff)) resumed += 1;
    }
  }
  return resumed;
}

async function reconcileRelease(
  deps: ExecutionDeps,
  releaseId: string,
  cutoff: string,
  pass: SchedulePass,
): Promise<void> {
  const items = await pipelinesOfRelease(deps, releaseId);
  for (const item of items) {
    if (await resumeStuckStart(deps, item, cutoff)) pass.resumedStarts += 1;
  }
  // Freezes: pipelines held by a freeze are asked again (handlers/release/thaw.ts).
  await thawHeld(deps, items);
  const unsettled = (item: PipelineItem) => isTerminal(item.status) && item.settled !== true;
  const watched = items.filter(
    (item) => item.pipelineExecutionId && (item.status === "Started" || unsettled(item)),
  );
  const executions = await executionsByIds(
    deps,
    watched.map((item) => item.pipelineExecutionId ?? ""),
  );
  for (const item of watched) {
    const id = item.pipelineExecutionId ?? "";
    const stored = executions.find((e) => e.pipelineExecutionId === id);
    let execution: ExecutionItem = { ...stored, pipelineExecutionId: id, releaseId, pipeline: item.pipeline };
    try {
      // A start that died between its schedule write and the link: linked now, as it would have.
      if (item.status === "Started" && stored?.releaseId === undefined && (item.startedAt ?? "") <= cutoff)
        execution = await linkExecution(deps, item, id);
      if (item.status === "Started") {
        pass.checked += 1;
        const done = await reconcileExecution(deps, execution);
        if (done === "completed") pass.completed += 1;
        if (done === "abandoned") pass.abandonedStops += 1;
      } else {
        // Its end is recorded on the schedule: the settle (failure policy, count, mark) again.
        await onPipelineEnded(deps, { ...execution, status: item.status as PipelineExecutionStatus });
        pass.repairedSettles += 1;
      }
    } catch (error) {
      pass.failures.push(failureOf(id, error));
    }
  }
  pass.repairedSettles += await repeatLostHandOffs(deps, items);
  pass.repairedSettles += await repeatLostCount(deps, releaseId, items);
}

/** The link a start that died after its schedule write did not write, with the deadline it would have had. */
async function linkExecution(deps: ExecutionDeps, item: PipelineItem, pipelineExecutionId: string) {
  const release = await readReleaseItem(deps, item.releaseId);
  const startedAt = item.startedAt ?? nowIso(deps);
  const timeout = (release?.pipelineTimeoutSeconds ?? 0) * 1000;
  const deadlineAt = new Date(Date.parse(startedAt) + timeout).toISOString();
  const { releaseId, pipeline } = item;
  return recordStart(deps, { releaseId, pipeline, pipelineExecutionId, startedAt, deadlineAt });
}

/**
 * A success whose dependants do not all carry its mark, or one whose dependencies all succeeded
 * still Pending: its hand-off was lost or its handler died; its dependants are readied again.
 */
async function repeatLostHandOffs(deps: ExecutionDeps, items: readonly PipelineItem[]): Promise<number> {
  const byName = new Map(items.map((item) => [item.pipeline, item]));
  let repeated = 0;
  for (const item of items) {
    if (item.status !== "Succeeded" || !item.pipelineExecutionId) continue;
    // Not marked with this success, or marked with every dependency yet never claimed (the
    // handler died between the mark and the claim): readying it again repeats only what is missing.
    const stalled = item.dependants.some((name) => {
      const dependant = byName.get(name);
      if (dependant?.depsSucceeded?.has(item.pipeline) !== true) return true;
      return (
        dependant.status === "Pending" && dependant.dependsOn.every((d) => dependant.depsSucceeded?.has(d))
      );
    });
    if (!stalled) continue;
    await readyDependants(deps, {
      releaseId: item.releaseId,
      pipeline: item.pipeline,
      pipelineExecutionId: item.pipelineExecutionId,
      dependants: item.dependants,
    });
    repeated += 1;
  }
  return repeated;
}

/**
 * Every pipeline marked settled and still no outcome: a settle died between its mark and its count
 * (a success is marked as it is recorded), or before it decided. The count is made up (an
 * over-count, should a live settle count after this read, is harmless: ./outcome.ts) and the
 * outcome decided (once: a live settle deciding too decides the same, and sends it harmlessly twice).
 */
async function repeatLostCount(
  deps: ExecutionDeps,
  releaseId: string,
  items: readonly PipelineItem[],
): Promise<number> {
  if (items.length === 0 || !items.every((item) => item.settled === true)) return 0;
  const release = await readReleaseItem(deps, releaseId);
  if (!release || release.status !== "RUNNING" || release.outcome !== undefined) return 0;
  if (items.length < release.pipelineCount) return 0;
  const missing = release.pipelineCount - (release.settledCount ?? 0);
  let counted = release;
  if (missing > 0) {
    const result = await changeRelease(deps, releaseId, RELEASE_CHANGES.settle, {
      fields: { settledCount: missing },
    });
    if (!result.changed) return 0;
    counted = result.item;
  }
  await completeReleaseIfSettled(deps, counted);
  return 1;
}

/**
 * One execution its schedule names Started: an end recorded on it but not acted on is acted on;
 * else CodePipeline is asked (GetPipelineExecution) and an end it reports is recorded and acted on;
 * one still running past its deadline is stopped, and a stop-and-wait past its grace abandoned.
 */
async function reconcileExecution(
  deps: ExecutionDeps,
  waiting: ExecutionItem,
): Promise<"completed" | "abandoned" | "waiting"> {
  if (isTerminal(waiting.status)) {
    await onPipelineEnded(deps, waiting);
    return "completed";
  }
  const { pipelineExecution } = await deps.codepipeline.send(
    new GetPipelineExecutionCommand({
      pipelineName: waiting.pipeline,
      pipelineExecutionId: waiting.pipelineExecutionId,
    }),
  );
  const status = pipelineExecution?.status as PipelineExecutionStatus | undefined;
  if (!isTerminal(status)) {
    if (waiting.deadlineAt && waiting.deadlineAt < nowIso(deps) && !waiting.timedOut) {
      // Ran longer than the release allows one pipeline: stop it; its STOPPED end fails it.
      await deps.ddb.send(
        new UpdateCommand({
          TableName: deps.tables.executions,
          Key: { [ExecutionsTable.hashKey]: waiting.pipelineExecutionId },
          UpdateExpression: "SET timedOut = :true",
          ExpressionAttributeValues: { ":true": true },
        }),
      );
      await stopExecution(
        deps,
        waiting,
        `ran past its deadline ${waiting.deadlineAt} (longestPipelineRunHours)`,
      );
    }
    return (await abandonPastGrace(deps, waiting)) ? "abandoned" : "waiting";
  }
  const attempt = waiting.executionAttempt ?? 1;
  const item = await recordState(deps, {
    pipelineExecutionId: waiting.pipelineExecutionId,
    pipeline: waiting.pipeline ?? pipelineExecution?.pipelineName ?? "",
    state: eventStateOf(status),
    status,
    at: nowIso(deps),
    // One id per attempt's end: a resumed execution's new end is a new event.
    eventId: `reconciler:${waiting.pipelineExecutionId}:${attempt > 1 ? `${attempt}:` : ""}${status}`,
    attempt,
  });
  await onPipelineEnded(deps, item ?? { ...waiting, status });
  return "completed";
}
