/**
 * What both designs' simulations share: the grid, the releases they run and what a run reports.
 *
 * Time is a discrete-event simulation, not a scaled clock: pipelines never end on a real timer;
 * the harness ends them (the stand-in's `finish()`, which emits the same terminal event as on
 * AWS) when the simulated clock reaches their end. The clock moves only where AWS would spend
 * time waiting:
 * - baseline: each pass through `Wait 30 s` advances the clock by 30 s, observed when the next
 *   CheckPipelines Lambda is invoked (bench/baseline-bench.ts);
 * - ours: nothing runs in the workflow while pipelines run, so the clock jumps from one pipeline
 *   end to the next, with the reconciler's scheduled runs in between (bench/ours-bench.ts).
 * Task latency is taken as zero on both sides, so every count is what AWS would record however
 * fast this machine is, and a 7-day release needs no more real time than a 2-minute one (except
 * the baseline's loop, whose iterations are really executed).
 *
 * Pipeline ends are not aligned with the poll loop on AWS: in the grid, every release's pipelines
 * end at its nominal duration minus a phase φ in [0, 30 s) (a low-discrepancy sequence, so the
 * grid's average is near the uniform mean of 15 s). The reconciler runs every 5 minutes at its own
 * phase ψ.
 */
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { CallCounts } from "./counters";

export interface Duration {
  label: string;
  seconds: number;
}

export const DURATIONS: Duration[] = [
  { label: "2m", seconds: 120 },
  { label: "10m", seconds: 600 },
  { label: "60m", seconds: 3600 },
  { label: "4h", seconds: 4 * 3600 },
  { label: "24h", seconds: 24 * 3600 },
  { label: "7d", seconds: 7 * 24 * 3600 },
];
export const PIPELINE_COUNTS = [1, 5, 20, 50];
export const RECONCILE_PERIOD_SECONDS = 300;

/** `count` pipeline names, `svc-01`…, zero-padded to `width` digits. */
export function pipelineNames(count: number, width = 2): string[] {
  return Array.from({ length: count }, (_, i) => `svc-${String(i + 1).padStart(width, "0")}`);
}
export const PIPELINE_NAMES = pipelineNames(Math.max(...PIPELINE_COUNTS));

/** One pipeline of a simulated release: how long it runs once started, and what it waits for. */
export interface SimPipeline {
  name: string;
  seconds: number;
  dependsOn?: string[];
}

/** A dependency graph with per-pipeline durations (ours only: the baseline starts everything at once). */
export interface GraphSpec {
  key: string;
  title: string;
  pipelines: SimPipeline[];
}

const minutes = (m: number) => m * 60;
export const GRAPHS: GraphSpec[] = [
  {
    key: "twoChains",
    title: "a (5 min) → c (60 min) beside b (60 min) → d (5 min)",
    pipelines: [
      { name: "a", seconds: minutes(5) },
      { name: "b", seconds: minutes(60) },
      { name: "c", seconds: minutes(60), dependsOn: ["a"] },
      { name: "d", seconds: minutes(5), dependsOn: ["b"] },
    ],
  },
  {
    key: "threeLevels",
    title: "migrate → api, web, worker → smoke (api, web); 10 min each",
    pipelines: [
      { name: "migrate", seconds: minutes(10) },
      { name: "api", seconds: minutes(10), dependsOn: ["migrate"] },
      { name: "web", seconds: minutes(10), dependsOn: ["migrate"] },
      { name: "worker", seconds: minutes(10), dependsOn: ["migrate"] },
      { name: "smoke", seconds: minutes(10), dependsOn: ["api", "web"] },
    ],
  },
];

