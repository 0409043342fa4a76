/**
 * Both designs run on the local engine in simulated time.
 *
 * Time is a discrete-event simulation, not a scaled clock: pipelines never end on a real timer;
 * the harness ends them (the stand-in's `finish()`, which emits the same terminal event as on
 * AWS) when the simulated clock reaches their end. The clock moves only where AWS would spend
 * time waiting:
 * - baseline: each pass through `Wait 30 s` (its real pause overridden to 0 ms) advances the
 *   clock by 30 s, observed when the next CheckPipelines Lambda is invoked;
 * - ours: nothing runs while pipelines run, so the clock jumps to the next pipeline end, with the
 *   reconciler's scheduled runs in between.
 * Task latency is taken as zero on both sides, so every count is what AWS would record however fast
 * this machine is, and a 7-day release needs no more real time than a 2-minute one (except the
 * baseline's loop, whose iterations are really executed).
 *
 * Pipeline ends are not aligned with the poll loop on AWS: every release's pipelines end at its
 * nominal duration minus a phase φ in [0, 30 s) (a low-discrepancy sequence, so the grid's average
 * is near the uniform mean of 15 s). The reconciler runs every 5 minutes at its own phase ψ.
 */
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { WaiterRequest } from "../handlers/executions";
import { type LocalReleaseMachine, LOCAL_REFS, startLocalReleaseMachine } from "../local/release-machine";
import type { StateMachineDefinition } from "../stepfunction/asl";
import { DEFAULT_WORKFLOW_OPTIONS, releaseWorkflow } from "../stepfunction/release-workflow";
import { type BaselineMachine, startBaselineMachine } from "./baseline-machine";
import type { StartedExecution } from "./baseline-handlers";
import { POLL_SECONDS, WAIT_STATE } from "./baseline-workflow";
import {
  type CallCounts,
  DynamoRequestCounter,
  NO_CALLS,
  codePipelineCalls,
  difference,
  sum,
} from "./counters";
import { CostCounter, HISTORY_LIMIT, costsOf } from "./history";
import { type EngineEvent, eventsOf, eventsSoFar, forget, setWaitOverrides } from "./instrument";

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
export const MAX_PIPELINES = Math.max(...PIPELINE_COUNTS);
export const PIPELINE_NAMES = Array.from(
  { length: MAX_PIPELINES },
  (_, i) => `svc-${String(i + 1).padStart(2, "0")}`,
);
/** Pipelines that run until the harness ends them. */
const PIPELINE_SPECS: LocalPipelineSpec[] = PIPELINE_NAMES.map((name) => ({
  name,
  durationMs: null,
  outcome: "Succeeded",
}));

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
  /** The first pipeline fails (at the same time the others would succeed). */
  failOne?: boolean;
  /** Run the reconciler for real (else its runs are tallied from the per-run model). */
  runReconciler?: boolean;
}

export interface RunCosts extends CallCounts {
  transitions: number;
  historyEvents: number;
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
  /** Simulated seconds from the (last) pipeline end to the release recorded. */
  detectionDelaySeconds?: number;
  /** Baseline: polling iterations; ours: reconciler runs charged to the release. */
  loopRuns: number;
  /** Ours: reconciler runs executed for real (the rest tallied from the per-run model). */
  loopRunsMeasured?: number;
  overHistoryLimit: boolean;
  realMs: number;
  notes: string[];
}

