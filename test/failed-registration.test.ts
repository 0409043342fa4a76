/**
 * An execution whose RegisterRelease, RetryRelease, LoadManifest or ValidateManifest fails for a
 * reason other than their named errors (a timeout, an SDK error, a defect) leaves no release
 * RUNNING and no submission unrecorded (docs/architecture.md, "The workflow"): end to end on the
 * local engine, the failure injected where the function runs.
 */
import assert from "node:assert/strict";
import { GetCommand } from "@aws-sdk/lib-dynamodb";
import { releaseControlApi } from "../handlers/release-control";
import { failExecution } from "../handlers/release/ended";
import type { LocalReleaseMachine, LocalReleaseMachineOptions } from "../local/release-machine";
import { finished, localPipelines, newReleaseId, until, withLocalMachine } from "./local-helpers";

type Intercept = NonNullable<LocalReleaseMachineOptions["interceptFunction"]>;

const PIPELINES = localPipelines({ "fr-manual": null, "fr-fails": 0 }, ["fr-fails"]);
const BOB = "arn:aws:iam::123456789012:user/bob";

/** The machine runs `inject` in place of each Lambda invocation while it is set. */
async function withMachine(body: (m: LocalReleaseMachine, inject: (i: Intercept) => void) => Promise<void>) {
  let current: Intercept | undefined;
  await withLocalMachine(
    {
      pipelines: PIPELINES,
      interceptFunction: (name, payload, invoke) =>
        current ? current(name, payload, invoke) : invoke(payload),
    },
    (m) => body(m, (i) => (current = i)),
  );
}

async function retry(m: LocalReleaseMachine, releaseId: string) {
  const answer = await releaseControlApi(m.control, {
    resource: "/releases/{releaseId}/retry",
    httpMethod: "POST",
    pathParameters: { releaseId },
    body: "{}",
    requestContext: { identity: { userArn: BOB } },
  });
  return { status: answer.statusCode, json: JSON.parse(answer.body) as Record<string, unknown> };
}

const isRetry = (payload: unknown) => typeof payload === "object" && payload !== null && "retry" in payload;

