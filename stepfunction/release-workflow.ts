/**
 * The release workflow (ARCHITECTURE §3), rendered from typed references and options. The one
 * definition that Pulumi deploys, the local engine runs and the tests execute.
 *
 * Completion is event-driven: each pipeline's iteration parks in a `.waitForTaskToken` task
 * until the pipeline-event handler (or the reconciler) completes it, so a running pipeline
 * costs no state transitions however long it takes.
 */
import { RELEASE_EVENT_DETAIL_TYPE, RELEASE_EVENT_SOURCE } from "../handlers/model";
import { WorkflowErrors } from "../handlers/errors";
import {
  Integrations,
  type PayloadTemplate,
  type Retrier,
  type State,
  type StateMachineDefinition,
  retryTransient,
  stateMachine,
} from "./asl";

/** What the workflow calls: function ARNs, table names, the event bus for release events. */
export interface WorkflowRefs {
  functions: {
    loadManifest: string;
    validateManifest: string;
    registerWaiter: string;
    stopRemaining: string;
  };
  releasesTable: string;
  executionsTable: string;
  eventBusName: string;
}

/**
 * `stopRemaining`: the first pipeline failure ends the release at once and stops the release's
 * pipelines that are still running. `letFinish`: every pipeline runs to its end; the release
 * fails afterwards if any failed.
 */
export type FailurePolicy = "stopRemaining" | "letFinish";

export interface WorkflowOptions {
  /**
   * Pipelines running at once (1–40, inline Map's limit). An iteration keeps its slot while it
   * waits for its pipeline, so this bounds running pipelines, not only starts.
   */
  mapConcurrency: number;
  /** How long one pipeline may run before its wait times out (a manual approval may take days). */
  longestPipelineRunSeconds: number;
  failurePolicy: FailurePolicy;
}

export const DEFAULT_WORKFLOW_OPTIONS: WorkflowOptions = {
  mapConcurrency: 40,
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
];

export const TRANSIENT_DYNAMODB_ERRORS = [
  "DynamoDB.ProvisionedThroughputExceededException",
  "DynamoDB.RequestLimitExceeded",
  "DynamoDB.ThrottlingException",
  "DynamoDB.InternalServerErrorException",
];

/** CodePipeline answers ConflictException while the pipeline is busy; both clear by themselves. */
export const TRANSIENT_START_ERRORS = ["CodePipeline.ThrottlingException", "CodePipeline.ConflictException"];
export const START_LIMIT_ERRORS = ["CodePipeline.ConcurrentPipelineExecutionsLimitExceededException"];

const lambdaRetry: Retrier[] = [retryTransient(TRANSIENT_LAMBDA_ERRORS)];
const dynamoRetry: Retrier[] = [retryTransient(TRANSIENT_DYNAMODB_ERRORS)];

function validateOptions(options: WorkflowOptions): void {
  const { mapConcurrency, longestPipelineRunSeconds, failurePolicy } = options;
  if (!Number.isInteger(mapConcurrency) || mapConcurrency < 1 || mapConcurrency > 40) {
    throw new RangeError(
      `mapConcurrency must be an integer from 1 to 40 (inline Map's limit), got ${mapConcurrency}`,
    );
  }
  // Step Functions' task timeout and a STANDARD execution both end at one year.
  if (
    !Number.isInteger(longestPipelineRunSeconds) ||
    longestPipelineRunSeconds < 60 ||
    longestPipelineRunSeconds > 31_536_000
  ) {
    throw new RangeError(
      `longestPipelineRunSeconds must be an integer from 60 to 31536000 (one year), got ${longestPipelineRunSeconds}`,
    );
  }
  if (failurePolicy !== "stopRemaining" && failurePolicy !== "letFinish") {
    throw new RangeError(
      `failurePolicy must be "stopRemaining" or "letFinish", got ${String(failurePolicy)}`,
    );
  }
}

