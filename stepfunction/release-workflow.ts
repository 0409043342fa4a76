/**
 * The release workflow (docs/architecture.md, "The workflow"), rendered from typed references and
 * options: the one definition that Pulumi deploys, the local engine runs and the tests execute.
 * The workflow validates and registers a release, then parks in one `.waitForTaskToken` wait for the
 * whole release. Pipelines are started and followed outside it, by the scheduler (handlers/release/)
 * that the registration and every pipeline's end call: so no Step Functions slot is held while a
 * pipeline runs, a pipeline starts as soon as its dependencies succeeded, and a release costs the
 * same few transitions whatever its size, shape or duration.
 */
import {
  type FailurePolicy,
  RELEASE_EVENT_DETAIL_TYPE,
  RELEASE_EVENT_SOURCE,
  STATUS_SHARDS,
  statusShard,
} from "../contract/tables";
import { MACHINE, RELEASE_CHANGES, type ReleaseEnd, type ReleaseFailure } from "../contract/lifecycle";
import { changeExpression } from "../contract/lifecycle-expression";
import { endFamily, RELEASE_STATE_DETAIL_FIELDS, type ReleaseStateDetail } from "../contract/release-events";
import { ReleaseErrors } from "../contract/errors";
import {
  CONFIGURED_TIMEOUT_LIMIT,
  MAX_CONFIGURED_TIMEOUT_HOURS,
  RELEASE_WAIT_TIMEOUT_SECONDS,
} from "../contract/execution-limits";
import {
  Integrations,
  type PayloadTemplate,
  type State,
  type StateMachineDefinition,
  type TaskState,
  choice,
  end,
  fail,
  next,
  pass,
  retryTransient,
  stateMachine,
  succeed,
  task,
} from "./asl";
import { dynamoRetry, lambdaRetry, lambdaTask } from "./lambda-task";
import { CAUGHT, failedRegistrationStates } from "./failed-registration";

export {
  type LambdaTaskFields,
  TRANSIENT_DYNAMODB_ERRORS,
  TRANSIENT_LAMBDA_ERRORS,
  lambdaTask,
} from "./lambda-task";

export type { FailurePolicy };

/** The functions the workflow's Task states invoke (the other handlers are invoked by events). */
export const WORKFLOW_FUNCTIONS = [
  "loadManifest",
  "validateManifest",
  "recordRejection",
  "registerRelease",
  "awaitRelease",
  "stopRelease",
] as const;
export type WorkflowFunction = (typeof WORKFLOW_FUNCTIONS)[number];

/** What the workflow calls: function ARNs, table names, the event bus for release events. */
export interface WorkflowRefs {
  functions: Record<WorkflowFunction, string>;
  releasesTable: string;
  eventBusName: string;
}

export interface WorkflowOptions {
  /**
   * How long one pipeline may run (a manual approval inside a pipeline may take days): the
   * reconciler stops a pipeline that runs longer, and the pipeline fails.
   */
  longestPipelineRunSeconds: number;
  failurePolicy: FailurePolicy;
}

export const DEFAULT_WORKFLOW_OPTIONS: WorkflowOptions = {
  longestPipelineRunSeconds: 7 * 24 * 3600,
  failurePolicy: "stopRemaining",
};

/** The longest pipeline run the workflow accepts: below the release's backstop (contract/execution-limits.ts). */
export const MAX_PIPELINE_RUN_SECONDS = MAX_CONFIGURED_TIMEOUT_HOURS * 3600;

function validateOptions(options: WorkflowOptions): void {
  const { longestPipelineRunSeconds: run, failurePolicy } = options;
  if (!Number.isInteger(run) || run < 60 || run > MAX_PIPELINE_RUN_SECONDS) {
    throw new RangeError(
      `longestPipelineRunSeconds must be an integer from 60 to ${MAX_PIPELINE_RUN_SECONDS}, the limit ${CONFIGURED_TIMEOUT_LIMIT}, got ${run}`,
    );
  }
  if (failurePolicy !== "stopRemaining" && failurePolicy !== "letFinish") {
    throw new RangeError(
      `failurePolicy must be "stopRemaining" or "letFinish", got ${String(failurePolicy)}`,
    );
  }
}

