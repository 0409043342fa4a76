/**
 * `npm run bench`: cost, reaction time and scale of the event-driven release workflow, side by side
 * with a 30-second polling design (bench/baseline-workflow.ts), both on the local engine in simulated time, plus
 * dependency graphs and a 500-pipeline release of ours.
 *
 *   npm run bench                          report to bench/out/RESULTS.md (gitignored), and stdout
 *   npm run bench -- --out <path>          report to <path>
 *   npm run bench -- --json                JSON summary on stdout (the report is still written)
 *   npm run bench -- --out bench/RESULTS.md   refresh the tracked copy (only when asked for)
 *
 * bench/RESULTS.md is tracked as the last published run: `npm run bench` never rewrites it unless
 * `--out` names it. The report keeps counts and simulated times (deterministic: the same on any
 * machine for the same code) apart from wall-clock figures (this machine's, in their own part).
 * Progress goes to stderr. Not part of `npm test`; never fails on a missed target.
 */
import { execFileSync } from "node:child_process";
import { mkdirSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { DEFAULT_MANIFEST_RULES, MANIFEST_RULE_LIMITS } from "../contract/manifest-schema";
import { HISTORY_LIMIT } from "../local/history";
import { lambdaArchiveBytes } from "./archives";
import { parseArgs } from "./args";
import { BaselineBench } from "./baseline-bench";
import { POLL_SECONDS } from "./baseline-workflow";
import {
  type LinearModel,
  type ModelCheck,
  checkModel,
  evaluate,
  fitBaseline,
  fitOurs,
  maxPollsUnderLimit,
  pollsFor,
} from "./model";
import { OursBench } from "./ours-bench";
import { markdown } from "./report";
import type { BenchResults, Ceilings, Counts, GraphResult, MachineFacts } from "./results";
import {
  type CellResult,
  type CellSpec,
  DURATIONS,
  type Duration,
  GRAPHS,
  PIPELINE_COUNTS,
  RECONCILE_PERIOD_SECONDS,
  criticalPathSeconds,
  levelsOf,
  phase,
} from "./simulation";
import { summary } from "./summary";
import { evaluateTargets } from "./targets";
import { measureWallTimes } from "./walltime";
import { measureWriteUnits } from "./write-units-bench";
import { measureReleaseCost } from "./cost-bench";
import { controlLatencyLine, measureControlLatency } from "./control-latency";
import { dashboardRenderLine, measureDashboardRender } from "./dashboard-render";

/** Baseline cells run for real; longer ones are extrapolated (a 7-day loop is 20,160 polls). */
const BASELINE_MEASURED_UP_TO_SECONDS = 4 * 3600;
/** Baseline 24 h runs executed until the engine's history quota fails them. */
const BASELINE_LIMIT_RUNS = [1, 5];
/** Ours: reconciler runs executed up to this duration, tallied beyond. */
const RECONCILER_EXECUTED_UP_TO_SECONDS = 4 * 3600;

const log = (message: string) => process.stderr.write(`bench: ${message}\n`);
const byLabel = (label: string): Duration => DURATIONS.find((d) => d.label === label) as Duration;

/** Each grid cell has its own pipeline phase φ and reconciler phase ψ, shared by both designs. */
function specOf(pipelines: number, duration: Duration, extra: Partial<CellSpec> = {}): CellSpec {
  const index = PIPELINE_COUNTS.indexOf(pipelines) * DURATIONS.length + DURATIONS.indexOf(duration);
  return {
    pipelines,
    duration,
    phaseSeconds: phase(index, 30),
    reconcilerPhaseSeconds: phase(index, RECONCILE_PERIOD_SECONDS, 0.7548776662466927),
    ...extra,
  };
}

const loadNow = () => Math.round(os.loadavg()[0] * 100) / 100;

function machineFacts(loadAtStart: number): MachineFacts {
  let nproc = os.availableParallelism();
  try {
    nproc = Number(execFileSync("nproc", { encoding: "utf8" }).trim());
  } catch {
    // No coreutils: the runtime's count.
  }
  return {
    nproc,
    cpu: os.cpus()[0]?.model.trim() ?? "unknown CPU",
    memoryGiB: Math.round(os.totalmem() / 2 ** 30),
    node: process.version,
    platform: `${os.type()} ${os.release()} ${os.arch()}`,
    loadAverage: { start: loadAtStart, end: loadNow() },
  };
}

async function runOurs(): Promise<Pick<Counts, "ours" | "failures" | "graphs" | "lostEvent">> {
  const bench = await OursBench.start();
  try {
    const ours: CellResult[] = [];
    for (const n of PIPELINE_COUNTS) {
      for (const duration of DURATIONS) {
        const runReconciler = duration.seconds <= RECONCILER_EXECUTED_UP_TO_SECONDS;
        const result = await bench.runCell(specOf(n, duration, { runReconciler }));
        ours.push(result);
        log(
          `ours ${n}×${duration.label}: ${result.status}, ${result.transitions} transitions (${result.realMs} ms)`,
        );
      }
    }
    const failures: CellResult[] = [];
    for (const n of [1, 5]) failures.push(await bench.runCell(specOf(n, byLabel("10m"), { failOne: true })));
    const graphs: GraphResult[] = [];
    for (const [i, graph] of GRAPHS.entries()) {
      const result = await bench.run({
        label: graph.key,
        pipelines: graph.pipelines,
        reconcilerPhaseSeconds: phase(i, RECONCILE_PERIOD_SECONDS, 0.7548776662466927),
        runReconciler: true,
      });
      const { key, title } = graph;
      const levels = levelsOf(graph.pipelines);
      graphs.push({ key, title, levels, criticalPathSeconds: criticalPathSeconds(graph.pipelines), result });
      log(
        `ours graph ${key}: ${result.status} in ${(result.releaseSeconds / 60).toFixed(1)} min, ${result.transitions} transitions`,
      );
    }
    const lostEvent = await bench.lostEvent(specOf(5, byLabel("60m")));
    log(`ours lost event: found ${lostEvent.waitSeconds.toFixed(1)} s after the pipeline ended`);
    return { ours, failures, graphs, lostEvent };
  } finally {
    await bench.close();
  }
}

async function runBaseline(): Promise<{
  measured: CellResult[];
  limitRuns: CellResult[];
  failures: CellResult[];
}> {
  const bench = await BaselineBench.start();
  try {
    const measured: CellResult[] = [];
    for (const n of PIPELINE_COUNTS) {
      for (const duration of DURATIONS.filter((d) => d.seconds <= BASELINE_MEASURED_UP_TO_SECONDS)) {
        const result = await bench.run(specOf(n, duration));
        measured.push(result);
        log(
          `baseline ${n}×${duration.label}: ${result.status}, ${result.loopRuns} polls (${result.realMs} ms)`,
        );
      }
    }
    const limitRuns: CellResult[] = [];
    for (const n of BASELINE_LIMIT_RUNS) {
      const result = await bench.run(specOf(n, byLabel("24h")));
      limitRuns.push(result);
      log(`baseline ${n}×24h: ${result.status} after ${result.loopRuns} polls (${result.realMs} ms)`);
    }
    const failures: CellResult[] = [];
    for (const n of [1, 5]) failures.push(await bench.run(specOf(n, byLabel("10m"), { failOne: true })));
    return { measured, limitRuns, failures };
  } finally {
    await bench.close();
  }
}

/** A baseline cell too long to run, from its pipeline count's per-poll model. */
function extrapolate(model: LinearModel, n: number, duration: Duration): CellResult {
  const spec = specOf(n, duration);
  const polls = pollsFor(duration, spec.phaseSeconds);
  const costs = evaluate(model, polls);
  const over = costs.historyEvents > HISTORY_LIMIT;
  return {
    design: "baseline",
    pipelines: n,
    duration: duration.label,
    status: over ? "FAILED (history limit)" : "SUCCEEDED",
    source: "extrapolated",
    releaseSeconds: polls * POLL_SECONDS,
    detectionDelaySeconds: polls * POLL_SECONDS - (duration.seconds - spec.phaseSeconds),
    loopRuns: polls,
    ...costs,
    overHistoryLimit: over,
    realMs: 0,
    notes: over
      ? [`would reach ${costs.historyEvents} history events: AWS fails it at ${HISTORY_LIMIT}`]
      : [],
  };
}

/** Per pipeline count: fitted on 2 min and 10 min, checked on every other measured cell, extrapolated beyond. */
function baselineGrid(
  measuredCells: CellResult[],
): Pick<Counts, "baseline" | "baselineModels" | "modelChecks"> {
  const baselineModels: Record<number, LinearModel> = {};
  const modelChecks: ModelCheck[] = [];
  const baseline: CellResult[] = [];
  for (const n of PIPELINE_COUNTS) {
    const measured = measuredCells.filter((c) => c.pipelines === n);
    const [a, b] = [measured.find((c) => c.duration === "2m"), measured.find((c) => c.duration === "10m")];
    if (!a || !b)
      throw new Error(`bench: the baseline's 2 min and 10 min cells for ${n} pipelines are missing`);
    baselineModels[n] = fitBaseline(a, b);
    const others = measured.filter((c) => c !== a && c !== b);
    modelChecks.push(...checkModel(baselineModels[n], others, (c) => c.loopRuns));
    for (const duration of DURATIONS) {
      baseline.push(
        measured.find((c) => c.duration === duration.label) ?? extrapolate(baselineModels[n], n, duration),
      );
    }
  }
  return { baseline, baselineModels, modelChecks };
}

function ceilingsOf(oursModel: LinearModel, baseModel5: LinearModel): Ceilings {
  const perPipelineHistory = oursModel.per.historyEvents;
  const fixedHistory = oursModel.fixed.historyEvents;
  return {
    ours: {
      maxPipelines:
        perPipelineHistory > 0 ? Math.floor((HISTORY_LIMIT - fixedHistory) / perPipelineHistory) : null,
      perPipelineHistory,
      fixedHistory,
      defaultMaxPipelines: DEFAULT_MANIFEST_RULES.maxPipelines,
      configurableMaxPipelines: MANIFEST_RULE_LIMITS.maxPipelines,
      configuredMaxPipelines: `default ${DEFAULT_MANIFEST_RULES.maxPipelines}, at most ${MANIFEST_RULE_LIMITS.maxPipelines}`,
    },
    baseline: {
      maxPolls: maxPollsUnderLimit(baseModel5),
      longestSeconds: maxPollsUnderLimit(baseModel5) * POLL_SECONDS,
      fixedHistory: baseModel5.fixed.historyEvents,
      perPollHistory: baseModel5.per.historyEvents,
    },
  };
}

async function archives(): Promise<Pick<Counts, "archives" | "archiveError">> {
  try {
    return { archives: await lambdaArchiveBytes() };
  } catch (error) {
    // The program may be mid-edit; the rest of the results still stand.
    const archiveError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
    log(`Lambda archives not measured: ${archiveError}`);
    return { archives: {}, archiveError };
  }
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const started = Date.now();
  const loadAtStart = loadNow();
  log("ours: the grid, failed releases, dependency graphs and a lost event");
  const ours = await runOurs();
  log("baseline: measured cells, runs to the history limit and failed releases");
  const baseline = await runBaseline();
  const grid = baselineGrid(baseline.measured);
  const ten = (n: number) => ours.ours.find((c) => c.pipelines === n && c.duration === "10m") as CellResult;
  const oursModel = fitOurs(ten(1), ten(5));
  log("local machine wall time (5, 50, 20 × 5 and 500 pipelines)");
  const { wallTimes, largest } = await measureWallTimes();
  log("DynamoDB write units of a 5- and a 500-pipeline release, metered as AWS bills them");
  const writeUnits = await measureWriteUnits();
  log("the cost of one release of 50 pipelines × 60 min, each design metered");
  const releaseCost = await measureReleaseCost(specOf(50, byLabel("60m")));
  const controlLatency = await measureControlLatency();
  log(controlLatencyLine(controlLatency));
  log("the dashboard's page of a 500-pipeline release in Chromium");
  const dashboardRender = await measureDashboardRender();
  log(dashboardRenderLine(dashboardRender));
  log("Lambda archives from the program under mocks");
  const partial: Omit<BenchResults, "targets"> = {
    ...ours,
    ...grid,
    baselineLimitRuns: baseline.limitRuns,
    failures: [...ours.failures, ...baseline.failures],
    oursModel,
    ceilings: ceilingsOf(oursModel, grid.baselineModels[5]),
    largest,
    writeUnits,
    releaseCost,
    ...(await archives()),
    date: new Date().toISOString(),
    command: ["npm run bench", ...(process.argv.length > 2 ? ["--", ...process.argv.slice(2)] : [])].join(
      " ",
    ),
    machine: machineFacts(loadAtStart),
    wallTimes,
    dashboardRender,
    controlLatency,
    elapsedSeconds: (Date.now() - started) / 1000,
  };
  const results: BenchResults = { ...partial, targets: evaluateTargets(partial) };
  const report = markdown(results);
  mkdirSync(path.dirname(args.out), { recursive: true });
  writeFileSync(args.out, report);
  log(
    `wrote ${path.relative(process.cwd(), args.out) || args.out} in ${results.elapsedSeconds.toFixed(0)} s`,
  );
  const output = args.json ? `${JSON.stringify(summary(results), null, 2)}\n` : report;
  await new Promise<void>((resolve) => process.stdout.write(output, () => resolve()));
}

if (require.main === module) {
  main().then(
    // Pulumi's mocks (the archive sizes) leave promises behind: end once the report is out.
    () => process.exit(),
    (error: unknown) => {
      process.stderr.write(
        `bench: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
      );
      process.exit(1);
    },
  );
}