/** A Lambda task through the optimized integration, retrying the transient Lambda errors. */
export function lambdaTask(
  functionArn: string,
  payload: PayloadTemplate,
  rest: Partial<State> & object,
): State {
  return {
    Type: "Task",
    Resource: Integrations.lambdaInvoke,
    Parameters: { FunctionName: functionArn, Payload: payload },
    Retry: lambdaRetry,
    ...rest,
  } as State;
}

const str = (path: string) => ({ "S.$": path });

/** A release-table update that ends the release with `status`; `failure` fields only when it failed. */
function markRelease(refs: WorkflowRefs, status: "SUCCEEDED" | "FAILED", next: string): State {
  const failed = status === "FAILED";
  return {
    Type: "Task",
    Resource: Integrations.dynamoUpdateItem,
    Parameters: {
      TableName: refs.releasesTable,
      Key: { releaseId: str("$.release.releaseId") },
      UpdateExpression: failed
        ? "SET #status = :status, endedAt = :now, errorName = :error, cause = :cause"
        : "SET #status = :status, endedAt = :now",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: {
        ":status": { S: status },
        ":now": str("$$.State.EnteredTime"),
        ...(failed ? { ":error": str("$.failure.Error"), ":cause": str("$.failure.Cause") } : {}),
      },
    },
    ResultPath: null,
    Retry: dynamoRetry,
    Next: next,
  };
}

/**
 * Publishes "Release State Change". `next` follows it (and its failure); with `ends`, the state
 * ends the execution and `next` is reached only when publishing failed.
 */
function publishReleaseEvent(
  refs: WorkflowRefs,
  status: "SUCCEEDED" | "FAILED",
  next: string,
  ends = false,
): State {
  const detail: PayloadTemplate = {
    "releaseId.$": "$.release.releaseId",
    status,
    "executionArn.$": "$$.Execution.Id",
    ...(status === "FAILED" ? { "error.$": "$.failure.Error", "cause.$": "$.failure.Cause" } : {}),
  };
  return {
    Type: "Task",
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
    Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.publishError", Next: next }],
    ...(ends ? { End: true as const } : { Next: next }),
  };
}

