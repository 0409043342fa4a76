/**
 * The lines `npm start` prints per release event (local/release-events.ts), and how it names a
 * release before the workflow has read the manifest.
 */
import assert from "node:assert/strict";
import { formatReleaseEvent } from "../local/release-events";
import { writtenReleaseId } from "../contract/manifest";

describe("npm start's release event lines", () => {
  const at = new Date("2026-11-30T10:00:04.500Z");

  it("prints one line per event kind, naming the release where it is known", () => {
    assert.deepEqual(
      [
        formatReleaseEvent({ type: "submitted", at, releaseId: "5.16", source: "s3://b/5.16.json" }),
        formatReleaseEvent({ type: "started", at, releaseId: "5.16", execution: "release-5.16" }),
        formatReleaseEvent({
          type: "pipeline-ended",
          at,
          releaseId: "5.16",
          pipeline: "svc-a",
          state: "FAILED",
        }),
        formatReleaseEvent({ type: "pipeline-ended", at, pipeline: "svc-b", state: "SUCCEEDED" }),
        formatReleaseEvent({
          type: "ended",
          at,
          releaseId: "5.16",
          status: "FAILED",
          error: "PipelineFailed",
        }),
        formatReleaseEvent({
          type: "ended",
          at,
          status: "REJECTED",
          error: "InvalidManifest",
          cause: "not JSON",
        }),
        formatReleaseEvent({
          type: "rejected",
          at,
          source: "the API",
          reason: "/pipelines  required  is required",
        }),
      ],
      [
        "10:00:04Z  submitted  release 5.16 from s3://b/5.16.json",
        "10:00:04Z  started    release 5.16  (execution release-5.16)",
        "10:00:04Z  pipeline   svc-a FAILED  (release 5.16)",
        "10:00:04Z  pipeline   svc-b SUCCEEDED",
        "10:00:04Z  failed     release 5.16: PipelineFailed",
        "10:00:04Z  rejected   a release: InvalidManifest: not JSON",
        "10:00:04Z  rejected   a release from the API: /pipelines required is required",
      ],
    );
  });

  it("keeps a cause on one line and cuts it at 300 characters", () => {
    const line = formatReleaseEvent({
      type: "ended",
      at,
      releaseId: "r",
      status: "FAILED",
      cause: `a\nb ${"x".repeat(400)}`,
    });
    assert.equal(line, `10:00:04Z  failed     release r: a b ${"x".repeat(295)}…`);
  });

  it("reads a releaseId as the manifest writes it; none where there is none or the text nests too deep to read", () => {
    const deep = `{"releaseId":"deep","x":${"[".repeat(10_000)}${"]".repeat(10_000)}}`;
    assert.deepEqual(
      [
        deep,
        '{"releaseId":"5.16"}',
        '{"releaseId": 5.10}',
        '{"pipelines":[]}',
        "not json",
        '{"releaseId":true}',
      ].map(writtenReleaseId),
      [undefined, "5.16", "5.10", undefined, undefined, undefined],
    );
  });
});