const str = (path: string) => ({ "S.$": path });

/** Each end's declared change, and where its facts are: the outcome, or `$.failure` (DescribeFailure, StopRelease). */
const ENDS = {
  SUCCEEDED: { change: "markSucceeded", source: "$.outcome" },
  FAILED: { change: "markFailed", source: "$.failure" },
  CANCELLED: { change: "markCancelled", source: "$.outcome" },
} as const satisfies Record<ReleaseEnd, { change: keyof typeof RELEASE_CHANGES; source: string }>;

/** The JSONPaths of an end's facts: what its Mark state records and its Publish state announces. */
function endPaths(status: ReleaseEnd): Partial<Record<keyof ReleaseStateDetail, string>> {
  const { source } = ENDS[status];
  const failure = status === "SUCCEEDED" ? {} : { error: `${source}.error`, cause: `${source}.cause` };
  return {
    releaseId: "$.releaseId",
    causedBy: `${source}.causedBy`,
    executionArn: "$$.Execution.Id",
    ...failure,
    ...endFamily(status).paths,
  };
}

/**
 * A release-table update that ends the release with `status`: the lifecycle's declared change
 * (contract/lifecycle.ts), its values taken from the state's input.
 */
function markRelease(refs: WorkflowRefs, status: ReleaseEnd, then: string): TaskState {
  const change = RELEASE_CHANGES[ENDS[status].change];
  const { error, cause } = endPaths(status);
  const paths = new Map([
    ["endedAt", "$$.State.EnteredTime"],
    ["errorName", error],
    ["cause", cause],
  ]);
  const { placeholders, ...expressions } = changeExpression(change, "release", {
    fields: Object.keys(change.fields),
  });
  const values = Object.fromEntries(
    Object.entries(placeholders).map(([placeholder, source]) => {
      if ("status" in source) return [placeholder, { S: source.status }];
      if ("statusShard" in source) return [placeholder, str(statusShardPath(source.statusShard))];
      const path = "field" in source ? paths.get(source.field) : undefined;
      if (path === undefined) throw new Error(`${ENDS[status].change}: no path for ${placeholder}`);
      return [placeholder, str(path)];
    }),
  );
  return task(
    {
      Resource: Integrations.dynamoUpdateItem,
      Parameters: {
        TableName: refs.releasesTable,
        Key: { releaseId: str("$.releaseId") },
        ...expressions,
        ExpressionAttributeValues: values,
      },
      ResultPath: null,
      Retry: dynamoRetry,
    },
    next(then),
  );
}

/**
 * The `byStatus` partition a Mark state writes with the end: one of the status's STATUS_SHARDS,
 * chosen by States.MathRandom (an ASL intrinsic cannot hash the releaseId as the handlers do; any
 * shard serves, since the listing merges them all). Both bounds are valid shards whether the end
 * bound is inclusive or not:
 * https://docs.aws.amazon.com/step-functions/latest/dg/intrinsic-functions.html#asl-intrsc-func-math-operation
 */
export function statusShardPath(status: string): string {
  return `States.Format('${statusShard(status, "{}")}', States.MathRandom(0, ${STATUS_SHARDS - 1}))`;
}

/** The detail template: the fields of contract/release-events.ts, in its order, and no other. */
export function releaseEndDetail(status: ReleaseEnd): PayloadTemplate {
  const [paths, fixed] = [endPaths(status), { status, kind: endFamily(status).kind }];
  return Object.fromEntries(
    RELEASE_STATE_DETAIL_FIELDS.flatMap((field): [string, string][] => {
      if (field === "status" || field === "kind") return [[field, fixed[field]]];
      const path = paths[field];
      return path === undefined ? [] : [[`${field}.$`, path]];
    }),
  );
}

/**
 * Publishes "Release State Change". `then` follows it (and its failure); with `ends`, the state
 * ends the execution and `then` is reached only when publishing failed.
 */
