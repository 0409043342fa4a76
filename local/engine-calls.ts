/**
 * How the local engine calls what its Task states name, as Step Functions does: a Lambda function
 * with JSON in and out and its error by name with Lambda's Cause, an SDK integration's error as
 * `<Service>.<Error>`, an SDK output without the SDK's `$metadata`.
 */
/** A Lambda function as the engine sees it: one JSON payload in, one JSON result out. */
export type LocalFunction = (payload: unknown) => Promise<unknown> | unknown;

/** An error raised the way Step Functions names it, e.g. `CodePipeline.ConflictException`. */
export class TaskError extends Error {
  constructor(name: string, message: string) {
    super(message);
    this.name = name;
  }
}

/** An SDK output as Step Functions returns it: JSON, without the SDK's `$metadata`. */
export function withoutMetadata(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(withoutMetadata);
  if (value !== null && typeof value === "object") {
    return Object.fromEntries(
      Object.entries(value)
        .filter(([key]) => key !== "$metadata")
        .map(([key, v]) => [key, withoutMetadata(v)]),
    );
  }
  return value;
}

/** Runs a local function as Lambda would: JSON in, JSON out, an error by its name with Lambda's Cause. */
export async function invokeLocal(fn: LocalFunction, payload: unknown): Promise<unknown> {
  try {
    return asJson(await fn(asJson(payload)));
  } catch (error) {
    // An integration's own error (a denied invoke: local/iam-wiring.ts) is reported as it is.
    if (error instanceof TaskError) throw error;
    const e = error instanceof Error ? error : new Error(String(error));
    throw new TaskError(e.name, lambdaErrorCause(e));
  }
}

/** The JSON round trip a Lambda payload takes (Sets, Dates, undefined become JSON). */
function asJson(value: unknown): unknown {
  return value === undefined
    ? null
    : JSON.parse(JSON.stringify(value, (_k, v) => (v instanceof Set ? [...v] : v)));
}

/** A Lambda function error's Cause, in the shape Step Functions gives it. */
function lambdaErrorCause(error: Error): string {
  return JSON.stringify({
    errorType: error.name,
    errorMessage: error.message,
    trace: (error.stack ?? "").split("\n"),
  });
}

export function sdkError(service: string, error: unknown): TaskError {
  if (error instanceof Error) {
    const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode ?? 400;
    return new TaskError(
      `${service}.${error.name}`,
      `${error.message} (Service: ${service}, Status Code: ${status})`,
    );
  }
  return new TaskError(`${service}.Unknown`, String(error));
}
