/**
 * `GET /releases/{releaseId}` as the CLI reads it: the fields the API sends, the newer ones
 * optional so that the CLI works against an older or newer API. A rejected submission comes back
 * as `{releaseId, status: "REJECTED", error, cause, problems, source}`, without pipelines.
 */
import type { ManifestProblem } from "../contract/errors";
import type { PipelineStatusView, ReleaseStatusView } from "../contract/release-view";

/** One problem of a manifest: the field (JSON Pointer), the rule it breaks, in words. */
export type Problem = ManifestProblem;

export interface PipelineView extends Omit<PipelineStatusView, "history"> {
  history?: PipelineStatusView["history"];
  /** Where a failed pipeline failed, when the API knows. */
  failedStage?: string;
  failedAction?: string;
}

/** The API's view of a release, plus what a REJECTED answer carries; pipelines may be absent. */
export interface ReleaseView extends Omit<ReleaseStatusView, "pipelines"> {
  problems?: Problem[];
  pipelines?: PipelineView[];
}
