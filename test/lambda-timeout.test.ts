/**
 * Lambda's function timeout holds locally: an invocation past its function's timeout fails with
 * `Sandbox.Timedout` and its late result is discarded, for the workflow's Lambda tasks (whose
 * Catch then runs) and the functions the event rule and the API call.
 */
import assert from "node:assert/strict";
import { FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import { LambdaTimeout, timeoutOf, withLambdaTimeout } from "../local/lambda-timeout";
import { finished, localPipelines, newReleaseId, withLocalMachine } from "./local-helpers";

const PIPELINES = localPipelines({ "svc-a": 0 }, []);

describe("Lambda timeouts in local mode", function () {
  this.timeout(20000);

  it("fails an invocation past its timeout with Sandbox.Timedout and discards its late result", async () => {
    let finish!: (value: string) => void;
    const slow = withLambdaTimeout(0.02, () => new Promise<string>((resolve) => (finish = resolve)));

    const error = await slow(undefined).then(
      () => assert.fail("a timed-out invocation must not succeed"),
      (e: unknown) => e,
    );
    finish("too late");

    assert.ok(error instanceof LambdaTimeout);
    assert.equal(error.name, "Sandbox.Timedout");
    assert.match(error.message, /^RequestId: [0-9a-f-]{36} Error: Task timed out after 0\.02 seconds$/);
  });

  it("answers with the handler's result when it ends within its timeout", async () => {
    const fast = withLambdaTimeout(5, async (n: number) => n + 1);
    assert.equal(await fast(1), 2);
  });

  it("takes each function's timeout from the one map infra deploys, unless a test shortens it", () => {
    assert.equal(timeoutOf("reconciler"), FUNCTION_TIMEOUT_SECONDS.reconciler);
    assert.equal(timeoutOf("reconciler"), 600);
    assert.equal(timeoutOf("reconciler", { reconciler: 0.5 }), 0.5);
  });

  it("fails a slowed workflow task with Sandbox.Timedout, and the workflow takes its Catch path", async () => {
    const releaseId = newReleaseId("slow-wait");
    const visited: string[] = [];
    let late: (() => void) | undefined;
    await withLocalMachine(
      {
        pipelines: PIPELINES,
        functionTimeoutSeconds: { awaitRelease: 0.05 },
        onEngineEvent: (_arn, event) => {
          if (event.type === "StateEntered" && event.state?.name) visited.push(event.state.name);
        },
        interceptFunction: (name, payload, invoke) =>
          name === "awaitRelease"
            ? // Runs past its timeout, then would report the release done at once: too late.
              new Promise((resolve) => (late = () => resolve({ completedAtOnce: true })))
            : invoke(payload),
      },
      async (machine) => {
        const execution = await finished(machine, machine.submit({ releaseId, pipelines: ["svc-a"] }));
        late?.();
        await machine.router.idle();

        assert.equal(execution.status, "FAILED");
        assert.ok(
          visited.includes("StopRelease"),
          `AwaitRelease's Catch leads to StopRelease: ${visited.join(", ")}`,
        );
        const release = await machine.readRelease(releaseId);
        assert.equal(release?.status, "FAILED");
        assert.equal(release?.error, "Sandbox.Timedout");
        assert.match(release?.cause ?? "", /Task timed out after 0\.05 seconds/);
      },
    );
  });

  it("fails an API function past its timeout with Sandbox.Timedout", async () => {
    await withLocalMachine(
      { pipelines: PIPELINES, functionTimeoutSeconds: { releaseStatus: 0.001 } },
      async (machine) => {
        const request = { pathParameters: { releaseId: "any" } } as Parameters<
          typeof machine.api.releaseStatus
        >[0];
        await assert.rejects(machine.api.releaseStatus(request), { name: "Sandbox.Timedout" });
      },
    );
  });
});
