/**
 * The backstop (docs/architecture.md, "The backstop"): no execution of the workflow ends with its
 * release RUNNING. On the local machine, the engine's "Step Functions Execution Status Change"
 * events reach the executionEnded function through the same wiring as on AWS, and the reconciler
 * finds what a lost event left behind.
 */
import assert from "node:assert/strict";
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { onExecutionEnded } from "../handlers/release/execution-ended";
import type { LocalReleaseMachine } from "../local/release-machine";
import { executionStatusChange } from "./event-builders";
import { finished, localPipelines, newReleaseId, statusesOf, until, withLocalMachine } from "./local-helpers";

const PIPELINES = localPipelines({ "bs-a": 20, "bs-b": 20, "bs-fails": 10, "bs-manual": null }, ["bs-fails"]);

/**
 * Fails the engine's first Releases update that records `status` (its Mark state) as a dropped
 * connection does: the engine's client is the one that makes a single attempt per call (Step
 * Functions' own), so the handlers' writes are untouched.
 */
function dropMarkOnce(status: string) {
  let dropped = 0;
  const onDynamoClient = (client: DynamoDBClient) => {
    client.middlewareStack.add(
      (next) => async (args) => {
        const input = args.input as { TableName?: string; ExpressionAttributeValues?: unknown };
        const engines = (await client.config.maxAttempts()) === 1;
        const marks = JSON.stringify(input.ExpressionAttributeValues ?? {}).includes(`"${status}"`);
        if (engines && marks && input.TableName?.includes("releases") && dropped === 0) {
          dropped += 1;
          throw Object.assign(new Error("socket hang up"), { code: "ECONNRESET" });
        }
        return next(args);
      },
      { step: "initialize", name: "dropMarkOnce" },
    );
  };
  return { onDynamoClient, dropped: () => dropped };
}

const releaseStatus = async (machine: LocalReleaseMachine, releaseId: string) =>
  (await machine.readRelease(releaseId))?.status;

const ended = (machine: LocalReleaseMachine, releaseId: string, status: string) =>
  until(`${releaseId} to read ${status}`, async () => (await releaseStatus(machine, releaseId)) === status);

