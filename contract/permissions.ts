/**
 * What each Lambda role may do, as pure, typed functions: the statements of every handler's role
 * over one stack's ARNs. One source for the Pulumi program (infra/ deploys them) and local mode
 * (local/iam-enforcement.ts evaluates every call against them). No Pulumi, no AWS SDK.
 */
import { ReleasePipelinesTable, ReleasesTable } from "./tables";

export interface PolicyStatement {
  Sid: string;
  Effect: "Allow";
  Action: string[];
  Resource: string[];
  Condition?: Record<string, Record<string, string | string[]>>;
}

export interface PolicyDocument {
  Version: "2012-10-17";
  Statement: PolicyStatement[];
}

export const document = (statements: PolicyStatement[]): PolicyDocument => ({
  Version: "2012-10-17",
  Statement: statements,
});

/** Everything a document can name, resolved to ARNs. */
export interface ResourceArns {
  partition: string;
  region: string;
  accountId: string;
  bucketArn: string;
  releasesTableArn: string;
  executionsTableArn: string;
  releasePipelinesTableArn: string;
  pipelineArns: string[];
  eventBusArn: string;
  /** The release workflow: only the control function (retry) starts it, so only its role names it. */
  stateMachineArn?: string;
}

export function pipelineArn(partition: string, region: string, accountId: string, pipeline: string): string {
  return `arn:${partition}:codepipeline:${region}:${accountId}:${pipeline}`;
}

