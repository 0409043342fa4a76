/**
 * Cost models fitted on measured cells, used where running a cell is impossible (the baseline's
 * 24 h and 7 d loops: up to 20,160 polls) and checked against the cells that were measured.
 *
 * Baseline: every metric is fixed + perPoll × polls, for a given number of pipelines; fitted from
 * two measured durations, then checked against every other measured one.
 * Ours: transitions and history are fixed + perPipeline × pipelines, whatever the duration.
 */
import { HISTORY_LIMIT } from "../local/history";
import { POLL_SECONDS } from "./baseline-workflow";
import type { CellResult, Duration, RunCosts } from "./simulation";

export const METRICS = [
  "transitions",
  "historyEvents",
  "lambdaInvocations",
  "dynamoWrites",
  "dynamoReads",
  "codePipelineCalls",
] as const satisfies readonly (keyof RunCosts)[];
export type Metric = (typeof METRICS)[number];

export interface LinearModel {
  fixed: RunCosts;
  per: RunCosts;
}

function linear(a: RunCosts, ax: number, b: RunCosts, bx: number): LinearModel {
  if (ax === bx) throw new Error("bench: a linear fit needs two different x values");
  const fixed = {} as RunCosts;
  const per = {} as RunCosts;
  for (const metric of METRICS) {
    per[metric] = (b[metric] - a[metric]) / (bx - ax);
    fixed[metric] = a[metric] - per[metric] * ax;
  }
  return { fixed, per };
}

export function evaluate(model: LinearModel, x: number): RunCosts {
  const costs = {} as RunCosts;
  for (const metric of METRICS) costs[metric] = Math.round(model.fixed[metric] + model.per[metric] * x);
  return costs;
}

/** Polls a baseline release makes: its pipelines end φ before the nominal duration, seen at the next poll. */
export function pollsFor(duration: Duration, phaseSeconds: number): number {
  return Math.ceil((duration.seconds - phaseSeconds) / POLL_SECONDS);
}

/** The baseline's per-poll model for one pipeline count, from two of its measured cells. */
export function fitBaseline(a: CellResult, b: CellResult): LinearModel {
  return linear(a, a.loopRuns, b, b.loopRuns);
}

/** Ours: costs by number of pipelines, from two measured cells of the same duration. */
export function fitOurs(a: CellResult, b: CellResult): LinearModel {
  return linear(a, a.pipelines, b, b.pipelines);
}

export interface ModelCheck {
  cell: string;
  metric: Metric;
  measured: number;
  predicted: number;
}

/** Every metric of every checked cell, measured against predicted. */
export function checkModel(
  model: LinearModel,
  cells: CellResult[],
  x: (cell: CellResult) => number,
): ModelCheck[] {
  return cells.flatMap((cell) => {
    const predicted = evaluate(model, x(cell));
    return METRICS.map((metric) => ({
      cell: `${cell.design} ${cell.pipelines}×${cell.duration}`,
      metric,
      measured: cell[metric],
      predicted: predicted[metric],
    }));
  });
}

/** The most polls the baseline completes before its history passes the limit. */
export function maxPollsUnderLimit(model: LinearModel): number {
  return Math.floor((HISTORY_LIMIT - model.fixed.historyEvents) / model.per.historyEvents);
}