describe("the backstop: no execution ends with its release RUNNING", function () {
  this.timeout(30000);

  it("records SUCCEEDED, as the schedule decided, when a socket hang up fails MarkSucceeded", async () => {
    const fault = dropMarkOnce("SUCCEEDED");
    await withLocalMachine(
      { pipelines: PIPELINES, onDynamoClient: fault.onDynamoClient },
      async (machine) => {
        const releaseId = newReleaseId("mark-ok");
        const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["bs-a", "bs-b"] }));
        assert.equal(fault.dropped(), 1);
        assert.equal(execution.status, "FAILED");
        await ended(machine, releaseId, "SUCCEEDED");
        const release = await machine.readRelease(releaseId);
        assert.deepEqual(statusesOf(release), ["bs-a Succeeded", "bs-b Succeeded"]);
        const announced = machine.router.published.filter(
          (e) =>
            e["detail-type"] === "Release State Change" &&
            e.detail.releaseId === releaseId &&
            !String(e.detail.kind).startsWith("pipeline."),
        );
        assert.deepEqual(
          announced.map((e) => e.detail.status),
          ["RUNNING", "SUCCEEDED"],
        );
      },
    );
  });

  it("records FAILED with the pipeline's failure when a socket hang up fails MarkFailed", async () => {
    const fault = dropMarkOnce("FAILED");
    await withLocalMachine(
      { pipelines: PIPELINES, onDynamoClient: fault.onDynamoClient },
      async (machine) => {
        const releaseId = newReleaseId("mark-failed");
        const execution = await finished(
          machine,
          machine.submit({ releaseId, pipelines: ["bs-fails", "bs-a"] }),
        );
        assert.equal(fault.dropped(), 1);
        assert.equal(execution.status, "FAILED");
        await ended(machine, releaseId, "FAILED");
        const release = await machine.readRelease(releaseId);
        assert.equal(release?.error, "PipelineFailed");
        assert.match(release?.cause ?? "", /bs-fails/);
      },
    );
  });

  it("fails the release and stops its pipelines when its execution is stopped (ABORTED)", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("aborted");
      const execution = machine.submit({ releaseId, pipelines: ["bs-manual"] });
      await until("bs-manual to run", async () =>
        statusesOf(await machine.readRelease(releaseId)).includes("bs-manual InProgress"),
      );
      machine.engine.stopExecution(execution.executionArn, { cause: "an operator stopped it" });
      await finished(machine, execution);
      await ended(machine, releaseId, "FAILED");
      const release = await machine.readRelease(releaseId);
      assert.equal(release?.cause, "an operator stopped it");
      await until("bs-manual to be stopped", async () =>
        statusesOf(await machine.readRelease(releaseId)).includes("bs-manual Stopped"),
      );
    });
  });

  it("fails the release and stops its pipelines when its execution times out (TIMED_OUT), naming that end", async () => {
    await withLocalMachine({ pipelines: PIPELINES, executionTimeoutSeconds: 0.5 }, async (machine) => {
      const releaseId = newReleaseId("timed-out");
      const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["bs-manual"] }));
      assert.equal(execution.status, "TIMED_OUT");
      await ended(machine, releaseId, "FAILED");
      assert.equal((await machine.readRelease(releaseId))?.error, "ExecutionTimedOut");
      await until("bs-manual to be stopped", async () =>
        statusesOf(await machine.readRelease(releaseId)).includes("bs-manual Stopped"),
      );
    });
  });

  it("finds the release of an execution whose name encodes no releaseId (an upload's) by its ARN", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("unnamed");
      const execution = machine.submit({ releaseId, pipelines: ["bs-manual"] }, { name: "upload-0f6e1c2a" });
      await until("bs-manual to run", async () =>
        statusesOf(await machine.readRelease(releaseId)).includes("bs-manual InProgress"),
      );
      machine.engine.stopExecution(execution.executionArn);
      await finished(machine, execution);
      await ended(machine, releaseId, "FAILED");
      assert.equal((await machine.readRelease(releaseId))?.error, "ExecutionAborted");
    });
  });

  it("ends the release on the reconciler's pass when the status-change event was lost", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      machine.router.intercept = (_, rule) => (rule === "execution-ended" ? "drop" : "deliver");
      const releaseId = newReleaseId("lost-event");
      const execution = machine.submit({ releaseId, pipelines: ["bs-manual"] });
      await until("bs-manual to run", async () =>
        statusesOf(await machine.readRelease(releaseId)).includes("bs-manual InProgress"),
      );
      machine.engine.stopExecution(execution.executionArn);
      await finished(machine, execution);
      assert.equal(await releaseStatus(machine, releaseId), "RUNNING");
      const report = await machine.reconcile();
      assert.deepEqual(report.failures, []);
      assert.equal(report.endedReleases, 1);
      assert.equal(await releaseStatus(machine, releaseId), "FAILED");
      assert.equal((await machine.reconcile()).endedReleases, 0, "a second pass finds nothing to end");
    });
  });

  it("changes nothing for a repeated event, or for an execution that does not hold the release", async () => {
    await withLocalMachine({ pipelines: PIPELINES }, async (machine) => {
      const releaseId = newReleaseId("held");
      const execution = machine.submit({ releaseId, pipelines: ["bs-a"] });
      await finished(machine, execution);
      assert.equal(await releaseStatus(machine, releaseId), "SUCCEEDED");
      const deps = machine.functionDeps("executionEnded").execution;
      const other = `${execution.executionArn.replace(/:[^:]+$/, "")}:another`;
      const event = (executionArn: string, name: string) =>
        executionStatusChange({ executionArn, name, status: "FAILED", error: "States.Runtime" });
      assert.deepEqual(await onExecutionEnded(deps, event(other, "another")), []);
      assert.deepEqual(await onExecutionEnded(deps, event(execution.executionArn, execution.name)), [
        { releaseId, recorded: "nothing" },
      ]);
      assert.equal(await releaseStatus(machine, releaseId), "SUCCEEDED");
    });
  });
});
