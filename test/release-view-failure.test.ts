/**
 * What a release's view says of each pipeline's end, end to end on the local engine: a failed
 * pipeline's own entry (and its CLI line) names the stage and action it failed at, a sibling its
 * failure stopped (or kept from starting) names that failure, and after a retry the durations count
 * from the current attempt while the earlier attempts stay readable.
 */
import assert from "node:assert/strict";
import type { ReleaseStatusView } from "../contract/release-view";
import type { ExecutionRecord, LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { pipelineLine, releaseElapsed, renderStatus } from "../cli/render";
import { controlCalls } from "./control-helpers";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";

const PIPELINES: LocalPipelineSpec[] = [
  { name: "v-slow", durationMs: null, outcome: "Succeeded" },
  {
    name: "v-bad",
    durationMs: null,
    outcome: "Succeeded",
    stages: [{ name: "Build", actions: ["UnitTests"] }],
  },
  { name: "v-next", durationMs: null, outcome: "Succeeded" },
];
const MANIFEST = (releaseId: string) => ({
  releaseId,
  pipelines: ["v-slow", "v-bad", { name: "v-next", dependsOn: ["v-slow"] }],
});

const BOB = "arn:aws:iam::123456789012:user/bob";
const { retry, cancel } = controlCalls((m) => m.control, BOB);

async function running(machine: LocalReleaseMachine, pipeline: string): Promise<ExecutionRecord> {
  return until(`${pipeline} to be running`, () =>
    machine.codepipeline.executions(pipeline).find((e) => e.status === "InProgress"),
  );
}

/** The release after v-bad failed at Build/UnitTests while v-slow ran and v-next waited for it. */
async function failedRelease(machine: LocalReleaseMachine, releaseId: string): Promise<ReleaseStatusView> {
  const execution = machine.submit(MANIFEST(releaseId));
  await running(machine, "v-slow");
  machine.codepipeline.finish((await running(machine, "v-bad")).pipelineExecutionId, "Failed");
  assert.equal((await finished(machine, execution)).status, "FAILED");
  return (await machine.readRelease(releaseId)) as ReleaseStatusView;
}

const byName = (release: ReleaseStatusView | undefined, name: string) =>
  release?.pipelines.find((p) => p.name === name);

describe("a release's view of each pipeline's end", function () {
  this.timeout(30_000);

  it("names the failed pipeline's stage and action on its own entry, in GET /releases/{id} and its CLI line", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("view-failed");
      await failedRelease(machine, releaseId);
      const answer = await machine.api.releaseStatus({ pathParameters: { releaseId } });
      const view = JSON.parse(answer.body) as ReleaseStatusView;
      const bad = byName(view, "v-bad");
      assert.deepEqual([bad?.status, bad?.failedStage, bad?.failedAction], ["Failed", "Build", "UnitTests"]);
      assert.match(bad?.cause ?? "", /ended Failed at stage Build, action UnitTests/);
      assert.match(
        pipelineLine(bad as NonNullable<typeof bad>, 6, 10, view.pipelines),
        /^!! v-bad +Failed +FAILED at \d{2}:\d{2}:\d{2}Z \(\d+\.\ds\) at stage Build, action UnitTests$/,
      );
    });
  });

  it("names on a stopped sibling, and on one kept from starting, the failure that ended it (stopRemaining)", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("view-stopped");
      const release = await failedRelease(machine, releaseId);
      const [slow, next] = [byName(release, "v-slow"), byName(release, "v-next")];
      assert.deepEqual([slow?.status, slow?.stoppedBy], ["Stopped", "v-bad"]);
      assert.match(
        slow?.cause ?? "",
        /ended Stopped: stopped after pipeline v-bad failed \(failure policy stopRemaining\)$/,
      );
      assert.deepEqual([next?.status, next?.stoppedBy], ["Skipped", "v-bad"]);
      assert.equal(byName(release, "v-bad")?.stoppedBy, undefined);
      const lines = renderStatus(release, new Date());
      assert.ok(
        lines.some((l) =>
          /^ {2}-- v-slow .*; stopped after v-bad failed at stage Build, action UnitTests$/.test(l),
        ),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((l) =>
          /^ {2}-- v-next .*; skipped after v-bad failed at stage Build, action UnitTests$/.test(l),
        ),
        lines.join("\n"),
      );
    });
  });

  it("says on a pipeline a cancel stopped who cancelled, and names no failure", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("view-cancel");
      const execution = machine.submit({ releaseId, pipelines: ["v-slow"] });
      await running(machine, "v-slow");
      assert.equal((await cancel(machine, releaseId)).status, 202);
      await finished(machine, execution);
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.status, "CANCELLED");
      const slow = byName(release, "v-slow");
      assert.equal(slow?.status, "Stopped");
      assert.match(slow?.cause ?? "", new RegExp(`ended Stopped: stopped by the cancel of ${BOB}$`));
      assert.equal(slow?.stoppedBy, undefined);
    });
  });

  it("counts durations after a retry from the current attempt's start, and keeps the earlier attempt's", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("view-attempts");
      const first = await failedRelease(machine, releaseId);
      const firstSlow = byName(first, "v-slow");
      assert.equal((await retry(machine, releaseId)).status, 202);
      const second = await until("attempt 2 to run v-slow again", async () => {
        const release = await machine.readRelease(releaseId);
        const slow = byName(release, "v-slow");
        return release?.attempt === 2 && slow?.status === "InProgress" && slow.startedAt
          ? release
          : undefined;
      });

      assert.ok(
        second.attemptStartedAt && second.attemptStartedAt >= (first.endedAt ?? ""),
        second.attemptStartedAt,
      );
      assert.equal(second.startedAt, first.startedAt, "startedAt stays the first submission's");
      assert.deepEqual(second.earlierAttempts, [
        { attempt: 1, status: "FAILED", startedAt: first.startedAt, endedAt: first.endedAt },
      ]);
      const slow = byName(second, "v-slow");
      assert.deepEqual(slow?.earlierAttempts, [
        {
          attempt: 1,
          status: "Stopped",
          pipelineExecutionId: firstSlow?.pipelineExecutionId,
          startedAt: firstSlow?.startedAt,
          endedAt: firstSlow?.endedAt,
        },
      ]);
      assert.ok((slow?.startedAt ?? "") >= (second.attemptStartedAt ?? ""), "v-slow's run is attempt 2's");
      // 1.5 s into attempt 2 reads 1.5s, however long attempt 1 and the pause before the retry took.
      const now = new Date(Date.parse(second.attemptStartedAt ?? "") + 1500);
      assert.equal(releaseElapsed(second, now), "1.5s");
      const lines = renderStatus(second, now);
      assert.ok(
        lines.some((l) =>
          /^ {11}attempt 1 {2}FAILED {2}\d{2}:\d{2}:\d{2}Z-\d{2}:\d{2}:\d{2}Z {2}\d+\.\ds$/.test(l),
        ),
        lines.join("\n"),
      );
      assert.ok(
        lines.some((l) =>
          /^ +attempt 1 {2}Stopped {2}\d{2}:\d{2}:\d{2}Z-\d{2}:\d{2}:\d{2}Z {2}\d+\.\ds$/.test(l),
        ),
        lines.join("\n"),
      );
    });
  });
});
