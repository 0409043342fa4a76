/**
 * Real time the local release machine takes for releases whose pipelines take no time: the
 * engine, the handlers and the stand-ins themselves. Event-log capture is off, so this times the
 * product code alone. Each figure is the median of several runs after a warm-up.
 */
import { performance } from "node:perf_hooks";
import { startLocalReleaseMachine } from "../local/release-machine";
import { setCapturing } from "./instrument";
import { PIPELINE_NAMES } from "./simulation";

export interface WallTime {
  medianMs: number;
  runsMs: number[];
}

export interface WallTimes {
  pipelines5: WallTime;
  pipelines50: WallTime;
  concurrent20x5: WallTime;
}

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round = (ms: number) => Math.round(ms * 10) / 10;

export async function measureWallTimes(repeat = { small: 9, large: 5, concurrent: 5 }): Promise<WallTimes> {
  setCapturing(false);
  const machine = await startLocalReleaseMachine({
    pipelines: PIPELINE_NAMES.map((name) => ({ name, durationMs: 0, outcome: "Succeeded" as const })),
    retryPauseMs: 5,
  });
  let sequence = 0;
  const releases = async (pipelines: number, count: number): Promise<number> => {
    const start = performance.now();
    const executions = Array.from({ length: count }, () =>
      machine.submit({ releaseId: `wall-${(sequence += 1)}`, pipelines: PIPELINE_NAMES.slice(0, pipelines) }),
    );
    const done = await Promise.all(executions.map((e) => e.done));
    const elapsed = performance.now() - start;
    const failed = done.find((e) => e.status !== "SUCCEEDED");
    if (failed)
      throw new Error(`bench: wall-time release ${failed.name} ended ${failed.status}: ${failed.cause}`);
    await machine.router.idle();
    return elapsed;
  };
  const measure = async (pipelines: number, count: number, runs: number): Promise<WallTime> => {
    const runsMs: number[] = [];
    for (let i = 0; i < runs; i += 1) runsMs.push(round(await releases(pipelines, count)));
    return { medianMs: round(median(runsMs)), runsMs };
  };
  try {
    for (let i = 0; i < 3; i += 1) await releases(5, 1); // warm-up: JIT, sockets, tables
    await releases(50, 1);
    return {
      pipelines5: await measure(5, 1, repeat.small),
      pipelines50: await measure(50, 1, repeat.large),
      concurrent20x5: await measure(5, 20, repeat.concurrent),
    };
  } finally {
    await machine.close();
    setCapturing(true);
  }
}
