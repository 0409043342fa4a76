/** The JSON summary `npm run bench -- --json` prints. */
import { HISTORY_LIMIT } from "../local/history";
import { type BenchResults, delays, findCell, graphResult, mean, minutesOf } from "./results";
import type { CellResult } from "./simulation";

const withoutRunDetail = ({ notes: _notes, realMs: _realMs, schedule: _schedule, ...rest }: CellResult) =>
  rest;

export function summary(r: BenchResults): Record<string, unknown> {
  const five = (cells: CellResult[], label: string) => findCell(cells, 5, label);
  const { ours: oursDelays, baseline: baselineDelays } = delays(r);
  const twoChains = graphResult(r, "twoChains");
  const threeLevels = graphResult(r, "threeLevels");
  return {
    date: r.date,
    machine: r.machine,
    transitions5: {
      ours: Object.fromEntries(["10m", "60m", "4h"].map((l) => [l, five(r.ours, l).transitions])),
      baseline: Object.fromEntries(["10m", "60m", "4h"].map((l) => [l, five(r.baseline, l).transitions])),
    },
    historyEvents5x7d: {
      ours: five(r.ours, "7d").historyEvents,
      baseline: five(r.baseline, "7d").historyEvents,
      limit: HISTORY_LIMIT,
    },
    detectionDelaySeconds: {
      ours: Number(mean(oursDelays).toFixed(3)),
      baseline: Number(mean(baselineDelays).toFixed(1)),
      oursMax: Number(Math.max(...oursDelays).toFixed(3)),
      baselineMax: Number(Math.max(...baselineDelays).toFixed(1)),
    },
    lostEventRecoverySeconds: Number((r.lostEvent.waitSeconds + r.lostEvent.processingMs / 1000).toFixed(1)),
    localReleaseMs: {
      pipelines5: r.wallTimes.pipelines5.medianMs,
      pipelines50: r.wallTimes.pipelines50.medianMs,
      concurrent20x5: r.wallTimes.concurrent20x5.medianMs,
      pipelines500: r.wallTimes.pipelines500.medianMs,
    },
    releaseMinutes50x60m: {
      ours: minutesOf(findCell(r.ours, 50, "60m").releaseSeconds),
      baseline: minutesOf(findCell(r.baseline, 50, "60m").releaseSeconds),
    },
    releaseMinutesGraph: {
      ours: minutesOf(twoChains.result.releaseSeconds),
      criticalPath: minutesOf(twoChains.criticalPathSeconds),
    },
    historyEvents500: r.largest.historyEvents,
    dashboardRenderMs500: "error" in r.dashboardRender ? null : r.dashboardRender.medianMs,
    controlAnswerP95Ms: { cancel: r.controlLatency.cancelMs.p95, approve: r.controlLatency.approveMs.p95 },
    dynamoWriteUnitsPerPipeline: { p5: r.writeUnits.p5, p500: r.writeUnits.p500 },
    costUsdPerRelease50x60m: { ours: r.releaseCost.ours.usd, baseline: r.releaseCost.baseline.usd },
    transitionsGraph: threeLevels.result.transitions,
    lambdaArchiveBytes: r.archives,
    scaleCeiling: r.ceilings,
    targets: r.targets.map(({ kind, name, target, measured, met }) => ({
      kind,
      name,
      target,
      measured,
      met,
    })),
    grid: [...r.ours, ...r.baseline].map(withoutRunDetail),
    failedReleases: r.failures.map(withoutRunDetail),
    graphs: r.graphs.map((g) => ({
      key: g.key,
      title: g.title,
      levels: g.levels,
      criticalPathMinutes: minutesOf(g.criticalPathSeconds),
      ...withoutRunDetail(g.result),
    })),
  };
}
