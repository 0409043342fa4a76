/**
 * The polling baseline: the design a release machine has without events, polling every pipeline on
 * a timer (docs/architecture.md, "Scheduling", says why not polling), built with the same typed ASL
 * builders as our workflow, so both are measured on the same engine with the same stand-ins.
 *
 *   ValidateManifest (Lambda) ─▶ RecordRelease (dynamodb:putItem) ─▶ StartPipelines (one Lambda
 *   starting every pipeline) ─▶ WaitBeforeCheck (Wait 30 s) ─▶ CheckPipelines (one Lambda: a
 *   GetPipelineExecution and a DynamoDB write per pipeline) ─▶ PipelinesDone? (Choice)
 *      all succeeded ─▶ MarkSucceeded ─▶ ReleaseSucceeded
 *      any failed    ─▶ MarkFailed ─▶ ReleaseFailed
 *      otherwise     ─▶ WaitBeforeCheck
 *
 * A polling design commonly adds a "Manifest Valid?" Choice and starts pipelines in a Map of three
 * states per pipeline; this baseline leaves those out, so it is slightly cheaper than such a
 * design, never dearer: the comparison favours the baseline. The loop is the same.
 * asl.ts has no Wait state (our workflow never waits), so its type is declared here.
 */
import {
  Integrations,
  type PayloadTemplate,
  type State,
  type StateMachineDefinition,
  type TaskState,
  choice,
  fail,
  next,
  retryTransient,
  stateMachine,
  succeed,
  task,
} from "../stepfunction/asl";
import { TRANSIENT_DYNAMODB_ERRORS, lambdaTask } from "../stepfunction/release-workflow";

/** The baseline's polling interval. */
export const POLL_SECONDS = 30;
export const WAIT_STATE = "WaitBeforeCheck";
export const CHECK_STATE = "CheckPipelines";

/** ASL's Wait state (the subset the baseline uses). */
interface WaitState {
  Type: "Wait";
  Seconds: number;
  Next: string;
  Comment?: string;
}

export interface BaselineRefs {
  functions: { validateManifest: string; startPipelines: string; checkPipelines: string };
  releasesTable: string;
}

const dynamoRetry = [retryTransient(TRANSIENT_DYNAMODB_ERRORS)];

/** A DynamoDB write to the releases table, retrying the transient DynamoDB errors. */
function releasesWrite(resource: string, parameters: PayloadTemplate, then: string): TaskState {
  return task(
    { Resource: resource, Parameters: parameters, ResultPath: null, Retry: dynamoRetry },
    next(then),
  );
}

const releaseKey = { releaseId: { "S.$": "$.release.releaseId" } };

function markRelease(refs: BaselineRefs, status: "SUCCEEDED" | "FAILED", then: string): TaskState {
  return releasesWrite(
    Integrations.dynamoUpdateItem,
    {
      TableName: refs.releasesTable,
      Key: releaseKey,
      UpdateExpression: "SET #status = :status, endedAt = :now",
      ExpressionAttributeNames: { "#status": "status" },
      ExpressionAttributeValues: { ":status": { S: status }, ":now": { "S.$": "$$.State.EnteredTime" } },
    },
    then,
  );
}

/** `waitSeconds` replaces the 30-second poll interval (0 lets the simulation run the loop at full speed). */
export function baselineWorkflow(
  refs: BaselineRefs,
  options: { waitSeconds?: number } = {},
): StateMachineDefinition {
  const wait: WaitState = { Type: "Wait", Seconds: options.waitSeconds ?? POLL_SECONDS, Next: CHECK_STATE };
  return stateMachine({
    Comment: "Polling baseline: start every pipeline, then check them all every 30 s.",
    StartAt: "ValidateManifest",
    States: {
      ValidateManifest: lambdaTask(
        refs.functions.validateManifest,
        { "text.$": "$.body" },
        {
          ResultSelector: { "releaseId.$": "$.Payload.releaseId", "pipelines.$": "$.Payload.pipelines" },
          ResultPath: "$.release",
        },
        next("RecordRelease"),
      ),
      RecordRelease: releasesWrite(
        Integrations.dynamoPutItem,
        {
          TableName: refs.releasesTable,
          Item: {
            ...releaseKey,
            status: { S: "RUNNING" },
            startedAt: { "S.$": "$$.Execution.StartTime" },
          },
        },
        "StartPipelines",
      ),
      StartPipelines: lambdaTask(
        refs.functions.startPipelines,
        { "releaseId.$": "$.release.releaseId", "pipelines.$": "$.release.pipelines" },
        { ResultSelector: { "executions.$": "$.Payload.executions" }, ResultPath: "$.started" },
        next(WAIT_STATE),
      ),
      [WAIT_STATE]: wait as unknown as State,
      [CHECK_STATE]: lambdaTask(
        refs.functions.checkPipelines,
        { "releaseId.$": "$.release.releaseId", "executions.$": "$.started.executions" },
        { ResultSelector: { "releaseStatus.$": "$.Payload.releaseStatus" }, ResultPath: "$.check" },
        next("PipelinesDone"),
      ),
      PipelinesDone: choice(
        [
          { Variable: "$.check.releaseStatus", StringEquals: "SUCCEEDED", Next: "MarkSucceeded" },
          { Variable: "$.check.releaseStatus", StringEquals: "FAILED", Next: "MarkFailed" },
        ],
        WAIT_STATE,
      ),
      MarkSucceeded: markRelease(refs, "SUCCEEDED", "ReleaseSucceeded"),
      ReleaseSucceeded: succeed(),
      MarkFailed: markRelease(refs, "FAILED", "ReleaseFailed"),
      ReleaseFailed: fail({ Error: "PipelineFailed" }, { Cause: "A pipeline of the release failed" }),
    },
  });
}