function publishReleaseEvent(refs: WorkflowRefs, status: ReleaseEnd, then: string, ends = false): TaskState {
  return task(
    {
      Resource: Integrations.eventsPutEvents,
      Parameters: {
        Entries: [
          {
            Source: RELEASE_EVENT_SOURCE,
            DetailType: RELEASE_EVENT_DETAIL_TYPE,
            EventBusName: refs.eventBusName,
            Detail: releaseEndDetail(status),
          },
        ],
      },
      ResultPath: null,
      Retry: [retryTransient(["EventBridge.ThrottlingException", "EventBridge.InternalException"])],
      // A lost notification must not change the release's recorded outcome.
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.publishError", Next: then }],
    },
    ends ? end : next(then),
  );
}

type States = Record<string, State>;

/** Where a submission enters: a new release is loaded from its manifest, a retry resumes one. */
function submissionStates(refs: WorkflowRefs): States {
  return {
    Submission: choice(
      [{ Variable: "$.retry", IsPresent: true, Next: "RetryRelease" }],
      "LoadManifest",
      "A new release is loaded from its manifest; a retry (POST /releases/{id}/retry) resumes one.",
    ),
    RetryRelease: lambdaTask(
      refs.functions.registerRelease,
      { "retry.$": "$.retry", "executionArn.$": "$$.Execution.Id" },
      {
        Comment:
          "Attempt n+1: resets the pipelines that did not succeed, moves the release FAILED/CANCELLED -> RUNNING (one conditional write), starts the first batch of what is ready and answers where the rest begin.",
        ResultSelector: { "releaseId.$": "$.Payload.releaseId", "startsFrom.$": "$.Payload.startsFrom" },
        Catch: [
          { ErrorEquals: [ReleaseErrors.RetryRefused], ResultPath: "$.error", Next: "RetryRefused" },
          { ...CAUGHT, Next: "FailRetry" },
        ],
      },
      next("MoreRoots"),
    ),
    RetryRefused: fail({ ErrorPath: "$.error.Error" }, { CausePath: "$.error.Cause" }),
  };
}

/**
 * A manifest the release cannot be built from goes to the rejection record; so does any other
 * failure to read or validate it (an S3 or internal error), so no submission is lost unrecorded.
 */
const rejected = [
  {
    ErrorEquals: [ReleaseErrors.InvalidManifest, ReleaseErrors.ManifestNotFound],
    ResultPath: "$.error",
    Next: "RecordRejected",
  },
  { ...CAUGHT, Next: "RecordRejected" },
];

/** Intake: read the manifest text, then validate it into a plan. */
function validationStates(refs: WorkflowRefs): States {
  return {
    LoadManifest: lambdaTask(
      refs.functions.loadManifest,
      { "request.$": "$" },
      {
        Comment:
          "Reads the manifest text: the S3 object at the event's version, or the API request body. The request is not carried on.",
        // No ResultPath: the result replaces the input (the default, "$").
        ResultSelector: {
          "text.$": "$.Payload.text",
          "location.$": "$.Payload.location",
          "submittedBy.$": "$.Payload.submittedBy",
        },
        Catch: rejected,
      },
      next("ValidateManifest"),
    ),
    ValidateManifest: lambdaTask(
      refs.functions.validateManifest,
      { "text.$": "$.text", "location.$": "$.location", "submittedBy.$": "$.submittedBy" },
      {
        Comment:
          "Schema, allow-list, dependencies and limits. Its plan replaces the text: only what later states need is carried.",
        ResultSelector: { "release.$": "$.Payload" },
        Catch: rejected,
      },
      next("RegisterRelease"),
    ),
  };
}

/** A refused submission is recorded, then the execution fails with the refusal. */
function rejectionStates(refs: WorkflowRefs): States {
  return {
    RecordRejected: lambdaTask(
      refs.functions.recordRejection,
      {
        "request.$": "$$.Execution.Input",
        "error.$": "$.error",
        "executionArn.$": "$$.Execution.Id",
        "executionName.$": "$$.Execution.Name",
        "startedAt.$": "$$.Execution.StartTime",
      },
      {
        Comment:
          "Records the refused submission with its problems and source: under its releaseId when that is free, apart otherwise.",
        ResultSelector: { "error.$": "$.Payload.error", "cause.$": "$.Payload.cause" },
        ResultPath: "$.rejection",
        // The submission stays refused even when its record cannot be written.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.recordError", Next: "RejectedUnrecorded" }],
      },
      next("Rejected"),
    ),
    Rejected: fail({ ErrorPath: "$.rejection.error" }, { CausePath: "$.rejection.cause" }),
    RejectedUnrecorded: fail({ ErrorPath: "$.error.Error" }, { CausePath: "$.error.Cause" }),
  };
}

