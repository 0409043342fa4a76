/**
 * IAM documents as pure, typed functions: trust policies, each handler's permissions, and the
 * state machine's permissions derived from the Task states its definition actually has.
 * No Pulumi resources here, so every document can be tested as plain data.
 */
import type { StateMachineDefinition } from "../stepfunction/asl";
import { allStates } from "../stepfunction/asl";
import { integrationOf } from "../stepfunction/integrations";
import { WORKFLOW_FUNCTIONS } from "../stepfunction/release-workflow";
import { ExecutionsTable, ReleasePipelinesTable, ReleasesTable } from "../contract/tables";

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

/**
 * Actions with no resource-level permissions take `Resource: "*"`: states:SendTaskSuccess acts on a
 * task token, not an ARN; X-Ray trace upload is account-wide.
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
 */
export const XRAY: PolicyStatement = {
  Sid: "WriteTraces",
  Effect: "Allow",
  Action: ["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
  Resource: ["*"],
};

/** Writes to the function's own log group. */
export function logWriting(logGroupArn: string): PolicyStatement {
  return {
    Sid: "WriteOwnLogs",
    Effect: "Allow",
    Action: ["logs:CreateLogStream", "logs:PutLogEvents"],
    Resource: [`${logGroupArn}:*`],
  };
}

/** Every Lambda function of the program, one per handler. */
export const HANDLER_NAMES = [
  ...WORKFLOW_FUNCTIONS,
  "pipelineEvent",
  "reconciler",
  "releaseStatus",
  "releaseControl",
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
    recordExecutions: allow("RecordExecutions", ["dynamodb:UpdateItem"], [arns.executionsTableArn]),
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
 * match in both directions). The scheduler (handlers/scheduler.ts) runs inside several functions;
 * each gets the part of it that it reaches.
 */
const HANDLER_STATEMENTS: Record<HandlerName, (arns: ResourceArns, shared: Shared) => PolicyStatement[]> = {
  loadManifest: (_, shared) => [shared.readManifests],
  validateManifest: () => [],
  // It records from the error alone (contract/rejection.ts): it reads no manifest.
  recordRejection: (arns) => [
    allow("RecordRejections", ["dynamodb:UpdateItem", "dynamodb:PutItem"], [arns.releasesTableArn]),
  ],
  // No task completion: the release's wait is registered only after RegisterRelease returned.
  // RetryRelease (attempt n+1) runs in this function too; gates may open on either.
  registerRelease: (arns, shared) => [
    ...scheduling(shared),
    allow("WriteSchedule", ["dynamodb:PutItem"], [arns.releasePipelinesTableArn]),
    shared.onPipelines("StartPipelineExecution", "StopPipelineExecution", ...FAILURE_DETAILS),
    shared.publishEvents,
  ],
  awaitRelease: (arns, shared) => [
    allow("StoreReleaseWait", ["dynamodb:UpdateItem"], [arns.releasesTableArn]),
    shared.completeRelease,
  ],
  stopRelease: (arns, shared) => [
    allow("SettleReleases", ["dynamodb:UpdateItem"], [arns.releasesTableArn]),
    shared.schedule,
    shared.onPipelines("StopPipelineExecution"),
    shared.completeRelease,
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
      "FindWaitingExecutionsStuckStartsAndExpiredGates",
      ["dynamodb:Scan"],
      [
        `${arns.executionsTableArn}/index/${ExecutionsTable.waitingIndex.name}`,
        `${arns.releasePipelinesTableArn}/index/${ReleasePipelinesTable.startingIndex.name}`,
        `${arns.releasePipelinesTableArn}/index/${ReleasePipelinesTable.gatesIndex.name}`,
      ],
    ),
    shared.onPipelines(
      "StartPipelineExecution",
      "StopPipelineExecution",
      "GetPipelineExecution",
      ...FAILURE_DETAILS,
    ),
    shared.publishEvents,
  ],
  // Cancel, approvals and retry: the scheduler's part each reaches (an approval starts a pipeline,
  // a cancel stops them), the release list's indexes, and the workflow a retry starts.
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
    shared.recordExecutions,
    shared.onPipelines("StartPipelineExecution", "StopPipelineExecution", ...FAILURE_DETAILS),
    shared.completeRelease,
    shared.publishEvents,
    allow("StartRetries", ["states:StartExecution"], [requiredStateMachineArn(arns)]),
  ],
  releaseStatus: (arns) => [
    allow("ReadReleases", ["dynamodb:GetItem"], [arns.releasesTableArn]),
    allow("ReadSchedule", ["dynamodb:Query"], [arns.releasePipelinesTableArn]),
    allow(
      "FindReleaseExecutions",
      ["dynamodb:Query"],
      [`${arns.executionsTableArn}/index/${ExecutionsTable.byReleaseIndex.name}`],
    ),
  ],
};

