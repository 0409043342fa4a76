/**
 * The Markdown report of `npm run bench`. Every sentence is built from the measured results (no
 * prose states a figure or a conclusion the tables could contradict). Part 1 holds what is the
 * same on any machine for the same code: counts, simulated times and sizes. Part 2 holds the
 * wall-clock figures of the machine it ran on.
 */
import { PRICES } from "./cost";
import { DEFAULT_WORKFLOW_OPTIONS } from "../stepfunction/release-workflow";
import { WRITE_UNITS_BEFORE } from "./targets";
import { HISTORY_LIMIT } from "../local/history";
import { POLL_SECONDS } from "./baseline-workflow";
import type { Metric } from "./model";
import { reconcilerRunModel } from "./ours-bench";
import { type BenchResults, type GraphResult, type Target, delays, findCell, mean } from "./results";
import { type CellResult, DURATIONS, PIPELINE_COUNTS, RECONCILE_PERIOD_SECONDS } from "./simulation";
import { LARGEST_RELEASE } from "./walltime";

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
const minutes = (s: number) => `${(s / 60).toFixed(1)} min`;

function table(header: string[], rows: string[][]): string {
  const line = (cells: string[]) => `| ${cells.join(" | ")} |`;
  return [line(header), line(header.map(() => "---")), ...rows.map(line)].join("\n");
}

/** One row per pipeline count, one column per duration. */
function durationGrid(render: (n: number, label: string) => string): string {
  const rows = PIPELINE_COUNTS.map((n) => [String(n), ...DURATIONS.map(({ label }) => render(n, label))]);
  return table(["pipelines", ...DURATIONS.map((d) => d.label)], rows);
}

function targetTable(targets: Target[]): string {
  return table(
    ["target", "wanted", "measured", "met"],
    targets.map((t) => [t.name, t.target, t.measured, t.met ? "✅ met" : "❌ missed"]),
  );
}

function intro(r: BenchResults): string {
  const { failurePolicy, longestPipelineRunSeconds } = DEFAULT_WORKFLOW_OPTIONS;
  const met = r.targets.filter((t) => t.met).length;
  return `# Benchmarks: event-driven release workflow vs the ${POLL_SECONDS}-second polling design

Written by \`npm run bench\` (bench/run.ts). Both designs run on the same local engine
(\`LocalWorkflowEngine\`, aws-local-stepfunctions) against the same stand-ins (dynalite, the
CodePipeline stand-in, the event router); every CodePipeline call and DynamoDB request is counted where
it arrives, and transitions and history events are the engine's own counts. "Ours" is \`releaseWorkflow\`
with its default options (failure policy ${failurePolicy}, longest pipeline run ${seconds(longestPipelineRunSeconds)}) and
the real handlers; the baseline is \`bench/baseline-workflow.ts\` with the Lambdas of
\`bench/baseline-handlers.ts\`.

Part 1 (counts, simulated time, sizes) is the same on every machine for the same code; part 2 holds
this machine's wall-clock figures. ${met} of ${r.targets.length} targets are met.`;
}

const METRIC_SECTIONS: [Metric, string][] = [
  ["transitions", "Billable state transitions"],
  ["historyEvents", `History events (limit ${int(HISTORY_LIMIT)} per execution)`],
  ["lambdaInvocations", "Lambda invocations"],
  ["dynamoWrites", "DynamoDB writes"],
  ["dynamoReads", "DynamoDB reads"],
  ["codePipelineCalls", "CodePipeline API calls"],
];

function metricGrids(r: BenchResults): string {
  const grid = (metric: Metric) =>
    durationGrid((n, label) => {
      const ours = findCell(r.ours, n, label);
      const base = findCell(r.baseline, n, label);
      const mark = `${base.source === "extrapolated" ? "*" : ""}${base.overHistoryLimit ? " ✗" : ""}`;
      return `${int(ours[metric])} / ${int(base[metric])}${mark} (${ratio(base[metric], ours[metric])})`;
    });
  const extrapolated = r.baseline.filter((c) => c.source === "extrapolated").length;
  const tallied = r.ours.filter((c) => (c.loopRunsMeasured ?? 0) < c.loopRuns).length;
  return `### Per release: ours / baseline (baseline ÷ ours)

${extrapolated} baseline cells (marked \`*\`) are extrapolated from the baseline's per-poll model (see "Model
check"); \`✗\` marks a baseline release whose history passes ${int(HISTORY_LIMIT)} events, which AWS fails (the
figure is what it would have reached). Every one of the ${r.ours.length} "ours" cells was run; in ${tallied} of them
reconciler runs were tallied from the per-run model instead of executed (see "Method").

${METRIC_SECTIONS.map(([metric, title]) => `#### ${title}\n\n${grid(metric)}`).join("\n\n")}`;
}

