/**
 * Real time the local release machine takes for releases whose pipelines take no time: the
 * engine, the handlers and the stand-ins themselves, end to end (submit → execution ended). Each
 * figure is the median of several runs after a warm-up. The 500-pipeline runs also give the
 * engine's own counts of that release (transitions, history events, largest state), which are
 * deterministic and reported with the counts. Alone, the largest release only:
 * `npx ts-node --transpile-only bench/walltime.ts [runs]`.
 */
import { performance } from "node:perf_hooks";
import type { ExecutionCosts } from "../local/history";
import { startLocalReleaseMachine } from "../local/release-machine";
import { MANIFEST_RULE_LIMITS } from "../contract/manifest-schema";
import { pipelineNames } from "./simulation";

export interface WallTime {
  medianMs: number;
  runsMs: number[];
}

export interface WallTimes {
  pipelines5: WallTime;
  pipelines50: WallTime;
  concurrent20x5: WallTime;
  pipelines500: WallTime;
}

/** The engine's counts of the largest release (the same on every run: checked). */
export interface LargestRelease extends ExecutionCosts {
  pipelines: number;
  largestStateBytes: number;
}

/** The largest release the manifest rules can be configured to accept. */
export const LARGEST_RELEASE = MANIFEST_RULE_LIMITS.maxPipelines;

const median = (values: number[]) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};
const round = (ms: number) => Math.round(ms * 10) / 10;

/** A local release machine of LARGEST_RELEASE instant pipelines, and how to time releases on it. */
async function wallTimeMachine() {
  const names = pipelineNames(LARGEST_RELEASE, 3);
  const machine = await startLocalReleaseMachine({
    // The 20 concurrent releases share their pipelines: PARALLEL mode, so each release's executions
    // run side by side, as they would on pipelines configured so. In the default SUPERSEDED mode
    // CodePipeline supersedes the older executions and those releases fail (docs/aws-facts.md).
    pipelines: names.map((name) => ({
      name,
      durationMs: 0,
      outcome: "Succeeded" as const,
      executionMode: "PARALLEL" as const,
    })),
    manifestRules: { maxPipelines: LARGEST_RELEASE },
    retryPauseMs: 5,
  });
  let sequence = 0;
  const largest: LargestRelease[] = [];
  const releases = async (pipelines: number, count: number): Promise<number> => {
    const start = performance.now();
    const executions = Array.from({ length: count }, () =>
      machine.submit({ releaseId: `wall-${(sequence += 1)}`, pipelines: names.slice(0, pipelines) }),
    );
    const done = await Promise.all(executions.map((e) => e.done));
    const elapsed = performance.now() - start;
    const failed = done.find((e) => e.status !== "SUCCEEDED");
    if (failed)
      throw new Error(`bench: wall-time release ${failed.name} ended ${failed.status}: ${failed.cause}`);
    if (pipelines === LARGEST_RELEASE) {
      for (const e of done) largest.push({ pipelines, ...e.costs, largestStateBytes: e.largestStateBytes });
    }
    await machine.router.idle();
    return elapsed;
  };
  const measure = async (pipelines: number, count: number, runs: number): Promise<WallTime> => {
    const runsMs: number[] = [];
    for (let i = 0; i < runs; i += 1) runsMs.push(round(await releases(pipelines, count)));
    return { medianMs: round(median(runsMs)), runsMs };
  };
  const warmUp = async () => {
    for (let i = 0; i < 3; i += 1) await releases(5, 1); // warm-up: JIT, sockets, tables
    await releases(50, 1);
  };
  return { machine, largest, measure, warmUp };
}

export async function measureWallTimes(
  repeat = { small: 9, large: 5, concurrent: 5, largest: 3 },
): Promise<{ wallTimes: WallTimes; largest: LargestRelease }> {
  const { machine, largest, measure, warmUp } = await wallTimeMachine();
  try {
    await warmUp();
    const wallTimes: WallTimes = {
      pipelines5: await measure(5, 1, repeat.small),
      pipelines50: await measure(50, 1, repeat.large),
      concurrent20x5: await measure(5, 20, repeat.concurrent),
      pipelines500: await measure(LARGEST_RELEASE, 1, repeat.largest),
    };
    const differing = largest.find((l) => JSON.stringify(l) !== JSON.stringify(largest[0]));
    if (differing) throw new Error(`bench: ${LARGEST_RELEASE}-pipeline releases counted differently`);
    return { wallTimes, largest: largest[0] };
  } finally {
    await machine.close();
  }
}

/** The largest release's wall time alone, after the same warm-up (`pipelines500` of the report). */
export async function measureLargestRelease(runs = 3): Promise<WallTime> {
  const { machine, measure, warmUp } = await wallTimeMachine();
  try {
    await warmUp();
    return await measure(LARGEST_RELEASE, 1, runs);
  } finally {
    await machine.close();
  }
}

// Alone: `npx ts-node --transpile-only bench/walltime.ts [runs]` times the largest release only.
if (require.main === module) {
  measureLargestRelease(Number(process.argv[2] ?? 3)).then(
    (wall) => {
      process.stdout.write(
        `${LARGEST_RELEASE}-pipeline local release: median ${wall.medianMs} ms of ${wall.runsMs.join(", ")} ms\n`,
      );
      process.exit();
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
