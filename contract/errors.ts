/**
 * Named errors. A Lambda error's `name` becomes its Step Functions error type, which is
 * what the workflow's `ErrorEquals` match, so every name here is part of the contract
 * between the handlers and `stepfunction/release-workflow.ts`.
 */

/**
 * Every error name the release machine raises, catches or records: its error classes' names, the
 * names a settled release fails with (the scheduler writes them, the workflow's Fail states raise
 * them) and the local engine's own. Code writes a name through this object, never as a literal;
 * test/error-names.test.ts checks the workflow catches only these and that each is raised.
 */
export const ReleaseErrors = {
  InvalidManifest: "InvalidManifest",
  ManifestNotFound: "ManifestNotFound",
  DuplicateRelease: "DuplicateRelease",
  ReleaseNotRegistered: "ReleaseNotRegistered",
  ConfigurationError: "ConfigurationError",
  ReleaseStateConflict: "ReleaseStateConflict",
  GateNotAwaiting: "GateNotAwaiting",
  RetryRefused: "RetryRefused",
  PipelineFailed: "PipelineFailed",
  ReleaseCancelled: "ReleaseCancelled",
  ApprovalRejected: "ApprovalRejected",
  ApprovalExpired: "ApprovalExpired",
  LocalEngineStopped: "LocalEngineStopped",
} as const;
export type ReleaseErrorName = (typeof ReleaseErrors)[keyof typeof ReleaseErrors];

/** One thing wrong with a manifest: where (a JSON Pointer into the manifest) and which rule. */
export interface ManifestProblem {
  /** JSON Pointer of the offending value, "" for the whole document, e.g. "/pipelines/2". */
  path: string;
  /** The rule broken, e.g. "required", "pattern", "allowList", "maxItems", "json". */
  rule: string;
  /** A sentence a person can act on. */
  message: string;
}

/** The problem a list ends with when `count` more problems were left out of it. */
export const problemsLeftOut = (count: number): ManifestProblem => ({
  path: "",
  rule: "tooManyProblems",
  message: `${count} more problems are not listed`,
});

/** How many problems `problem` stands for when it is problemsLeftOut's; undefined otherwise. */
export function leftOutCount(problem: ManifestProblem): number | undefined {
  const count = /^(\d+) more problems are not listed$/.exec(problem.message)?.[1];
  return problem.rule === "tooManyProblems" && count !== undefined ? Number(count) : undefined;
}

/**
 * Builds the error each class below returns from its constructor: a native Error (so the Lambda
 * runtime reports it by name) carrying the class's prototype (so `instanceof` works). Pulumi's
 * closure serialization rewrites a class into an ES5 constructor in which `super(message)` sets
 * nothing and class fields vanish; returning this object survives that. The archive test proves it.
 */
function named<T extends Error>(prototype: T, name: string, message: string): T {
  // Serialized, the class's prototype no longer inherits from Error's; restore that link.
  if (!(prototype instanceof Error)) Object.setPrototypeOf(prototype, Error.prototype);
  const error = new Error(message);
  Object.setPrototypeOf(error, prototype);
  error.name = name;
  return error as T;
}

/**
 * The class of a named error that carries only a message: `export const X = namedError("X")`
 * declares one (`new X(message)`, `instanceof X`). Not a subclass of a shared class: serialized,
 * a subclass's implicit constructor drops the message and the object its parent returns.
 */
function namedError(errorName: ReleaseErrorName) {
  const NamedError = class extends Error {
    constructor(message: string) {
      super(message);
      return named(NamedError.prototype, errorName, message);
    }
  };
  return NamedError;
}

/** The manifest is not acceptable; `problems` lists every problem found, not only the first. */
export class InvalidManifest extends Error {
  declare readonly problems: ManifestProblem[];
  constructor(problems: ManifestProblem[]) {
    const message =
      problems.length === 0
        ? "invalid manifest"
        : problems
            .map((p) => `${p.path === "" ? "(manifest)" : p.path}: ${p.message} [${p.rule}]`)
            .join("; ");
    super(message);
    return Object.assign(named(InvalidManifest.prototype, ReleaseErrors.InvalidManifest, message), {
      problems,
    });
  }
}

/** The manifest object named by the event (bucket, key, version) does not exist. */
export const ManifestNotFound = namedError(ReleaseErrors.ManifestNotFound);

/** Another execution already holds this releaseId: a release runs once (RegisterRelease). */
export const DuplicateRelease = namedError(ReleaseErrors.DuplicateRelease);

/** AwaitRelease was asked to wait for a release this execution never registered: a defect, not transient. */
export const ReleaseNotRegistered = namedError(ReleaseErrors.ReleaseNotRegistered);

/** The handler's environment is missing or has a malformed setting; the message says what to set. */
export const ConfigurationError = namedError(ReleaseErrors.ConfigurationError);

/** One problem with a control request: the field (JSON Pointer), the rule it breaks, and what to do. */
export interface RequestProblem {
  path: string;
  rule: string;
  message: string;
}

/**
 * A control request the API refuses (handlers/release-control.ts): its HTTP status, error name and
 * message, and for a bad body every problem by field.
 */
export class RequestRefused extends Error {
  declare readonly statusCode: number;
  declare readonly error: string;
  declare readonly problems?: RequestProblem[];
  constructor(statusCode: number, error: string, message: string, problems?: RequestProblem[]) {
    super(message);
    return Object.assign(named(RequestRefused.prototype, error, message), {
      statusCode,
      error,
      ...(problems ? { problems } : {}),
    });
  }
}

/**
 * A release-control request the release's state does not allow (the API's 409): cancelling an
 * ended release, retrying a running or succeeded one, deciding a gate that is not waiting.
 */
export const ReleaseStateConflict = namedError(ReleaseErrors.ReleaseStateConflict);

/** A gate decision that lost: the gate was decided, expired or skipped before it (409). */
export const GateNotAwaiting = namedError(ReleaseErrors.GateNotAwaiting);

/** The retry's execution found the release no longer retryable (another attempt started it). */
export const RetryRefused = namedError(ReleaseErrors.RetryRefused);