function releaseTimes(r: BenchResults): string {
  const grid = durationGrid((n, label) => {
    const ours = findCell(r.ours, n, label);
    const base = findCell(r.baseline, n, label);
    return `${seconds(ours.releaseSeconds)} / ${base.overHistoryLimit ? "✗" : seconds(base.releaseSeconds)}`;
  });
  const ours = findCell(r.ours, 50, "60m");
  const base = findCell(r.baseline, 50, "60m");
  const baseDelays = delays(r).baseline;
  const baseGrid = durationGrid((n, label) => {
    const c = findCell(r.baseline, n, label);
    return c.overHistoryLimit
      ? "✗"
      : `${c.detectionDelaySeconds?.toFixed(1)} s${c.source === "extrapolated" ? "*" : ""}`;
  });
  return `### Release duration (simulated): ours / baseline

${grid}

A release of 50 pipelines of 60 minutes takes ${minutes(ours.releaseSeconds)} with ours and ${minutes(base.releaseSeconds)} with the baseline.

### Detection delay of the baseline (simulated): pipeline end → release recorded

${baseGrid}

Mean ${mean(baseDelays).toFixed(1)} s, max ${Math.max(...baseDelays).toFixed(1)} s over ${baseDelays.length} measured cells: the wait for the next poll.
Ours' detection delay is real time, in part 2.`;
}

/** The wall time a level-by-level schedule would take: each level waits for the slowest of the one before. */
function levelByLevelSeconds(g: GraphResult): number {
  const schedule = g.result.schedule ?? [];
  const byName = new Map(schedule.map((p) => [p.name, p]));
  const level = (name: string): number => 1 + Math.max(0, ...(byName.get(name)?.dependsOn ?? []).map(level));
  const longest = new Map<number, number>();
  for (const p of schedule) {
    const l = level(p.name);
    longest.set(l, Math.max(longest.get(l) ?? 0, p.endSeconds - p.startSeconds));
  }
  return [...longest.values()].reduce((a, b) => a + b, 0);
}

function graphSection(g: GraphResult): string {
  const rows = (g.result.schedule ?? []).map((p) => [
    p.name,
    p.dependsOn.join(", ") || "–",
    minutes(p.startSeconds),
    minutes(p.endSeconds),
    p.status,
  ]);
  return `#### ${g.title}

${table(["pipeline", "depends on", "started", "ended", "status"], rows)}

${g.result.status} in ${minutes(g.result.releaseSeconds)} (simulated); critical path ${minutes(g.criticalPathSeconds)}; a level-by-level
schedule of its ${g.levels} levels would take ${minutes(levelByLevelSeconds(g))}. ${g.result.transitions} transitions, ${g.result.historyEvents} history events,
${g.result.lambdaInvocations} Lambda invocations, ${g.result.codePipelineCalls} CodePipeline calls.`;
}

function graphs(r: BenchResults): string {
  return `### Dependency graphs (ours; the baseline starts every pipeline at once)

Each pipeline's start is the simulated time the harness first saw its execution on the CodePipeline
stand-in; the harness checks that each dependency had succeeded by then.

${r.graphs.map(graphSection).join("\n\n")}`;
}

function failures(r: BenchResults): string {
  const failure = (design: string, n: number) =>
    r.failures.find((f) => f.design === design && f.pipelines === n) as CellResult;
  const success = (design: "ours" | "baseline", n: number) =>
    findCell(design === "ours" ? r.ours : r.baseline, n, "10m");
  const rows = (["ours", "baseline"] as const).flatMap((design) =>
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
  );
  const header = ["design", "pipelines", "status", "transitions (success)", "history (success)"];
  return `### Failed releases (10 min, the first pipeline fails while the others run)

${table([...header, "Lambda", "DynamoDB writes", "CodePipeline calls"], rows)}`;
}