async function until(what: string, probe: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error(`bench: timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 1));
  }
}

/** When the release was recorded: the end of MarkSucceeded / MarkFailed, by the engine's clock. */
function recordedAt(events: EngineEvent[]): number | undefined {
  const exit = [...events]
    .reverse()
    .find(
      (e) =>
        e.type === "StateExited" && (e.state?.name === "MarkSucceeded" || e.state?.name === "MarkFailed"),
    );
  return exit?.timestamp;
}

let releaseSequence = 0;
const newReleaseId = (prefix: string, spec: CellSpec) =>
  `${prefix}-${spec.pipelines}-${spec.duration.label}-${(releaseSequence += 1)}`;

/** What the harness sees of our machine: Lambda invocations, and the waiters registered per release. */
interface Observed {
  lambdaInvocations: number;
  /** Pipeline executions whose waiter is registered, by release. */
  waiting: Map<string, string[]>;
}

/** Our design on `startLocalReleaseMachine`, with counters on every billable call. */
export class OursBench {
  readonly definition: StateMachineDefinition = releaseWorkflow(LOCAL_REFS, DEFAULT_WORKFLOW_OPTIONS);
  private readonly dynamo = new DynamoRequestCounter();
  /** Drops matching pipeline events (the lost-event experiment). */
  private drop?: (detail: { state?: unknown; "execution-id"?: unknown }) => boolean;

  private constructor(
    readonly machine: LocalReleaseMachine,
    private readonly observed: Observed,
  ) {
    this.dynamo.attach(machine.deps.ddb);
    machine.router.intercept = (event, rule) => {
      if (rule !== "pipeline-state-changed") return "deliver";
      if (this.drop?.(event.detail)) return "drop";
      this.observed.lambdaInvocations += 1; // the pipeline-event Lambda
      return "deliver";
    };
  }

  static async start(): Promise<OursBench> {
    const observed: Observed = { lambdaInvocations: 0, waiting: new Map() };
    const machine = await startLocalReleaseMachine({
      pipelines: PIPELINE_SPECS,
      retryPauseMs: 5,
      interceptFunction: async (name, payload, invoke) => {
        observed.lambdaInvocations += 1;
        const result = await invoke(payload);
        if (name === "registerWaiter") {
          const { releaseId, pipelineExecutionId } = payload as WaiterRequest;
          observed.waiting.set(releaseId, [...(observed.waiting.get(releaseId) ?? []), pipelineExecutionId]);
        }
        return result;
      },
    });
    return new OursBench(machine, observed);
  }

  counts(): CallCounts {
    return {
      lambdaInvocations: this.observed.lambdaInvocations,
      dynamoWrites: this.dynamo.writes(),
      dynamoReads: this.dynamo.reads(),
      codePipelineCalls: codePipelineCalls(this.machine.codepipeline),
    };
  }

  /** One reconciler run: measured, or tallied as 1 Lambda + 1 Scan + 1 GetPipelineExecution per waiter. */
  private async reconcilerRun(
    waiters: number,
    measure: boolean,
  ): Promise<{ tally: CallCounts; measured: boolean; mismatch?: string; completed: number }> {
    const tally: CallCounts = {
      ...NO_CALLS,
      lambdaInvocations: 1,
      dynamoReads: 1,
      codePipelineCalls: waiters,
    };
    if (!measure) return { tally, measured: false, completed: 0 };
    const before = this.counts();
    this.observed.lambdaInvocations += 1; // the reconciler Lambda
    const report = await this.machine.reconcile();
    await this.machine.router.idle();
    const cost = difference(this.counts(), before);
    // The model is for a run that finds every pipeline still running (one that completes a waiter
    // also records the state and clears the token).
    const differs = report.completed === 0 && JSON.stringify(cost) !== JSON.stringify(tally);
    return {
      tally,
      measured: true,
      completed: report.completed,
      ...(differs
        ? { mismatch: `reconciler run cost ${JSON.stringify(cost)}, model ${JSON.stringify(tally)}` }
        : {}),
    };
  }

  async run(spec: CellSpec): Promise<CellResult> {
    const started = Date.now();
    const { pipelines: n, duration } = spec;
    const notes: string[] = [];
    const releaseId = newReleaseId("ours", spec);
    const before = this.counts();
    const execution = this.machine.submit({ releaseId, pipelines: PIPELINE_NAMES.slice(0, n) });
    const concurrency = Math.min(DEFAULT_WORKFLOW_OPTIONS.mapConcurrency, n);
    const runFor = duration.seconds - spec.phaseSeconds;
    const endOf = new Map<string, number>();
    const ended = new Set<string>();
    let now = 0;
    let nextRun = spec.reconcilerPhaseSeconds;
    let runs = 0;
    let runsMeasured = 0;
    let modelled: CallCounts = NO_CALLS;
    let lastEndRealMs = 0;
    const registered = () => this.observed.waiting.get(releaseId) ?? [];
    // Each pass ends at least one pipeline: bounded by the number of pipelines.
    for (let pass = 0; pass < n && ended.size < n && execution.status === "RUNNING"; pass += 1) {
      const expected = Math.min(concurrency, n - ended.size);
      await until(
        `${expected} waiting pipelines of ${releaseId}`,
        () => execution.status !== "RUNNING" || registered().length - ended.size === expected,
      );
      await this.machine.router.idle();
      if (execution.status !== "RUNNING") break;
      for (const id of registered()) if (!endOf.has(id)) endOf.set(id, now + runFor);
      const open = [...endOf].filter(([id]) => !ended.has(id));
      if (open.length === 0) throw new Error(`bench: ${releaseId} is running with no pipeline left to end`);
      const nextEnd = Math.min(...open.map(([, end]) => end));
      for (; nextRun < nextEnd; nextRun += RECONCILE_PERIOD_SECONDS) {
        const run = await this.reconcilerRun(open.length, spec.runReconciler ?? true);
        runs += 1;
        if (run.measured) runsMeasured += 1;
        else modelled = sum(modelled, run.tally);
        if (run.mismatch) notes.push(run.mismatch);
      }
      now = nextEnd;
      const due = open.filter(([, end]) => end === nextEnd).map(([id]) => id);
      lastEndRealMs = Date.now();
      if (spec.failOne) {
        // The first pipeline fails while the others still run: the release fails and stops them.
        this.machine.codepipeline.finish(due[0], "Failed");
        break;
      }
      for (const id of due) {
        ended.add(id);
        this.machine.codepipeline.finish(id, "Succeeded");
      }
    }
    await execution.done;
    // Pipelines StopRemaining stopped end a moment later ("stop and wait"); their events are this release's.
    const ids = registered();
    await until(`the stopped pipelines of ${releaseId}`, () =>
      this.machine.codepipeline
        .executions()
        .every((e) => e.status !== "Stopping" || !ids.includes(e.pipelineExecutionId)),
    );
    await this.machine.router.idle();
    const events = await eventsOf(execution.executionArn);
    forget(execution.executionArn);
    const costs = costsOf(events, this.definition);
    const calls = sum(difference(this.counts(), before), modelled);
    const recorded = recordedAt(events);
    if (runs > runsMeasured)
      notes.push(`${runs - runsMeasured} of ${runs} reconciler runs tallied from the per-run model`);
    return {
      design: "ours",
      pipelines: n,
      duration: duration.label,
      status: execution.status,
      source: "measured",
      releaseSeconds: now,
      ...(recorded !== undefined ? { detectionDelaySeconds: (recorded - lastEndRealMs) / 1000 } : {}),
      loopRuns: runs,
      loopRunsMeasured: runsMeasured,
      ...costs,
      ...calls,
      overHistoryLimit: costs.historyEvents > HISTORY_LIMIT,
      realMs: Date.now() - started,
      notes,
    };
  }

  /**
   * A lost terminal event: the first pipeline's SUCCEEDED event is dropped by the router; the
   * reconciler, on its 5-minute schedule, must find the pipeline ended and complete the release.
   */
  async lostEvent(spec: CellSpec): Promise<{
    status: string;
    pipelineEndSeconds: number;
    recoveredBySeconds: number;
    delaySeconds: number;
    periodSeconds: number;
    runsBeforeEnd: number;
  }> {
    const releaseId = newReleaseId("lost", spec);
    const execution = this.machine.submit({ releaseId, pipelines: PIPELINE_NAMES.slice(0, spec.pipelines) });
    const registered = () => this.observed.waiting.get(releaseId) ?? [];
    await until(`waiters of ${releaseId}`, () => registered().length === spec.pipelines);
    await this.machine.router.idle();
    const [lost] = registered();
    this.drop = (detail) => detail["execution-id"] === lost && detail.state === "SUCCEEDED";
    try {
      const end = spec.duration.seconds - spec.phaseSeconds;
      let next = spec.reconcilerPhaseSeconds;
      let runsBeforeEnd = 0;
      for (; next < end; next += RECONCILE_PERIOD_SECONDS) {
        if ((await this.reconcilerRun(spec.pipelines, true)).completed > 0) {
          throw new Error("bench: the reconciler completed a pipeline that had not ended");
        }
        runsBeforeEnd += 1;
      }
      for (const id of registered()) this.machine.codepipeline.finish(id, "Succeeded");
      await this.machine.router.idle();
      if (execution.status !== "RUNNING")
        throw new Error("bench: the release ended although an event was lost");
      const realStart = Date.now();
      const run = await this.reconcilerRun(spec.pipelines, true);
      await execution.done;
      const events = await eventsOf(execution.executionArn);
      forget(execution.executionArn);
      const recorded = recordedAt(events) ?? Date.now();
      return {
        status: `${execution.status} (reconciler completed ${run.completed})`,
        pipelineEndSeconds: end,
        recoveredBySeconds: next,
        delaySeconds: next - end + (recorded - realStart) / 1000,
        periodSeconds: RECONCILE_PERIOD_SECONDS,
        runsBeforeEnd,
      };
    } finally {
      this.drop = undefined;
    }
  }

  close(): Promise<void> {
    return this.machine.close();
  }
}

/** Raised in the CheckPipelines Lambda once the execution's history passes 25,000 events. */
class HistoryLimitExceeded extends Error {
  override readonly name = "States.HistoryLimitExceeded";
}

interface BaselineRun {
  spec: CellSpec;
  arn?: string;
  now: number;
  endAt: number;
  ended: boolean;
  checks: number;
  history: CostCounter;
}

/** The polling baseline on the same engine and stand-ins. */
export class BaselineBench {
  private current?: BaselineRun;

  private constructor(private readonly machine: BaselineMachine) {}

  static async start(): Promise<BaselineBench> {
    const hooks: { beforeCheck?: (payload: { executions: StartedExecution[] }) => void } = {};
    const machine = await startBaselineMachine({
      pipelines: PIPELINE_SPECS,
      beforeInvoke: (fn, payload) => {
        if (fn === "checkPipelines") hooks.beforeCheck?.(payload as { executions: StartedExecution[] });
      },
    });
    const bench = new BaselineBench(machine);
    hooks.beforeCheck = (payload) => bench.beforeCheck(payload);
    return bench;
  }

  get definition(): StateMachineDefinition {
    return this.machine.definition;
  }

  /** The Wait before this check took 30 simulated seconds; pipelines due by now have ended. */
  private beforeCheck(payload: { executions: StartedExecution[] }): void {
    const run = this.current;
    if (!run) return;
    if (!run.arn) throw new Error("bench: a poll ran before its execution was known");
    run.checks += 1;
    run.now += POLL_SECONDS;
    if (!run.ended && run.now >= run.endAt) {
      run.ended = true;
      // With failOne, the first pipeline fails while the others still run (the original stops none).
      const ending = run.spec.failOne ? payload.executions.slice(0, 1) : payload.executions;
      for (const { pipelineExecutionId } of ending) {
        this.machine.codepipeline.finish(pipelineExecutionId, run.spec.failOne ? "Failed" : "Succeeded");
      }
    }
    // As AWS would, end the execution once its history is over the limit (the loop's only bound).
    if (run.history.addAll(eventsSoFar(run.arn)).costs.historyEvents > HISTORY_LIMIT) {
      throw new HistoryLimitExceeded(`execution history passed ${HISTORY_LIMIT} events`);
    }
  }

  async run(spec: CellSpec): Promise<CellResult> {
    const started = Date.now();
    setWaitOverrides({ [WAIT_STATE]: 0 });
    const releaseId = newReleaseId("base", spec);
    const before = this.machine.counts();
    const run: BaselineRun = {
      spec,
      now: 0,
      endAt: spec.duration.seconds - spec.phaseSeconds,
      ended: false,
      checks: 0,
      history: new CostCounter(this.machine.definition),
    };
    this.current = run;
    try {
      const execution = this.machine.submit({
        releaseId,
        pipelines: PIPELINE_NAMES.slice(0, spec.pipelines),
      });
      run.arn = execution.executionArn;
      await execution.done;
      const events = await eventsOf(execution.executionArn);
      forget(execution.executionArn);
      const costs = costsOf(events, this.machine.definition);
      const calls = difference(this.machine.counts(), before);
      const limitHit = execution.error === "States.HistoryLimitExceeded";
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
        realMs: Date.now() - started,
        notes: limitHit ? [`stopped after ${run.checks} polls, as AWS would fail it`] : [],
      };
    } finally {
      this.current = undefined;
      setWaitOverrides({});
    }
  }

  close(): Promise<void> {
    return this.machine.close();
  }
}
