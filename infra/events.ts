/**
 * EventBridge wiring: manifest uploads start the workflow (input transformer, retries and a
 * dead-letter queue so a failed start is never silently lost); the managed pipelines' state
 * changes reach the pipeline-event handler; a schedule runs the reconciler.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  manifestUploadedInput,
  manifestUploadedPattern,
  pipelineStateChangePattern,
} from "../handlers/event-patterns";
import { startExecutionStatement } from "./iam";
import { serviceRole } from "./roles";

/** EventBridge's own ceiling: retry for a day, as often as it allows. */
const RETRY_POLICY = { maximumEventAgeInSeconds: 86400, maximumRetryAttempts: 185 };

export interface ReleaseEventsArgs {
  bucketName: pulumi.Input<string>;
  stateMachineArn: pulumi.Input<string>;
  pipelines: string[];
  pipelineEventFunction: aws.lambda.Function;
  reconcilerFunction: aws.lambda.Function;
  reconcileSchedule: string;
  accountId: pulumi.Input<string>;
}

export function releaseEvents(args: ReleaseEventsArgs, opts: pulumi.ComponentResourceOptions) {
  const deadLetters = new aws.sqs.Queue(
    "undelivered-events",
    { sqsManagedSseEnabled: true, messageRetentionSeconds: 1_209_600 },
    opts,
  );

  const manifestUploaded = new aws.cloudwatch.EventRule(
    "manifest-uploaded",
    {
      description: "A release manifest (*.json) was written to the release bucket",
      eventPattern: pulumi
        .output(args.bucketName)
        .apply((bucket) => JSON.stringify(manifestUploadedPattern(bucket))),
    },
    opts,
  );
  const { role: startRole, policy: startPolicy } = serviceRole(
    "events-start",
    "events.amazonaws.com",
    args.accountId,
    pulumi.output(args.stateMachineArn).apply((arn) => [startExecutionStatement(arn)]),
    opts,
  );
  new aws.cloudwatch.EventTarget(
    "manifest-uploaded-start",
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

  const pipelineChanged = new aws.cloudwatch.EventRule(
    "pipeline-state-changed",
    {
      description: "State changes of the pipelines this release machine manages",
      eventPattern: JSON.stringify(pipelineStateChangePattern(args.pipelines)),
    },
    opts,
  );
  const pipelinePermission = new aws.lambda.Permission(
    "pipeline-event-invoke",
    {
      action: "lambda:InvokeFunction",
      function: args.pipelineEventFunction.name,
      principal: "events.amazonaws.com",
      sourceArn: pipelineChanged.arn,
    },
    opts,
  );
  new aws.cloudwatch.EventTarget(
    "pipeline-state-changed-handler",
    {
      rule: pipelineChanged.name,
      arn: args.pipelineEventFunction.arn,
      retryPolicy: RETRY_POLICY,
      deadLetterConfig: { arn: deadLetters.arn },
    },
    { ...opts, dependsOn: [pipelinePermission] },
  );

  const schedule = new aws.cloudwatch.EventRule(
    "reconcile-schedule",
    {
      description: "Completes waiting pipelines whose end event was lost",
      scheduleExpression: args.reconcileSchedule,
    },
    opts,
  );
  const reconcilePermission = new aws.lambda.Permission(
    "reconciler-invoke",
    {
      action: "lambda:InvokeFunction",
      function: args.reconcilerFunction.name,
      principal: "events.amazonaws.com",
      sourceArn: schedule.arn,
    },
    opts,
  );
  new aws.cloudwatch.EventTarget(
    "reconcile-schedule-run",
    { rule: schedule.name, arn: args.reconcilerFunction.arn },
    { ...opts, dependsOn: [reconcilePermission] },
  );

  // Only EventBridge, and only for these rules, may put undelivered events in the queue.
  new aws.sqs.QueuePolicy(
    "undelivered-events-policy",
    {
      queueUrl: deadLetters.url,
      policy: pulumi
        .all([deadLetters.arn, manifestUploaded.arn, pipelineChanged.arn])
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
  return { deadLetters, manifestUploaded, pipelineChanged, schedule };
}
