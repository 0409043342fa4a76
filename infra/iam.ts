/**
 * IAM documents as pure, typed functions: trust policies, each handler's permissions, and the
 * state machine's permissions derived from the Task states its definition actually has.
 * No Pulumi resources here, so every document can be tested as plain data.
 */
import type { StateMachineDefinition } from "../stepfunction/asl";
import { Integrations, allStates } from "../stepfunction/asl";
import { ExecutionsTable } from "../handlers/model";

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
  pipelineArns: string[];
  eventBusArn: string;
}

export function pipelineArn(partition: string, region: string, accountId: string, pipeline: string): string {
  return `arn:${partition}:codepipeline:${region}:${accountId}:${pipeline}`;
}

/**
 * Actions with no resource-level permissions: AWS only accepts `Resource: "*"` for them.
 * states:SendTask* act on a task token, not an ARN; X-Ray trace upload is account-wide.
 */
const TASK_COMPLETION: PolicyStatement = {
  Sid: "CompleteWaitingTasks",
  Effect: "Allow",
  Action: ["states:SendTaskSuccess", "states:SendTaskFailure"],
  Resource: ["*"],
};
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
  "loadManifest",
  "validateManifest",
  "registerWaiter",
  "pipelineEvent",
  "reconciler",
  "stopRemaining",
  "releaseStatus",
] as const;
export type HandlerName = (typeof HANDLER_NAMES)[number];

/**
 * Each handler's permissions: exactly the calls its code makes (test/iam-calls proves the match).
 */
export function handlerStatements(handler: HandlerName, arns: ResourceArns): PolicyStatement[] {
  const executions = arns.executionsTableArn;
  const updateExecution: PolicyStatement = {
    Sid: "RecordExecutions",
    Effect: "Allow",
    Action: ["dynamodb:UpdateItem"],
    Resource: [executions],
  };
  switch (handler) {
    case "loadManifest":
      return [
        {
          Sid: "ReadManifests",
          Effect: "Allow",
          Action: ["s3:GetObject", "s3:GetObjectVersion"],
          Resource: [`${arns.bucketArn}/*`],
        },
      ];
    case "validateManifest":
      return [];
    case "registerWaiter":
      return [
        updateExecution,
        TASK_COMPLETION,
        // stopIfReleaseFailed: read the release, and stop this pipeline if another one failed it.
        {
          Sid: "ReadReleases",
          Effect: "Allow",
          Action: ["dynamodb:GetItem"],
          Resource: [arns.releasesTableArn],
        },
        {
          Sid: "StopReleasePipelines",
          Effect: "Allow",
          Action: ["codepipeline:StopPipelineExecution"],
          Resource: arns.pipelineArns,
        },
      ];
    case "pipelineEvent":
      return [updateExecution, TASK_COMPLETION];
    case "reconciler":
      return [
        {
          Sid: "FindWaitingExecutions",
          Effect: "Allow",
          Action: ["dynamodb:Scan"],
          Resource: [`${executions}/index/${ExecutionsTable.waitingIndex.name}`],
        },
        updateExecution,
        {
          Sid: "ReadPipelineExecutions",
          Effect: "Allow",
          Action: ["codepipeline:GetPipelineExecution"],
          Resource: arns.pipelineArns,
        },
        TASK_COMPLETION,
      ];
    case "stopRemaining":
      return [
        {
          Sid: "FindReleaseExecutions",
          Effect: "Allow",
          Action: ["dynamodb:Query"],
          Resource: [`${executions}/index/${ExecutionsTable.byReleaseIndex.name}`],
        },
        {
          Sid: "StopReleasePipelines",
          Effect: "Allow",
          Action: ["codepipeline:StopPipelineExecution"],
          Resource: arns.pipelineArns,
        },
      ];
    case "releaseStatus":
      return [
        {
          Sid: "ReadReleases",
          Effect: "Allow",
          Action: ["dynamodb:GetItem"],
          Resource: [arns.releasesTableArn],
        },
        {
          Sid: "FindReleaseExecutions",
          Effect: "Allow",
          Action: ["dynamodb:Query"],
          Resource: [`${executions}/index/${ExecutionsTable.byReleaseIndex.name}`],
        },
      ];
  }
}

const DYNAMO_ACTIONS: Record<string, string> = {
  [Integrations.dynamoPutItem]: "dynamodb:PutItem",
  [Integrations.dynamoUpdateItem]: "dynamodb:UpdateItem",
  [Integrations.dynamoGetItem]: "dynamodb:GetItem",
};

/** Thrown for a Task resource this module cannot derive permissions for: add it here first. */
export class UnknownTaskResource extends Error {
  override readonly name = "UnknownTaskResource";
}

/**
 * The state machine's permissions, derived from its Task states: each Lambda it invokes, each
 * table and item action it uses, the CodePipeline actions scoped to the configured pipelines, and
 * the event bus it publishes to. Statements are merged per (action set) so the document stays small.
 */
export function stateMachineStatements(
  definition: StateMachineDefinition,
  arns: ResourceArns,
  tableArnsByName: Record<string, string>,
): PolicyStatement[] {
  const grants = new Map<string, Set<string>>();
  const grant = (action: string, resource: string) => {
    grants.set(action, (grants.get(action) ?? new Set()).add(resource));
  };
  for (const [name, state] of allStates(definition)) {
    if (state.Type !== "Task") continue;
    const params = state.Parameters ?? {};
    if (
      state.Resource === Integrations.lambdaInvoke ||
      state.Resource === Integrations.lambdaInvokeWaitForTaskToken
    ) {
      grant("lambda:InvokeFunction", String(params.FunctionName));
    } else if (DYNAMO_ACTIONS[state.Resource]) {
      const tableArn = tableArnsByName[String(params.TableName)];
      if (!tableArn)
        throw new UnknownTaskResource(
          `state "${name}": table ${String(params.TableName)} is not one of ours`,
        );
      grant(DYNAMO_ACTIONS[state.Resource], tableArn);
    } else if (state.Resource === Integrations.eventsPutEvents) {
      grant("events:PutEvents", arns.eventBusArn);
    } else {
      const sdk = /^arn:aws:states:::aws-sdk:codepipeline:([a-zA-Z]+)$/.exec(state.Resource);
      if (!sdk) throw new UnknownTaskResource(`state "${name}": no permission mapping for ${state.Resource}`);
      const action = `codepipeline:${sdk[1].charAt(0).toUpperCase()}${sdk[1].slice(1)}`;
      for (const pipeline of arns.pipelineArns) grant(action, pipeline);
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
