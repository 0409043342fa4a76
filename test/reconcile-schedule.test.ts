/**
 * The reconciler's pass over the schedules of RUNNING releases (handlers/release/reconcile-schedule.ts)
 * repeats what a function that died after recording a pipeline's end left undone: no index keeps
 * the ended execution in view, the schedule itself shows it (a dependant without the success's
 * mark, every pipeline marked but the count short).
 */
import assert from "node:assert/strict";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { executionsByIds } from "../handlers/executions";
import { reconcile } from "../handlers/pipeline-events";
import { STUCK_START_SECONDS } from "../handlers/release/progress";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import { crashAfterWrites } from "./crash-injection";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";

const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

/** Ends every running execution of the machine, and delivers what that causes. */
async function endRunning(m: LocalReleaseMachine): Promise<void> {
  for (const e of m.codepipeline.executions()) {
    if (e.status === "InProgress") m.codepipeline.finish(e.pipelineExecutionId, "Succeeded");
  }
  await m.router.idle();
}

describe("the reconciler's pass over the schedules of RUNNING releases", function () {
  this.timeout(30_000);

  /** The success's handling in the pipeline-event function: its record (marked settled), the dependant's mark, its claim. */
  for (const k of [1, 2, 3]) {
    it(`completes a release whose first pipeline's success handler died after write ${k}: readies the dependant, makes up the count`, async () => {
      await withLocalMachine({ pipelines: [manual("rs-a"), manual("rs-b")] }, async (m) => {
        const releaseId = newReleaseId(`rs-${k}`);
        const execution = m.submit({ releaseId, pipelines: ["rs-a", { name: "rs-b", dependsOn: ["rs-a"] }] });
        // Recorded on the schedule and linked to its release: the link is the start's last write, and
        // an end arriving before it would be recorded on the Executions item first (one more write).
        await until("rs-a's start to be recorded and linked", async () => {
          const [a] = await pipelinesOfRelease(m.deps, releaseId);
          if (a?.status !== "Started" || !a.pipelineExecutionId) return undefined;
          const [linked] = await executionsByIds(m.deps, [a.pipelineExecutionId]);
          return linked?.releaseId === releaseId ? true : undefined;
        });
        await m.router.idle();
        const crash = crashAfterWrites(m.functionDeps("pipelineEvent").execution, k);
        await endRunning(m);
        assert.ok(crash.died(), "the handler died");
        crash.restore();

        const [a, b] = await pipelinesOfRelease(m.deps, releaseId);
        assert.deepEqual([a.status, a.settled], ["Succeeded", true]);
        // Its dependant waits unclaimed (k < 3), or claimed and never started (k = 3, taken over by
        // the reconciler once the claim expired): nothing else would start it.
        assert.equal(b.status, k < 3 ? "Pending" : "Starting");
        assert.equal((await readReleaseItem(m.deps, releaseId))?.settledCount ?? 0, 0);

        // A claim is taken over only once it expired: the pass runs on a later clock.
        const later = new Date(Date.now() + (STUCK_START_SECONDS + 60) * 1000);
        const first = await reconcile({ ...m.functionDeps("reconciler").execution, now: () => later });
        assert.deepEqual(first.failures, []);
        assert.deepEqual(
          [first.repairedSettles, first.resumedStarts],
          k < 3 ? [1, 0] : [0, 1],
          "the lost hand-off, or the claim it left",
        );
        await m.router.idle();
        await endRunning(m);
        // rs-b settled and counted; rs-a's count is still missing until the next pass.
        const second = await m.reconcile();
        assert.deepEqual(second.failures, []);
        assert.equal(second.repairedSettles, 1, "the lost count");
        const done = await finished(m, execution);
        assert.equal(done.status, "SUCCEEDED", done.cause);
        assert.equal(m.codepipeline.executions("rs-b").length, 1, "rs-b started once");
      });
    });
  }
});