/** Registration: the release is written once, its schedule set and its first pipelines started. */
function registrationStates(refs: WorkflowRefs, options: WorkflowOptions): States {
  return {
    RegisterRelease: lambdaTask(
      refs.functions.registerRelease,
      {
        "releaseId.$": "$.release.releaseId",
        "executionArn.$": "$$.Execution.Id",
        "startedAt.$": "$$.Execution.StartTime",
        "source.$": "$.release.location",
        "submittedBy.$": "$.release.submittedBy",
        failurePolicy: options.failurePolicy, // the stack's; the manifest's own ("options.$") wins
        "options.$": "$.release.options",
        longestPipelineRunSeconds: options.longestPipelineRunSeconds,
        "pipelines.$": "$.release.pipelines",
      },
      {
        Comment:
          "Exactly once per releaseId (a conditional write), then the schedule, then the pipelines that depend on nothing. The plan is not carried on.",
        ResultSelector: { "releaseId.$": "$.Payload.releaseId", "startsFrom.$": "$.Payload.startsFrom" },
        ResultPath: "$.release",
        OutputPath: "$.release",
        Catch: [
          { ErrorEquals: [ReleaseErrors.DuplicateRelease], ResultPath: "$.error", Next: "RecordRejected" },
          { ...CAUGHT, Next: "FailRegistration" },
        ],
      },
      next("MoreRoots"),
    ),
    MoreRoots: choice(
      [{ Variable: "$.startsFrom", IsNumeric: true, Next: "StartMoreRoots" }],
      "AwaitRelease",
      "Ready pipelines past the first batch (a registration's roots, a retry's restarts) are started one batch per invocation, so no invocation's work grows with the release.",
    ),
    StartMoreRoots: lambdaTask(
      refs.functions.registerRelease,
      { startRoots: { "releaseId.$": "$.releaseId", "from.$": "$.startsFrom" } },
      {
        Comment:
          "Starts the next batch of the release's ready pipelines in manifest order (claimed, so a repeat starts nothing twice) and answers where the next begins, or null.",
        ResultSelector: { "releaseId.$": "$.Payload.releaseId", "startsFrom.$": "$.Payload.startsFrom" },
        Catch: [{ ...CAUGHT, Next: "FailStarts" }],
      },
      next("MoreRoots"),
    ),
  };
}

/** The one wait for the whole release, and the branch on its outcome. */
function waitStates(refs: WorkflowRefs): States {
  return {
    AwaitRelease: task(
      {
        Comment:
          "Parks until every pipeline settled: the pipeline-event handler or the reconciler sends the outcome. No slot is held per pipeline and nothing polls.",
        Resource: Integrations.lambdaInvokeWaitForTaskToken,
        Parameters: {
          FunctionName: refs.functions.awaitRelease,
          Payload: {
            "taskToken.$": "$$.Task.Token",
            "releaseId.$": "$.releaseId",
            "executionArn.$": "$$.Execution.Id",
          },
        },
        // A backstop for defects only (each pipeline's limit is the reconciler's), a day before the
        // execution's uncatchable one-year limit so the Catch below still runs. A release runs its
        // critical path, a chain of runs and gates, so no sum of one run and one gate bounds it.
        TimeoutSeconds: RELEASE_WAIT_TIMEOUT_SECONDS,
        ResultPath: "$.outcome",
        Retry: lambdaRetry,
        // The wait failed (its backstop timeout, or a defect): stop what runs and record why. Step
        // Functions spells the caught error {Error, Cause}; StopRelease answers the release's spelling.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.waitError", Next: "StopRelease" }],
      },
      next("ReleaseOutcome"),
    ),
    ReleaseOutcome: choice(
      [
        { Variable: "$.outcome.status", StringEquals: "SUCCEEDED", Next: "MarkSucceeded" },
        { Variable: "$.outcome.status", StringEquals: "CANCELLED", Next: "MarkCancelled" },
      ],
      "DescribeFailure",
    ),
  };
}

