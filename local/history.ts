/**
 * What Step Functions would bill and record for one execution, derived from the local engine's
 * event log as it is written (local/engine.ts enforces the history quota with it).
 *
 * Billable state transitions: one per state entered, Map iterations' states included, which is
 * what a STANDARD workflow is charged for.
 *
 * History events, per the execution history AWS keeps (and caps at 25,000 per execution):
 * - the execution: ExecutionStarted and ExecutionSucceeded/Failed/Aborted, 1 each;
 * - every state entered and exited: 1 each (`…StateEntered`, `…StateExited`);
 * - a Task: TaskScheduled + TaskStarted when entered, plus TaskSubmitted for `.waitForTaskToken`,
 *   and TaskSucceeded (or TaskFailed) when it ends; each retry adds the failed attempt's TaskFailed
 *   and the next attempt's TaskScheduled + TaskStarted;
 * - a Map: MapStateStarted and MapStateSucceeded/Failed, and MapIterationStarted and
 *   MapIterationSucceeded/Failed per iteration.
 * So a polling cycle of Wait → Task → Choice adds 2 + 5 + 2 = 9 events. Iterations a failed Map
 * aborts would add a MapIterationAborted each on AWS; the engine does not log those (a few events
 * on a failed release only).
 */
import { type State, type StateMachineDefinition, allStates } from "../stepfunction/asl";
/** One engine event, as aws-local-stepfunctions logs it (the package does not export the type). */
export interface EngineEvent {
  type: string;
  timestamp: number;
  state?: { name: string; type: string; input?: unknown; output?: unknown };
  index?: number;
  parentState?: { name: string; type: string };
}

export const HISTORY_LIMIT = 25_000;

export interface ExecutionCosts {
  transitions: number;
  historyEvents: number;
}

/** Resources of the Task states of a definition, by state name (names are unique across scopes). */
export function taskResources(definition: { States: Record<string, State> }): Map<string, string> {
  const resources = new Map<string, string>();
  for (const [name, state] of allStates(definition)) {
    if (state.Type === "Task") resources.set(name, state.Resource);
  }
  return resources;
}

/** Accumulates an execution's transitions and history events, one engine event at a time. */
export class CostCounter {
  private readonly resources: Map<string, string>;
  private readonly caught = new Set<string>();
  private transitions = 0;
  private history = 0;

  constructor(definition: Pick<StateMachineDefinition, "States">) {
    this.resources = taskResources(definition);
  }

  get costs(): ExecutionCosts {
    return { transitions: this.transitions, historyEvents: this.history };
  }

  /** Counts every event given, in order (the engine feeds one event at a time as it is logged). */
  addAll(events: readonly EngineEvent[]): this {
    for (const event of events) this.add(event);
    return this;
  }

  private waitsForToken(name: string): boolean {
    return this.resources.get(name)?.endsWith(".waitForTaskToken") ?? false;
  }

  private add(event: EngineEvent): void {
    const state = event.state;
    const key = `${state?.name}#${event.index ?? ""}`;
    switch (event.type) {
      case "ExecutionStarted":
      case "ExecutionSucceeded":
      case "ExecutionFailed":
      case "ExecutionAborted":
      case "ExecutionTimeout":
      case "MapIterationStarted":
      case "MapIterationSucceeded":
      case "MapIterationFailed":
        this.history += 1;
        break;
      case "StateEntered":
        this.transitions += 1;
        this.history += 1;
        if (state?.type === "Task") this.history += this.waitsForToken(state.name) ? 3 : 2;
        if (state?.type === "Map") this.history += 1; // MapStateStarted
        break;
      case "StateExited":
        this.history += 1;
        // TaskSucceeded / MapStateSucceeded, unless the failure was caught (counted when it failed).
        if ((state?.type === "Task" || state?.type === "Map") && !this.caught.delete(key)) this.history += 1;
        break;
      case "StateFailed":
        this.history += 1; // TaskFailed, MapStateFailed, …
        break;
      case "StateRetried":
        this.history += state && this.waitsForToken(state.name) ? 3 : 2;
        break;
      case "StateCaught":
        this.caught.add(key);
        break;
      default:
        break;
    }
  }
}

/** Transitions and history events of one execution, from its complete event log. */
export function costsOf(
  events: EngineEvent[],
  definition: Pick<StateMachineDefinition, "States">,
): ExecutionCosts {
  return new CostCounter(definition).addAll(events).costs;
}
