/**
 * What `npm run bench` measured, as one object: deterministic counts and simulated times (the
 * same on any machine), and wall-clock figures (this machine's), kept apart.
 */
import type { ReleaseCost } from "./cost-bench";
import type { LostEventResult } from "./ours-bench";
import type { WriteUnitsPerPipeline } from "./write-units-bench";
import type { LinearModel, ModelCheck } from "./model";
import type { CellResult } from "./simulation";
import type { ControlLatency } from "./control-latency";
import type { DashboardRender } from "./dashboard-render";
import type { LargestRelease, WallTimes } from "./walltime";

export type { LostEventResult };

/** "counts": deterministic (counts, simulated time, sizes); "wallclock": real time on this machine. */
export type TargetKind = "counts" | "wallclock";

export interface Target {
  kind: TargetKind;
  name: string;
  target: string;
  measured: string;
  met: boolean;
}

export interface Ceilings {
  ours: {
    /** Pipelines a release may have before its history passes the quota; null when history does not grow with them. */
    maxPipelines: number | null;
    perPipelineHistory: number;
    fixedHistory: number;
    /** The manifest's maxPipelines: its default and the most it may be set to. */
    defaultMaxPipelines: number;
    configurableMaxPipelines: number;
    /** The same, in words (the key earlier reports had). */
    configuredMaxPipelines: string;
  };
  baseline: { maxPolls: number; longestSeconds: number; fixedHistory: number; perPollHistory: number };
}

/** A dependency graph run by ours. */
export interface GraphResult {
  key: string;
  title: string;
  levels: number;
  criticalPathSeconds: number;
  result: CellResult;
}

export interface Counts {
  ours: CellResult[];
  baseline: CellResult[];
  baselineLimitRuns: CellResult[];
  failures: CellResult[];
  graphs: GraphResult[];
  lostEvent: LostEventResult;
  baselineModels: Record<number, LinearModel>;
  oursModel: LinearModel;
  modelChecks: ModelCheck[];
  ceilings: Ceilings;
  /** The engine's counts of the largest release (from the wall-time runs). */
  largest: LargestRelease;
  archives: Record<string, number>;
  /** DynamoDB write units per pipeline, as AWS bills them (bench/write-units.ts). */
  writeUnits: WriteUnitsPerPipeline;
  /** One release of 50 pipelines × 60 minutes, priced (bench/cost-bench.ts). */
  releaseCost: ReleaseCost;
  /** Why the archives could not be sized (the program failed to load under mocks). */
  archiveError?: string;
}

export interface MachineFacts {
  nproc: number;
  cpu: string;
  memoryGiB: number;
  node: string;
  platform: string;
  /** 1-minute load averages when the run started and when it ended (other processes share the CPUs). */
  loadAverage: { start: number; end: number };
}

export interface WallClock {
  date: string;
  /** The command line the run was started with. */
  command: string;
  machine: MachineFacts;
  wallTimes: WallTimes;
  /** dashboardRenderMs500: the 500-pipeline release page in Chromium (bench/dashboard-render.ts). */
  dashboardRender: DashboardRender;
  /** Control answers under load (bench/control-latency.ts). */
  controlLatency: ControlLatency;
  elapsedSeconds: number;
}

export interface BenchResults extends Counts, WallClock {
  targets: Target[];
}

export function findCell(results: CellResult[], pipelines: number, duration: string): CellResult {
  const found = results.find((r) => r.pipelines === pipelines && r.duration === duration);
  if (!found) throw new Error(`bench: no result for ${pipelines} pipelines × ${duration}`);
  return found;
}

export function graphResult(results: Pick<Counts, "graphs">, key: string): GraphResult {
  const found = results.graphs.find((g) => g.key === key);
  if (!found) throw new Error(`bench: no graph ${key}`);
  return found;
}

/** Every release of ours the bench ran (grid, failures, graphs), with its pipeline count. */
export function oursReleases(r: Pick<Counts, "ours" | "failures" | "graphs">): CellResult[] {
  return [...r.ours, ...r.failures.filter((f) => f.design === "ours"), ...r.graphs.map((g) => g.result)];
}

/** Detection delays of measured cells: ours in real seconds, the baseline's in simulated ones. */
export function delays(r: Pick<Counts, "ours" | "baseline">): { ours: number[]; baseline: number[] } {
  const of = (cells: CellResult[]) =>
    cells
      .filter((c) => c.source === "measured" && c.detectionDelaySeconds !== undefined)
      .map((c) => c.detectionDelaySeconds as number);
  return { ours: of(r.ours), baseline: of(r.baseline) };
}

export const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);
export const minutesOf = (seconds: number) => Math.round((seconds / 60) * 100) / 100;