describe("an execution whose registration, retry or intake fails for any other reason", function () {
  this.timeout(30000);

  it("fails the release its RegisterRelease took, stops the pipeline it started, and leaves it retryable", async () => {
    await withMachine(async (m, inject) => {
      const releaseId = newReleaseId("reg-fault");
      // RegisterRelease did its work, then the invocation failed (as a timeout after the writes would).
      inject(async (name, payload, invoke) => {
        const result = await invoke(payload);
        if (name === "registerRelease" && !isRetry(payload)) throw new Error("the connection was reset");
        return result;
      });
      const execution = await finished(m, m.submit({ releaseId, pipelines: ["fr-manual"] }));
      assert.deepEqual([execution.status, execution.error], ["FAILED", "Error"]);
      const release = await m.readRelease(releaseId);
      assert.equal(release?.status, "FAILED");
      assert.equal(release?.error, "Error");
      assert.match(release?.cause ?? "", /the connection was reset/);
      await until("fr-manual's execution to be stopped", () =>
        m.codepipeline.executions("fr-manual").find((e) => e.status === "Stopped" || e.status === "Stopping"),
      );
      inject((_, payload, invoke) => invoke(payload));
      const again = await retry(m, releaseId);
      assert.deepEqual([again.status, again.json.attempt], [202, 2], JSON.stringify(again.json));
    });
  });

  it("records the submission as refused when RegisterRelease failed before it took the release", async () => {
    await withMachine(async (m, inject) => {
      const releaseId = newReleaseId("reg-early");
      inject(async (name, payload, invoke) => {
        if (name === "registerRelease") throw new Error("the connection was reset");
        return invoke(payload);
      });
      const execution = await finished(m, m.submit({ releaseId, pipelines: ["fr-manual"] }));
      assert.deepEqual([execution.status, execution.error], ["FAILED", "Error"]);
      // Recorded apart, as every refusal whose error names no releaseId is (handlers/rejections.ts).
      const { Item } = await m.deps.ddb.send(
        new GetCommand({ TableName: m.tables.releases, Key: { releaseId: `rejected:${execution.name}` } }),
      );
      assert.deepEqual([Item?.status, Item?.errorName], ["REJECTED", "Error"]);
      assert.match(String(Item?.cause), /the connection was reset/);
      assert.equal(await m.readRelease(releaseId), undefined, "the releaseId stays free");
      assert.deepEqual(m.codepipeline.executions("fr-manual"), [], "nothing started");
      inject((_, payload, invoke) => invoke(payload));
      const resubmitted = m.submit({ releaseId, pipelines: ["fr-manual"] });
      await until("the resubmission to take the releaseId", async () =>
        (await m.readRelease(releaseId))?.status === "RUNNING" ? true : undefined,
      );
      m.codepipeline.finish(
        (
          await until("fr-manual to run", () =>
            m.codepipeline.executions("fr-manual").find((e) => e.status === "InProgress"),
          )
        ).pipelineExecutionId,
        "Succeeded",
      );
      assert.equal((await finished(m, resubmitted)).status, "SUCCEEDED");
    });
  });

  it("records a retry that failed before it took the release at its attempt, so the next retry's execution name is free", async () => {
    await withMachine(async (m, inject) => {
      const releaseId = newReleaseId("retry-fault");
      const first = await finished(m, m.submit({ releaseId, pipelines: ["fr-fails"] }));
      assert.equal(first.status, "FAILED");
      inject(async (name, payload, invoke) => {
        if (name === "registerRelease" && isRetry(payload)) throw new Error("DynamoDB is unavailable");
        return invoke(payload);
      });
      const second = await retry(m, releaseId);
      assert.equal(second.status, 202, JSON.stringify(second.json));
      const failed = m.engine.describeExecution(String(second.json.executionArn));
      assert.ok(failed);
      assert.deepEqual([(await failed.done).status, failed.error], ["FAILED", "Error"]);
      const recorded = await m.readRelease(releaseId);
      assert.deepEqual([recorded?.status, recorded?.attempt, recorded?.error], ["FAILED", 2, "Error"]);
      assert.match(recorded?.cause ?? "", /DynamoDB is unavailable/);

      inject((_, payload, invoke) => invoke(payload));
      const third = await retry(m, releaseId);
      assert.deepEqual([third.status, third.json.attempt], [202, 3], JSON.stringify(third.json));
      assert.match(String(third.json.executionArn), /:retry-3-[0-9a-f]{48}$/);
      const resumed = m.engine.describeExecution(String(third.json.executionArn));
      assert.ok(resumed);
      await resumed.done;
      const after = await m.readRelease(releaseId);
      assert.deepEqual([after?.status, after?.attempt, after?.error], ["FAILED", 3, "PipelineFailed"]);
    });
  });

  it("fails only the release its own execution holds, once: another execution's release is left running", async () => {
    await withMachine(async (m) => {
      const releaseId = newReleaseId("owner");
      const execution = m.submit({ releaseId, pipelines: ["fr-manual"] });
      await until("fr-manual to run", () =>
        m.codepipeline.executions("fr-manual").find((e) => e.status === "InProgress"),
      );
      const fault = { releaseId, error: "States.Timeout", cause: "" };
      const other = await failExecution(m.deps, {
        ...fault,
        executionArn: `${execution.executionArn}-other`,
      });
      assert.equal(other.recorded, "nothing");
      assert.equal((await m.readRelease(releaseId))?.status, "RUNNING");
      const own = await failExecution(m.deps, { ...fault, executionArn: execution.executionArn });
      assert.deepEqual([own.recorded, own.stopped], ["failed", ["fr-manual"]]);
      const release = await m.readRelease(releaseId);
      assert.deepEqual(
        [release?.status, release?.error, release?.cause],
        ["FAILED", "States.Timeout", "the execution failed with States.Timeout"],
      );
      const repeated = await failExecution(m.deps, { ...fault, executionArn: execution.executionArn });
      assert.equal(repeated.recorded, "nothing");
      await finished(m, execution);
    });
  });

  for (const fn of ["loadManifest", "validateManifest"] as const) {
    it(`records the submission as rejected when ${fn} fails with an S3 or internal error`, async () => {
      await withMachine(async (m, inject) => {
        inject(async (name, payload, invoke) => {
          if (name === fn)
            throw Object.assign(new Error("We encountered an internal error"), { name: "InternalError" });
          return invoke(payload);
        });
        const execution = await finished(
          m,
          m.submit({ releaseId: newReleaseId("intake"), pipelines: ["fr-manual"] }),
        );
        assert.deepEqual([execution.status, execution.error], ["FAILED", "InternalError"]);
        const { Item } = await m.deps.ddb.send(
          new GetCommand({ TableName: m.tables.releases, Key: { releaseId: `rejected:${execution.name}` } }),
        );
        assert.deepEqual([Item?.status, Item?.errorName], ["REJECTED", "InternalError"]);
        assert.match(String(Item?.cause), /internal error/);
      });
    });
  }
});
