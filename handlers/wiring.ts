/**
 * The one wiring of the release machine's functions: each function's name (the workflow's
 * functions, stepfunction/release-workflow.ts's WORKFLOW_FUNCTIONS, and the event and API
 * functions) to the handler it runs, built from the clients and settings it is given. Lambda's
 * entry points (handlers/index.ts) give each what they read from the environment; local mode
 * (local/release-machine.ts) gives every one the stand-ins' clients. So what runs locally is what
 * is deployed.
 *
 * Each builder names only the part of HandlerDeps it uses: Pulumi serializes what an entry point
 * captures, and an entry point reaching one builder (`HANDLERS.loadManifest`) carries that builder
 * alone, not the others.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { DuplicateRelease } from "../contract/errors";
import { manifestParser } from "../contract/manifest";
import type { ManifestRules } from "../contract/manifest-schema";
import { rejectionError } from "../contract/rejection";
import type { ExecutionDeps } from "./executions";
import {
  type LoadedManifest,
  type ValidatedManifestOutput,
  loadManifest,
  validateManifest,
} from "./load-manifest";
import {
  type PipelineEventOutcome,
  type PipelineStateChangeEvent,
  type ReconcileReport,
  handlePipelineEvent,
  reconcile,
} from "./pipeline-events";
import { type RecordedRejection, type RejectionRequest, recordRejection } from "./rejections";
import { type ProxyResponse, type ReleaseStatusRequest, releaseStatusApi } from "./release-status";
import { type ControlRequest, releaseControlApi } from "./release-control";
import { type SubmissionRequest, submissionHandler } from "./submission";
import { type FreezeRequest, freezeHandler } from "./freezes";
import { type RegisterReleaseRequest, registerRelease } from "./release/registration";
import {
  type UploadRecordedEvent,
  type UploaderOutcome,
  isUploadRecorded,
  recordUploader,
} from "./release/uploader";
import { registerReleaseWaiter } from "./release/outcome";
import { type RootsStarted, type StartRootsRequest, startMoreRoots } from "./release/start-batches";
import { type FailExecutionRequest, type FailExecutionResult, failExecution } from "./release/ended";
import { followUpControl } from "./release/follow-up";
import { type StartsPendingEvent, isStartsPending, startPendingDependants } from "./release/dependants";
import { type ControlDecidedEvent, isControlDecided } from "./release/hand-off";
import {
  type EndedRelease,
  type ExecutionStatusChangeEvent,
  onExecutionEnded,
} from "./release/execution-ended";
import {
  type RetryReleaseRequest,
  type StopReleaseRequest,
  type StopReleaseResult,
  retryRelease,
  stopReleaseAfterFailedWait,
} from "./release/control";

/** Everything a handler may be built from; each builder takes only its part. */
export interface HandlerDeps {
  /** The tables and the DynamoDB, Step Functions, CodePipeline and EventBridge clients. */
  execution: ExecutionDeps;
  s3: S3Client;
  rules: ManifestRules;
  /** The control function's own settings: the workflow a retry starts, and self-approval. */
  control: { stateMachineArn: string; allowSelfApproval: boolean };
}

export interface LoadManifestEvent {
  request: unknown;
}
export interface ValidateManifestEvent {
  text: unknown;
  location?: unknown;
  submittedBy?: unknown;
}
export interface AwaitReleaseEvent {
  taskToken: string;
  releaseId: string;
  executionArn: string;
}

/**
 * Each function's part of HandlerDeps, its event and its result: the typed payload the workflow's
 * Task (or the event rule, or API Gateway) hands it, and what it answers.
 */
export interface HandlerTypes {
  loadManifest: { needs: "s3" | "rules"; event: LoadManifestEvent; result: LoadedManifest };
  validateManifest: { needs: "rules"; event: ValidateManifestEvent; result: ValidatedManifestOutput };
  recordRejection: { needs: "execution"; event: RejectionRequest; result: RecordedRejection };
  registerRelease: {
    needs: "execution";
    event: RegisterReleaseRequest | RetryReleaseRequest | StartRootsRequest;
    result: { releaseId: string } | RootsStarted;
  };
  awaitRelease: { needs: "execution"; event: AwaitReleaseEvent; result: { completedAtOnce: boolean } };
  stopRelease: {
    needs: "execution";
    event: StopReleaseRequest | { failExecution: FailExecutionRequest };
    result: StopReleaseResult | FailExecutionResult;
  };
  pipelineEvent: {
    needs: "execution";
    event: PipelineStateChangeEvent | ControlDecidedEvent | StartsPendingEvent;
    result: PipelineEventOutcome;
  };
  reconciler: { needs: "execution"; event: void; result: ReconcileReport };
  executionEnded: { needs: "execution"; event: ExecutionStatusChangeEvent; result: EndedRelease[] };
  releaseStatus: { needs: "execution"; event: ReleaseStatusRequest; result: ProxyResponse };
  releaseControl: { needs: "execution" | "control"; event: ControlRequest; result: ProxyResponse };
  submitRelease: {
    needs: "execution" | "control" | "rules";
    event: SubmissionRequest;
    result: ProxyResponse;
  };
  // --- Four eyes (issue 19, items 4): the uploader of an S3 manifest, from CloudTrail. ---
  uploaderEvent: { needs: "execution" | "s3"; event: UploadRecordedEvent; result: UploaderOutcome };
  // --- Freezes (issue 20, items 3-4): POST/GET /freezes, DELETE /freezes/{name}. ---
  freezeControl: { needs: "execution" | "rules"; event: FreezeRequest; result: ProxyResponse };
}

