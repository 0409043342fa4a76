/**
 * Typed Amazon States Language (JSONPath flavour) for the states this project uses, small
 * builders for them, and `stateMachine()`, which checks a definition while it is built so a
 * broken transition or an unnamed failure is a build error that names the state, not a
 * deploy-time surprise. Pure: no Pulumi, no AWS SDK.
 */
import { INTEGRATIONS } from "./integrations";
import type { JsonValue, PayloadTemplate } from "./payload";

// The builders' users name states and their payloads with one import.
export type { JsonPrimitive, JsonValue, PayloadTemplate } from "./payload";

export interface Retrier {
  ErrorEquals: string[];
  IntervalSeconds?: number;
  MaxAttempts?: number;
  BackoffRate?: number;
  MaxDelaySeconds?: number;
  JitterStrategy?: "FULL" | "NONE";
}

export interface Catcher {
  ErrorEquals: string[];
  Next: string;
  ResultPath?: string | null;
}

/** A state either goes on to `Next` or ends its scope: never both, never neither (by type). */
export type Transition = { Next: string; End?: never } | { End: true; Next?: never };

interface IoFields {
  Comment?: string;
  InputPath?: string | null;
  OutputPath?: string | null;
}

/** A Task's fields other than its transition. */
export interface TaskFields extends IoFields {
  Type: "Task";
  Resource: string;
  Parameters?: PayloadTemplate;
  ResultSelector?: PayloadTemplate;
  ResultPath?: string | null;
  TimeoutSeconds?: number;
  /** A path to the timeout in the state's input: a wait sized per execution. */
  TimeoutSecondsPath?: string;
  HeartbeatSeconds?: number;
  Retry?: Retrier[];
  Catch?: Catcher[];
}
export type TaskState = TaskFields & Transition;

/** A Pass state's fields other than its transition. */
export interface PassFields extends IoFields {
  Type: "Pass";
  Parameters?: PayloadTemplate;
  Result?: JsonValue;
  ResultPath?: string | null;
}
export type PassState = PassFields & Transition;

export type ChoiceRule =
  | { Variable: string; IsPresent: boolean; Next: string }
  | { Variable: string; StringEquals: string; Next: string }
  | { Variable: string; BooleanEquals: boolean; Next: string }
  | { Variable: string; IsNumeric: boolean; Next: string };

export interface ChoiceState extends IoFields {
  Type: "Choice";
  Choices: ChoiceRule[];
  Default?: string;
}

export type MapState = IoFields &
  Transition & {
    Type: "Map";
    ItemsPath: string;
    ItemSelector?: PayloadTemplate;
    ItemProcessor: { ProcessorConfig: { Mode: "INLINE" }; StartAt: string; States: Record<string, State> };
    MaxConcurrency?: number;
    ResultPath?: string | null;
    Retry?: Retrier[];
    Catch?: Catcher[];
  };

export interface SucceedState extends IoFields {
  Type: "Succeed";
}

/** A Fail state must say what failed and why: Error (or ErrorPath) and Cause (or CausePath). */
export type FailState = { Type: "Fail"; Comment?: string } & ({ Error: string } | { ErrorPath: string }) &
  ({ Cause: string } | { CausePath: string });

export type State = TaskState | PassState | ChoiceState | MapState | SucceedState | FailState;

export interface StateMachineDefinition {
  Comment?: string;
  QueryLanguage: "JSONPath";
  StartAt: string;
  States: Record<string, State>;
  TimeoutSeconds?: number;
}

/** A definition that breaks a rule; the message names the state. */
export class DefinitionError extends Error {
  override readonly name = "DefinitionError";
}

/** Every state of a definition, nested Map processors included, with the scope it lives in. */
export function allStates(definition: { States: Record<string, State> }): [string, State][] {
  const found: [string, State][] = [];
  for (const [name, state] of Object.entries(definition.States)) {
    found.push([name, state]);
    if (state.Type === "Map") found.push(...allStates(state.ItemProcessor));
  }
  return found;
}

/** The states a state may go on to: its Next, a Choice's rules and default, and its catchers. */
export function successors(state: State): string[] {
  const next: string[] = [];
  if ("Next" in state && typeof state.Next === "string") next.push(state.Next);
  if (state.Type === "Choice") {
    next.push(...state.Choices.map((c) => c.Next));
    if (state.Default) next.push(state.Default);
  }
  if ((state.Type === "Task" || state.Type === "Map") && state.Catch)
    next.push(...state.Catch.map((c) => c.Next));
  return next;
}

