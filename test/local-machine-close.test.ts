/**
 * Closing the local release machine while its background work runs: close() must wait for that
 * work, never close dynalite (or the stand-ins) under it. A reconciler pass cut off mid-scan
 * read from dynalite after its database closed, an uncaught error in whatever test ran next.
 */
import assert from "node:assert/strict";
import type { ReconcileReport } from "../handlers/pipeline-events";
import { type LocalReleaseMachine, startLocalReleaseMachine } from "../local/release-machine";
import { startCliServer } from "./cli-harness";
import { functionDdbs, localPipelines, newReleaseId, until } from "./local-helpers";

/** Enough waiting executions that a reconciler pass outlasts close()'s own steps. */
const NAMES = Array.from({ length: 10 }, (_, i) => `close-${i + 1}`);

/**
 * Holds the reconciler's read of a running release's schedule (or, with `holdAll`, every request) until
 * `gate` resolves, and counts the handlers' DynamoDB requests: started, answered, and failed.
 */
function watchDynamo(machine: LocalReleaseMachine, gate: Promise<void>, holdAll = false) {
  const seen = { held: 0, started: 0, answered: 0, failed: [] as string[] };
  // Each function has its own client (local/release-machine.ts): watch every one.
  for (const ddb of functionDdbs(machine))
    ddb.middlewareStack.add(
      (next) => async (args) => {
        seen.started += 1;
        try {
          const input = args.input as {
            TableName?: string;
            IndexName?: string;
            KeyConditionExpression?: string;
          };
          // The reconciler's read of a RUNNING release's schedule (nothing else queries it here).
          const scheduleRead =
            input.TableName === machine.tables.releasePipelines &&
            input.IndexName === undefined &&
            input.KeyConditionExpression !== undefined;
          if (scheduleRead || holdAll) {
            seen.held += 1;
            await gate;
          }
          const output = await next(args);
          seen.answered += 1;
          return output;
        } catch (error) {
          seen.failed.push(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
          throw error;
        }
      },
      { step: "initialize", name: "watchDynamo" },
    );
  return seen;
}

/** A release of every NAMES pipeline, each running until the machine stops, all recorded Started. */
async function releaseWaitingOnAll(machine: LocalReleaseMachine): Promise<void> {
  const releaseId = newReleaseId("close");
  machine.submit({ releaseId, pipelines: NAMES });
  await until(`${releaseId}'s pipelines to be waited on`, async () => {
    const release = await machine.readRelease(releaseId);
    const recorded = release?.pipelines.filter((p) => p.pipelineExecutionId !== undefined) ?? [];
    return recorded.length === NAMES.length;
  });
  await machine.router.idle();
}

describe("closing the local release machine", function () {
  this.timeout(20_000);
  const pipelines = localPipelines(Object.fromEntries(NAMES.map((name) => [name, null])));

  it("waits for a reconciler pass caught mid-scan, which then checks every waiting execution", async () => {
    const machine = await startLocalReleaseMachine({ pipelines, retryPauseMs: 5 });
    await releaseWaitingOnAll(machine);
    let open!: () => void;
    const seen = watchDynamo(machine, new Promise<void>((resolve) => (open = resolve)));

    const order: string[] = [];
    const pass = machine.reconcile().then((report: ReconcileReport) => {
      order.push("pass ended");
      return report;
    });
    await until("the pass to reach its scan", () => seen.held === 1);
    const closing = machine.close().then(() => order.push("closed"));
    open();
    await closing;

    assert.deepEqual(order, ["pass ended", "closed"]);
    const report = await pass;
    assert.deepEqual(report.failures, []);
    assert.equal(report.checked, NAMES.length);
    assert.deepEqual(seen.failed, []);
  });

  it("stops the reconciler's timer and leaves none of its DynamoDB requests running or cut off", async () => {
    const machine = await startLocalReleaseMachine({ pipelines, retryPauseMs: 5, reconcileEveryMs: 1 });
    await releaseWaitingOnAll(machine);
    let open!: () => void;
    const seen = watchDynamo(machine, new Promise<void>((resolve) => (open = resolve)));
    await until("a timer's pass to reach its scan", () => seen.held > 0);

    const closing = machine.close();
    open();
    await closing;
    const afterClose = { ...seen, failed: [...seen.failed] };

    assert.deepEqual(afterClose.failed, []);
    assert.equal(afterClose.answered, afterClose.started);
    // Once closed, no pass starts: a tick of the old 1 ms timer would show up as a new request
    // within a few of its periods (under load it may come later: then this passes, never fails).
    await new Promise((resolve) => setTimeout(resolve, 10));
    assert.equal(seen.started, afterClose.started);
  });

  it("lets the local server's API answer a request cut off by close() before the machine closes", async () => {
    const cliServer = await startCliServer("close", pipelines, { reconcileEveryMs: 3_600_000 });
    const { server } = cliServer;
    let open!: () => void;
    const seen = watchDynamo(server.machine, new Promise<void>((resolve) => (open = resolve)), true);
    // The client's connection is cut by close(): its answer is lost, the route's reads are not.
    const asked = fetch(`${server.url}/releases/never-submitted`).catch(() => undefined);
    await until("the route to read the release", () => seen.held > 0);

    const closing = cliServer.close();
    open();
    await closing;
    await asked;

    assert.deepEqual(seen.failed, []);
    assert.equal(seen.answered, seen.started);
  });
});
