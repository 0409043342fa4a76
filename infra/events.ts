/**
 * EventBridge wiring: manifest uploads start the workflow (input transformer, retries and a
 * dead-letter queue so a failed start is never silently lost); the managed pipelines' state
 * changes reach the pipeline-event handler; a schedule runs the reconciler. The functions
 * EventBridge invokes run asynchronously: an event they still fail on after Lambda's retries goes
 * to an on-failure queue, and an alarm watches each queue's depth.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  controlDecidedPattern,
  executionEndedPattern,
  manifestUploadedInput,
  manifestUploadRecordedPattern,
  manifestUploadedPattern,
  pipelineStateChangePattern,
} from "../contract/event-patterns";
import type { HandlerFunction } from "./functions";
import { document } from "../contract/permissions";
import { startExecutionStatement } from "./iam";
import { serviceRole } from "./roles";

/** EventBridge's own ceiling: retry for a day, as often as it allows. */
const RETRY_POLICY = { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 };

/** SQS's longest retention, 14 days, for both queues of undelivered or failed events. */
export const FAILED_EVENT_RETENTION_SECONDS = 1_209_600;

/**
 * EventBridge's limit on one event pattern, in characters.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
 */
export const EVENT_PATTERN_MAX_CHARACTERS = 2048;

/**
 * The allow-list cut into consecutive runs whose pipeline-state-change pattern each fits one rule
 * (JSON as sent, no whitespace). A name too long for any rule on its own is a configuration error.
 */
export function pipelinePatternChunks(
  pipelines: readonly string[],
  limit = EVENT_PATTERN_MAX_CHARACTERS,
): string[][] {
  const size = (names: readonly string[]) => JSON.stringify(pipelineStateChangePattern(names)).length;
  const chunks: string[][] = [];
  for (const name of pipelines) {
    const last = chunks.at(-1);
    if (last && size([...last, name]) <= limit) last.push(name);
    else if (size([name]) <= limit) chunks.push([name]);
    else throw new Error(`pipeline ${name} alone makes an event pattern longer than ${limit} characters`);
  }
  return chunks;
}

export interface ReleaseEventsArgs {
  /** The component's name: every child's name starts with it. */
  name: string;
  bucketName: pulumi.Input<string>;
  stateMachineArn: pulumi.Input<string>;
  pipelines: string[];
  pipelineEventFunction: HandlerFunction<never, unknown>;
  reconcilerFunction: HandlerFunction<never, unknown>;
  /** The backstop: runs when an execution of the workflow ends FAILED, TIMED_OUT or ABORTED. */
  executionEndedFunction: HandlerFunction<never, unknown>;
  /** Four eyes: records who uploaded a manifest, from CloudTrail's data event of the upload. */
  uploaderEventFunction: HandlerFunction<never, unknown>;
  reconcileSchedule: string;
  accountId: pulumi.Input<string>;
}

export function releaseEvents(args: ReleaseEventsArgs, opts: pulumi.ComponentResourceOptions) {
  const prefix = args.name;
  const deadLetters = new aws.sqs.Queue(
    `${prefix}-undelivered-events`,
    { sqsManagedSseEnabled: true, messageRetentionSeconds: FAILED_EVENT_RETENTION_SECONDS },
    opts,
  );
  const manifestUploaded = manifestUploadedStart(args, deadLetters, opts);
  const pipelineRules = pipelineStateRules(args, deadLetters, opts);
  const schedule = reconcileSchedule(args, opts);
  const executionEnded = executionEndedRule(args, deadLetters, opts);
  const controlDecided = controlDecidedRule(args, deadLetters, opts);
  const uploadRecorded = uploadRecordedRule(args, deadLetters, opts);
  deadLetterPolicy(
    prefix,
    deadLetters,
    [manifestUploaded, ...pipelineRules, executionEnded, controlDecided, uploadRecorded],
    opts,
  );
  const failedInvocations = asyncFailureDestinations(
    prefix,
    {
      pipelineEvent: args.pipelineEventFunction,
      reconciler: args.reconcilerFunction,
      executionEnded: args.executionEndedFunction,
      uploaderEvent: args.uploaderEventFunction,
    },
    opts,
  );
  const alarms = [
    queueDepthAlarm(
      `${prefix}-undelivered-events`,
      deadLetters,
      "events EventBridge could not deliver",
      opts,
    ),
    queueDepthAlarm(
      `${prefix}-failed-invocations`,
      failedInvocations,
      "events a function failed on after Lambda's retries",
      opts,
    ),
  ];
  return {
    deadLetters,
    failedInvocations,
    alarms,
    manifestUploaded,
    pipelineRules,
    schedule,
    executionEnded,
    controlDecided,
    uploadRecorded,
  };
}