function checkScope(scope: { StartAt: string; States: Record<string, State> }): void {
  const names = Object.keys(scope.States);
  if (!scope.States[scope.StartAt]) throw new DefinitionError(`StartAt "${scope.StartAt}" is not a state`);
  for (const [name, state] of Object.entries(scope.States)) {
    for (const next of successors(state)) {
      if (!scope.States[next])
        throw new DefinitionError(`state "${name}": next state "${next}" does not exist`);
    }
    const terminal = state.Type === "Succeed" || state.Type === "Fail" || state.Type === "Choice";
    if (!terminal && !("Next" in state && state.Next) && !("End" in state && state.End)) {
      throw new DefinitionError(`state "${name}": needs Next or End`);
    }
    if (state.Type === "Map") checkScope(state.ItemProcessor);
  }
  const reached = new Set<string>([scope.StartAt]);
  const queue = [scope.StartAt];
  while (queue.length > 0) {
    for (const next of successors(scope.States[queue.pop() as string])) {
      if (!reached.has(next)) {
        reached.add(next);
        queue.push(next);
      }
    }
  }
  const unreachable = names.filter((n) => !reached.has(n));
  if (unreachable.length > 0) throw new DefinitionError(`unreachable state(s): ${unreachable.join(", ")}`);
}

function usesTaskToken(template: JsonValue | undefined): boolean {
  if (template === null || template === undefined) return false;
  if (typeof template === "string") return template === "$$.Task.Token";
  if (Array.isArray(template)) return template.some(usesTaskToken);
  if (typeof template === "object") return Object.values(template).some(usesTaskToken);
  return false;
}

/**
 * Builds a definition and checks it: transitions resolve and every state is reachable (per
 * scope); state names are unique across all scopes (the local engine and the event history
 * key by name) and at most 80 characters; Retry never catches States.ALL (only errors known to
 * be transient are retried); every `.waitForTaskToken` task passes `$$.Task.Token` and has a
 * timeout, so a lost completion cannot wait forever.
 */
export function stateMachine(
  definition: Omit<StateMachineDefinition, "QueryLanguage">,
): StateMachineDefinition {
  const full: StateMachineDefinition = { QueryLanguage: "JSONPath", ...definition };
  checkScope(full);
  const seen = new Set<string>();
  for (const [name, state] of allStates(full)) {
    if (seen.has(name)) throw new DefinitionError(`state name "${name}" is used twice`);
    seen.add(name);
    if (name.length > 80) throw new DefinitionError(`state "${name}": name longer than 80 characters`);
    if ("ResultPath" in state && state.ResultPath === "$") {
      // AWS reads it as the default; aws-local-stepfunctions 3.0 writes a key named "$" instead.
      throw new DefinitionError(`state "${name}": leave ResultPath out rather than "$" (the same on AWS)`);
    }
    if (state.Type === "Task" || state.Type === "Map") {
      for (const retrier of state.Retry ?? []) {
        if (retrier.ErrorEquals.includes("States.ALL")) {
          throw new DefinitionError(`state "${name}": Retry must name transient errors, not States.ALL`);
        }
      }
    }
    if (state.Type === "Task" && state.Resource.endsWith(".waitForTaskToken")) {
      if (!usesTaskToken(state.Parameters)) {
        throw new DefinitionError(`state "${name}": a .waitForTaskToken task must pass $$.Task.Token`);
      }
      if (!state.TimeoutSeconds && !state.TimeoutSecondsPath)
        throw new DefinitionError(
          `state "${name}": a .waitForTaskToken task needs TimeoutSeconds or TimeoutSecondsPath`,
        );
    }
  }
  return full;
}

/** Retrier with exponential backoff and full jitter, so parallel retries spread out. */
export function retryTransient(
  errors: string[],
  options: Partial<Omit<Retrier, "ErrorEquals">> = {},
): Retrier {
  return {
    ErrorEquals: errors,
    IntervalSeconds: 1,
    MaxAttempts: 6,
    BackoffRate: 2,
    MaxDelaySeconds: 30,
    JitterStrategy: "FULL",
    ...options,
  };
}

/**
 * One builder per state type, each returning its exact type: the transition is a separate,
 * exclusive argument, so a state with both `Next` and `End` (or neither) does not type-check, and
 * no builder needs a cast.
 */
export const next = (state: string): Transition => ({ Next: state });
export const end: Transition = { End: true };

export function task(fields: Omit<TaskFields, "Type">, transition: Transition): TaskState {
  return { Type: "Task", ...fields, ...transition };
}

export function pass(fields: Omit<PassFields, "Type">, transition: Transition): PassState {
  return { Type: "Pass", ...fields, ...transition };
}

export function choice(choices: ChoiceRule[], otherwise?: string, comment?: string): ChoiceState {
  return {
    Type: "Choice",
    ...(comment ? { Comment: comment } : {}),
    Choices: choices,
    ...(otherwise ? { Default: otherwise } : {}),
  };
}

export function succeed(comment?: string): SucceedState {
  return { Type: "Succeed", ...(comment ? { Comment: comment } : {}) };
}

/** A Fail state says what failed and why: an error and a cause, each fixed or from a path. */
export function fail(
  error: { Error: string } | { ErrorPath: string },
  cause: { Cause: string } | { CausePath: string },
): FailState {
  return { Type: "Fail", ...error, ...cause };
}

/** The resource ARN of each integration the workflow may use (declared in ./integrations.ts). */
export const Integrations = Object.fromEntries(
  Object.entries(INTEGRATIONS).map(([key, integration]) => [key, integration.resource]),
) as { [K in keyof typeof INTEGRATIONS]: (typeof INTEGRATIONS)[K]["resource"] };
