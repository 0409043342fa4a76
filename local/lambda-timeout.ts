/**
 * Lambda's function timeout, enforced locally on every invocation (the engine's Lambda tasks, the
 * pipeline-event rule's target, the reconciler and the API functions): an invocation that runs past
 * its function's timeout fails with `Sandbox.Timedout` whatever the handler does afterwards, and its
 * late result or error is discarded, as Lambda ends the invocation (docs/aws-facts.md, "Lambda").
 */
import { randomUUID } from "node:crypto";
import { FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import type { FunctionName } from "../handlers/wiring";

/** The error a timed-out invocation ends with: its name is what a Catch or Retry matches. */
export class LambdaTimeout extends Error {
  override readonly name = "Sandbox.Timedout";
  constructor(seconds: number) {
    // Lambda's own message: the request id and the configured timeout with two decimals.
    super(`RequestId: ${randomUUID()} Error: Task timed out after ${seconds.toFixed(2)} seconds`);
    // Lambda reports no stack for a timeout: the handler did not throw.
    this.stack = `${this.name}: ${this.message}`;
  }
}

/** Per-function timeouts in seconds; tests shorten one to a fraction of a second. */
export type FunctionTimeouts = Partial<Record<FunctionName, number>>;

export const timeoutOf = (name: FunctionName, overrides: FunctionTimeouts = {}): number =>
  overrides[name] ?? FUNCTION_TIMEOUT_SECONDS[name];

/** `invoke`, failing with LambdaTimeout once it runs `seconds`; a late settlement is dropped. */
export function withLambdaTimeout<P, R>(
  seconds: number,
  invoke: (payload: P) => Promise<R>,
): (payload: P) => Promise<R> {
  return (payload) => {
    const work = invoke(payload);
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new LambdaTimeout(seconds)), seconds * 1000);
    });
    // The late outcome has nowhere to go: never an unhandled rejection.
    work.catch(() => undefined);
    return Promise.race([work, timedOut]).finally(() => clearTimeout(timer));
  };
}
