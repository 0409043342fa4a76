/**
 * The Lambda entry points, one factory per function: each builds its clients and settings once
 * per container (CallbackFunction's `callbackFactory`) and returns the handler. The same
 * factories run locally, pointed at the stand-ins by environment alone.
 */
import { clientsFromEnvironment } from "./clients";
import { manifestRulesFromEnvironment, tableNamesFromEnvironment } from "./config";
import {
  type PipelineEventOutcome,
  type PipelineStateChangeEvent,
  type ReconcileReport,
  type WaiterRequest,
  handlePipelineEvent,
  reconcile,
  registerWaiter,
  stopRemaining,
} from "./executions";
import {
  type LoadedManifest,
  type ValidatedManifestOutput,
  loadManifest,
  validateManifest,
} from "./load-manifest";
import { manifestParser } from "./manifest";
import { type ProxyResponse, type ReleaseStatusRequest, releaseStatusApi } from "./release-status";

function executionDeps() {
  const { ddb, sfn, codepipeline } = clientsFromEnvironment();
  return { ddb, sfn, codepipeline, tables: tableNamesFromEnvironment() };
}

export function loadManifestHandler(): (event: { request: unknown }) => Promise<LoadedManifest> {
  const { s3 } = clientsFromEnvironment();
  const { maxBytes } = manifestRulesFromEnvironment();
  return (event) => loadManifest({ s3, maxBytes }, event.request);
}

export function validateManifestHandler(): (event: { text: unknown }) => Promise<ValidatedManifestOutput> {
  const parse = manifestParser(manifestRulesFromEnvironment());
  return async (event) => validateManifest(parse, event);
}

export function registerWaiterHandler(): (event: WaiterRequest) => Promise<{ completedAtOnce: boolean }> {
  const deps = executionDeps();
  return (event) => registerWaiter(deps, event);
}

export function pipelineEventHandler(): (event: PipelineStateChangeEvent) => Promise<PipelineEventOutcome> {
  const deps = executionDeps();
  return (event) => handlePipelineEvent(deps, event);
}

export function reconcilerHandler(): () => Promise<ReconcileReport> {
  const deps = executionDeps();
  return () => reconcile(deps);
}

export function stopRemainingHandler(): (event: {
  releaseId: string;
  reason?: string;
}) => Promise<{ stopped: string[] }> {
  const deps = executionDeps();
  return (event) => stopRemaining(deps, event);
}

/** API Gateway (Lambda proxy) handler for `GET /releases/{releaseId}`. */
export function releaseStatusHandler(): (event: ReleaseStatusRequest) => Promise<ProxyResponse> {
  const { ddb } = clientsFromEnvironment();
  const tables = tableNamesFromEnvironment();
  return (event) => releaseStatusApi({ ddb, tables }, event);
}
