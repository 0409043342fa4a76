/**
 * Our design on `startLocalReleaseMachine` in simulated time (bench/simulation.ts), with counters
 * on every billable call.
 *
 * The workflow registers the release and parks in one `.waitForTaskToken` wait; the scheduler
 * starts pipelines (the roots from RegisterRelease, dependants from the pipeline-event handler), so
 * the harness observes starts where they land: the CodePipeline stand-in's executions whose client
 * request token is this release's (`clientRequestToken(releaseId, pipeline)`). A pipeline observed
 * at simulated time t ends at t + its duration; at each end the harness calls `finish()`, waits for
 * the event router to go idle (the handler has then started every dependant it made ready) and
 * looks again. The engine's `onEvent` gives the real time the release was recorded (MarkSucceeded
 * or MarkFailed exited), hence the detection delay.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { clientRequestToken } from "../contract/manifest";
import type { LambdaClock } from "./cost";
import type { EngineEvent } from "../local/history";
import type { LocalExecution } from "../local/engine";
import { type LocalReleaseMachine, startLocalReleaseMachine } from "../local/release-machine";
import {
  type CallCounts,
  DynamoRequestCounter,
  NO_CALLS,
  codePipelineCalls,
  difference,
  sum,
} from "./counters";
import { HISTORY_LIMIT } from "../local/history";
import {
  type CellResult,
  type CellSpec,
  PIPELINE_SPECS,
  RECONCILE_PERIOD_SECONDS,
  type ScheduledPipeline,
  type SimPipeline,
  cellPipelines,
  newReleaseId,
  until,
} from "./simulation";

/** What one reconciler run costs when every pipeline it finds is still running. */
export function reconcilerRunModel(waiting: number): CallCounts {
  // 1 invocation; a Scan of the `waiting` index and one of the `starting` index; a
  // GetPipelineExecution per waiting execution.
  return { ...NO_CALLS, lambdaInvocations: 1, dynamoReads: 2, codePipelineCalls: waiting };
}

/** A simulated release of ours. */
export interface OursRelease {
  label: string;
  pipelines: SimPipeline[];
  reconcilerPhaseSeconds: number;
  runReconciler: boolean;
  /** The first pipeline to end fails; the others are left to the failure policy. */
  failOne?: boolean;
}

interface Running {
  pipeline: SimPipeline;
  id: string;
  start: number;
  end: number;
  /** Ended: by the harness, or by the machine (a stop). */
  ended: boolean;
  status: string;
}

/** The moments the harness needs from the engine, per execution. */
interface Milestones {
  awaiting: boolean;
  recordedAt?: number;
}

export interface LostEventResult {
  status: string;
  pipelineEndSeconds: number;
  recoveredBySeconds: number;
  /** Simulated: from the pipeline's end to the reconciler run that found it. */
  waitSeconds: number;
  /** Real: from that run's start to the release recorded. */
  processingMs: number;
  periodSeconds: number;
  runsBeforeEnd: number;
}

const tick = () => new Promise((resolve) => setTimeout(resolve, 0));

/** What a metered run is handed: each DynamoDB client, and the clock Lambda invocations are timed on. */
export interface BenchMeter {
  onDynamoClient: (client: DynamoDBClient, endpoint: string) => void;
  clock: LambdaClock;
}

export class OursBench {
  private readonly dynamo = new DynamoRequestCounter();
  private readonly milestones = new Map<string, Milestones>();
  private lambdaInvocations = 0;
  /** Drops matching pipeline events (the lost-event experiment). */
  private drop?: (detail: { state?: unknown; "execution-id"?: unknown }) => boolean;
  private machine!: LocalReleaseMachine;

  /** The custom events put on the bus (release and approval events). */
  private putEvents = 0;
  private clock?: LambdaClock;

  /** Custom events put on EventBridge so far. */
  eventsPut(): number {
    return this.putEvents;
  }

  /** With `meter`: every DynamoDB client is handed to it, and Lambda durations are timed on its clock. */
  static async start(meter?: BenchMeter): Promise<OursBench> {
    const bench = new OursBench();
    bench.clock = meter?.clock;
    bench.machine = await startLocalReleaseMachine({
      pipelines: PIPELINE_SPECS,
      retryPauseMs: 5,
      onEngineEvent: (arn, event) => bench.onEngineEvent(arn, event),
      interceptFunction: async (_name, payload, invoke) => {
        bench.lambdaInvocations += 1;
        return bench.clock ? bench.clock.time(() => invoke(payload)) : invoke(payload);
      },
      ...(meter ? { onDynamoClient: meter.onDynamoClient } : {}),
    });
    const router = bench.machine.router;
    const put = router.putEvents.bind(router);
    router.putEvents = (entries) => {
      bench.putEvents += entries.length;
      return put(entries);
    };
    bench.dynamo.attach(bench.machine.deps.ddb);
    bench.machine.router.intercept = (event, rule) => {
      if (rule !== "pipeline-state-changed") return "deliver";
      if (bench.drop?.(event.detail)) return "drop";
      bench.lambdaInvocations += 1; // the pipeline-event Lambda
      return "deliver";
    };
    return bench;
  }