/**
 * Four eyes (issue 19): CloudTrail's record of an object stored in the release bucket runs the
 * uploaderEvent function, which records who uploaded the manifest on its release
 * (handlers/release/uploader.ts). CloudTrail delivers S3 data events to EventBridge only for a
 * trail that records them (infra/audit-trail.ts, the stack's `auditTrail` setting); without it
 * this rule sees nothing, and an S3 upload's uploader stays unknown.
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-service-event-cloudtrail.html
 */
function uploadRecordedRule(
  args: ReleaseEventsArgs,
  deadLetters: aws.sqs.Queue,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule {
  const prefix = args.name;
  return functionRule(
    {
      names: ruleNames(`${prefix}-upload-recorded`),
      description: "CloudTrail recorded an object stored in the release bucket: who uploaded the manifest",
      eventPattern: pulumi
        .output(args.bucketName)
        .apply((bucket) => JSON.stringify(manifestUploadRecordedPattern(bucket))),
      fn: args.uploaderEventFunction,
    },
    deadLetters,
    opts,
  );
}

/**
 * The backstop: the workflow's executions that end FAILED, TIMED_OUT or ABORTED run the
 * executionEnded function, with EventBridge's retries and the dead-letter queue.
 */
function executionEndedRule(
  args: ReleaseEventsArgs,
  deadLetters: aws.sqs.Queue,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule {
  const prefix = args.name;
  return functionRule(
    {
      names: ruleNames(`${prefix}-execution-ended`),
      description: "An execution of the release workflow ended FAILED, TIMED_OUT or ABORTED",
      eventPattern: pulumi
        .output(args.stateMachineArn)
        .apply((arn) => JSON.stringify(executionEndedPattern(arn))),
      fn: args.executionEndedFunction,
    },
    deadLetters,
    opts,
  );
}

/**
 * A rule that invokes one function: the rule, the function's permission for exactly that rule,
 * and the target with EventBridge's retries and the dead-letter queue. `names`: the rule's, the
 * permission's and the target's resource names.
 */
/** A rule's, its invoke permission's and its target's names: `<base>`, `<base>-invoke`, `<base>-handler`. */
function ruleNames(base: string): [string, string, string] {
  return [base, `${base}-invoke`, `${base}-handler`];
}

function functionRule(
  rule: {
    names: [string, string, string];
    description: string;
    eventPattern: pulumi.Input<string>;
    fn: HandlerFunction<never, unknown>;
  },
  deadLetters: aws.sqs.Queue,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule {
  const [ruleName, permissionName, targetName] = rule.names;
  const created = new aws.cloudwatch.EventRule(
    ruleName,
    { description: rule.description, eventPattern: rule.eventPattern },
    opts,
  );
  const permission = new aws.lambda.Permission(
    permissionName,
    {
      action: "lambda:InvokeFunction",
      function: rule.fn.fn.name,
      principal: "events.amazonaws.com",
      sourceArn: created.arn,
    },
    opts,
  );
  new aws.cloudwatch.EventTarget(
    targetName,
    {
      rule: created.name,
      arn: rule.fn.fn.arn,
      retryPolicy: RETRY_POLICY,
      deadLetterConfig: { arn: deadLetters.arn },
    },
    { ...opts, dependsOn: [permission] },
  );
  return created;
}

/** Manifest uploads start the workflow, with EventBridge's retries and the dead-letter queue. */
function manifestUploadedStart(
  args: ReleaseEventsArgs,
  deadLetters: aws.sqs.Queue,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule {
  const prefix = args.name;
  const manifestUploaded = new aws.cloudwatch.EventRule(
    `${prefix}-manifest-uploaded`,
    {
      description: "A release manifest (*.json) was written to the release bucket",
      eventPattern: pulumi
        .output(args.bucketName)
        .apply((bucket) => JSON.stringify(manifestUploadedPattern(bucket))),
    },
    opts,
  );
  const { role: startRole, policy: startPolicy } = serviceRole(
    `${prefix}-events-start`,
    "events.amazonaws.com",
    args.accountId,
    pulumi.output(args.stateMachineArn).apply((arn) => [startExecutionStatement(arn)]),
    opts,
  );
  new aws.cloudwatch.EventTarget(
    `${prefix}-manifest-uploaded-start`,
    {
      rule: manifestUploaded.name,
      arn: args.stateMachineArn,
      roleArn: startRole.arn,
      inputTransformer: {
        inputPaths: { ...manifestUploadedInput.inputPaths },
        inputTemplate: manifestUploadedInput.inputTemplate,
      },
      retryPolicy: RETRY_POLICY,
      deadLetterConfig: { arn: deadLetters.arn },
    },
    { ...opts, dependsOn: [startPolicy] },
  );
  return manifestUploaded;
}

/** As many rules as the allow-list needs (one event pattern holds at most 2,048 characters). */
function pipelineStateRules(
  args: ReleaseEventsArgs,
  deadLetters: aws.sqs.Queue,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule[] {
  const prefix = args.name;
  return pipelinePatternChunks(args.pipelines).map((chunk, i) => {
    const suffix = i === 0 ? "" : `-${i + 1}`;
    return functionRule(
      {
        names: [
          `${prefix}-pipeline-state-changed${suffix}`,
          `${prefix}-pipeline-event-invoke${suffix}`,
          `${prefix}-pipeline-state-changed-handler${suffix}`,
        ],
        description: `State changes of the pipelines this release machine manages (part ${i + 1})`,
        eventPattern: JSON.stringify(pipelineStateChangePattern(chunk)),
        fn: args.pipelineEventFunction,
      },
      deadLetters,
      opts,
    );
  });
}

/** The schedule running the reconciler. */
function reconcileSchedule(
  args: ReleaseEventsArgs,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule {
  const prefix = args.name;
  const schedule = new aws.cloudwatch.EventRule(
    `${prefix}-reconcile-schedule`,
    {
      description: "Completes waiting pipelines whose end event was lost",
      scheduleExpression: args.reconcileSchedule,
    },
    opts,
  );
  const permission = new aws.lambda.Permission(
    `${prefix}-reconciler-invoke`,
    {
      action: "lambda:InvokeFunction",
      function: args.reconcilerFunction.fn.name,
      principal: "events.amazonaws.com",
      sourceArn: schedule.arn,
    },
    opts,
  );
  new aws.cloudwatch.EventTarget(
    `${prefix}-reconcile-schedule-run`,
    { rule: schedule.name, arn: args.reconcilerFunction.fn.arn },
    { ...opts, dependsOn: [permission] },
  );
  return schedule;
}

/** Only EventBridge, and only for these rules, may put undelivered events in the queue. */
function deadLetterPolicy(
  prefix: string,
  deadLetters: aws.sqs.Queue,
  rules: aws.cloudwatch.EventRule[],
  opts: pulumi.ComponentResourceOptions,
): aws.sqs.QueuePolicy {
  return new aws.sqs.QueuePolicy(
    `${prefix}-undelivered-events-policy`,
    {
      queueUrl: deadLetters.url,
      policy: pulumi
        .all([deadLetters.arn, ...rules.map((rule) => rule.arn)])
        .apply(([queueArn, ...ruleArns]) =>
          JSON.stringify({
            Version: "2012-10-17",
            Statement: [
              {
                Sid: "EventBridgeDeadLetters",
                Effect: "Allow",
                Principal: { Service: "events.amazonaws.com" },
                Action: "sqs:SendMessage",
                Resource: queueArn,
                Condition: { ArnEquals: { "aws:SourceArn": ruleArns } },
              },
            ],
          }),
        ),
    },
    opts,
  );
}

/**
 * EventBridge invokes Lambda asynchronously: Lambda retries a failing event twice, then drops it
 * unless the function has an on-failure destination. Each such function sends what it finally
 * failed on to one encrypted queue, kept as long as the dead-letter queue keeps its events; Lambda
 * sends with the function's execution role, so each role may send to that queue.
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async.html
 * https://docs.aws.amazon.com/lambda/latest/dg/invocation-async-retain-records.html
 */
function asyncFailureDestinations(
  prefix: string,
  functions: Record<string, HandlerFunction<never, unknown>>,
  opts: pulumi.ComponentResourceOptions,
): aws.sqs.Queue {
  const queue = new aws.sqs.Queue(
    `${prefix}-failed-invocations`,
    { sqsManagedSseEnabled: true, messageRetentionSeconds: FAILED_EVENT_RETENTION_SECONDS },
    opts,
  );
  for (const [name, { fn, role }] of Object.entries(functions)) {
    const send = new aws.iam.RolePolicy(
      `${prefix}-${name}-failure-destination`,
      {
        role: role.id,
        policy: queue.arn.apply((arn) =>
          JSON.stringify(
            document([
              { Sid: "SendFailedEvents", Effect: "Allow", Action: ["sqs:SendMessage"], Resource: [arn] },
            ]),
          ),
        ),
      },
      opts,
    );
    new aws.lambda.FunctionEventInvokeConfig(
      `${prefix}-${name}-async`,
      {
        functionName: fn.name,
        maximumRetryAttempts: 2,
        maximumEventAgeInSeconds: 21600,
        destinationConfig: { onFailure: { destination: queue.arn } },
      },
      { ...opts, dependsOn: [send] },
    );
  }
  return queue;
}

/**
 * Any message in the queue is an event the release machine did not act on: alarm at the first.
 * https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-available-cloudwatch-metrics.html
 */
function queueDepthAlarm(
  name: string,
  queue: aws.sqs.Queue,
  what: string,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.MetricAlarm {
  return new aws.cloudwatch.MetricAlarm(
    `${name}-depth`,
    {
      alarmDescription: `The release machine's queue of ${what} is not empty: inspect and redrive its messages.`,
      namespace: "AWS/SQS",
      metricName: "ApproximateNumberOfMessagesVisible",
      dimensions: { QueueName: queue.name },
      statistic: "Maximum",
      period: 300,
      evaluationPeriods: 1,
      threshold: 0,
      comparisonOperator: "GreaterThanThreshold",
      treatMissingData: "notBreaching",
    },
    opts,
  );
}

/**
 * A control decision's work (a cancel's stop pass, an approved start, a rejected gate's halt)
 * reaches the pipeline-event function after the control call answered: EventBridge invokes it
 * asynchronously, retrying for a day into the dead-letter queue, and Lambda's own retries end in
 * the on-failure queue (handlers/release/follow-up.ts). The same rule delivers the hand-off of a
 * pipeline's dependants beyond a first batch ("Release Starts Pending": handlers/release/dependants.ts).
 * https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-rule-retry-policy.html
 */
function controlDecidedRule(
  args: ReleaseEventsArgs,
  deadLetters: aws.sqs.Queue,
  opts: pulumi.ComponentResourceOptions,
): aws.cloudwatch.EventRule {
  const prefix = args.name;
  return functionRule(
    {
      names: ruleNames(`${prefix}-control-decided`),
      description:
        "A control decision's work, or a pipeline's dependants handed on: run by the pipeline-event function",
      eventPattern: JSON.stringify(controlDecidedPattern()),
      fn: args.pipelineEventFunction,
    },
    deadLetters,
    opts,
  );
}