/** One handler's statements over one stack's ARNs. */
export function handlerStatements(handler: HandlerName, arns: ResourceArns): PolicyStatement[] {
  return HANDLER_STATEMENTS[handler](arns, sharedStatements(arns));
}

function requiredStateMachineArn(arns: ResourceArns): string {
  if (arns.stateMachineArn === undefined) {
    throw new RangeError(
      "releaseControl's statements name the state machine: pass its ARN as stateMachineArn",
    );
  }
  return arns.stateMachineArn;
}

/**
 * The state machine's permissions, derived from its Task states through the integrations they use
 * (stepfunction/integrations.ts): each Lambda it invokes, each table action, the event bus it
 * publishes to. Statements are merged per action so the document stays small.
 */
export function stateMachineStatements(
  definition: StateMachineDefinition,
  arns: ResourceArns,
  tableArnsByName: Record<string, string>,
): PolicyStatement[] {
  const grants = new Map<string, Set<string>>();
  const context = { tableArn: (name: string) => tableArnsByName[name], eventBusArn: arns.eventBusArn };
  for (const [name, state] of allStates(definition)) {
    if (state.Type !== "Task") continue;
    for (const { action, resource } of integrationOf(name, state.Resource).grants(
      state.Parameters ?? {},
      context,
    )) {
      grants.set(action, (grants.get(action) ?? new Set()).add(resource));
    }
  }
  const sids: Record<string, string> = {
    "lambda:InvokeFunction": "InvokeWorkflowFunctions",
    "dynamodb:PutItem": "PutReleaseItems",
    "dynamodb:UpdateItem": "UpdateReleaseItems",
    "dynamodb:GetItem": "ReadReleaseItems",
    "events:PutEvents": "PublishReleaseEvents",
  };
  return [...grants].map(([action, resources]) => ({
    Sid: sids[action] ?? `Call${action.replace(/[^A-Za-z]/g, "")}`,
    Effect: "Allow" as const,
    Action: [action],
    Resource: [...resources].sort(),
  }));
}

/**
 * Vended log delivery for Step Functions logging: these actions have no resource-level
 * permissions, so AWS requires `Resource: "*"`.
 */
export const LOG_DELIVERY: PolicyStatement = {
  Sid: "DeliverExecutionLogs",
  Effect: "Allow",
  Action: [
    "logs:CreateLogDelivery",
    "logs:GetLogDelivery",
    "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery",
    "logs:ListLogDeliveries",
    "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies",
    "logs:DescribeLogGroups",
  ],
  Resource: ["*"],
};

/** Step Functions X-Ray tracing also needs sampling rules. */
export const XRAY_WITH_SAMPLING: PolicyStatement = {
  ...XRAY,
  Action: [...XRAY.Action, "xray:GetSamplingRules", "xray:GetSamplingTargets"],
};

/** What EventBridge may do for the manifest-uploaded rule: start this one state machine. */
export function startExecutionStatement(stateMachineArn: string): PolicyStatement {
  return {
    Sid: "StartReleases",
    Effect: "Allow",
    Action: ["states:StartExecution"],
    Resource: [stateMachineArn],
  };
}
