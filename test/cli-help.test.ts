/**
 * Every `--help` lists every status and exit code, rendered from their one source (contract/
 * lifecycle.ts through contract/release-view.ts; cli/exit-codes.ts), so none can be left out.
 */
import assert from "node:assert/strict";
import { RELEASE_STATUSES, SCHEDULE_STATUSES } from "../contract/lifecycle";
import { PIPELINE_VIEW_STATUSES, RELEASE_VIEW_STATUSES } from "../contract/release-view";
import { EXIT, RELEASE_STATUS_EXIT } from "../cli/exit-codes";
import { HELP } from "../cli/help";
import { exitCodeFor } from "../cli/render";

const CODEPIPELINE_STATUSES = [
  "InProgress",
  "Stopping",
  "Succeeded",
  "Failed",
  "Stopped",
  "Cancelled",
  "Superseded",
];

describe("the CLI's help", () => {
  it("has a help text for the top level and for every command", () => {
    assert.deepEqual(Object.keys(HELP).sort(), [
      "approve",
      "cancel",
      "dashboard",
      "freeze",
      "list",
      "reject",
      "retry",
      "status",
      "submit",
      "top",
      "watch",
    ]);
  });

  it("shows every release status the lifecycle declares, and CANCELLING, with its exit code, in every help", () => {
    assert.deepEqual([...RELEASE_VIEW_STATUSES].sort(), [...RELEASE_STATUSES, "CANCELLING"].sort());
    for (const [topic, text] of Object.entries(HELP)) {
      for (const status of RELEASE_VIEW_STATUSES) {
        assert.match(
          text,
          new RegExp(`\\b${status} ${RELEASE_STATUS_EXIT[status]}\\b`),
          `${topic} --help: ${status}`,
        );
      }
    }
  });

  it("shows every pipeline status a release's view can answer in every help", () => {
    // "Frozen": a Pending pipeline a freeze holds (view only, contract/lifecycle-freeze.ts).
    const shown = [...SCHEDULE_STATUSES.filter((s) => s !== "Starting"), ...CODEPIPELINE_STATUSES, "Frozen"];
    assert.deepEqual([...PIPELINE_VIEW_STATUSES].sort(), [...new Set(shown)].sort());
    for (const [topic, text] of Object.entries(HELP)) {
      const line = /^Pipeline statuses:\n((?: {2}.*\n)+)/m.exec(text)?.[1] ?? "";
      const listed = line.split(/[\s,]+/).filter(Boolean);
      assert.deepEqual(listed.sort(), [...PIPELINE_VIEW_STATUSES].sort(), `${topic} --help`);
    }
  });

  it("explains every exit code in every help", () => {
    for (const [topic, text] of Object.entries(HELP)) {
      const codes = [...text.matchAll(/^ {2}(\d) {2}\S/gm)].map((m) => Number(m[1]));
      assert.deepEqual(codes, Object.values(EXIT), `${topic} --help`);
    }
  });

  it("exits status and watch with the code the help gives each status, and 1 for a status it does not know", () => {
    for (const status of RELEASE_VIEW_STATUSES) {
      assert.equal(exitCodeFor({ releaseId: "r", status }), RELEASE_STATUS_EXIT[status], status);
    }
    assert.equal(exitCodeFor({ releaseId: "r", status: "PAUSED" as "RUNNING" }), EXIT.failed);
    assert.deepEqual(
      RELEASE_VIEW_STATUSES.filter((s) => RELEASE_STATUS_EXIT[s] === EXIT.ok),
      ["RUNNING", "CANCELLING", "SUCCEEDED"],
    );
  });
});