/** One pipeline's iteration: start it idempotently, record it, then wait for its end. */
function pipelineIteration(refs: WorkflowRefs, options: WorkflowOptions): Record<string, State> {
  const onFailure = [{ ErrorEquals: ["States.ALL"], ResultPath: "$.error", Next: "DescribePipelineFailure" }];
  const states: Record<string, State> = {
    ...(options.failurePolicy === "stopRemaining"
      ? {
          CheckReleaseOpen: {
            Type: "Task",
            Comment:
              "A pipeline waiting for a Map slot does not start once another pipeline of the release failed: one conditional write, one transition.",
            Resource: Integrations.dynamoUpdateItem,
            Parameters: {
              TableName: refs.releasesTable,
              Key: { releaseId: str("$.releaseId") },
              UpdateExpression: "ADD startedPipelines :one",
              ConditionExpression: "attribute_not_exists(firstFailure)",
              ExpressionAttributeValues: { ":one": { N: "1" } },
            },
            ResultPath: null,
            Retry: dynamoRetry,
            Catch: [
              {
                ErrorEquals: ["DynamoDB.ConditionalCheckFailedException"],
                ResultPath: null,
                Next: "PipelineSkipped",
              },
            ],
            Next: "StartPipeline",
          } satisfies State,
          PipelineSkipped: { Type: "Succeed" } satisfies State,
        }
      : {}),
    StartPipeline: {
      Type: "Task",
      Comment:
        "Idempotent: ClientRequestToken is derived from (releaseId, pipeline), so a retry returns the same execution.",
      Resource: Integrations.awsSdk("codepipeline", "startPipelineExecution"),
      // No Parameters: the prepared request (Variables and SourceRevisions only when the manifest has
      // them; CodePipeline rejects empty lists) is passed to the API as it is.
      InputPath: "$.pipeline.start",
      ResultSelector: { "pipelineExecutionId.$": "$.PipelineExecutionId" },
      ResultPath: "$.execution",
      Retry: [
        retryTransient(TRANSIENT_START_ERRORS, { MaxAttempts: 8 }),
        retryTransient(START_LIMIT_ERRORS, { IntervalSeconds: 30, MaxAttempts: 20, MaxDelaySeconds: 300 }),
      ],
      Catch: onFailure,
      Next: "RecordStart",
    },
    RecordStart: {
      Type: "Task",
      Comment:
        "Claims the execution for this release. Never overwrites status or history: the pipeline's events may have arrived first.",
      Resource: Integrations.dynamoUpdateItem,
      Parameters: {
        TableName: refs.executionsTable,
        Key: { pipelineExecutionId: str("$.execution.pipelineExecutionId") },
        UpdateExpression:
          "SET releaseId = :releaseId, pipeline = :pipeline, startedAt = if_not_exists(startedAt, :now), #status = if_not_exists(#status, :started)",
        ExpressionAttributeNames: { "#status": "status" },
        ExpressionAttributeValues: {
          ":releaseId": str("$.releaseId"),
          ":pipeline": str("$.pipeline.name"),
          ":now": str("$$.State.EnteredTime"),
          ":started": { S: "Started" },
        },
      },
      ResultPath: null,
      Retry: dynamoRetry,
      Catch: onFailure,
      Next: "AwaitPipeline",
    },
    AwaitPipeline: {
      Type: "Task",
      Comment:
        "Parks until the pipeline ends: the pipeline-event handler or the reconciler sends the task token back. No polling.",
      Resource: Integrations.lambdaInvokeWaitForTaskToken,
      Parameters: {
        FunctionName: refs.functions.registerWaiter,
        Payload: {
          "taskToken.$": "$$.Task.Token",
          "releaseId.$": "$.releaseId",
          "pipeline.$": "$.pipeline.name",
          "pipelineExecutionId.$": "$.execution.pipelineExecutionId",
          ...(options.failurePolicy === "stopRemaining" ? { stopIfReleaseFailed: true } : {}),
        },
      },
      TimeoutSeconds: options.longestPipelineRunSeconds,
      // The iteration ends here: the release's outcome is read from the tables, not the Map's output.
      ResultPath: null,
      Retry: lambdaRetry,
      Catch: onFailure,
      End: true,
    },
    DescribePipelineFailure: {
      Type: "Pass",
      Parameters: {
        Error: WorkflowErrors.PipelineFailed,
        "Cause.$":
          "States.Format('Pipeline {} did not succeed: {}: {}', $.pipeline.name, $.error.Error, $.error.Cause)",
      },
      ResultPath: "$.failure",
      Next: "RecordPipelineFailure",
    },
  };
  // A failed iteration still ends normally: failing it would fail the Map, which cancels the other
  // iterations, including one whose pipeline has started but is not yet recorded, and that
  // pipeline would then run on unseen. The first failure is kept on the release instead.
  const stopOthers = options.failurePolicy === "stopRemaining";
  states.RecordPipelineFailure = {
    Type: "Task",
    Resource: Integrations.dynamoUpdateItem,
    Parameters: {
      TableName: refs.releasesTable,
      Key: { releaseId: str("$.releaseId") },
      UpdateExpression: "SET firstFailure = if_not_exists(firstFailure, :cause)",
      ExpressionAttributeValues: { ":cause": str("$.failure.Cause") },
    },
    ResultPath: null,
    Retry: dynamoRetry,
    Next: stopOthers ? "StopOtherPipelines" : "PipelineFinishedFailed",
  };
  if (stopOthers) {
    // Stops the release's recorded running pipelines; their waits then end through their STOPPED
    // events. A pipeline recorded later stops itself: its waiter sees firstFailure.
    states.StopOtherPipelines = lambdaTask(
      refs.functions.stopRemaining,
      { "releaseId.$": "$.releaseId", "reason.$": "$.failure.Cause" },
      {
        ResultPath: null,
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.stopError", Next: "PipelineFinishedFailed" }],
        Next: "PipelineFinishedFailed",
      },
    );
  }
  states.PipelineFinishedFailed = { Type: "Succeed" };
  return states;
}

