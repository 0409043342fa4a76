/**
 * `GET /releases/{releaseId}` as the CLI reads it: the fields the API sends, the newer ones
 * optional so that the CLI works against an older or newer API. A rejected submission comes back
 * as `{releaseId, status: "REJECTED", error, cause, problems, source}`, without pipelines.
 */
import type { PipelineStatusView, ReleaseStatusView } from "../contract/release-view";

export interface PipelineView extends Omit<PipelineStatusView, "history"> {
  history?: PipelineStatusView["history"];
}

/** The API's view of a release; pipelines may be absent (a REJECTED answer has none). */
export interface ReleaseView extends Omit<ReleaseStatusView, "pipelines"> {
  pipelines?: PipelineView[];
}
