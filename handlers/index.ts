/**
 * The Lambda entry points, one factory per function: each builds its clients and settings once
 * per container (CallbackFunction's `callbackFactory`) and returns the handler. The same
 * factories run locally, pointed at the stand-ins by environment alone.
 */
import { clientsFromEnvironment } from "./clients";
import {
  controlSettingsFromEnvironment,
  manifestRulesFromEnvironment,
  tableNamesFromEnvironment,
} from "./config";
import type { ExecutionDeps } from "./executions";
import {
  type LoadedManifest,
  type ValidatedManifestOutput,
  loadManifest,
  validateManifest,
} from "./load-manifest";
import { manifestParser } from "../contract/manifest";
import {
  type PipelineEventOutcome,
  type PipelineStateChangeEvent,
  type ReconcileReport,
  handlePipelineEvent,
  reconcile,
} from "./pipeline-events";
import { type RecordedRejection, type RejectionRequest, recordRejection } from "./rejections";
import { type ProxyResponse, type ReleaseStatusRequest, releaseStatusApi } from "./release-status";
import { type ControlDeps, type ControlRequest, releaseControlApi } from "./release-control";
import { type RegisterReleaseRequest, registerRelease } from "./release/registration";
import { registerReleaseWaiter } from "./release/outcome";
import {
  type RetryReleaseRequest,
  type StopReleaseRequest,
  type StopReleaseResult,
  retryRelease,
  stopReleaseAfterFailedWait,
} from "./release/control";

function executionDeps(): ExecutionDeps {
  const { ddb, sfn, codepipeline, events } = clientsFromEnvironment();
  return { ddb, sfn, codepipeline, events, tables: tableNamesFromEnvironment() };
}

export function loadManifestHandler(): (event: { request: unknown }) => Promise<LoadedManifest> {
  const { s3 } = clientsFromEnvironment();
  const { maxBytes } = manifestRulesFromEnvironment();
  return (event) => loadManifest({ s3, maxBytes }, event.request);
}

export function validateManifestHandler(): (event: {
  text: unknown;
  location?: unknown;
}) => Promise<ValidatedManifestOutput> {
  const parse = manifestParser(manifestRulesFromEnvironment());
  return async (event) => validateManifest(parse, event);
}

export function recordRejectionHandler(): (event: RejectionRequest) => Promise<RecordedRejection> {
  const { ddb, s3 } = clientsFromEnvironment();
  const rules = manifestRulesFromEnvironment();
  const deps = {
    ddb,
    s3,
    tables: tableNamesFromEnvironment(),
    maxBytes: rules.maxBytes,
    parse: manifestParser(rules),
  };
  return (event) => recordRejection(deps, event);
}

/** RegisterRelease, and RetryRelease (attempt n+1) through the same function and role. */
export function registerReleaseHandler(): (
  event: RegisterReleaseRequest | RetryReleaseRequest,
) => Promise<{ releaseId: string }> {
  const deps = executionDeps();
  return (event) => ("retry" in event ? retryRelease(deps, event) : registerRelease(deps, event));
}

export function awaitReleaseHandler(): (event: {
  taskToken: string;
  releaseId: string;
  executionArn: string;
}) => Promise<{ completedAtOnce: boolean }> {
  const deps = executionDeps();
  return (event) => registerReleaseWaiter(deps, event);
}

export function stopReleaseHandler(): (event: StopReleaseRequest) => Promise<StopReleaseResult> {
  const deps = executionDeps();
  return (event) => stopReleaseAfterFailedWait(deps, event);
}

export function pipelineEventHandler(): (event: PipelineStateChangeEvent) => Promise<PipelineEventOutcome> {
  const deps = executionDeps();
  return (event) => handlePipelineEvent(deps, event);
}

export function reconcilerHandler(): () => Promise<ReconcileReport> {
  const deps = executionDeps();
  return () => reconcile(deps);
}

/**
 * API Gateway (Lambda proxy) handler for the control routes: `GET /releases`, and
 * `POST /releases/{releaseId}/cancel`, `/retry` and `/approvals/{pipeline}`.
 */
export function releaseControlHandler(): (event: ControlRequest) => Promise<ProxyResponse> {
  const deps: ControlDeps = { ...executionDeps(), ...controlSettingsFromEnvironment() };
  return (event) => releaseControlApi(deps, event);
}

/** API Gateway (Lambda proxy) handler for `GET /releases/{releaseId}`. */
export function releaseStatusHandler(): (event: ReleaseStatusRequest) => Promise<ProxyResponse> {
  const { ddb } = clientsFromEnvironment();
  const tables = tableNamesFromEnvironment();
  return (event) => releaseStatusApi({ ddb, tables }, event);
}
