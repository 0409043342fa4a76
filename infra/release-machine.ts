/**
 * The ReleaseMachine component: the release bucket, the tables, one function per handler, the
 * state machine running the release workflow, the EventBridge wiring and the release API.
 */
import * as aws from "@pulumi/aws";
import * as pulumi from "@pulumi/pulumi";
import { LAMBDA_ENTRY_POINTS } from "../handlers/index";
import { FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import { WORKFLOW_FUNCTIONS, type WorkflowFunction, releaseWorkflow } from "../stepfunction/release-workflow";
import { writeAllowListFile } from "./allow-list";
import { auditTrail } from "./audit-trail";
import { notifications } from "./notifications";
import { releaseApi } from "./api";
import type { ReleaseMachineSettings } from "./config";
import { releaseEvents } from "./events";
import { type HandlerFunction, handlerFunction } from "./functions";
import {
  HANDLER_NAMES,
  type HandlerName,
  type ResourceArns,
  handlerStatements,
  pipelineArn,
} from "../contract/permissions";
import { stateMachineStatements } from "../stepfunction/permissions";
import { LOG_DELIVERY, XRAY_WITH_SAMPLING } from "./iam";
import { serviceRole } from "./roles";
import { releaseBucket, releaseTables } from "./storage";

/**
 * What sets each function apart besides its entry point (handlers/index.ts) and its timeout
 * (contract/function-timeouts.ts, which local mode enforces too and the scheduler's claim expiry
 * is derived from): the functions that
 * validate manifests or request bodies carry the parser's schema compiler (ajv).
 */
// validateManifest, releaseControl and submitRelease parse manifests; uploaderEvent reads an uploaded
// manifest's releaseId (contract/manifest.ts, readableReleaseId).
const PARSES_MANIFESTS: ReadonlySet<HandlerName> = new Set([
  "validateManifest",
  "releaseControl",
  "submitRelease",
  "uploaderEvent",
]);

/**
 * One reconciler at a time: two overlapping passes would take over the same stuck claims and race
 * each other's starts. Reserved concurrency caps the function's concurrent executions.
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html
 */
const RESERVED_CONCURRENCY: Partial<Record<HandlerName, number>> = { reconciler: 1 };

/**
 * The functions whose roles name the state machine are created after it, whose definition names
 * the other functions: the control function starts it (retry), the reconciler describes its
 * executions (the backstop), and the backstop's function is run by its status changes.
 */
const AFTER_STATE_MACHINE: readonly HandlerName[] = [
  "reconciler",
  "executionEnded",
  "releaseControl",
  "submitRelease",
];

export interface ReleaseMachineArgs {
  settings: ReleaseMachineSettings;
}

type Functions = Record<HandlerName, HandlerFunction<never, unknown>>;
type Tables = ReturnType<typeof releaseTables>;

/** The account, region and partition the component deploys to. */
interface Placement {
  accountId: pulumi.Output<string>;
  region: pulumi.Output<string>;
  partition: pulumi.Output<string>;
}

/** What a user needs to submit and follow releases (index.ts exports each). */
export interface ReleaseMachineOutputs {
  bucketName: pulumi.Output<string>;
  apiUrl: pulumi.Output<string>;
  stateMachineArn: pulumi.Output<string>;
  releasesTableName: pulumi.Output<string>;
  executionsTableName: pulumi.Output<string>;
  releasePipelinesTableName: pulumi.Output<string>;
  deadLetterQueueUrl: pulumi.Output<string>;
  failedInvocationsQueueUrl: pulumi.Output<string>;
  queueDepthAlarms: pulumi.Output<string[]>;
  curlExample: pulumi.Output<string>;
  /** The notification topic (the `notifications` setting), or "" without one. */
  notificationTopicArn: pulumi.Output<string>;
}

export class ReleaseMachine extends pulumi.ComponentResource implements ReleaseMachineOutputs {
  // Set from the outputs object at the end of the constructor.
  readonly bucketName!: pulumi.Output<string>;
  readonly apiUrl!: pulumi.Output<string>;
  readonly stateMachineArn!: pulumi.Output<string>;
  readonly releasesTableName!: pulumi.Output<string>;
  readonly executionsTableName!: pulumi.Output<string>;
  readonly releasePipelinesTableName!: pulumi.Output<string>;
  readonly deadLetterQueueUrl!: pulumi.Output<string>;
  readonly failedInvocationsQueueUrl!: pulumi.Output<string>;
  readonly queueDepthAlarms!: pulumi.Output<string[]>;
  readonly curlExample!: pulumi.Output<string>;
  readonly notificationTopicArn!: pulumi.Output<string>;

  constructor(name: string, args: ReleaseMachineArgs, opts?: pulumi.ComponentResourceOptions) {
    super("release-machine:index:ReleaseMachine", name, {}, opts);
    const { settings } = args;
    const child = { parent: this };
    const placement = placementOf(child);

    // Storage: the release bucket, the tables and (optionally) the audit trail of manifest writes.
    const { bucket, ready } = releaseBucket(`${name}-releases`, child);
    const tables = releaseTables(name, settings.deletionProtection, child);
    if (settings.auditTrail) auditTrail(`${name}-audit`, { releaseBucketArn: bucket.arn }, child);
    const arns = resourceArns(placement, bucket, tables, settings.pipelines);

    // Functions: one per handler; the control function follows the state machine it starts.
    const fn = functionFactory(name, settings, tables, arns, placement.accountId, child);
    const functions = Object.fromEntries(
      HANDLER_NAMES.filter((handler) => !AFTER_STATE_MACHINE.includes(handler)).map((handler) => [
        handler,
        fn(handler),
      ]),
    ) as Functions;

    // Workflow: the state machine running the release workflow over those functions.
    const stateMachine = releaseStateMachine(name, { settings, functions, tables, arns, placement }, child);
    Object.assign(functions, functionsAfterStateMachine(fn, arns, stateMachine.arn, settings));

    // Events: uploads start the workflow, pipeline state changes and the reconcile schedule.
    const events = releaseEvents(
      {
        name,
        bucketName: bucket.bucket,
        stateMachineArn: stateMachine.arn,
        pipelines: settings.pipelines,
        pipelineEventFunction: functions.pipelineEvent,
        reconcilerFunction: functions.reconciler,
        executionEndedFunction: functions.executionEnded,
        uploaderEventFunction: functions.uploaderEvent,
        reconcileSchedule: settings.reconcileSchedule,
        accountId: placement.accountId,
      },
      { parent: this, dependsOn: ready },
    );

    // API: submit, read and control releases.
    const api = releaseApi(
      {
        name,
        submitFunction: functions.submitRelease.fn,
        statusFunction: functions.releaseStatus.fn,
        controlFunction: functions.releaseControl.fn,
        freezeFunction: functions.freezeControl.fn,
        region: placement.region,
        partition: placement.partition,
        accountId: placement.accountId,
        logRetentionDays: settings.logRetentionDays,
        throttleRateLimit: settings.apiThrottleRateLimit,
        throttleBurstLimit: settings.apiThrottleBurstLimit,
        manageAccount: settings.manageApiGatewayAccount,
      },
      child,
    );

    // Outputs.
    const outputs: ReleaseMachineOutputs = {
      bucketName: bucket.bucket,
      apiUrl: api.url,
      stateMachineArn: stateMachine.arn,
      releasesTableName: tables.releases.name,
      executionsTableName: tables.executions.name,
      releasePipelinesTableName: tables.releasePipelines.name,
      deadLetterQueueUrl: events.deadLetters.url,
      failedInvocationsQueueUrl: events.failedInvocations.url,
      queueDepthAlarms: pulumi.all(events.alarms.map((alarm) => alarm.name)),
      curlExample: curlExample(placement.region, api.url),
      notificationTopicArn: notificationTopic(name, settings, placement, child),
    };
    Object.assign(this, outputs);
    this.registerOutputs(outputs);
  }
}

/** The notification topic and the rules that feed it (infra/notifications.ts), when set; its ARN or "". */
function notificationTopic(
  name: string,
  settings: ReleaseMachineSettings,
  placement: Placement,
  opts: pulumi.ComponentResourceOptions,
): pulumi.Output<string> {
  if (!settings.notifications) return pulumi.output("");
  return notifications({ name, settings: settings.notifications, ...placement }, opts).topic.arn;
}

/**
 * Before child names were derived from the component's name, they were the bare local names
 * ("workflow", "releases", "loadManifest", ...). A stack deployed then keeps its resources (its
 * tables and bucket included) when its one component is given this transformation: each child
 * `<component>-<local>` is aliased to `<local>` (same parent, same type), so an update renames
 * instead of replacing. At most one component in a stack may take it: two would both claim the
 * old names. It is an SDK-side transformation (not a `transform`), so it runs under the mocks too.
 */
export function aliasUnprefixedChildNames(componentName: string): pulumi.ResourceTransformation {
  const prefix = `${componentName}-`;
  return ({ name, props, opts }) =>
    name.startsWith(prefix)
      ? { props, opts: pulumi.mergeOptions(opts, { aliases: [{ name: name.slice(prefix.length) }] }) }
      : undefined;
}

function placementOf(child: pulumi.InvokeOutputOptions): Placement {
  return {
    accountId: aws.getCallerIdentityOutput({}, child).accountId,
    region: aws.getRegionOutput({}, child).region,
    partition: aws.getPartitionOutput({}, child).partition,
  };
}

/** The ARNs every role is built from. */
function resourceArns(
  placement: Placement,
  bucket: aws.s3.Bucket,
  tables: Tables,
  pipelines: readonly string[],
): pulumi.Output<ResourceArns> {
  return pulumi
    .all([
      placement.partition,
      placement.region,
      placement.accountId,
      bucket.arn,
      tables.releases.arn,
      tables.executions.arn,
      tables.releasePipelines.arn,
    ])
    .apply(
      ([part, reg, account, bucketArn, releasesTableArn, executionsTableArn, releasePipelinesTableArn]) => ({
        partition: part,
        region: reg,
        accountId: account,
        bucketArn,
        releasesTableArn,
        executionsTableArn,
        releasePipelinesTableArn,
        pipelineArns: pipelines.map((p) => pipelineArn(part, reg, account, p)),
        eventBusArn: `arn:${part}:events:${reg}:${account}:event-bus/default`,
      }),
    );
}

/**
 * Builds one handler's function, named `<component>-<handler>`, with the environment every handler
 * shares and the statements of its role from the ARNs it is given.
 */
function functionFactory(
  prefix: string,
  settings: ReleaseMachineSettings,
  tables: Tables,
  arns: pulumi.Output<ResourceArns>,
  accountId: pulumi.Output<string>,
  child: pulumi.ComponentResourceOptions,
) {
  // The allow-list rides in each archive, not the 4 KB environment (infra/allow-list.ts).
  const allowListFile = writeAllowListFile(settings.pipelines);
  const environment = {
    RELEASES_TABLE: tables.releases.name,
    EXECUTIONS_TABLE: tables.executions.name,
    RELEASE_PIPELINES_TABLE: tables.releasePipelines.name,
    ALLOWED_PIPELINES_FILE: allowListFile,
    MAX_PIPELINES: String(settings.maxPipelines),
    MAX_MANIFEST_BYTES: String(settings.maxManifestBytes),
    STOP_GRACE_MINUTES: String(settings.stopGraceMinutes),
  };
  const pipelines = { names: settings.pipelines, arns: arns.apply((a) => a.pipelineArns) };
  return (
    handler: HandlerName,
    resolved: pulumi.Output<ResourceArns> = arns,
    environmentExtra: Record<string, pulumi.Input<string>> = {},
  ): HandlerFunction<never, unknown> => {
    const factory: () => (event: never) => Promise<unknown> = LAMBDA_ENTRY_POINTS[handler];
    return handlerFunction(
      handler,
      {
        resourceName: `${prefix}-${handler}`,
        files: [allowListFile],
        pipelines,
        accountId,
        logRetentionDays: settings.logRetentionDays,
        parsesManifests: PARSES_MANIFESTS.has(handler),
        timeoutSeconds: FUNCTION_TIMEOUT_SECONDS[handler],
        reservedConcurrentExecutions: RESERVED_CONCURRENCY[handler],
        environment: { ...environment, ...environmentExtra },
        factory,
        statements: resolved.apply((a) => handlerStatements(handler, a)),
      },
      child,
    );
  };
}

/** The functions whose roles name the state machine (AFTER_STATE_MACHINE), over its ARN. */
function functionsAfterStateMachine(
  fn: ReturnType<typeof functionFactory>,
  arns: pulumi.Output<ResourceArns>,
  stateMachineArn: pulumi.Output<string>,
  settings: ReleaseMachineSettings,
): Pick<Functions, "reconciler" | "executionEnded" | "releaseControl" | "submitRelease"> {
  const withStateMachine = pulumi
    .all([arns, stateMachineArn])
    .apply(([a, arn]) => ({ ...a, stateMachineArn: arn }));
  return {
    reconciler: fn("reconciler", withStateMachine),
    executionEnded: fn("executionEnded", withStateMachine),
    releaseControl: fn("releaseControl", withStateMachine, {
      STATE_MACHINE_ARN: stateMachineArn,
      ALLOW_SELF_APPROVAL: String(settings.allowSelfApproval),
    }),
    // The submission function starts the workflow (handlers/submission.ts).
    submitRelease: fn("submitRelease", withStateMachine, {
      STATE_MACHINE_ARN: stateMachineArn,
      ALLOW_SELF_APPROVAL: String(settings.allowSelfApproval),
    }),
  };
}

/** The release workflow's definition, over the functions' ARNs. */
function workflowDefinition(settings: ReleaseMachineSettings, functions: Functions, tables: Tables) {
  const names = WORKFLOW_FUNCTIONS;
  return pulumi
    .all([pulumi.all(names.map((handler) => functions[handler].fn.arn)), tables.releases.name])
    .apply(([functionArns, releasesTable]) =>
      releaseWorkflow(
        {
          functions: Object.fromEntries(names.map((handler, i) => [handler, functionArns[i]])) as Record<
            WorkflowFunction,
            string
          >,
          releasesTable,
          eventBusName: "default",
        },
        {
          longestPipelineRunSeconds: settings.longestPipelineRunHours * 3600,
          failurePolicy: settings.failurePolicy,
        },
      ),
    );
}

/** The state machine, its log group and its role, whose statements derive from its states. */
function releaseStateMachine(
  prefix: string,
  parts: {
    settings: ReleaseMachineSettings;
    functions: Functions;
    tables: Tables;
    arns: pulumi.Output<ResourceArns>;
    placement: Placement;
  },
  child: pulumi.ComponentResourceOptions,
): aws.sfn.StateMachine {
  const { settings, tables, arns } = parts;
  const definition = workflowDefinition(settings, parts.functions, tables);
  const logs = new aws.cloudwatch.LogGroup(
    `${prefix}-workflow-logs`,
    // The vended-logs prefix keeps CloudWatch's resource policy within its size limit.
    { namePrefix: `/aws/vendedlogs/states/${prefix}-`, retentionInDays: settings.logRetentionDays },
    child,
  );
  const { role, policy, attachments } = serviceRole(
    `${prefix}-workflow`,
    "states.amazonaws.com",
    parts.placement.accountId,
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
  return new aws.sfn.StateMachine(
    `${prefix}-workflow`,
    {
      type: "STANDARD",
      roleArn: role.arn,
      definition: definition.apply((d) => JSON.stringify(d)),
      loggingConfiguration: {
        level: "ALL",
        includeExecutionData: true,
        logDestination: pulumi.interpolate`${logs.arn}:*`,
      },
      tracingConfiguration: { enabled: true },
    },
    { ...child, dependsOn: [policy, ...attachments] },
  );
}

function curlExample(region: pulumi.Output<string>, url: pulumi.Output<string>): pulumi.Output<string> {
  return pulumi.interpolate`curl --aws-sigv4 "aws:amz:${region}:execute-api" --user "$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY" -H "x-amz-security-token: $AWS_SESSION_TOKEN" -H "content-type: application/json" -d @release-manifest.json ${url}/releases`;
}