function lostEvent(r: BenchResults): string {
  const l = r.lostEvent;
  return `### A lost terminal event

The router drops the first pipeline's SUCCEEDED event (5 pipelines, 60 min); the reconciler runs every
${RECONCILE_PERIOD_SECONDS / 60} min (phase ${(l.recoveredBySeconds % RECONCILE_PERIOD_SECONDS).toFixed(0)} s). ${l.runsBeforeEnd} runs before the pipelines ended completed nothing; the
run at t = ${l.recoveredBySeconds.toFixed(0)} s, ${l.waitSeconds.toFixed(1)} s after the pipeline ended at t = ${l.pipelineEndSeconds.toFixed(1)} s, found it ended: release
${l.status} (bound: one period, ${l.periodSeconds} s).`;
}

function ceilings(r: BenchResults): string {
  const { ours, baseline } = r.ceilings;
  const oursPipelines =
    ours.maxPipelines === null
      ? `history does not grow with pipelines (${ours.fixedHistory} + ${ours.perPipelineHistory} per pipeline); a ${int(r.largest.pipelines)}-pipeline release records ${int(r.largest.historyEvents)} events`
      : `${int(ours.maxPipelines)} (history ${ours.fixedHistory} + ${ours.perPipelineHistory} per pipeline)`;
  const limitRuns = r.baselineLimitRuns
    .map(
      (c) =>
        `baseline ${c.pipelines}×${c.duration} ended ${c.status} after ${int(c.loopRuns)} polls (${seconds(c.releaseSeconds)}), history ${int(c.historyEvents)}`,
    )
    .join("; ");
  return `### Scale ceiling under the ${int(HISTORY_LIMIT)}-event history limit

${table(
  ["design", "longest release", "most pipelines per release"],
  [
    [
      "ours",
      `history ${findCell(r.ours, 5, "7d").historyEvents} events at 5 × 7 d, ${findCell(r.ours, 5, "2m").historyEvents} at 5 × 2 min`,
      `${oursPipelines}; the manifest's maxPipelines: default ${ours.defaultMaxPipelines}, at most ${ours.configurableMaxPipelines}`,
    ],
    [
      "baseline",
      `${int(baseline.maxPolls)} polls = ${seconds(baseline.longestSeconds)} (history ${baseline.fixedHistory} + ${baseline.perPollHistory} per poll)`,
      `history ${findCell(r.baseline, 50, "10m").historyEvents} events at 50 × 10 min, ${findCell(r.baseline, 1, "10m").historyEvents} at 1 × 10 min`,
    ],
  ],
)}

Run until the engine failed them: ${limitRuns}.`;
}

function archives(r: BenchResults): string {
  const body = r.archiveError
    ? `Not measured: loading the program under mocks failed with \`${r.archiveError}\`.`
    : table(
        ["function", "bytes"],
        Object.entries(r.archives)
          .sort(([a], [b]) => a.localeCompare(b))
          .map(([name, bytes]) => [name, int(bytes)]),
      );
  return `### Lambda archive size (compressed, from the program under mocks)\n\n${body}`;
}

function writeUnits(r: BenchResults): string {
  const rowsOf = (detail: BenchResults["writeUnits"]["detail500"]) =>
    Object.entries(detail).map(([name, u]) => [
      name,
      int(u.table),
      int(u.indexes),
      ((u.table + u.indexes) / 500).toFixed(2),
    ]);
  const columns = ["table", "table units", "index units", "per pipeline"];
  return `### DynamoDB write units per pipeline (as AWS bills on-demand writes)

Metered on the local DynamoDB from each write's item before and after (bench/write-units.ts): the
table's ceil(max(old, new) / 1 KB) units, and per index the projected entry's units for each entry a
write puts, changes or deletes (a changed index key: a delete and a put). 5 pipelines: ${r.writeUnits.p5}
per pipeline; 500 pipelines: ${r.writeUnits.p500} (before the fix: ${WRITE_UNITS_BEFORE.p5} and ${WRITE_UNITS_BEFORE.p500}). The
500-pipeline release by table:

${table(columns, rowsOf(r.writeUnits.detail500))}

These pipelines take no time, so an end often arrives before its start's link to the release and
is recorded for the start to act on (one Executions write more). The same 500-pipeline release
with every pipeline ending once its start is recorded, as pipelines on AWS do: ${r.writeUnits.p500Recorded}
per pipeline.

${table(columns, rowsOf(r.writeUnits.detail500Recorded))}

Each remaining write per pipeline and the requirement that needs it: docs/architecture.md, "Write
units" (registration, claim, start record, success marked settled, the start's link, the count: 6).`;
}

