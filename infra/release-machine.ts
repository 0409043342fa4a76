/**
 * The ReleaseMachine component: the release bucket, the tables, one function per handler, the
 * state machine running the release workflow, the EventBridge wiring and the release API.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import {
  awaitReleaseHandler,
  loadManifestHandler,
  pipelineEventHandler,
  reconcilerHandler,
  recordRejectionHandler,
  registerReleaseHandler,
  releaseControlHandler,
  releaseStatusHandler,
  stopReleaseHandler,
  validateManifestHandler,
} from "../handlers/index";
import type { ManifestRules } from "../handlers/manifest";
import { releaseWorkflow } from "../stepfunction/release-workflow";
import { writeAllowListFile } from "./allow-list";
import { auditTrail } from "./audit-trail";
import { releaseApi } from "./api";
import type { ReleaseMachineSettings } from "./config";
import { releaseEvents } from "./events";
import { type HandlerFunction, handlerFunction } from "./functions";
import {
  HANDLER_NAMES,
  type HandlerName,
  LOG_DELIVERY,
  type ResourceArns,
  XRAY_WITH_SAMPLING,
  handlerStatements,
  pipelineArn,
  stateMachineStatements,
} from "./iam";
import { serviceRole } from "./roles";
import { releaseBucket, releaseTables } from "./storage";

/**
 * Each function's handler factory and what sets it apart. The scheduler's functions get longer
 * timeouts: RegisterRelease may start hundreds of pipelines, and acting on one pipeline's end may
 * start or stop many.
 */
const HANDLERS: Record<
  HandlerName,
  { factory: () => (event: never) => Promise<unknown>; parsesManifests?: boolean; timeoutSeconds?: number }
> = {
  loadManifest: { factory: loadManifestHandler },
  validateManifest: { factory: validateManifestHandler, parsesManifests: true },
  recordRejection: { factory: recordRejectionHandler, parsesManifests: true },
  registerRelease: { factory: registerReleaseHandler, timeoutSeconds: 300 },
  awaitRelease: { factory: awaitReleaseHandler },
  stopRelease: { factory: stopReleaseHandler, timeoutSeconds: 300 },
  pipelineEvent: { factory: pipelineEventHandler, timeoutSeconds: 300 },
  reconciler: { factory: reconcilerHandler, timeoutSeconds: 600 },
  releaseStatus: { factory: releaseStatusHandler },
  // An approval starts a pipeline and a cancel stops many: the scheduler's timeout. It validates
  // request bodies with the parser's schema compiler (ajv).
  releaseControl: { factory: releaseControlHandler, parsesManifests: true, timeoutSeconds: 300 },
};

/**
 * The control function starts the workflow (retry), so it is created after the state machine,
 * whose definition names the other functions.
 */
const AFTER_STATE_MACHINE: readonly HandlerName[] = ["releaseControl"];

export interface ReleaseMachineArgs {
  settings: ReleaseMachineSettings;
}

export class ReleaseMachine extends pulumi.ComponentResource {
  readonly bucketName: pulumi.Output<string>;
  readonly apiUrl: pulumi.Output<string>;
  readonly stateMachineArn: pulumi.Output<string>;
  readonly releasesTableName: pulumi.Output<string>;
  readonly executionsTableName: pulumi.Output<string>;
  readonly releasePipelinesTableName: pulumi.Output<string>;
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
        tables.releasePipelines.arn,
      ])
      .apply(
        ([
          part,
          reg,
          account,
          bucketArn,
          releasesTableArn,
          executionsTableArn,
          releasePipelinesTableArn,
        ]) => ({
          partition: part,
          region: reg,
          accountId: account,
          bucketArn,
          releasesTableArn,
          executionsTableArn,
          releasePipelinesTableArn,
          pipelineArns: settings.pipelines.map((p) => pipelineArn(part, reg, account, p)),
          eventBusArn: `arn:${part}:events:${reg}:${account}:event-bus/default`,
        }),
      );

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
      RELEASE_PIPELINES_TABLE: tables.releasePipelines.name,
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
    const fn = (
      name: HandlerName,
      resolved: pulumi.Output<ResourceArns> = arns,
      environmentExtra: Record<string, pulumi.Input<string>> = {},
    ): HandlerFunction<never, unknown> => {
      const { factory, ...extra } = HANDLERS[name];
      return handlerFunction(
        name,
        {
          ...common,
          ...extra,
          environment: { ...environment, ...environmentExtra },
          factory,
          statements: resolved.apply((a) => handlerStatements(name, a)),
        },
        child,
      );
    };
    const functions = Object.fromEntries(
      HANDLER_NAMES.filter((name) => !AFTER_STATE_MACHINE.includes(name)).map((name) => [name, fn(name)]),
    ) as Record<HandlerName, HandlerFunction<never, unknown>>;

    const definition = pulumi
      .all([
        functions.loadManifest.fn.arn,
        functions.validateManifest.fn.arn,
        functions.recordRejection.fn.arn,
        functions.registerRelease.fn.arn,
        functions.awaitRelease.fn.arn,
        functions.stopRelease.fn.arn,
        tables.releases.name,
      ])
      .apply(
        ([
          loadManifest,
          validateManifest,
          recordRejection,
          registerRelease,
          awaitRelease,
          stopRelease,
          releasesTable,
        ]) =>
          releaseWorkflow(
            {
              functions: {
                loadManifest,
                validateManifest,
                recordRejection,
                registerRelease,
                awaitRelease,
                stopRelease,
              },
              releasesTable,
              eventBusName: "default",
            },
            {
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
      // The workflow names no pipeline: the scheduler's functions start and stop them.
      child,
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

    functions.releaseControl = fn(
      "releaseControl",
      pulumi.all([arns, stateMachine.arn]).apply(([a, stateMachineArn]) => ({ ...a, stateMachineArn })),
      { STATE_MACHINE_ARN: stateMachine.arn, ALLOW_SELF_APPROVAL: String(settings.allowSelfApproval) },
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
        controlFunction: functions.releaseControl.fn,
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
    this.releasePipelinesTableName = tables.releasePipelines.name;
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
      releasePipelinesTableName: this.releasePipelinesTableName,
      deadLetterQueueUrl: this.deadLetterQueueUrl,
      failedInvocationsQueueUrl: this.failedInvocationsQueueUrl,
      queueDepthAlarms: this.queueDepthAlarms,
      curlExample: this.curlExample,
    });
  }
}