/** The longest chain of durations through the graph: the least wall time any schedule can reach. */
export function criticalPathSeconds(pipelines: SimPipeline[]): number {
  const byName = new Map(pipelines.map((p) => [p.name, p]));
  const finish = new Map<string, number>();
  const finishOf = (name: string): number => {
    const known = finish.get(name);
    if (known !== undefined) return known;
    const p = byName.get(name);
    if (!p) throw new Error(`bench: unknown pipeline ${name} in a graph`);
    const value = Math.max(0, ...(p.dependsOn ?? []).map(finishOf)) + p.seconds;
    finish.set(name, value);
    return value;
  };
  return Math.max(...pipelines.map((p) => finishOf(p.name)));
}

/** Dependency levels of a graph (1 = depends on nothing). */
export function levelsOf(pipelines: SimPipeline[]): number {
  const byName = new Map(pipelines.map((p) => [p.name, p]));
  const level = (name: string): number => 1 + Math.max(0, ...(byName.get(name)?.dependsOn ?? []).map(level));
  return Math.max(...pipelines.map((p) => level(p.name)));
}

/** Every pipeline the bench's machines know; they run until the harness ends them. */
export const PIPELINE_SPECS: LocalPipelineSpec[] = [
  ...PIPELINE_NAMES,
  ...GRAPHS.flatMap((g) => g.pipelines.map((p) => p.name)),
].map((name) => ({ name, durationMs: null, outcome: "Succeeded" }));

/** The i-th point of an additive-recurrence sequence in [0, span): evenly spread, never 0. */
export function phase(i: number, span: number, ratio = 0.6180339887498949): number {
  const fraction = ((i + 1) * ratio) % 1;
  return Math.round(fraction * span * 1000) / 1000;
}

export interface CellSpec {
  pipelines: number;
  duration: Duration;
  /** Pipelines end at duration − phaseSeconds. */
  phaseSeconds: number;
  /** First reconciler run, seconds after the release starts (ours). */
  reconcilerPhaseSeconds: number;
  /** The first pipeline fails (when the others would succeed); the others are left running. */
  failOne?: boolean;
  /** Run the reconciler for real (else its runs are tallied from the per-run model). */
  runReconciler?: boolean;
}

/** The grid cell's pipelines: every one runs duration − φ, none depends on another. */
export function cellPipelines(spec: CellSpec): SimPipeline[] {
  return PIPELINE_NAMES.slice(0, spec.pipelines).map((name) => ({
    name,
    seconds: spec.duration.seconds - spec.phaseSeconds,
  }));
}

export interface RunCosts extends CallCounts {
  transitions: number;
  historyEvents: number;
}

/** One pipeline's place in a simulated release (simulated seconds from the release's start). */
export interface ScheduledPipeline {
  name: string;
  dependsOn: string[];
  startSeconds: number;
  endSeconds: number;
  status: string;
}

export interface CellResult extends RunCosts {
  design: "ours" | "baseline";
  pipelines: number;
  duration: string;
  status: string;
  /** "measured": the workflow ran; "extrapolated": computed from the model fitted on measured cells. */
  source: "measured" | "extrapolated";
  /** Simulated seconds from start to the release's end. */
  releaseSeconds: number;
  /**
   * From the (last) pipeline end to the release recorded: simulated seconds for the baseline (the
   * wait for the next poll), real seconds for ours (nothing waits: the handlers' own time).
   */
  detectionDelaySeconds?: number;
  /** Baseline: polling iterations; ours: reconciler runs charged to the release. */
  loopRuns: number;
  /** Ours: reconciler runs executed for real (the rest tallied from the per-run model). */
  loopRunsMeasured?: number;
  overHistoryLimit: boolean;
  /** The largest state input or output, in bytes (the engine's own measure). */
  largestStateBytes?: number;
  /** Ours: when each pipeline started and ended, in simulated time. */
  schedule?: ScheduledPipeline[];
  realMs: number;
  notes: string[];
}

/** Polls `probe` every millisecond until it holds. */
export async function until(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

let releaseSequence = 0;
export const newReleaseId = (prefix: string, label: string) => `${prefix}-${label}-${(releaseSequence += 1)}`;
