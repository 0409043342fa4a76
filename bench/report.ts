/**
 * Renders the benchmark's results: the Markdown report (stdout and bench/RESULTS.md) and the JSON
 * summary (`--json`).
 */
import { DEFAULT_WORKFLOW_OPTIONS } from "../stepfunction/release-workflow";
import { POLL_SECONDS } from "./baseline-workflow";
import { HISTORY_LIMIT } from "./history";
import type { LinearModel, Metric, ModelCheck } from "./model";
import { type CellResult, DURATIONS, PIPELINE_COUNTS, RECONCILE_PERIOD_SECONDS } from "./simulation";
import type { WallTimes } from "./walltime";

export interface Target {
  name: string;
  target: string;
  measured: string;
  met: boolean;
  why?: string;
}

export interface LostEventResult {
  status: string;
  pipelineEndSeconds: number;
  recoveredBySeconds: number;
  delaySeconds: number;
  periodSeconds: number;
  runsBeforeEnd: number;
}

export interface Ceilings {
  ours: {
    maxPipelines: number;
    perPipelineHistory: number;
    fixedHistory: number;
    configuredMaxPipelines: string;
  };
  baseline: { maxPolls: number; longestSeconds: number; fixedHistory: number; perPollHistory: number };
}

export interface BenchResults {
  date: string;
  machine: { nproc: number; cpu: string; memoryGiB: number; node: string; platform: string };
  ours: CellResult[];
  baseline: CellResult[];
  baselineLimitRuns: CellResult[];
  failures: CellResult[];
  lostEvent: LostEventResult;
  baselineModels: Record<number, LinearModel>;
  oursModel: LinearModel;
  modelChecks: ModelCheck[];
  ceilings: Ceilings;
  wallTimes: WallTimes;
  archives: Record<string, number>;
  /** Why the archives could not be sized (the program failed to load under mocks). */
  archiveError?: string;
  targets: Target[];
  elapsedSeconds: number;
}

const MAP_CONCURRENCY = DEFAULT_WORKFLOW_OPTIONS.mapConcurrency;
const int = (n: number) => Math.round(n).toLocaleString("en-US");
const ratio = (baseline: number, ours: number) =>
  ours === 0 ? "–" : `${(baseline / ours).toFixed(baseline >= ours ? 1 : 2)}×`;
const seconds = (s: number) =>
  s < 1
    ? `${(s * 1000).toFixed(0)} ms`
    : s < 120
      ? `${s.toFixed(1)} s`
      : s < 7200
        ? `${(s / 60).toFixed(1)} min`
        : s < 172_800
          ? `${(s / 3600).toFixed(1)} h`
          : `${(s / 86_400).toFixed(1)} d`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

function cell(results: CellResult[], pipelines: number, duration: string): CellResult {
  const found = results.find((r) => r.pipelines === pipelines && r.duration === duration);
  if (!found) throw new Error(`bench: no result for ${pipelines} pipelines × ${duration}`);
  return found;
}

/** "ours / baseline (ratio)" per pipelines × duration; * extrapolated, ✗ over the history limit. */
function metricGrid(results: BenchResults, metric: Metric): string {
  const rows = PIPELINE_COUNTS.map((n) => [
    String(n),
    ...DURATIONS.map(({ label }) => {
      const ours = cell(results.ours, n, label);
      const base = cell(results.baseline, n, label);
      const mark = `${base.source === "extrapolated" ? "*" : ""}${base.overHistoryLimit ? " ✗" : ""}`;
      return `${int(ours[metric])} / ${int(base[metric])}${mark} (${ratio(base[metric], ours[metric])})`;
    }),
  ]);
  return table(["pipelines", ...DURATIONS.map((d) => d.label)], rows);
}

function delayGrid(results: BenchResults): string {
  const rows = PIPELINE_COUNTS.map((n) => [
    String(n),
    ...DURATIONS.map(({ label }) => {
      const ours = cell(results.ours, n, label).detectionDelaySeconds;
      const base = cell(results.baseline, n, label);
      const baseText = base.overHistoryLimit
        ? "✗"
        : `${base.detectionDelaySeconds?.toFixed(1)} s${base.source === "extrapolated" ? "*" : ""}`;
      return `${ours === undefined ? "–" : seconds(ours)} / ${baseText}`;
    }),
  ]);
  return table(["pipelines", ...DURATIONS.map((d) => d.label)], rows);
}

