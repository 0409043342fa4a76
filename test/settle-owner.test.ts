/**
 * One owner per pipeline end (handlers/release/progress.ts, onPipelineEnded): the start that
 * finds its execution already ended and the end's event can both act on one end; the conditional
 * write that records the end on the schedule admits one of them, which settles it, and the other
 * does nothing. An owner that dies after that write leaves the end unsettled on the schedule of a
 * RUNNING release, and the reconciler's pass settles it (test/reconcile-schedule.test.ts kills the
 * success's handler after each of its writes).
 */
import assert from "node:assert/strict";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { ExecutionItem } from "../handlers/executions";
import { onPipelineEnded } from "../handlers/release/progress";
import { readReleaseItem } from "../handlers/release/reads";
import { readItem } from "../handlers/reads";
import { ExecutionsTable } from "../contract/tables";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import type { LocalReleaseMachine } from "../local/release-machine";
import { crashAfterWrites } from "./crash-injection";
import { finished, newReleaseId, until, withLocalMachine } from "./local-helpers";

/** Counts the writes that add to a release's `settledCount`, on every client of the machine. */
function settleCounter() {
  let adds = 0;
  const onDynamoClient = (client: DynamoDBClient) => {
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { UpdateExpression?: string };
        if (input.UpdateExpression?.includes("ADD #settledCount")) adds += 1;
        return next(args);
      },
      { step: "initialize", name: "settleCounter" },
    );
  };
  return { onDynamoClient, adds: () => adds };
}

const instant = (name: string): LocalPipelineSpec => ({ name, durationMs: 0, outcome: "Succeeded" });
const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

async function executionItem(m: LocalReleaseMachine, id: string): Promise<ExecutionItem> {
  const item = await readItem<ExecutionItem>(m.deps.ddb, m.deps.tables.executions, {
    [ExecutionsTable.hashKey]: id,
  });
  assert.ok(item, `execution ${id} is recorded`);
  return item;
}

/** Starts a release of one manual pipeline and answers its running execution's id. */
async function runningRelease(m: LocalReleaseMachine, label: string, pipeline: string) {
  const releaseId = newReleaseId(label);
  const execution = m.submit({ releaseId, pipelines: [pipeline] });
  const [run] = await until(`${pipeline} to run`, async () => {
    const runs = m.codepipeline.executions(pipeline);
    return runs.length === 1 ? runs : undefined;
  });
  await until(`${pipeline}'s start to be recorded`, async () =>
    (await executionItem(m, run.pipelineExecutionId).catch(() => undefined))?.releaseId === releaseId
      ? true
      : undefined,
  );
  await m.router.idle();
  return { releaseId, execution, id: run.pipelineExecutionId };
}

describe("one owner settles each pipeline end", function () {
  this.timeout(30000);

  it("counts each end of a release of instant pipelines once, however its start and its event race", async () => {
    const counter = settleCounter();
    const names = ["so-1", "so-2", "so-3", "so-4", "so-5", "so-6"];
    await withLocalMachine(
      { pipelines: names.map(instant), onDynamoClient: counter.onDynamoClient },
      async (m) => {
        const releaseId = newReleaseId("so-instant");
        const execution = await finished(m, m.submit({ releaseId, pipelines: names }));
        await m.router.idle();
        assert.equal(execution.status, "SUCCEEDED");
        assert.equal(counter.adds(), names.length);
        assert.equal((await readReleaseItem(m.deps, releaseId))?.settledCount, names.length);
      },
    );
  });

  it("lets one of two first-hand actors on the same end settle it, and the other do nothing", async () => {
    await withLocalMachine({ pipelines: [manual("so-race")] }, async (m) => {
      const { releaseId, execution, id } = await runningRelease(m, "so-race", "so-race");
      // The event's handler dies before it acts on the end; two actors then find the same end.
      const deps = m.functionDeps("pipelineEvent").execution;
      const crash = crashAfterWrites(deps, 0);
      m.codepipeline.finish(id, "Succeeded");
      await m.router.idle();
      assert.ok(crash.died());
      crash.restore();
      const ended: ExecutionItem = { ...(await executionItem(m, id)), status: "Succeeded" };
      await Promise.all([onPipelineEnded(deps, ended), onPipelineEnded(deps, ended)]);
      assert.equal((await finished(m, execution)).status, "SUCCEEDED");
      assert.equal((await readReleaseItem(m.deps, releaseId))?.settledCount, 1);
    });
  });
});
