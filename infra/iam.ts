/**
 * The IAM documents only the Pulumi program needs: log and trace writing, Step Functions' log
 * delivery, EventBridge's start of the state machine. The roles' own statements are shared with
 * local mode: each handler's in contract/permissions.ts, the state machine's in
 * stepfunction/permissions.ts.
 */
import type { PolicyStatement } from "../contract/permissions";

/**
 * X-Ray trace upload is account-wide: no resource-level permissions, so `Resource: "*"`.
 * https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsx-ray.html
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

/**
 * Vended log delivery for Step Functions logging: these actions have no resource-level
 * permissions, so AWS requires `Resource: "*"`.
 * https://docs.aws.amazon.com/step-functions/latest/dg/cw-logs.html
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