function releaseTimeGrid(results: BenchResults): string {
  const rows = PIPELINE_COUNTS.map((n) => [
    String(n),
    ...DURATIONS.map(({ label }) => {
      const ours = cell(results.ours, n, label);
      const base = cell(results.baseline, n, label);
      return `${seconds(ours.releaseSeconds)} / ${base.overHistoryLimit ? "✗" : seconds(base.releaseSeconds)}`;
    }),
  ]);
  return table(["pipelines", ...DURATIONS.map((d) => d.label)], rows);
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / Math.max(values.length, 1);

export function delays(results: BenchResults): { ours: number[]; baseline: number[] } {
  const of = (cells: CellResult[]) =>
    cells
      .filter((c) => c.source === "measured" && c.detectionDelaySeconds !== undefined)
      .map((c) => c.detectionDelaySeconds as number);
  return { ours: of(results.ours), baseline: of(results.baseline) };
}

export function summary(results: BenchResults): Record<string, unknown> {
  const five = (cells: CellResult[], label: string) => cell(cells, 5, label);
  const { ours: oursDelays, baseline: baselineDelays } = delays(results);
  return {
    date: results.date,
    machine: results.machine,
    transitions5: {
      ours: Object.fromEntries(["10m", "60m", "4h"].map((l) => [l, five(results.ours, l).transitions])),
      baseline: Object.fromEntries(
        ["10m", "60m", "4h"].map((l) => [l, five(results.baseline, l).transitions]),
      ),
    },
    historyEvents5x7d: {
      ours: five(results.ours, "7d").historyEvents,
      baseline: five(results.baseline, "7d").historyEvents,
      limit: HISTORY_LIMIT,
    },
    detectionDelaySeconds: {
      ours: Number(mean(oursDelays).toFixed(3)),
      baseline: Number(mean(baselineDelays).toFixed(1)),
      oursMax: Math.max(...oursDelays),
      baselineMax: Math.max(...baselineDelays),
    },
    lostEventRecoverySeconds: Number(results.lostEvent.delaySeconds.toFixed(1)),
    localReleaseMs: {
      pipelines5: results.wallTimes.pipelines5.medianMs,
      pipelines50: results.wallTimes.pipelines50.medianMs,
      concurrent20x5: results.wallTimes.concurrent20x5.medianMs,
    },
    lambdaArchiveBytes: results.archives,
    scaleCeiling: results.ceilings,
    targets: results.targets.map(({ name, target, measured, met }) => ({ name, target, measured, met })),
    grid: [...results.ours, ...results.baseline].map(({ notes: _notes, realMs: _realMs, ...rest }) => rest),
    failedReleases: results.failures.map(({ notes: _notes, realMs: _realMs, ...rest }) => rest),
  };
}

export function markdown(results: BenchResults): string {
  const r = results;
  const { ours: oursDelays, baseline: baselineDelays } = delays(r);
  const metricSections: [Metric, string][] = [
    ["transitions", "Billable state transitions"],
    ["historyEvents", `History events (limit ${int(HISTORY_LIMIT)} per execution)`],
    ["lambdaInvocations", "Lambda invocations"],
    ["dynamoWrites", "DynamoDB writes"],
    ["codePipelineCalls", "CodePipeline API calls"],
  ];
  const checks = r.modelChecks;
  const worst = checks.reduce((max, c) => Math.max(max, Math.abs(c.measured - c.predicted)), 0);
  const mismatches = checks.filter((c) => c.measured !== c.predicted);
  const ceilings = r.ceilings;
  const failure = (design: string, n: number) =>
    r.failures.find((f) => f.design === design && f.pipelines === n) as CellResult;
  const success = (design: "ours" | "baseline", n: number) =>
    cell(design === "ours" ? r.ours : r.baseline, n, "10m");
  const notes = [...r.ours, ...r.baseline].flatMap((c) =>
    c.notes.filter((n) => n.includes("model")).map((n) => `${c.design} ${c.pipelines}×${c.duration}: ${n}`),
  );

  return `# Benchmarks: event-driven release workflow vs the 30-second polling design

Generated by \`npm run bench\` on ${r.date} in ${r.elapsedSeconds.toFixed(0)} s.
Machine: ${r.machine.nproc} CPU (\`nproc\`), ${r.machine.cpu}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, ${r.machine.platform}.

Both designs run on the same local engine (\`LocalWorkflowEngine\`, aws-local-stepfunctions) against the
same stand-ins (dynalite, the CodePipeline stand-in, the event router); every CodePipeline call and
DynamoDB request is counted where it arrives. "Ours" is the deployed definition (\`releaseWorkflow\`,
default options: mapConcurrency ${MAP_CONCURRENCY}, failure policy ${DEFAULT_WORKFLOW_OPTIONS.failurePolicy}) with the real handlers; the baseline
is \`bench/baseline-workflow.ts\` with the Lambdas of \`bench/baseline-handlers.ts\`.

## Targets

${table(
  ["target", "wanted", "measured", "met"],
  r.targets.map((t) => [t.name, t.target, t.measured, t.met ? "✅ met" : "❌ missed"]),
)}

${r.targets
  .filter((t) => t.why)
  .map((t) => `- **${t.name}** — ${t.why}`)
  .join("\n")}

## Per release: ours / baseline (baseline ÷ ours)

Cells marked \`*\` are extrapolated from the baseline's per-poll model (fitted on measured cells, see
"Model check"); \`✗\` marks a baseline run whose history passes ${int(HISTORY_LIMIT)} events: AWS fails that
execution, and the figure is what it would have reached. Every "ours" cell was run; in the 24 h and 7 d
columns its reconciler runs are tallied from the per-run model instead of executed.

${metricSections.map(([metric, title]) => `### ${title}\n\n${metricGrid(r, metric)}`).join("\n\n")}

### Detection delay: pipeline end → release recorded (simulated time)

${delayGrid(r)}

Ours: mean ${(mean(oursDelays) * 1000).toFixed(0)} ms, max ${(Math.max(...oursDelays) * 1000).toFixed(0)} ms: the real time of terminal event →
pipeline-event Lambda → SendTaskSuccess → Map → MarkSucceeded on this machine (EventBridge's own delivery
latency on AWS comes on top and is not modelled). Baseline: mean ${mean(baselineDelays).toFixed(1)} s, max
${Math.max(...baselineDelays).toFixed(1)} s: the time to the next poll, uniform in [0, 30 s) because pipeline ends are not
aligned with the loop.

### Release duration (simulated): ours / baseline

${releaseTimeGrid(r)}

Ours runs at most mapConcurrency (${MAP_CONCURRENCY}) pipelines at once: each Map iteration keeps its slot while
its AwaitPipeline is parked, so a release of N pipelines runs in ⌈N / ${MAP_CONCURRENCY}⌉ waves
(${PIPELINE_COUNTS.map((n) => `${n}: ${Math.ceil(n / MAP_CONCURRENCY)}`).join(", ")}). The baseline starts every pipeline at once.
Transitions and history do not depend on this; reconciler runs do (they last as long as the release).

## Failed releases (10 min, the first pipeline fails while the others run)

${table(
  [
    "design",
    "pipelines",
    "status",
    "transitions (success)",
    "history (success)",
    "Lambda",
    "DynamoDB writes",
    "CodePipeline calls",
  ],
  (["ours", "baseline"] as const).flatMap((design) =>
    [1, 5].map((n) => {
      const f = failure(design, n);
      const s = success(design, n);
      return [
        design,
        String(n),
        f.status,
        `${f.transitions} (${s.transitions})`,
        `${f.historyEvents} (${s.historyEvents})`,
        String(f.lambdaInvocations),
        String(f.dynamoWrites),
        String(f.codePipelineCalls),
      ];
    }),
  ),
)}

With stopRemaining, a failed release of ours costs 10 + 3 per pipeline (the other iterations are
cancelled before PipelineSucceeded), against 7 + 4 per pipeline on success: more for 1–2 pipelines,
less from 4 on; it adds StopPipelineExecution calls and their STOPPING/STOPPED events.

## A lost terminal event

The router drops the first pipeline's SUCCEEDED event (5 pipelines, 60 min); the reconciler runs on its
${RECONCILE_PERIOD_SECONDS / 60}-minute schedule (phase ${(r.lostEvent.recoveredBySeconds % RECONCILE_PERIOD_SECONDS).toFixed(0)} s).
${r.lostEvent.runsBeforeEnd} runs before the pipelines ended completed nothing; the run at
t = ${r.lostEvent.recoveredBySeconds.toFixed(0)} s found the pipeline Succeeded and completed its waiter: release
${r.lostEvent.status}, ${r.lostEvent.delaySeconds.toFixed(1)} s after the pipeline ended at
t = ${r.lostEvent.pipelineEndSeconds.toFixed(1)} s (bound: one period, ${r.lostEvent.periodSeconds} s).

## Scale ceiling under the ${int(HISTORY_LIMIT)}-event history limit

${table(
  ["design", "longest release", "most pipelines per release"],
  [
    [
      "ours",
      "no history ceiling: history is fixed by the pipeline count; bounded by longestPipelineRunHours per pipeline (default 168 h, up to 8,760 h) and Step Functions' 1-year execution limit",
      `${int(ceilings.ours.maxPipelines)} (history ${ceilings.ours.fixedHistory} + ${ceilings.ours.perPipelineHistory} per pipeline); the manifest's maxPipelines config caps it first (${ceilings.ours.configuredMaxPipelines})`,
    ],
    [
      "baseline",
      `${int(ceilings.baseline.maxPolls)} polls = ${seconds(ceilings.baseline.longestSeconds)} (history ${ceilings.baseline.fixedHistory} + ${ceilings.baseline.perPollHistory} per poll)`,
      `no history ceiling below ${seconds(ceilings.baseline.longestSeconds)} (one Lambda polls all pipelines; history does not grow with them), none above it`,
    ],
  ],
)}

Measured at the limit: ${r.baselineLimitRuns
    .map(
      (c) =>
        `baseline ${c.pipelines}×${c.duration} ended ${c.status} after ${int(c.loopRuns)} polls (${seconds(c.releaseSeconds)}), history ${int(c.historyEvents)}`,
    )
    .join("; ")}.

## Local engine wall time (real ms, zero-duration pipelines, median)

${table(
  ["release", "median", "runs"],
  [
    [
      "1 release × 5 pipelines",
      `${r.wallTimes.pipelines5.medianMs} ms`,
      r.wallTimes.pipelines5.runsMs.join(", "),
    ],
    [
      "1 release × 50 pipelines",
      `${r.wallTimes.pipelines50.medianMs} ms`,
      r.wallTimes.pipelines50.runsMs.join(", "),
    ],
    [
      "20 concurrent releases × 5",
      `${r.wallTimes.concurrent20x5.medianMs} ms`,
      r.wallTimes.concurrent20x5.runsMs.join(", "),
    ],
  ],
)}

## Lambda archive size (compressed, from the program under mocks)

${
  r.archiveError
    ? `Not measured: loading the program under mocks failed with \`${r.archiveError}\`.`
    : table(
        ["function", "bytes"],
        Object.entries(r.archives)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, bytes]) => [name, int(bytes)]),
      )
}

