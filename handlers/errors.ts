/**
 * Named errors. A Lambda error's `name` becomes its Step Functions error type, which is
 * what the workflow's `ErrorEquals` match, so every name here is part of the contract
 * between the handlers and `stepfunction/release-workflow.ts`.
 */

/** One thing wrong with a manifest: where (a JSON Pointer into the manifest) and which rule. */
export interface ManifestProblem {
  /** JSON Pointer of the offending value, "" for the whole document, e.g. "/pipelines/2". */
  path: string;
  /** The rule broken, e.g. "required", "pattern", "allowList", "maxItems", "json". */
  rule: string;
  /** A sentence a person can act on. */
  message: string;
}

/** The manifest is not acceptable; `problems` lists every problem found, not only the first. */
export class InvalidManifest extends Error {
  override readonly name = "InvalidManifest";
  constructor(readonly problems: ManifestProblem[]) {
    super(
      problems.length === 0
        ? "invalid manifest"
        : problems
            .map((p) => `${p.path === "" ? "(manifest)" : p.path}: ${p.message} [${p.rule}]`)
            .join("; "),
    );
  }
}

/** The manifest object named by the event (bucket, key, version) does not exist. */
export class ManifestNotFound extends Error {
  override readonly name = "ManifestNotFound";
}

/** A pipeline execution ended in a state other than Succeeded; sent to the waiting task. */
export class PipelineExecutionFailed extends Error {
  override readonly name = "PipelineExecutionFailed";
}

/** The waiter was asked to wait for an execution that RecordStart never wrote: a defect, not transient. */
export class ExecutionNotRecorded extends Error {
  override readonly name = "ExecutionNotRecorded";
}

/** The handler's environment is missing or has a malformed setting; the message says what to set. */
export class ConfigurationError extends Error {
  override readonly name = "ConfigurationError";
}

/**
 * Error names raised by the workflow's own Fail states (no class: Step Functions raises them).
 */
export const WorkflowErrors = {
  DuplicateRelease: "DuplicateRelease",
  PipelineFailed: "PipelineFailed",
} as const;
