/**
 * The ReleaseMachine component: the release bucket, the tables, one function per handler, the
 * state machine running the release workflow, the EventBridge wiring and the release API.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  loadManifestHandler,
  pipelineEventHandler,
  reconcilerHandler,
  registerWaiterHandler,
  releaseStatusHandler,
  stopRemainingHandler,
  validateManifestHandler,
} from "../handlers/index";
import type { ManifestRules } from "../handlers/manifest";
import { releaseWorkflow } from "../stepfunction/release-workflow";
import { writeAllowListFile } from "./allow-list";
import { auditTrail } from "./audit-trail";
import { releaseApi } from "./api";
import type { ReleaseMachineSettings } from "./config";
import { releaseEvents } from "./events";
import { handlerFunction } from "./functions";
import {
  LOG_DELIVERY,
  type ResourceArns,
  XRAY_WITH_SAMPLING,
  handlerStatements,
  pipelineArn,
  stateMachineStatements,
} from "./iam";
import { serviceRole } from "./roles";
import { releaseBucket, releaseTables } from "./storage";

export interface ReleaseMachineArgs {
  settings: ReleaseMachineSettings;
}

export class ReleaseMachine extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly apiUrl: pulumi.Output<string>;
  readonly stateMachineArn: pulumi.Output<string>;
  readonly releasesTableName: pulumi.Output<string>;
  readonly executionsTableName: pulumi.Output<string>;
  readonly deadLetterQueueUrl: pulumi.Output<string>;
  readonly failedInvocationsQueueUrl: pulumi.Output<string>;
  readonly queueDepthAlarms: pulumi.Output<string[]>;
  readonly curlExample: pulumi.Output<string>;

  constructor(name: string, args: ReleaseMachineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("release-machine:index:ReleaseMachine", name, {}, opts);
    const { settings } = args;
    const child = { parent: this };

    const identity = aws.getCallerIdentityOutput({}, child);
    const region = aws.getRegionOutput({}, child);
    const partition = aws.getPartitionOutput({}, child);
    const accountId = identity.accountId;
    const regionName = region.region;

    const { bucket, ready } = releaseBucket("releases", child);
    const tables = releaseTables(settings.deletionProtection, child);
    if (settings.auditTrail) auditTrail("audit", { releaseBucketArn: bucket.arn }, child);

    const arns: pulumi.Output<ResourceArns> = pulumi
      .all([
        partition.partition,
        regionName,
        accountId,
        bucket.arn,
        tables.releases.arn,
        tables.executions.arn,
      ])
      .apply(([part, reg, account, bucketArn, releasesTableArn, executionsTableArn]) => ({
        partition: part,
        region: reg,
        accountId: account,
        bucketArn,
        releasesTableArn,
        executionsTableArn,
        pipelineArns: settings.pipelines.map((p) => pipelineArn(part, reg, account, p)),
        eventBusArn: `arn:${part}:events:${reg}:${account}:event-bus/default`,
      }));

    const rules: ManifestRules = {
      allowedPipelines: settings.pipelines,
      maxPipelines: settings.maxPipelines,
      maxBytes: settings.maxManifestBytes,
    };
    // The allow-list rides in each archive, not the 4 KB environment (infra/allow-list.ts).
    const allowListFile = writeAllowListFile(settings.pipelines);
    const environment = {
      RELEASES_TABLE: tables.releases.name,
      EXECUTIONS_TABLE: tables.executions.name,
      ALLOWED_PIPELINES_FILE: allowListFile,
      MAX_PIPELINES: String(settings.maxPipelines),
      MAX_MANIFEST_BYTES: String(settings.maxManifestBytes),
    };
    const pipelineGrants = { names: settings.pipelines, arns: arns.apply((a) => a.pipelineArns) };
    const common = {
      environment,
      files: [allowListFile],
      pipelines: pipelineGrants,
      accountId,
      logRetentionDays: settings.logRetentionDays,
    };
    const statementsFor = (handler: Parameters<typeof handlerStatements>[0]) =>
      arns.apply((a) => handlerStatements(handler, a));

    const functions = {
      loadManifest: handlerFunction(
        "loadManifest",
        { ...common, factory: loadManifestHandler, statements: statementsFor("loadManifest") },
        child,
      ),
      validateManifest: handlerFunction(
        "validateManifest",
        {
          ...common,
          factory: validateManifestHandler,
          statements: statementsFor("validateManifest"),
          parsesManifests: true,
        },
        child,
      ),
      registerWaiter: handlerFunction(
        "registerWaiter",
        { ...common, factory: registerWaiterHandler, statements: statementsFor("registerWaiter") },
        child,
      ),
      pipelineEvent: handlerFunction(
        "pipelineEvent",
        { ...common, factory: pipelineEventHandler, statements: statementsFor("pipelineEvent") },
        child,
      ),
      reconciler: handlerFunction(
        "reconciler",
        {
          ...common,
          factory: reconcilerHandler,
          statements: statementsFor("reconciler"),
          timeoutSeconds: 120,
        },
        child,
      ),
      stopRemaining: handlerFunction(
        "stopRemaining",
        { ...common, factory: stopRemainingHandler, statements: statementsFor("stopRemaining") },
        child,
      ),
      releaseStatus: handlerFunction(
        "releaseStatus",
        { ...common, factory: releaseStatusHandler, statements: statementsFor("releaseStatus") },
        child,
      ),
    };

    const definition = pulumi
      .all([
        functions.loadManifest.fn.arn,
        functions.validateManifest.fn.arn,
        functions.registerWaiter.fn.arn,
        functions.stopRemaining.fn.arn,
        tables.releases.name,
        tables.executions.name,
      ])
      .apply(
        ([loadManifest, validateManifest, registerWaiter, stopRemaining, releasesTable, executionsTable]) =>
          releaseWorkflow(
            {
              functions: { loadManifest, validateManifest, registerWaiter, stopRemaining },
              releasesTable,
              executionsTable,
              eventBusName: "default",
            },
            {
              mapConcurrency: settings.mapConcurrency,
              longestPipelineRunSeconds: settings.longestPipelineRunHours * 3600,
              failurePolicy: settings.failurePolicy,
            },
          ),
      );

    const machineLogs = new aws.cloudwatch.LogGroup(
      "workflow-logs",
      // The vended-logs prefix keeps CloudWatch's resource policy within its size limit.
      { namePrefix: "/aws/vendedlogs/states/release-machine-", retentionInDays: settings.logRetentionDays },
      child,
    );
    const {
      role: machineRole,
      policy: machinePolicy,
      attachments: machineAttachments,
    } = serviceRole(
      "workflow",
      "states.amazonaws.com",
      accountId,
      pulumi
        .all([
          definition,
          arns,
          tables.releases.name,
          tables.releases.arn,
          tables.executions.name,
          tables.executions.arn,
        ])
        .apply(([def, a, releasesName, releasesArn, executionsName, executionsArn]) => [
          ...stateMachineStatements(def, a, { [releasesName]: releasesArn, [executionsName]: executionsArn }),
          LOG_DELIVERY,
          XRAY_WITH_SAMPLING,
        ]),
      child,
      pipelineGrants,
    );
    const stateMachine = new aws.sfn.StateMachine(
      "workflow",
      {
        type: "STANDARD",
        roleArn: machineRole.arn,
        definition: definition.apply((d) => JSON.stringify(d)),
        loggingConfiguration: {
          level: "ALL",
          includeExecutionData: true,
          logDestination: pulumi.interpolate`${machineLogs.arn}:*`,
        },
        tracingConfiguration: { enabled: true },
      },
      { ...child, dependsOn: [machinePolicy, ...machineAttachments] },
    );

    const events = releaseEvents(
      {
        bucketName: bucket.bucket,
        stateMachineArn: stateMachine.arn,
        pipelines: settings.pipelines,
        pipelineEventFunction: functions.pipelineEvent,
        reconcilerFunction: functions.reconciler,
        reconcileSchedule: settings.reconcileSchedule,
        accountId,
      },
      { parent: this, dependsOn: ready },
    );

    const api = releaseApi(
      {
        stateMachineArn: stateMachine.arn,
        statusFunction: functions.releaseStatus.fn,
        manifestRules: rules,
        region: regionName,
        partition: partition.partition,
        accountId,
        logRetentionDays: settings.logRetentionDays,
        throttleRateLimit: settings.apiThrottleRateLimit,
        throttleBurstLimit: settings.apiThrottleBurstLimit,
        manageAccount: settings.manageApiGatewayAccount,
      },
      child,
    );

    this.bucketName = bucket.bucket;
    this.apiUrl = api.url;
    this.stateMachineArn = stateMachine.arn;
    this.releasesTableName = tables.releases.name;
    this.executionsTableName = tables.executions.name;
    this.deadLetterQueueUrl = events.deadLetters.url;
    this.failedInvocationsQueueUrl = events.failedInvocations.url;
    this.queueDepthAlarms = pulumi.all(events.alarms.map((alarm) => alarm.name));
    this.curlExample = pulumi.interpolate`curl --aws-sigv4 "aws:amz:${regionName}:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-security-token: $AWS_SESSION_TOKEN" -H "content-type: application/json" -d @release-manifest.json ${api.url}/releases`;
    this.registerOutputs({
      bucketName: this.bucketName,
      apiUrl: this.apiUrl,
      stateMachineArn: this.stateMachineArn,
      releasesTableName: this.releasesTableName,
      executionsTableName: this.executionsTableName,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      failedInvocationsQueueUrl: this.failedInvocationsQueueUrl,
      queueDepthAlarms: this.queueDepthAlarms,
      curlExample: this.curlExample,
    });
  }
}
