/**
 * How long each Lambda function may run: the one source of function timeouts. infra/ deploys them
 * (infra/release-machine.ts), and the scheduler derives from them how long a start claim must stay
 * untouched before the reconciler may take it over (handlers/release/progress.ts): only once every
 * function that can hold a claim has certainly stopped. docs/aws-facts.md, "Lambda".
 */
import { HANDLER_NAMES, type HandlerName, type ResourceArns, handlerStatements } from "./permissions";

/** A function's timeout unless it is given one below. */
export const DEFAULT_FUNCTION_TIMEOUT_SECONDS = 30;

/**
 * Each function's timeout in seconds. The scheduler's functions get longer ones: RegisterRelease may
 * start hundreds of pipelines, and acting on one pipeline's end may start or stop many; an approval
 * starts a pipeline and a cancel stops many. Lambda allows at most 900.
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
export const FUNCTION_TIMEOUT_SECONDS: Record<HandlerName, number> = {
  loadManifest: DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  validateManifest: DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  recordRejection: DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  registerRelease: 300,
  awaitRelease: DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  stopRelease: 300,
  pipelineEvent: 300,
  reconciler: 600,
  // The backstop's stop pass may stop every pipeline of a release.
  executionEnded: 300,
  releaseStatus: DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  releaseControl: 300,
  // Below API Gateway's 29-second integration timeout: the client gets the function's answer.
  submitRelease: 28,
  uploaderEvent: DEFAULT_FUNCTION_TIMEOUT_SECONDS,
  // An API route: below API Gateway's 29-second integration timeout.
  freezeControl: 28,
};

/** Stand-in ARNs: which actions a role grants does not depend on the stack. */
const ANY_STACK: ResourceArns = {
  partition: "aws",
  region: "any",
  accountId: "000000000000",
  bucketArn: "arn:aws:s3:::any",
  releasesTableArn: "arn:aws:dynamodb:any:000000000000:table/releases",
  executionsTableArn: "arn:aws:dynamodb:any:000000000000:table/executions",
  releasePipelinesTableArn: "arn:aws:dynamodb:any:000000000000:table/release-pipelines",
  pipelineArns: ["arn:aws:codepipeline:any:000000000000:any"],
  eventBusArn: "arn:aws:events:any:000000000000:event-bus/default",
  stateMachineArn: "arn:aws:states:any:000000000000:stateMachine:any",
};

/**
 * The functions that can hold a start claim: a claim is taken only to start a pipeline, so exactly
 * those whose role may call StartPipelineExecution (contract/permissions.ts; test/policy-iam-calls
 * proves each role grants exactly the calls its code makes).
 */
export const CLAIMING_FUNCTIONS: readonly HandlerName[] = HANDLER_NAMES.filter((handler) =>
  handlerStatements(handler, ANY_STACK).some((s) => s.Action.includes("codepipeline:StartPipelineExecution")),
);

/** Time past a claimant's timeout before its claim counts as abandoned: clock skew and the last write. */
export const CLAIM_EXPIRY_MARGIN_SECONDS = 60;

/**
 * How long a start claim stays its claimant's: the longest timeout of any function that can hold
 * one, plus a margin. Lambda stops an invocation at its timeout, so a claim older than this has no
 * live claimant, and a takeover can never race the start it takes over.
 */
export const CLAIM_EXPIRY_SECONDS =
  Math.max(...CLAIMING_FUNCTIONS.map((handler) => FUNCTION_TIMEOUT_SECONDS[handler])) +
  CLAIM_EXPIRY_MARGIN_SECONDS;
