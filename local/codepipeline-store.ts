/**
 * The CodePipeline stand-in's executions, kept in the data folder (`codepipeline.jsonl`, a
 * local/journal.ts journal) so that they outlive a restart of local mode, as CodePipeline's
 * executions outlive any caller on AWS: each change to a run (an accepted start, stop, retry or
 * approval, and every state change it announces) appends the run's whole state before the answer
 * or the event goes out. At start-up the newest state of each run is restored: ended runs read as
 * they ended (GetPipelineExecution, ListPipelineExecutions, a repeated start's clientRequestToken),
 * and runs not ended go on as CodePipeline would have run them (PipelineRun.continueAfterRestart).
 */
import path from "node:path";
import { type Journal, openJournal } from "./journal";
import type { ActionRecord, ExecutionRecord, PipelineRun, StageRecord } from "./codepipeline-run";

/** One run's state as the journal keeps it (dates as ISO strings). */
export interface SavedRun {
  record: ExecutionRecord;
  stages: StageRecord[];
  stopping?: "wait" | "abandon";
  waitingFor?: number;
  announced: boolean;
  openStage?: string;
}

const dated = <T extends object>(value: T, keys: string[]): T => {
  const copy = { ...value } as Record<string, unknown>;
  for (const key of keys) if (typeof copy[key] === "string") copy[key] = new Date(copy[key] as string);
  return copy as T;
};

/** A saved run with its dates revived. */
export function revived(saved: SavedRun): SavedRun {
  return {
    ...saved,
    record: dated(saved.record, ["startTime", "lastUpdateTime", "endTime"]),
    stages: saved.stages.map((stage) => ({
      ...stage,
      actions: stage.actions.map((a) => dated<ActionRecord>(a, ["startTime", "lastUpdateTime"])),
    })),
  };
}

export function savedRun(run: PipelineRun): SavedRun {
  return {
    record: run.record,
    stages: run.stages,
    ...(run.stopping && { stopping: run.stopping }),
    ...(run.waitingFor !== undefined && { waitingFor: run.waitingFor }),
    announced: run.announced,
    ...(run.openStage && { openStage: run.openStage.name }),
  };
}

export interface RunStore {
  /** The newest saved state of each run, oldest run first. */
  saved: SavedRun[];
  /** Appends the run's state when it changed since its last save. */
  save(run: PipelineRun): void;
  close(): void;
}

/** The journal under `dataDir`; saves nothing when `dataDir` is unset (in-memory stand-ins). */
export function openRunStore(dataDir: string | undefined): RunStore {
  // Only each run's newest state is kept from one start to the next.
  const newestOnly = (entries: SavedRun[]) => [
    ...new Map(entries.map((entry) => [entry.record.pipelineExecutionId, entry])).values(),
  ];
  const journal: Journal<SavedRun> | undefined = dataDir
    ? openJournal(path.join(dataDir, "codepipeline.jsonl"), newestOnly)
    : undefined;
  const last = new Map<string, string>();
  const saved = newestOnly(journal?.entries ?? [])
    .map(revived)
    .sort((a, b) => a.record.startTime.getTime() - b.record.startTime.getTime());
  return {
    saved,
    save(run) {
      if (!journal) return;
      const state = savedRun(run);
      const text = JSON.stringify(state);
      if (last.get(run.record.pipelineExecutionId) === text) return;
      last.set(run.record.pipelineExecutionId, text);
      journal.append(state);
    },
    close: () => journal?.close(),
  };
}