/** Renders the release workflow. Throws RangeError for bad options, DefinitionError for a broken graph. */
export function releaseWorkflow(
  refs: WorkflowRefs,
  options: WorkflowOptions = DEFAULT_WORKFLOW_OPTIONS,
): StateMachineDefinition {
  validateOptions(options);
  const rejected = [
    { ErrorEquals: ["InvalidManifest", "ManifestNotFound"], ResultPath: "$.error", Next: "RecordRejected" },
  ];
  const stopFirst = options.failurePolicy === "stopRemaining";
  const afterMapFailure = stopFirst ? "StopRemaining" : "MarkFailed";

  const states: Record<string, State> = {
    LoadManifest: lambdaTask(
      refs.functions.loadManifest,
      { "request.$": "$" },
      {
        Comment: "Reads the manifest text: the S3 object at the event's version, or the API request body.",
        ResultSelector: { "text.$": "$.Payload.text", "location.$": "$.Payload.location" },
        ResultPath: "$.loaded",
        Catch: rejected,
        Next: "ValidateManifest",
      },
    ),
    ValidateManifest: lambdaTask(
      refs.functions.validateManifest,
      { "text.$": "$.loaded.text" },
      {
        Comment: "Schema, allow-list and limits; derives each pipeline's idempotent start request.",
        ResultSelector: {
          "releaseId.$": "$.Payload.releaseId",
          "pipelines.$": "$.Payload.pipelines",
          "pipelinesAttribute.$": "$.Payload.pipelinesAttribute",
        },
        ResultPath: "$.release",
        Catch: rejected,
        Next: "RegisterRelease",
      },
    ),
    RecordRejected: {
      Type: "Task",
      Comment:
        "Keeps a record of a rejected submission for operators; keyed apart from real releaseIds (':' is not allowed in one).",
      Resource: Integrations.dynamoPutItem,
      Parameters: {
        TableName: refs.releasesTable,
        Item: {
          releaseId: str("States.Format('rejected:{}', $$.Execution.Name)"),
          status: { S: "REJECTED" },
          executionArn: str("$$.Execution.Id"),
          startedAt: str("$$.Execution.StartTime"),
          input: str("States.JsonToString($$.Execution.Input)"),
          errorName: str("$.error.Error"),
          cause: str("$.error.Cause"),
        },
      },
      ResultPath: null,
      Retry: dynamoRetry,
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.recordError", Next: "ManifestRejected" }],
      Next: "ManifestRejected",
    },
    ManifestRejected: { Type: "Fail", ErrorPath: "$.error.Error", CausePath: "$.error.Cause" },
    RegisterRelease: {
      Type: "Task",
      Comment: "Exactly once per releaseId: a conditional put, so two racing submissions cannot both pass.",
      Resource: Integrations.dynamoPutItem,
      Parameters: {
        TableName: refs.releasesTable,
        Item: {
          releaseId: str("$.release.releaseId"),
          status: { S: "RUNNING" },
          executionArn: str("$$.Execution.Id"),
          startedAt: str("$$.Execution.StartTime"),
          source: str("$.loaded.location"),
          // The manifest's order, as a DynamoDB list built by the validator: a JSONPath wildcard
          // cannot build one portably.
          "pipelines.$": "$.release.pipelinesAttribute",
        },
        ConditionExpression: "attribute_not_exists(releaseId)",
      },
      ResultPath: null,
      Retry: dynamoRetry,
      Catch: [
        {
          ErrorEquals: ["DynamoDB.ConditionalCheckFailedException"],
          ResultPath: "$.error",
          Next: "DescribeDuplicate",
        },
      ],
      Next: "RunPipelines",
    },
    DescribeDuplicate: {
      Type: "Pass",
      Parameters: {
        "cause.$":
          "States.Format('Release {} was already submitted; a releaseId runs once. Submit a new releaseId to release again.', $.release.releaseId)",
      },
      ResultPath: "$.duplicate",
      Next: "DuplicateRelease",
    },
    DuplicateRelease: {
      Type: "Fail",
      Error: WorkflowErrors.DuplicateRelease,
      CausePath: "$.duplicate.cause",
    },
    RunPipelines: {
      Type: "Map",
      ItemsPath: "$.release.pipelines",
      ItemSelector: { "releaseId.$": "$.release.releaseId", "pipeline.$": "$$.Map.Item.Value" },
      MaxConcurrency: options.mapConcurrency,
      ItemProcessor: {
        ProcessorConfig: { Mode: "INLINE" },
        StartAt: stopFirst ? "CheckReleaseOpen" : "StartPipeline",
        States: pipelineIteration(refs, options),
      },
      ResultPath: null,
      Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.failure", Next: afterMapFailure }],
      Next: "ReadOutcome",
    },
    MarkSucceeded: markRelease(refs, "SUCCEEDED", "PublishSucceeded"),
    // Ends the execution itself; ReleaseSucceeded is reached only when the notification fails.
    PublishSucceeded: publishReleaseEvent(refs, "SUCCEEDED", "ReleaseSucceeded", true),
    ReleaseSucceeded: { Type: "Succeed" },
    MarkFailed: markRelease(refs, "FAILED", "PublishFailed"),
    PublishFailed: publishReleaseEvent(refs, "FAILED", "ReleaseFailed"),
    ReleaseFailed: { Type: "Fail", ErrorPath: "$.failure.Error", CausePath: "$.failure.Cause" },
  };

  if (stopFirst) {
    states.StopRemaining = lambdaTask(
      refs.functions.stopRemaining,
      { "releaseId.$": "$.release.releaseId", "reason.$": "$.failure.Cause" },
      {
        Comment:
          "Failure policy stopRemaining, when the Map itself failed: stop this release's pipelines that are still running.",
        ResultSelector: { "stopped.$": "$.Payload.stopped" },
        ResultPath: "$.stopped",
        // Failing to stop must not keep the release from being recorded as failed.
        Catch: [{ ErrorEquals: ["States.ALL"], ResultPath: "$.stopError", Next: "MarkFailed" }],
        Next: "MarkFailed",
      },
    );
  }
  states.ReadOutcome = {
    Type: "Task",
    Resource: Integrations.dynamoGetItem,
    Parameters: {
      TableName: refs.releasesTable,
      Key: { releaseId: str("$.release.releaseId") },
      // releaseId too, so Item is never empty when no pipeline failed.
      ProjectionExpression: "releaseId, firstFailure",
      ConsistentRead: true,
    },
    ResultSelector: { "item.$": "$.Item" },
    ResultPath: "$.outcome",
    Retry: dynamoRetry,
    Next: "AnyPipelineFailed",
  };
  states.AnyPipelineFailed = {
    Type: "Choice",
    Choices: [{ Variable: "$.outcome.item.firstFailure", IsPresent: true, Next: "DescribeReleaseFailure" }],
    Default: "MarkSucceeded",
  };
  states.DescribeReleaseFailure = {
    Type: "Pass",
    Parameters: { Error: WorkflowErrors.PipelineFailed, "Cause.$": "$.outcome.item.firstFailure.S" },
    ResultPath: "$.failure",
    Next: "MarkFailed",
  };

  return stateMachine({
    Comment:
      "Release Machine: start every pipeline of a release manifest and follow each to its end by events.",
    StartAt: "LoadManifest",
    States: states,
  });
}

/** Placeholder references for printing and tests: the shape of real ARNs, no real account. */
export const PLACEHOLDER_REFS: WorkflowRefs = {
  functions: {
    loadManifest: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-load-manifest",
    validateManifest: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-validate-manifest",
    registerWaiter: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-register-waiter",
    stopRemaining: "arn:aws:lambda:us-east-1:123456789012:function:release-machine-stop-remaining",
  },
  releasesTable: "release-machine-releases",
  executionsTable: "release-machine-executions",
  eventBusName: "default",
};