function reconcilerShare(r: BenchResults): string {
  const c = findCell(r.ours, 5, "7d");
  const gets = reconcilerRunModel(c.pipelines).codePipelineCalls * c.loopRuns;
  return `**Reconciler share**: of the ${int(c.codePipelineCalls)} CodePipeline calls of ours' 5 × 7 d release, ${int(gets)} are the
  reconciler's GetPipelineExecution (${int(c.loopRuns)} runs × ${c.pipelines} running executions), and ${int(c.loopRuns)} of its
  ${int(c.lambdaInvocations)} Lambda invocations are reconciler runs.`;
}

function method(r: BenchResults): string {
  const checks = r.modelChecks;
  const mismatches = checks.filter((c) => c.measured !== c.predicted);
  const worst = checks.reduce((max, c) => Math.max(max, Math.abs(c.measured - c.predicted)), 0);
  const runNotes = [...r.ours, ...r.baseline, ...r.graphs.map((g) => g.result)].flatMap((c) =>
    c.notes.map((n) => `- ${c.design} ${c.pipelines}×${c.duration}: ${n}`),
  );
  const executedRuns = r.ours.reduce((sum, c) => sum + (c.loopRunsMeasured ?? 0), 0);
  const costMismatches = runNotes.filter((n) => n.includes("reconciler run cost")).length;
  const model = reconcilerRunModel(1);
  return `### Method

- **Simulated time.** The harness ends pipelines (the stand-in's \`finish()\`) when the simulated clock
  reaches their end. The baseline's \`Wait ${POLL_SECONDS} s\` runs as a 0-second Wait and advances the clock by
  ${POLL_SECONDS} s at each CheckPipelines; ours jumps from one pipeline end to the next, running the reconciler's
  scheduled runs in between. Grid pipelines end at the nominal duration minus a phase φ ∈ [0, ${POLL_SECONDS} s).
- **Transitions and history events**: the engine's counts (local/history.ts) of each execution.
- **Reconciler** (ours): one run every ${RECONCILE_PERIOD_SECONDS / 60} min while the release runs, charged to this release
  alone. Model per run: ${model.lambdaInvocations} Lambda, ${model.dynamoReads} reads, 1 GetPipelineExecution per running execution. ${int(executedRuns)} runs were
  executed; ${costMismatches} differed from the model.
- **Baseline extrapolation**: per pipeline count, every metric = fixed + per poll × polls, fitted on the
  measured 2 min and 10 min cells; ${
    mismatches.length === 0
      ? `all ${checks.length} values checked against other measured cells match`
      : `${mismatches.length} of ${checks.length} checked values differ (largest difference ${worst})`
  }.
- ${reconcilerShare(r)}
- **Dashboard render** (\`dashboardRenderMs500\`, real time): \`release-machine dashboard\`'s server in front of a
  stand-in API answering one RUNNING release of 500 pipelines in 20 dependency levels
  (bench/dashboard-fixture.ts), opened ${"error" in r.dashboardRender ? "" : `${r.dashboardRender.runs} times `}in headless Chromium (Debian's
  /usr/bin/chromium, playwright-core): from the start of navigation to all 500 pipelines in the page, median; then a click on a pipeline until its details show.
- **Control answers** (real time, bench/control-latency.ts): on one local machine, ${r.controlLatency.releases} releases of
  ${r.controlLatency.pipelinesEach} running pipelines each are cancelled while ${r.controlLatency.releases} gates are approved, all at once;
  each call is timed from its request to its answer (the stop passes and starts run after the answer).
${runNotes.length > 0 ? `\nNotes from the runs:\n\n${runNotes.join("\n")}\n` : ""}`;
}

function modelCheck(r: BenchResults): string {
  const checks = r.modelChecks;
  return `### Model check (baseline, measured vs extrapolated)

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
)}`;
}

