/**
 * Benchmark instrumentation of the local engine, without touching product code.
 *
 * `LocalWorkflowEngine` (local/engine.ts) runs every execution with aws-local-stepfunctions'
 * `StateMachine.run()`, but neither keeps the `eventLogs` that call returns nor accepts
 * `waitTimeOverrides`. The benchmark needs both: the event log is where billable state
 * transitions are counted, and the baseline's `Wait 30 s` must be compressed. This module wraps
 * `StateMachine.prototype.run` so that, for the root run of every execution (Map iterations are
 * nested runs whose events the library already forwards to the root log):
 *
 * - the event log is drained into memory, keyed by the execution ARN the engine puts in the
 *   Context Object;
 * - the configured wait overrides (by state name, in real ms) are merged into the run options.
 *
 * Everything else about the run is untouched: the same definition, the same Task resolution and
 * the same stand-ins as `npm start`. A small engine option (`onEventLog`, `waitTimeOverrides`)
 * would make this wrapper unnecessary.
 */
import "../local/polyfills";
import { type RunOptions, StateMachine } from "aws-local-stepfunctions";

/** One engine event, as aws-local-stepfunctions logs it (the package does not export the type). */
export interface EngineEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string };
  index?: number;
  parentState?: { name: string; type: string };
}

export interface CapturedExecution {
  executionArn: string;
  events: EngineEvent[];
  /** Settles once the execution's event log is closed (its last event logged). */
  closed: Promise<void>;
}

type Run = StateMachine["run"];
type RunResult = ReturnType<Run>;
interface InternalRunOptions extends RunOptions {
  /** Set by the library on the nested runs of Map iterations and Parallel branches. */
  _rootAbortSignal?: AbortSignal;
}

const captured = new Map<string, CapturedExecution>();
let waitOverrides: Record<string, number> = {};
let capturing = false;
const originalRun: Run = StateMachine.prototype.run;

async function drain(log: AsyncGenerator<unknown>, into: EngineEvent[]): Promise<void> {
  for await (const event of log) into.push(event as EngineEvent);
}

StateMachine.prototype.run = function instrumentedRun(
  this: StateMachine,
  input: Parameters<Run>[0],
  options?: InternalRunOptions,
): RunResult {
  const root = options?._rootAbortSignal === undefined;
  const withWaits: InternalRunOptions | undefined =
    root && Object.keys(waitOverrides).length > 0
      ? {
          ...options,
          overrides: {
            ...options?.overrides,
            waitTimeOverrides: { ...waitOverrides, ...options?.overrides?.waitTimeOverrides },
          },
        }
      : options;
  const run = originalRun.call(this, input, withWaits);
  const executionArn = (options?.context as { Execution?: { Id?: string } } | undefined)?.Execution?.Id;
  if (root && capturing && executionArn) {
    const events: EngineEvent[] = [];
    captured.set(executionArn, { executionArn, events, closed: drain(run.eventLogs, events) });
  }
  return run;
};

/** Wait states named here pause this many real ms instead of their `Seconds` (all runs from now on). */
export function setWaitOverrides(overrides: Record<string, number>): void {
  waitOverrides = { ...overrides };
}

/** Turns event-log capture on or off (off for wall-time measurements, so they time the engine alone). */
export function setCapturing(on: boolean): void {
  capturing = on;
}

/** The captured log of one execution, once it is complete. */
export async function eventsOf(executionArn: string): Promise<EngineEvent[]> {
  const execution = captured.get(executionArn);
  if (!execution) throw new Error(`no event log captured for ${executionArn}: was capture on?`);
  await execution.closed;
  return execution.events;
}

/** The events logged so far (the log is drained as it is written). */
export function eventsSoFar(executionArn: string): EngineEvent[] {
  return captured.get(executionArn)?.events ?? [];
}

/** Frees a finished execution's log. */
export function forget(executionArn: string): void {
  captured.delete(executionArn);
}