/** A failed outcome, or a failed wait: the failure is described (and what runs stopped) before it is recorded. */
function failureStates(refs: WorkflowRefs): States {
  const failure = (source: Record<keyof ReleaseFailure, string>): PayloadTemplate => ({
    "error.$": source.error,
    "cause.$": source.cause,
    ...(source.causedBy.startsWith("$") ? { "causedBy.$": source.causedBy } : { causedBy: source.causedBy }),
  });
  return {
    DescribeFailure: pass(
      {
        Parameters: failure({
          error: "$.outcome.error",
          cause: "$.outcome.cause",
          causedBy: "$.outcome.causedBy",
        }),
        ResultPath: "$.failure",
      },
      next("MarkFailed"),
    ),
    StopRelease: lambdaTask(
      refs.functions.stopRelease,
      { "releaseId.$": "$.releaseId", "reason.$": "$.waitError.Cause", "error.$": "$.waitError.Error" },
      {
        Comment:
          "The release's wait failed: skip what has not started and stop what runs. Returns the failure, naming who caused it.",
        ResultSelector: failure({
          error: "$.Payload.failure.error",
          cause: "$.Payload.failure.cause",
          causedBy: "$.Payload.failure.causedBy",
        }),
        ResultPath: "$.failure",
        // Failing to stop must not keep the release from being recorded as failed.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.stopError", Next: "DescribeWaitFailure" }],
      },
      next("MarkFailed"),
    ),
    DescribeWaitFailure: pass(
      {
        Comment: "StopRelease failed too: the wait's own error is the failure, caused by the machine.",
        Parameters: failure({ error: "$.waitError.Error", cause: "$.waitError.Cause", causedBy: MACHINE }),
        ResultPath: "$.failure",
      },
      next("MarkFailed"),
    ),
  };
}

/** Each end of a release: recorded in the releases table, published, then the execution ends. */
function endingStates(refs: WorkflowRefs): States {
  return {
    MarkSucceeded: markRelease(refs, "SUCCEEDED", "PublishSucceeded"),
    // Ends the execution itself; ReleaseSucceeded is reached only when the notification fails.
    PublishSucceeded: publishReleaseEvent(refs, "SUCCEEDED", "ReleaseSucceeded", true),
    ReleaseSucceeded: succeed(),
    MarkCancelled: markRelease(refs, "CANCELLED", "PublishCancelled"),
    PublishCancelled: publishReleaseEvent(refs, "CANCELLED", "ReleaseCancelled"),
    ReleaseCancelled: fail({ ErrorPath: "$.outcome.error" }, { CausePath: "$.outcome.cause" }),
    MarkFailed: markRelease(refs, "FAILED", "PublishFailed"),
    PublishFailed: publishReleaseEvent(refs, "FAILED", "ReleaseFailed"),
    ReleaseFailed: fail({ ErrorPath: "$.failure.error" }, { CausePath: "$.failure.cause" }),
  };
}

/** Renders the release workflow. Throws RangeError for bad options, DefinitionError for a broken graph. */
export function releaseWorkflow(
  refs: WorkflowRefs,
  options: WorkflowOptions = DEFAULT_WORKFLOW_OPTIONS,
): StateMachineDefinition {
  validateOptions(options);
  return stateMachine({
    Comment:
      "Release Machine: register a release, start its pipelines as their dependencies succeed, and wait for the last to end.",
    StartAt: "Submission",
    States: {
      ...submissionStates(refs),
      ...validationStates(refs),
      ...rejectionStates(refs),
      ...registrationStates(refs, options),
      ...failedRegistrationStates(refs.functions.stopRelease),
      ...waitStates(refs),
      ...failureStates(refs),
      ...endingStates(refs),
    },
  });
}

/** Placeholder references for printing and tests: the shape of real ARNs, no real account. */
export const PLACEHOLDER_REFS: WorkflowRefs = {
  functions: {
    loadManifest: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-load-manifest",
    validateManifest: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-validate-manifest",
    recordRejection: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-record-rejection",
    registerRelease: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-register-release",
    awaitRelease: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-await-release",
    stopRelease: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-stop-release",
  },
  releasesTable: "release-machine-releases",
  eventBusName: "default",
};