  private onEngineEvent(executionArn: string, event: EngineEvent): void {
    const m = this.milestones.get(executionArn) ?? { awaiting: false };
    this.milestones.set(executionArn, m);
    const name = event.state?.name;
    if (event.type === "StateEntered" && name === "AwaitRelease") m.awaiting = true;
    if (event.type === "StateExited" && (name === "MarkSucceeded" || name === "MarkFailed")) {
      m.recordedAt = event.timestamp;
    }
  }

  counts(): CallCounts {
    return {
      lambdaInvocations: this.lambdaInvocations,
      dynamoWrites: this.dynamo.writes(),
      dynamoReads: this.dynamo.reads(),
      codePipelineCalls: codePipelineCalls(this.machine.codepipeline),
    };
  }

  /** Lets timers of the stand-in (STARTED events go out on a 0 ms timer) fire and deliveries finish. */
  private async quiesce(): Promise<void> {
    await tick();
    await this.machine.router.idle();
    await tick();
    await this.machine.router.idle();
  }

  /** One reconciler run: executed and checked against the model, or tallied from the model. */
  private async reconcilerRun(
    waiting: number,
    execute: boolean,
  ): Promise<{ tally: CallCounts; executed: boolean; mismatch?: string; completed: number }> {
    const tally = reconcilerRunModel(waiting);
    if (!execute) return { tally, executed: false, completed: 0 };
    const before = this.counts();
    this.lambdaInvocations += 1; // the reconciler Lambda
    const reconcile = () => this.machine.reconcile();
    const report = this.clock ? await this.clock.time(reconcile) : await reconcile();
    await this.quiesce();
    const cost = difference(this.counts(), before);
    // The model is for a run that finds every pipeline still running.
    const differs = report.completed === 0 && JSON.stringify(cost) !== JSON.stringify(tally);
    const mismatch = `reconciler run cost ${JSON.stringify(cost)}, model ${JSON.stringify(tally)}`;
    return { tally, executed: true, completed: report.completed, ...(differs ? { mismatch } : {}) };
  }

  private submit(releaseId: string, pipelines: SimPipeline[]): LocalExecution {
    const graph = pipelines.some((p) => p.dependsOn?.length);
    return this.machine.submit({
      releaseId,
      pipelines: graph
        ? pipelines.map((p) => (p.dependsOn?.length ? { name: p.name, dependsOn: p.dependsOn } : p.name))
        : pipelines.map((p) => p.name),
    });
  }

  /** Waits until RegisterRelease returned (the roots are started) or the execution ended. */
  private async registered(execution: LocalExecution): Promise<void> {
    await until(
      `${execution.name} to reach AwaitRelease`,
      () => execution.status !== "RUNNING" || !!this.milestones.get(execution.executionArn)?.awaiting,
    );
    await this.quiesce();
  }

  /** Pipelines of the release the scheduler has started since the last look, started at `now`. */
  private observeStarts(
    releaseId: string,
    pipelines: SimPipeline[],
    running: Map<string, Running>,
    now: number,
  ): void {
    for (const pipeline of pipelines) {
      if (running.has(pipeline.name)) continue;
      const token = clientRequestToken(releaseId, pipeline.name);
      const record = this.machine.codepipeline
        .executions(pipeline.name)
        .find((e) => e.clientRequestToken === token);
      if (!record) continue;
      for (const dep of pipeline.dependsOn ?? []) {
        const ran = running.get(dep);
        if (!ran?.ended || ran.status !== "Succeeded" || ran.end > now) {
          throw new Error(`bench: ${releaseId} started ${pipeline.name} before ${dep} succeeded`);
        }
      }
      const run: Running = {
        pipeline,
        id: record.pipelineExecutionId,
        start: now,
        end: now + pipeline.seconds,
        ended: false,
        status: record.status,
      };
      running.set(pipeline.name, run);
    }
  }

  /** Executions the machine ended itself (stopped): waits for their stop, then marks them ended at `now`. */
  private async settleStops(running: Map<string, Running>, now: number): Promise<void> {
    const records = () => {
      const ids = new Set([...running.values()].map((r) => r.id));
      return this.machine.codepipeline.executions().filter((e) => ids.has(e.pipelineExecutionId));
    };
    await until("stopped pipelines", () => records().every((e) => e.status !== "Stopping"));
    await this.quiesce();
    for (const record of records()) {
      const run = [...running.values()].find((r) => r.id === record.pipelineExecutionId);
      if (run && !run.ended && record.status !== "InProgress") {
        Object.assign(run, { ended: true, status: record.status, end: now });
      }
    }
  }