function wallClock(r: BenchResults): string {
  const m = r.machine;
  const oursDelays = delays(r).ours;
  const w = r.wallTimes;
  const rows: [string, keyof typeof w][] = [
    ["1 release × 5 pipelines", "pipelines5"],
    ["1 release × 50 pipelines", "pipelines50"],
    ["20 concurrent releases × 5", "concurrent20x5"],
    [`1 release × ${LARGEST_RELEASE} pipelines`, "pipelines500"],
  ];
  const delayGrid = durationGrid((n, label) => {
    const d = findCell(r.ours, n, label).detectionDelaySeconds;
    return d === undefined ? "–" : seconds(d);
  });
  return `## Part 2: wall clock (this machine)

\`${r.command}\` ran on ${r.date} in ${r.elapsedSeconds.toFixed(0)} s. Machine: ${m.nproc} CPU (\`nproc\`), ${m.cpu}, ${m.memoryGiB} GiB, Node ${m.node}, ${m.platform}; 1-minute load average ${m.loadAverage.start} at the start, ${m.loadAverage.end} at the end.

${targetTable(r.targets.filter((t) => t.kind === "wallclock"))}

### Local release, end to end (real ms, zero-duration pipelines, median)

${table(
  ["release", "median", "runs"],
  rows.map(([name, key]) => [name, `${w[key].medianMs} ms`, w[key].runsMs.join(", ")]),
)}

### Detection delay of ours (real time): last pipeline end → release recorded

${delayGrid}

Mean ${(mean(oursDelays) * 1000).toFixed(0)} ms, max ${(Math.max(...oursDelays) * 1000).toFixed(0)} ms: terminal event → pipeline-event handler → SendTaskSuccess →
MarkSucceeded on this machine (EventBridge's delivery latency on AWS is not modelled). With a lost event,
the reconciler's run recorded the release ${r.lostEvent.processingMs} ms after it started.`;
}

function releaseCost(r: BenchResults): string {
  const { ours, baseline, label } = r.releaseCost;
  const keys = Object.keys(ours.counts) as (keyof typeof ours.counts)[];
  const fmt = (n: number) => (Number.isInteger(n) ? int(n) : n.toFixed(3));
  const rows = keys.map((k) => [k, fmt(ours.counts[k]), fmt(baseline.counts[k])]);
  rows.push(["**USD**", `$${ours.usd.toFixed(6)}`, `$${baseline.usd.toFixed(6)}`]);
  const prices = Object.values(PRICES).map((p) => [p.per, `$${p.usd.toPrecision(6)}`, p.url]);
  return `### Cost of one release, ${label} (us-east-1 on-demand)

Both designs on fresh metered machines (bench/cost-bench.ts), 60 minutes of simulated time on the
harness's clock: Step Functions Standard transitions (the engine's count); Lambda requests and
GB-seconds (each invocation's real duration on this machine, rounded up to 1 ms, at 256 MB, the
memory infra/functions.ts configures, on Arm: the baseline's functions are priced the same, so the
comparison is of the designs; ${ours.untimedInvocations} pipeline-event deliveries of ours
the harness cannot time are billed at its timed invocations' mean, and every timed write includes
the write meter's own reads, so GB-seconds are an over-count); DynamoDB write units metered as AWS
bills them (bench/write-units.ts) and read units as DynamoDB reports them (ReturnConsumedCapacity);
custom events put on EventBridge. Not counted, the same for both: the pipelines (CodePipeline bills
per pipeline or action-minute, not per API call), the submitting API request, logs.

${table(["count", "ours", "baseline"], rows)}

Prices (us-east-1, on-demand, as published):

${table(["unit", "price (USD)", "source"], prices)}`;
}

export function markdown(r: BenchResults): string {
  return `${[
    intro(r),
    "## Part 1: counts and simulated time (deterministic)",
    `### Targets\n\n${targetTable(r.targets.filter((t) => t.kind === "counts"))}`,
    metricGrids(r),
    releaseTimes(r),
    graphs(r),
    failures(r),
    lostEvent(r),
    ceilings(r),
    archives(r),
    writeUnits(r),
    releaseCost(r),
    method(r),
    modelCheck(r),
    wallClock(r),
  ].join("\n\n")}\n`;
}
