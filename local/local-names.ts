/**
 * The names local mode gives what the Pulumi program names on AWS: region, account, function and
 * state machine ARNs, tables, bucket and bus, and the dummy credentials its clients sign with.
 */
import type { TableNames } from "../handlers/config";
import type { WorkflowRefs } from "../stepfunction/release-workflow";

export const LOCAL_REGION = "us-east-1";
export const LOCAL_ACCOUNT = "000000000000";
/** Dummy credentials: the stand-ins do not check signatures, but the SDK insists on signing. */
export const LOCAL_CREDENTIALS = { accessKeyId: "local", secretAccessKey: "local" };

const functionArn = (name: string) =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:release-machine-${name}`;

export const LOCAL_REFS: WorkflowRefs = {
  functions: {
    loadManifest: functionArn("load-manifest"),
    validateManifest: functionArn("validate-manifest"),
    recordRejection: functionArn("record-rejection"),
    registerRelease: functionArn("register-release"),
    awaitRelease: functionArn("await-release"),
    stopRelease: functionArn("stop-release"),
  },
  releasesTable: "releases",
  eventBusName: "default",
};

/** The local state machine's ARN: what the retry route starts executions of. */
export const LOCAL_STATE_MACHINE_ARN = `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:release-machine`;

/** The local release bucket (s3rver's, in `npm start`): here so the IAM wiring can name it. */
export const LOCAL_BUCKET = "release-manifests";

/** The local tables' names (the Pulumi program names its own). */
export const LOCAL_TABLES: TableNames = {
  releases: LOCAL_REFS.releasesTable,
  executions: "executions",
  releasePipelines: "release-pipelines",
};
