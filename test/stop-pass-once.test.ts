/**
 * One stop pass per stopped release (handlers/release/failure-policy.ts, afterFailure): under
 * stopRemaining only the first failure runs it, and none when a cancel's runs; the pipelines
 * that pass stops end Stopped, and each of those ends used to run the whole pass again, settling
 * again what the first pass was settling. Every pipeline is counted once.
 */
import assert from "node:assert/strict";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { pipelinesOfRelease, readReleaseItem } from "../handlers/release/reads";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { controlCalls, controlDepsOf } from "./control-helpers";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";

const BOB = "arn:aws:iam::123456789012:user/bob";
const { cancel } = controlCalls(controlDepsOf, BOB);

/** Counts the stop pass's whole-schedule reads and the settles' counts, on every client. */
function passCounter() {
  const counted = { settles: 0, scheduleReads: 0 };
  const onDynamoClient = (client: DynamoDBClient) => {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        const input = args.input as { UpdateExpression?: string; TableName?: string };
        if (input.UpdateExpression?.includes("ADD #settledCount")) counted.settles += 1;
        if (context.commandName === "QueryCommand" && input.TableName?.includes("release-pipelines"))
          counted.scheduleReads += 1;
        return next(args);
      },
      { step: "initialize", name: "passCounter" },
    );
  };
  return { onDynamoClient, counted };
}

const ROOTS = ["sp-r1", "sp-r2", "sp-r3"];
/** Four dependants of each root, none started while its root runs. */
const DEPENDANTS = ROOTS.flatMap((root) =>
  [1, 2, 3, 4].map((n) => ({ name: `${root}-d${n}`, dependsOn: [root] })),
);
const pipelines: LocalPipelineSpec[] = [...ROOTS, ...DEPENDANTS.map((d) => d.name)].map((name) => ({
  name,
  durationMs: null,
  outcome: "Succeeded",
}));

async function runningRoots(m: LocalReleaseMachine, label: string) {
  const releaseId = newReleaseId(label);
  const execution = m.submit({ releaseId, pipelines: [...ROOTS, ...DEPENDANTS] });
  await until("the roots to run", () => ROOTS.every((r) => m.codepipeline.executions(r).length === 1));
  // Registered to the end (its last step skips what a cancel left unskipped) and waiting.
  await until("the release's wait", async () => (await readReleaseItem(m.deps, releaseId))?.taskToken);
  await m.router.idle();
  return { releaseId, execution };
}

describe("one stop pass per stopped release", function () {
  this.timeout(30000);

  it("a cancel skips and stops once: its stopped pipelines' ends run no pass of their own, and every pipeline is counted once", async () => {
    const counter = passCounter();
    await withLocalMachine({ pipelines, onDynamoClient: counter.onDynamoClient }, async (m) => {
      const { releaseId, execution } = await runningRoots(m, "sp-cancel");
      const before = { ...counter.counted };
      assert.equal((await cancel(m, releaseId)).status, 202);
      await finished(m, execution);
      const release = await readReleaseItem(m.deps, releaseId);
      assert.equal(release?.status, "CANCELLED");
      assert.equal(release?.settledCount, ROOTS.length + DEPENDANTS.length);
      assert.equal(counter.counted.settles - before.settles, ROOTS.length + DEPENDANTS.length);
      // The cancel's pass reads the schedule once; the call and completion read it too, never a pass per end.
      assert.ok(counter.counted.scheduleReads - before.scheduleReads <= 4, JSON.stringify(counter.counted));
      const statuses = (await pipelinesOfRelease(m.deps, releaseId)).map((i) => i.status);
      assert.deepEqual([...new Set(statuses)].sort(), ["Skipped", "Stopped"]);
    });
  });

  it("under stopRemaining the first failure stops the rest once, and the ends it causes add no pass", async () => {
    const counter = passCounter();
    await withLocalMachine({ pipelines, onDynamoClient: counter.onDynamoClient }, async (m) => {
      const { releaseId, execution } = await runningRoots(m, "sp-fail");
      const before = { ...counter.counted };
      const [first] = m.codepipeline.executions("sp-r1");
      m.codepipeline.finish(first.pipelineExecutionId, "Failed");
      await finished(m, execution);
      const release = await readReleaseItem(m.deps, releaseId);
      assert.deepEqual([release?.status, release?.firstFailurePipeline], ["FAILED", "sp-r1"]);
      assert.equal(release?.settledCount, ROOTS.length + DEPENDANTS.length);
      assert.equal(counter.counted.settles - before.settles, ROOTS.length + DEPENDANTS.length);
      assert.ok(counter.counted.scheduleReads - before.scheduleReads <= 4, JSON.stringify(counter.counted));
    });
  });
});
