/**
 * The polling baseline on the same engine and stand-ins, in simulated time (bench/simulation.ts):
 * each CheckPipelines invocation follows a pass through `Wait 30 s`, so it advances the clock by
 * 30 s, and ends the pipelines once the clock reaches their end. The loop's only bound is the
 * engine's own history quota: past 25,000 events it fails the execution with States.Runtime, as
 * AWS does.
 */
import { HISTORY_LIMIT } from "../local/history";
import { type BaselineMachine, startBaselineMachine } from "./baseline-machine";
import type { StartedExecution } from "./baseline-handlers";
import { POLL_SECONDS } from "./baseline-workflow";
import { difference } from "./counters";
import type { BenchMeter } from "./ours-bench";
import { type CellResult, type CellSpec, PIPELINE_NAMES, PIPELINE_SPECS, newReleaseId } from "./simulation";

/** The error Step Functions fails an execution with when its history passes the quota. */
export const HISTORY_LIMIT_ERROR = "States.Runtime";

interface BaselineRun {
  spec: CellSpec;
  now: number;
  endAt: number;
  ended: boolean;
  checks: number;
}

export class BaselineBench {
  private current?: BaselineRun;

  private constructor(private readonly machine: BaselineMachine) {}

  static async start(meter?: BenchMeter): Promise<BaselineBench> {
    const hooks: { beforeCheck?: (payload: { executions: StartedExecution[] }) => void } = {};
    const machine = await startBaselineMachine({
      pipelines: PIPELINE_SPECS,
      ...(meter ? { meter } : {}),
      beforeInvoke: (fn, payload) => {
        if (fn === "checkPipelines") hooks.beforeCheck?.(payload as { executions: StartedExecution[] });
      },
    });
    const bench = new BaselineBench(machine);
    hooks.beforeCheck = (payload) => bench.beforeCheck(payload);
    return bench;
  }

  /** The Wait before this check took 30 simulated seconds; pipelines due by now have ended. */
  private beforeCheck(payload: { executions: StartedExecution[] }): void {
    const run = this.current;
    if (!run) return;
    run.checks += 1;
    run.now += POLL_SECONDS;
    if (!run.ended && run.now >= run.endAt) {
      run.ended = true;
      // With failOne, the first pipeline fails while the others still run (the baseline stops none).
      const ending = run.spec.failOne ? payload.executions.slice(0, 1) : payload.executions;
      for (const { pipelineExecutionId } of ending) {
        this.machine.codepipeline.finish(pipelineExecutionId, run.spec.failOne ? "Failed" : "Succeeded");
      }
    }
  }

  async run(spec: CellSpec): Promise<CellResult> {
    const started = Date.now();
    const releaseId = newReleaseId("base", `${spec.pipelines}-${spec.duration.label}`);
    const before = this.machine.counts();
    const run: BaselineRun = {
      spec,
      now: 0,
      endAt: spec.duration.seconds - spec.phaseSeconds,
      ended: false,
      checks: 0,
    };
    this.current = run;
    try {
      const execution = this.machine.submit({
        releaseId,
        pipelines: PIPELINE_NAMES.slice(0, spec.pipelines),
      });
      await execution.done;
      const costs = execution.costs;
      const calls = difference(this.machine.counts(), before);
      const limitHit = execution.error === HISTORY_LIMIT_ERROR;
      // Pipelines still running when the execution ended: end them so they do not linger.
      for (const record of this.machine.codepipeline.executions()) {
        if (record.status === "InProgress")
          this.machine.codepipeline.finish(record.pipelineExecutionId, "Succeeded");
      }
      return {
        design: "baseline",
        pipelines: spec.pipelines,
        duration: spec.duration.label,
        status: limitHit ? "FAILED (history limit)" : execution.status,
        source: "measured",
        releaseSeconds: run.now,
        ...(run.ended && !limitHit ? { detectionDelaySeconds: run.now - run.endAt } : {}),
        loopRuns: run.checks,
        ...costs,
        ...calls,
        overHistoryLimit: limitHit || costs.historyEvents > HISTORY_LIMIT,
        largestStateBytes: execution.largestStateBytes,
        realMs: Date.now() - started,
        notes: limitHit ? [`failed by the engine (${HISTORY_LIMIT_ERROR}) after ${run.checks} polls`] : [],
      };
    } finally {
      this.current = undefined;
    }
  }

  close(): Promise<void> {
    return this.machine.close();
  }
}