export type FunctionName = keyof HandlerTypes;
export type HandlerEvent<N extends FunctionName> = HandlerTypes[N]["event"];
export type Handler<N extends FunctionName> = (event: HandlerEvent<N>) => Promise<HandlerTypes[N]["result"]>;
type Builder<N extends FunctionName> = (deps: Pick<HandlerDeps, HandlerTypes[N]["needs"]>) => Handler<N>;

/**
 * The handlers by function name. The scheduler's, the event functions' and the control function's
 * share the execution clients; the manifest functions take the rules (and LoadManifest S3).
 */
export const HANDLERS: { [N in FunctionName]: Builder<N> } = {
  loadManifest:
    ({ s3, rules }) =>
    (event) =>
      loadManifest({ s3, maxBytes: rules.maxBytes }, event.request),

  validateManifest: ({ rules }) => {
    const parse = manifestParser(rules);
    return async (event) => validateManifest(parse, event);
  },

  recordRejection:
    ({ execution }) =>
    (event) =>
      recordRejection(execution, event),

  // RegisterRelease and RetryRelease (attempt n+1) run in one function: a retry names its attempt,
  // and StartMoreRoots (the roots past RegisterRelease's first batch) its cursor.
  // A duplicate carries its releaseId and problem for RecordRejected (contract/rejection.ts).
  registerRelease:
    ({ execution }) =>
    (event) =>
      "startRoots" in event
        ? startMoreRoots(execution, event.startRoots)
        : "retry" in event
          ? retryRelease(execution, event)
          : registerRelease(execution, event).catch((error: unknown) => {
              if (!(error instanceof DuplicateRelease)) throw error;
              const problems = [{ path: "/releaseId", rule: "duplicate", message: error.message }];
              throw rejectionError(error, { releaseId: event.releaseId, problems });
            }),

  awaitRelease:
    ({ execution }) =>
    (event) =>
      registerReleaseWaiter(execution, event),

  stopRelease:
    ({ execution }) =>
    (event) =>
      // The workflow's stop after a failed wait, or after a failed registration or retry.
      "failExecution" in event
        ? failExecution(execution, event.failExecution)
        : stopReleaseAfterFailedWait(execution, event),

  // CodePipeline's state changes, and the control function's hand-offs (handlers/release/follow-up.ts).
  pipelineEvent:
    ({ execution }) =>
    (event) =>
      isControlDecided(event)
        ? followUpControl(execution, event)
        : isStartsPending(event)
          ? startPendingDependants(execution, event)
          : handlePipelineEvent(execution, event),

  reconciler:
    ({ execution }) =>
    () =>
      reconcile(execution),

  // "Step Functions Execution Status Change" (FAILED, TIMED_OUT, ABORTED): the backstop.
  executionEnded:
    ({ execution }) =>
    (event) =>
      onExecutionEnded(execution, event),

  /** API Gateway (Lambda proxy) handler for `GET /releases/{releaseId}`. */
  releaseStatus:
    ({ execution }) =>
    (event) =>
      releaseStatusApi(execution, event),

  /**
   * API Gateway (Lambda proxy) handler for the control routes: `GET /releases`, and
   * `POST /releases/{releaseId}/cancel`, `/retry` and `/approvals/{pipeline}`.
   */
  releaseControl:
    ({ execution, control }) =>
    (event) =>
      releaseControlApi({ ...execution, ...control }, event),

  /**
   * API Gateway (Lambda proxy) handler for `POST /releases` and `POST /`, and the local server's:
   * the one submission path (handlers/submission.ts).
   */
  submitRelease: ({ execution, control, rules }) =>
    submissionHandler({ ...execution, rules, stateMachineArn: control.stateMachineArn }),
  // --- Four eyes (issue 19, item 4) ---
  /** CloudTrail's record of a write to the release bucket (the "AWS API Call via CloudTrail" rule). */
  uploaderEvent:
    ({ execution, s3 }) =>
    (event) =>
      isUploadRecorded(event)
        ? recordUploader({ ...execution, s3 }, event)
        : Promise.resolve({ recorded: "nothing", why: "not CloudTrail's record of an S3 call" }),
  // --- Freezes (issue 20, items 3-4) ---
  /** API Gateway (Lambda proxy) handler for the freeze routes (handlers/freezes.ts), and the local server's. */
  freezeControl: ({ execution, rules }) => freezeHandler({ ...execution, rules }),
};

/** Function `name`'s handler, built from all the deps (local mode). */
export function wire<N extends FunctionName>(name: N, deps: HandlerDeps): Handler<N> {
  const build: Builder<N> = HANDLERS[name];
  return build(deps);
}