  async run(release: OursRelease): Promise<CellResult> {
    const started = Date.now();
    const releaseId = newReleaseId("ours", release.label);
    const before = this.counts();
    const execution = this.submit(releaseId, release.pipelines);
    await this.registered(execution);
    const running = new Map<string, Running>();
    const notes: string[] = [];
    let now = 0;
    let nextRun = release.reconcilerPhaseSeconds;
    let runs = 0;
    let runsExecuted = 0;
    let tallied: CallCounts = NO_CALLS;
    let lastEndRealMs = Date.now();
    let failed = false;
    for (;;) {
      this.observeStarts(releaseId, release.pipelines, running, now);
      const open = [...running.values()].filter((r) => !r.ended);
      if (execution.status !== "RUNNING" || open.length === 0) break;
      const nextEnd = Math.min(...open.map((r) => r.end));
      for (; nextRun < nextEnd; nextRun += RECONCILE_PERIOD_SECONDS) {
        const run = await this.reconcilerRun(open.length, release.runReconciler);
        runs += 1;
        if (run.executed) runsExecuted += 1;
        else tallied = sum(tallied, run.tally);
        if (run.mismatch) notes.push(run.mismatch);
      }
      now = nextEnd;
      lastEndRealMs = Date.now();
      for (const run of open.filter((r) => r.end === nextEnd)) {
        const status: "Failed" | "Succeeded" = release.failOne && !failed ? "Failed" : "Succeeded";
        failed ||= status === "Failed";
        Object.assign(run, { ended: true, status });
        this.machine.codepipeline.finish(run.id, status);
        if (status === "Failed") break; // the others are the failure policy's to end
      }
      await this.quiesce();
      await this.settleStops(running, now);
    }
    await execution.done;
    await this.settleStops(running, now);
    const recordedAt = this.milestones.get(execution.executionArn)?.recordedAt;
    this.milestones.delete(execution.executionArn);
    const calls = sum(difference(this.counts(), before), tallied);
    if (runs > runsExecuted)
      notes.push(`${runs - runsExecuted} of ${runs} reconciler runs tallied from the per-run model`);
    const schedule: ScheduledPipeline[] = release.pipelines.map((p) => {
      const run = running.get(p.name);
      return {
        name: p.name,
        dependsOn: p.dependsOn ?? [],
        startSeconds: run?.start ?? NaN,
        endSeconds: run?.end ?? NaN,
        status: run?.status ?? "never started",
      };
    });
    return {
      design: "ours",
      pipelines: release.pipelines.length,
      duration: release.label,
      status: execution.status,
      source: "measured",
      releaseSeconds: now,
      ...(recordedAt !== undefined ? { detectionDelaySeconds: (recordedAt - lastEndRealMs) / 1000 } : {}),
      loopRuns: runs,
      loopRunsMeasured: runsExecuted,
      ...execution.costs,
      ...calls,
      overHistoryLimit: execution.costs.historyEvents > HISTORY_LIMIT,
      largestStateBytes: execution.largestStateBytes,
      schedule,
      realMs: Date.now() - started,
      notes,
    };
  }

  /** A grid cell: every pipeline at once, all ending together. */
  runCell(spec: CellSpec): Promise<CellResult> {
    return this.run({
      label: spec.duration.label,
      pipelines: cellPipelines(spec),
      reconcilerPhaseSeconds: spec.reconcilerPhaseSeconds,
      runReconciler: spec.runReconciler ?? true,
      failOne: spec.failOne,
    });
  }

  /**
   * A lost terminal event: the first pipeline's SUCCEEDED event is dropped by the router; the
   * reconciler, on its 5-minute schedule, must find the pipeline ended and complete the release.
   */
  async lostEvent(spec: CellSpec): Promise<LostEventResult> {
    const releaseId = newReleaseId("lost", spec.duration.label);
    const pipelines = cellPipelines(spec);
    const execution = this.submit(releaseId, pipelines);
    await this.registered(execution);
    const running = new Map<string, Running>();
    this.observeStarts(releaseId, pipelines, running, 0);
    const ids = [...running.values()].map((r) => r.id);
    if (ids.length !== pipelines.length) throw new Error(`bench: ${releaseId} did not start every pipeline`);
    this.drop = (detail) => detail["execution-id"] === ids[0] && detail.state === "SUCCEEDED";
    try {
      const end = pipelines[0].seconds;
      let next = spec.reconcilerPhaseSeconds;
      let runsBeforeEnd = 0;
      for (; next < end; next += RECONCILE_PERIOD_SECONDS) {
        if ((await this.reconcilerRun(ids.length, true)).completed > 0) {
          throw new Error("bench: the reconciler completed a pipeline that had not ended");
        }
        runsBeforeEnd += 1;
      }
      for (const id of ids) this.machine.codepipeline.finish(id, "Succeeded");
      await this.quiesce();
      if (execution.status !== "RUNNING")
        throw new Error("bench: the release ended although an event was lost");
      const realStart = Date.now();
      const run = await this.reconcilerRun(ids.length, true);
      await execution.done;
      const recorded = this.milestones.get(execution.executionArn)?.recordedAt ?? Date.now();
      this.milestones.delete(execution.executionArn);
      return {
        status: `${execution.status} (reconciler completed ${run.completed})`,
        pipelineEndSeconds: end,
        recoveredBySeconds: next,
        waitSeconds: next - end,
        processingMs: recorded - realStart,
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