/** Every Lambda function of the program, one per handler. */
export const HANDLER_NAMES = [
  // The workflow's functions (stepfunction/release-workflow.ts WORKFLOW_FUNCTIONS; a type check in
  // stepfunction/permissions.ts keeps that list inside this one).
  "loadManifest",
  "validateManifest",
  "recordRejection",
  "registerRelease",
  "awaitRelease",
  "stopRelease",
  "pipelineEvent",
  "reconciler",
  "executionEnded",
  "releaseStatus",
  "releaseControl",
  "submitRelease",
  // Four eyes: who uploaded an S3 manifest, from CloudTrail's record (handlers/release/uploader.ts).
  "uploaderEvent",
  // Freezes (issue 20): the freeze routes (handlers/freezes.ts).
  "freezeControl",
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

const allow = (Sid: string, Action: string[], Resource: string[]): PolicyStatement => ({
  Sid,
  Effect: "Allow",
  Action,
  Resource,
});

/** Where a failed pipeline failed, for the release's cause (handlers/failure-cause.ts). */
const FAILURE_DETAILS = ["ListActionExecutions", "GetPipelineState"];

/** The statements several handlers share, over one stack's ARNs. */
function sharedStatements(arns: ResourceArns) {
  const schedule = arns.releasePipelinesTableArn;
  return {
    // states:SendTaskSuccess acts on a task token, not an ARN: no resource-level permissions, so "*".
    // https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
    completeRelease: allow("CompleteReleaseWait", ["states:SendTaskSuccess"], ["*"]),
    /** "Release State Change" and "Release Approval Requested" (handlers/release-events.ts). */
    publishEvents: allow("PublishReleaseEvents", ["events:PutEvents"], [arns.eventBusArn]),
    readManifests: allow("ReadManifests", ["s3:GetObject", "s3:GetObjectVersion"], [`${arns.bucketArn}/*`]),
    /**
     * Each role names the pipelines in one statement only: with hundreds of pipelines, that list is
     * what fills a role's policy quota (infra/roles.ts moves it into managed policies).
     */
    onPipelines: (...actions: string[]) =>
      allow(
        "ReleasePipelines",
        actions.map((a) => `codepipeline:${a}`),
        arns.pipelineArns,
      ),
    readAndSettleReleases: allow(
      "ReadAndSettleReleases",
      ["dynamodb:GetItem", "dynamodb:UpdateItem"],
      [arns.releasesTableArn],
    ),
    schedule: allow("Schedule", ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:Query"], [schedule]),
    // A start links its execution to the release, then re-reads it once the schedule names it.
    recordExecutions: allow(
      "RecordExecutions",
      ["dynamodb:UpdateItem", "dynamodb:GetItem"],
      [arns.executionsTableArn],
    ),
  };
}
type Shared = ReturnType<typeof sharedStatements>;

/** What the scheduler takes to start pipelines, act on their ends and settle them. */
const scheduling = (shared: Shared) => [
  shared.readAndSettleReleases,
  shared.schedule,
  shared.recordExecutions,
];

/**
 * Each handler's permissions: exactly the calls its code makes (test/policy-iam-calls proves the
 * match in both directions). The scheduler (handlers/release/) runs inside several functions;
 * each gets the part of it that it reaches.
 */
const HANDLER_STATEMENTS: Record<HandlerName, (arns: ResourceArns, shared: Shared) => PolicyStatement[]> = {
  loadManifest: (_, shared) => [shared.readManifests],
  validateManifest: () => [],
  // It records from the error alone (contract/rejection.ts): it reads no manifest. It reads the
  // release item to replace its bounded list of rejections.
  recordRejection: (arns) => [
    allow(
      "RecordRejections",
      ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
      [arns.releasesTableArn],
    ),
  ],
  // No task completion: the release's wait is registered only after RegisterRelease returned.
  // RetryRelease (attempt n+1) runs in this function too; gates may open on either.
  registerRelease: (arns, shared) => [
    ...scheduling(shared),
    // DeleteItem: a registration again clears the leftovers of one that failed for good (reregistration.ts).
    allow("WriteSchedule", ["dynamodb:PutItem", "dynamodb:DeleteItem"], [arns.releasePipelinesTableArn]),
    shared.onPipelines("StartPipelineExecution", "StopPipelineExecution", ...FAILURE_DETAILS),
    shared.publishEvents,
  ],
  // Both re-read the release (a settle reads the count after marking; a lost outcome write reads
  // the winner's), and awaitRelease confirms on the pipelines that every one is settled.
  awaitRelease: (arns, shared) => [
    shared.readAndSettleReleases,
    allow("ConfirmPipelinesSettled", ["dynamodb:Query"], [arns.releasePipelinesTableArn]),
    shared.completeRelease,
  ],
  // It also fails the release of a failed registration or retry (handlers/release/ended.ts): it
  // reads whose release it is, records FAILED and announces it.
  // Each stop is recorded in its execution's history (handlers/stops.ts).
  stopRelease: (_, shared) => [
    shared.readAndSettleReleases,
    shared.schedule,
    shared.recordExecutions,
    shared.onPipelines("StopPipelineExecution"),
    shared.completeRelease,
    shared.publishEvents,
  ],
  pipelineEvent: (arns, shared) => [
    ...scheduling(shared),
    allow("ReadExecutions", ["dynamodb:GetItem"], [arns.executionsTableArn]),
    shared.onPipelines("StartPipelineExecution", "StopPipelineExecution", ...FAILURE_DETAILS),
    shared.completeRelease,
    shared.publishEvents,
  ],
  reconciler: (arns, shared) => [
    ...scheduling(shared),
    shared.completeRelease,
    allow(
      "FindExpiredGates",
      ["dynamodb:Scan"],
      [`${arns.releasePipelinesTableArn}/index/${ReleasePipelinesTable.gatesIndex.name}`],
    ),
    // The schedules of RUNNING releases name the executions it asks about (handlers/release/reconcile-schedule.ts).
    allow("ReadWatchedExecutions", ["dynamodb:BatchGetItem"], [arns.executionsTableArn]),
    shared.onPipelines(
      "StartPipelineExecution",
      "StopPipelineExecution",
      "GetPipelineExecution",
      ...FAILURE_DETAILS,
    ),
    shared.publishEvents,
    // The backstop's pass: RUNNING releases (the byStatus index) whose execution ended.
    allow(
      "FindRunningReleases",
      ["dynamodb:Query"],
      [`${arns.releasesTableArn}/index/${ReleasesTable.byStatusIndex.name}`],
    ),
    allow("DescribeReleaseExecutions", ["states:DescribeExecution"], [executionsOf(arns)]),
  ],
  // The backstop (handlers/release/execution-ended.ts): finds the release an ended execution held,
  // stops what runs and records its outcome, as stopRelease fails a release.
  executionEnded: (arns, shared) => [
    shared.readAndSettleReleases,
    allow(
      "FindReleaseOfExecution",
      ["dynamodb:Query"],
      [`${arns.releasesTableArn}/index/${ReleasesTable.byExecutionIndex.name}`],
    ),
    shared.schedule,
    shared.recordExecutions,
    shared.onPipelines("StopPipelineExecution"),
    shared.publishEvents,
  ],
  // Cancel, approvals and retry record their decision and hand the work off (an approval's start,
  // a cancel's stop pass run in pipelineEvent: handlers/release/follow-up.ts), so this role starts,
  // stops and completes nothing; the release list's indexes, and the workflow a retry starts.
  releaseControl: (arns, shared) => [
    shared.readAndSettleReleases,
    allow(
      "ListReleases",
      ["dynamodb:Query"],
      [
        `${arns.releasesTableArn}/index/${ReleasesTable.newestIndex.name}`,
        `${arns.releasesTableArn}/index/${ReleasesTable.byStatusIndex.name}`,
      ],
    ),
    shared.schedule,
    shared.publishEvents,
    allow("StartRetries", ["states:StartExecution"], [requiredStateMachineArn(arns)]),
  ],
  // The submission function (handlers/submission.ts): reads the release, claims its releaseId,
  // records a refused body (under its releaseId, or apart) and starts the workflow.
  submitRelease: (arns) => [
    allow(
      "ClaimAndRecordSubmissions",
      ["dynamodb:GetItem", "dynamodb:UpdateItem", "dynamodb:PutItem"],
      [arns.releasesTableArn],
    ),
    allow("StartReleases", ["states:StartExecution"], [requiredStateMachineArn(arns)]),
  ],
  // It records the upload apart (PutItem of an `upload:` item), reads the manifest's releaseId at
  // that version, and records the uploader on the release (UpdateItem). RegisterRelease reads the
  // `upload:` item with the GetItem it already has.
  uploaderEvent: (arns, shared) => [
    shared.readManifests,
    allow("RecordUploaders", ["dynamodb:PutItem", "dynamodb:UpdateItem"], [arns.releasesTableArn]),
  ],
  // The freeze routes (handlers/freezes.ts): every freeze is one Releases item (contract/freeze.ts),
  // read whole and written by conditional UpdateItem. The override (handlers/freezes-override.ts)
  // reads the release and its schedule, records the override on the release and announces it.
  freezeControl: (arns, shared) => [
    allow("ReadAndWriteFreezes", ["dynamodb:GetItem", "dynamodb:UpdateItem"], [arns.releasesTableArn]),
    allow("ReadSchedule", ["dynamodb:Query"], [arns.releasePipelinesTableArn]),
    shared.publishEvents,
  ],
  releaseStatus: (arns) => [
    allow("ReadReleases", ["dynamodb:GetItem"], [arns.releasesTableArn]),
    allow("ReadSchedule", ["dynamodb:Query"], [arns.releasePipelinesTableArn]),
    // The executions the schedule names, by id.
    allow("ReadReleaseExecutions", ["dynamodb:BatchGetItem"], [arns.executionsTableArn]),
  ],
};

/** One handler's statements over one stack's ARNs. */
export function handlerStatements(handler: HandlerName, arns: ResourceArns): PolicyStatement[] {
  return HANDLER_STATEMENTS[handler](arns, sharedStatements(arns));
}

function requiredStateMachineArn(arns: ResourceArns): string {
  if (arns.stateMachineArn === undefined) {
    throw new RangeError(
      "releaseControl's and the reconciler's statements name the state machine: pass its ARN as stateMachineArn",
    );
  }
  return arns.stateMachineArn;
}

/**
 * The state machine's executions: DescribeExecution is authorized on the execution's ARN,
 * `arn:…:states:…:execution:<state machine name>:<execution name>`.
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
 */
export function executionsOf(arns: ResourceArns): string {
  return `${requiredStateMachineArn(arns).replace(/:stateMachine:/, ":execution:")}:*`;
}
