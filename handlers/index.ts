/**
 * The Lambda entry points, one per function: each reads its clients and settings from the
 * environment once per container (CallbackFunction's `callbackFactory`) and returns the handler the
 * one wiring (handlers/wiring.ts) builds from them. The same code runs locally, pointed at the
 * stand-ins by environment alone (test/lambda-archives.test.ts).
 *
 * Each entry point reads only what its function needs, and names its builder directly: Pulumi
 * serializes what an entry point captures into that function's archive.
 */
import { clientsFromEnvironment, s3ClientFromEnvironment } from "./clients";
import {
  controlSettingsFromEnvironment,
  manifestRulesFromEnvironment,
  stopGraceMinutesFromEnvironment,
  tableNamesFromEnvironment,
} from "./config";
import type { ExecutionDeps } from "./executions";
import { type FunctionName, HANDLERS, type Handler } from "./wiring";

function executionDeps(): ExecutionDeps {
  const { ddb, sfn, codepipeline, events } = clientsFromEnvironment();
  return {
    ...{ ddb, sfn, codepipeline, events, tables: tableNamesFromEnvironment() },
    stopGraceMinutes: stopGraceMinutesFromEnvironment(),
  };
}

export const LAMBDA_ENTRY_POINTS: { [N in FunctionName]: () => Handler<N> } = {
  loadManifest: () =>
    HANDLERS.loadManifest({ s3: s3ClientFromEnvironment(), rules: manifestRulesFromEnvironment() }),
  validateManifest: () => HANDLERS.validateManifest({ rules: manifestRulesFromEnvironment() }),
  recordRejection: () => HANDLERS.recordRejection({ execution: executionDeps() }),
  registerRelease: () => HANDLERS.registerRelease({ execution: executionDeps() }),
  awaitRelease: () => HANDLERS.awaitRelease({ execution: executionDeps() }),
  stopRelease: () => HANDLERS.stopRelease({ execution: executionDeps() }),
  pipelineEvent: () => HANDLERS.pipelineEvent({ execution: executionDeps() }),
  reconciler: () => HANDLERS.reconciler({ execution: executionDeps() }),
  executionEnded: () => HANDLERS.executionEnded({ execution: executionDeps() }),
  releaseStatus: () => HANDLERS.releaseStatus({ execution: executionDeps() }),
  releaseControl: () =>
    HANDLERS.releaseControl({ execution: executionDeps(), control: controlSettingsFromEnvironment() }),
  submitRelease: () =>
    HANDLERS.submitRelease({
      execution: executionDeps(),
      control: controlSettingsFromEnvironment(),
      rules: manifestRulesFromEnvironment(),
    }),
  uploaderEvent: () => HANDLERS.uploaderEvent({ execution: executionDeps(), s3: s3ClientFromEnvironment() }),
  freezeControl: () =>
    HANDLERS.freezeControl({ execution: executionDeps(), rules: manifestRulesFromEnvironment() }),
};
