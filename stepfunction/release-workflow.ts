/**
 * The release workflow (docs/architecture.md, "The workflow"), rendered from typed references and
 * options: the one definition that Pulumi deploys, the local engine runs and the tests execute.
 *
 * The workflow validates and registers a release, then parks in one `.waitForTaskToken` wait for
 * the whole release. Pipelines are started and followed outside it, by the scheduler
 * (handlers/scheduler.ts) that the registration and every pipeline's end call: so no Step
 * Functions slot is held while a pipeline runs, a pipeline starts as soon as its dependencies
 * succeeded, and a release costs the same few transitions whatever its size, shape or duration.
 */
import { type FailurePolicy, RELEASE_EVENT_DETAIL_TYPE, RELEASE_EVENT_SOURCE } from "../contract/tables";
import { ReleaseErrors } from "../contract/errors";
import {
  Integrations,
  type PayloadTemplate,
  type Retrier,
  type State,
  type StateMachineDefinition,
  type TaskFields,
  type TaskState,
  type Transition,
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

/** Errors worth retrying when a Lambda task fails: the service's own, and throttling inside the handler. */
export const TRANSIENT_LAMBDA_ERRORS = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "ThrottlingException",
  "TooManyRequestsException",
  "InternalServerError",
  // CodePipeline answers these while it is busy or its execution queue is full; the scheduler's
  // start is idempotent, so repeating RegisterRelease is safe.
  "ConflictException",
  "ConcurrentPipelineExecutionsLimitExceededException",
];

export const TRANSIENT_DYNAMODB_ERRORS = [
  "DynamoDB.ProvisionedThroughputExceededException",
  "DynamoDB.RequestLimitExceeded",
  "DynamoDB.ThrottlingException",
  "DynamoDB.InternalServerErrorException",
];

const lambdaRetry: Retrier[] = [retryTransient(TRANSIENT_LAMBDA_ERRORS)];
const dynamoRetry: Retrier[] = [retryTransient(TRANSIENT_DYNAMODB_ERRORS)];

/** Step Functions' task timeout and a STANDARD execution both end at one year. */
export const MAX_WAIT_SECONDS = 31_536_000;

function validateOptions(options: WorkflowOptions): void {
  const { longestPipelineRunSeconds, failurePolicy } = options;
  if (
    !Number.isInteger(longestPipelineRunSeconds) ||
    longestPipelineRunSeconds < 60 ||
    longestPipelineRunSeconds > MAX_WAIT_SECONDS
  ) {
    throw new RangeError(
      `longestPipelineRunSeconds must be an integer from 60 to ${MAX_WAIT_SECONDS} (one year), got ${longestPipelineRunSeconds}`,
    );
  }
  if (failurePolicy !== "stopRemaining" && failurePolicy !== "letFinish") {
    throw new RangeError(
      `failurePolicy must be "stopRemaining" or "letFinish", got ${String(failurePolicy)}`,
    );
  }
}

/** A Lambda task's own fields (its transition is a separate argument: Next or End, never both). */
export type LambdaTaskFields = Omit<TaskFields, "Type" | "Resource" | "Parameters">;

/** A Lambda task through the optimized integration, retrying the transient Lambda errors. */
export function lambdaTask(
  functionArn: string,
  payload: PayloadTemplate,
  fields: LambdaTaskFields,
  transition: Transition,
): TaskState {
  return task(
    {
      Resource: Integrations.lambdaInvoke,
      Parameters: { FunctionName: functionArn, Payload: payload },
      Retry: lambdaRetry,
      ...fields,
    },
    transition,
  );
}

const str = (path: string) => ({ "S.$": path });

type ReleaseEnd = "SUCCEEDED" | "FAILED" | "CANCELLED";

/**
 * A release-table update that ends the release with `status`; error and cause when it did not
 * succeed (`$.failure` for FAILED, the outcome itself for CANCELLED).
 */
function markRelease(refs: WorkflowRefs, status: ReleaseEnd, then: string): TaskState {
  const failed = status !== "SUCCEEDED";
  const reason = status === "CANCELLED" ? "$.outcome" : "$.failure";
  const [errorPath, causePath] =
    status === "CANCELLED" ? [`${reason}.error`, `${reason}.cause`] : [`${reason}.Error`, `${reason}.Cause`];
  return task(
    {
      Resource: Integrations.dynamoUpdateItem,
      Parameters: {
        TableName: refs.releasesTable,
        Key: { releaseId: str("$.releaseId") },
        UpdateExpression: failed
          ? "SET #status = :status, endedAt = :now, errorName = :error, cause = :cause"
          : "SET #status = :status, endedAt = :now",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":status": { S: status },
          ":now": str("$$.State.EnteredTime"),
          ...(failed ? { ":error": str(errorPath), ":cause": str(causePath) } : {}),
        },
      },
      ResultPath: null,
      Retry: dynamoRetry,
    },
    next(then),
  );
}