## Observations

- **mapConcurrency bounds the pipelines that run at once, not only the starts.** A 50-pipeline release
  of 60-minute pipelines takes ${seconds(cell(r.ours, 50, "60m").releaseSeconds)} here against ${seconds(cell(r.baseline, 50, "60m").releaseSeconds)} for the
  baseline, and the inline Map caps any configuration at 40 pipelines in flight. Pulumi.yaml describes
  the key as "Pipelines started at once within a release". Waiting outside the start Map (e.g. one
  release-level wait completed when the last execution ends) would lift both.
- **PipelineSucceeded costs 1 transition and 2 history events per pipeline for nothing** under
  stopRemaining (RunPipelines discards the iterations' output with \`ResultPath: null\`), and
  ReleaseSucceeded could be \`End\` on PublishSucceeded: 6 + 3 per pipeline instead of 7 + 4.
- **The reconciler is most of ours' remaining cost on long releases**: ${int(cell(r.ours, 5, "7d").codePipelineCalls - 5)} of the
  ${int(cell(r.ours, 5, "7d").codePipelineCalls)} CodePipeline calls of a 5 × 7 d release (all but the 5 starts) and
  ${int(cell(r.ours, 5, "7d").loopRuns)} of its ${int(cell(r.ours, 5, "7d").lambdaInvocations)} Lambda invocations are reconciler runs; its
  period (reconcileSchedule) trades them against the recovery bound, and on AWS one run serves every
  running release.

## Model notes

- **Simulated time.** A discrete-event simulation, not a scaled clock: the harness ends pipelines
  (the stand-in's \`finish()\`, emitting the terminal event) when the simulated clock reaches their end.
  The baseline's \`Wait ${POLL_SECONDS} s\` runs with a 0 ms override and advances the clock by ${POLL_SECONDS} s,
  observed when the next CheckPipelines Lambda starts; ours has no Wait, so the clock jumps from one
  pipeline end to the next with the reconciler's runs in between. Task latency counts as zero. Pipelines
  end at the nominal duration minus a phase φ ∈ [0, 30 s) per cell (an additive sequence, so the grid
  covers the range evenly).
- **Transitions**: StateEntered events in the engine's event log, Map iterations included.
- **History events**: from the same log: execution started/ended 1 each; every state entered and exited
  1 each; Tasks add TaskScheduled + TaskStarted + TaskSucceeded/Failed (+ TaskSubmitted for
  \`.waitForTaskToken\`); Maps add MapStateStarted/Succeeded and MapIterationStarted/Succeeded per
  iteration. One baseline poll (Wait, Task, Choice) = 9 events. Failed Maps' aborted iterations are not
  counted (a few events on failed releases only).
- **Lambda invocations**: ours = the workflow's Lambda tasks + one pipeline-event invocation per delivered
  CodePipeline event (STARTED and the terminal state per pipeline) + one reconciler invocation per run.
  Baseline = its three Lambdas.
- **Reconciler** (ours): one run every ${RECONCILE_PERIOD_SECONDS / 60} min while the release runs, at a
  phase ψ per cell; each run costs 1 Lambda + 1 Scan (a read) + 1 GetPipelineExecution per waiting
  execution, all charged to this release (on AWS the run and its Scan are shared by every running
  release, so this overstates ours). Executed for real up to 4 h (every run's measured cost equals the
  model), tallied for 24 h and 7 d.
- **Baseline extrapolation**: per pipeline count, every metric = fixed + per-poll × polls, fitted on the
  measured 2 min and 10 min cells and checked against every other measured cell: ${
    mismatches.length === 0
      ? `all ${checks.length} checked values match exactly`
      : `${mismatches.length} of ${checks.length} checked values differ (largest difference ${worst})`
  }. Polls = ⌈(duration − φ) / 30 s⌉ (the 24 h and 7 d cells: 2,880 and 20,160).
- **Baseline shape**: the brief's simplification of the original (one Lambda starts every pipeline).
  The original SAM definition (guysqr/release-machine, statemachine/release_machine.asl.json) also has a
  "Manifest Valid?" Choice and starts pipelines in a Map of three states each, i.e. 5 + 3 per pipeline +
  3 per poll: the ratios above are the conservative ones.
${notes.length > 0 ? `\nModel notes from the runs:\n\n${notes.map((n) => `- ${n}`).join("\n")}\n` : ""}
## Model check (baseline, measured vs extrapolated)

${table(
  ["cell", ...new Set(checks.map((c) => c.metric))],
  [...new Set(checks.map((c) => c.cell))].map((name) => [
    name,
    ...checks
      .filter((c) => c.cell === name)
      .map((c) =>
        c.measured === c.predicted ? `${int(c.measured)} ✓` : `${int(c.measured)} vs ${int(c.predicted)}`,
      ),
  ]),
)}
`;
}