/**
 * Publishes "Release State Change". `then` follows it (and its failure); with `ends`, the state
 * ends the execution and `then` is reached only when publishing failed.
 */
function publishReleaseEvent(refs: WorkflowRefs, status: ReleaseEnd, then: string, ends = false): TaskState {
  // Who caused the end: the outcome says (the canceller, a gate's decider, the submitter); a
  // failed wait's path carries it in `$.failure` (StopRelease sets it).
  const fields: Record<ReleaseEnd, PayloadTemplate> = {
    SUCCEEDED: { "causedBy.$": "$.outcome.causedBy" },
    FAILED: {
      "error.$": "$.failure.Error",
      "cause.$": "$.failure.Cause",
      "causedBy.$": "$.failure.CausedBy",
    },
    CANCELLED: {
      "error.$": "$.outcome.error",
      "cause.$": "$.outcome.cause",
      "causedBy.$": "$.outcome.causedBy",
    },
  };
  const detail: PayloadTemplate = {
    "releaseId.$": "$.releaseId",
    status,
    "executionArn.$": "$$.Execution.Id",
    ...fields[status],
  };
  return task(
    {
      Resource: Integrations.eventsPutEvents,
      Parameters: {
        Entries: [
          {
            Source: RELEASE_EVENT_SOURCE,
            DetailType: RELEASE_EVENT_DETAIL_TYPE,
            EventBusName: refs.eventBusName,
            Detail: detail,
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
          "Attempt n+1: resets the pipelines that did not succeed, moves the release FAILED/CANCELLED -> RUNNING (one conditional write) and starts what is ready.",
        ResultSelector: { "releaseId.$": "$.Payload.releaseId" },
        Catch: [{ ErrorEquals: [ReleaseErrors.RetryRefused], ResultPath: "$.error", Next: "RetryRefused" }],
      },
      next("AwaitRelease"),
    ),
    RetryRefused: fail({ ErrorPath: "$.error.Error" }, { CausePath: "$.error.Cause" }),
  };
}

/** A manifest the release cannot be built from goes to the rejection record. */
const rejected = [
  {
    ErrorEquals: [ReleaseErrors.InvalidManifest, ReleaseErrors.ManifestNotFound],
    ResultPath: "$.error",
    Next: "RecordRejected",
  },
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
        failurePolicy: options.failurePolicy,
        longestPipelineRunSeconds: options.longestPipelineRunSeconds,
        "pipelines.$": "$.release.pipelines",
      },
      {
        Comment:
          "Exactly once per releaseId (a conditional write), then the schedule, then the pipelines that depend on nothing. The plan is not carried on.",
        ResultSelector: { "releaseId.$": "$.Payload.releaseId" },
        ResultPath: "$.release",
        OutputPath: "$.release",
        Catch: [
          { ErrorEquals: [ReleaseErrors.DuplicateRelease], ResultPath: "$.error", Next: "RecordRejected" },
        ],
      },
      next("AwaitRelease"),
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
        // A backstop for defects only: each pipeline's own limit (longestPipelineRunSeconds) is
        // enforced by the reconciler, which stops a pipeline that runs longer and fails it.
        TimeoutSeconds: MAX_WAIT_SECONDS,
        ResultPath: "$.outcome",
        Retry: lambdaRetry,
        // The wait failed (its backstop timeout, or a defect): stop what runs and record why.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.failure", Next: "StopRelease" }],
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
  return {
    DescribeFailure: pass(
      {
        Parameters: {
          "Error.$": "$.outcome.error",
          "Cause.$": "$.outcome.cause",
          "CausedBy.$": "$.outcome.causedBy",
        },
        ResultPath: "$.failure",
      },
      next("MarkFailed"),
    ),
    StopRelease: lambdaTask(
      refs.functions.stopRelease,
      { "releaseId.$": "$.releaseId", "reason.$": "$.failure.Cause", "error.$": "$.failure.Error" },
      {
        Comment:
          "The release's wait failed: skip what has not started and stop what runs. Returns the failure, naming who caused it.",
        ResultSelector: {
          "Error.$": "$.Payload.failure.Error",
          "Cause.$": "$.Payload.failure.Cause",
          "CausedBy.$": "$.Payload.failure.CausedBy",
        },
        ResultPath: "$.failure",
        // Failing to stop must not keep the release from being recorded as failed.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.stopError", Next: "MarkFailed" }],
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
    ReleaseFailed: fail({ ErrorPath: "$.failure.Error" }, { CausePath: "$.failure.Cause" }),
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
