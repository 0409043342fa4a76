/**
 * A release's own failure policy: `"failurePolicy": "stopRemaining" | "letFinish"` in the manifest
 * wins over the stack's setting (locally RELEASE_MACHINE_FAILURE_POLICY), the release records the
 * policy it ran under, and GET /releases/{releaseId} shows it. Pipelines here end only when the
 * test ends them (`durationMs: null`), and each step waits on the router delivering every event.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { ReleaseStatusView } from "../contract/release-view";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import { SettingError, readSettings } from "../local/main";
import type { LocalReleaseMachine } from "../local/release-machine";
import { type LocalServer, type ReleaseEvent, startLocalServer } from "../local/server";
import { freePort } from "./child-process-helpers";
import { finished, newReleaseId, statusesOf, until, withLocalMachine } from "./local-helpers";

const manual = (name: string): LocalPipelineSpec => ({ name, durationMs: null, outcome: "Succeeded" });

async function end(machine: LocalReleaseMachine, pipeline: string, status: "Succeeded" | "Failed") {
  const running = await until(`${pipeline} to be running`, () => {
    const found = machine.codepipeline.executions(pipeline)[0];
    return found?.status === "InProgress" ? found : undefined;
  });
  machine.codepipeline.finish(running.pipelineExecutionId, status);
  await machine.router.idle();
}

describe("a release's own failure policy", function () {
  this.timeout(60_000);

  it("lets siblings finish when the manifest chooses letFinish on a stack defaulting to stopRemaining, and records letFinish", async () => {
    await withLocalMachine({ pipelines: ["p-a", "p-b", "p-c"].map(manual) }, async (m) => {
      const releaseId = newReleaseId("own-let-finish");
      const execution = m.submit({
        releaseId,
        failurePolicy: "letFinish",
        pipelines: ["p-a", { name: "p-b", dependsOn: ["p-a"] }, "p-c"],
      });
      await end(m, "p-a", "Failed");
      assert.equal(m.codepipeline.executions("p-c")[0]?.status, "InProgress", "p-c is not stopped");
      await end(m, "p-c", "Succeeded");
      const done = await finished(m, execution);

      assert.equal(done.status, "FAILED");
      assert.equal(m.codepipeline.callCount("StopPipelineExecution"), 0);
      const release = await m.readRelease(releaseId);
      assert.deepEqual(statusesOf(release), ["p-a Failed", "p-b Skipped", "p-c Succeeded"]);
      assert.equal(release?.failurePolicy, "letFinish");
    });
  });

  it("stops the siblings under the stack's stopRemaining when the manifest chooses none, and records stopRemaining", async () => {
    await withLocalMachine({ pipelines: ["q-a", "q-b"].map(manual) }, async (m) => {
      const releaseId = newReleaseId("stack-policy");
      const execution = m.submit({ releaseId, pipelines: ["q-a", "q-b"] });
      await until("q-b to be running", () => m.codepipeline.executions("q-b")[0]);
      await end(m, "q-a", "Failed");
      const done = await finished(m, execution);

      assert.equal(done.status, "FAILED");
      const release = await m.readRelease(releaseId);
      assert.deepEqual(statusesOf(release), ["q-a Failed", "q-b Stopped"]);
      assert.equal(release?.failurePolicy, "stopRemaining");
    });
  });

  it("reads RELEASE_MACHINE_FAILURE_POLICY as stopRemaining or letFinish, naming it and the allowed values otherwise", () => {
    assert.equal(readSettings({}).failurePolicy, undefined);
    assert.equal(readSettings({ RELEASE_MACHINE_FAILURE_POLICY: "letFinish" }).failurePolicy, "letFinish");
    assert.equal(
      readSettings({ RELEASE_MACHINE_FAILURE_POLICY: "stopRemaining" }).failurePolicy,
      "stopRemaining",
    );
    assert.throws(
      () => readSettings({ RELEASE_MACHINE_FAILURE_POLICY: "stop" }),
      (error: unknown) =>
        error instanceof SettingError &&
        error.message ===
          'RELEASE_MACHINE_FAILURE_POLICY must be one of stopRemaining, letFinish, got "stop"',
    );
  });

  describe("through the local API, on a machine whose RELEASE_MACHINE_FAILURE_POLICY is letFinish", () => {
    let dataDir: string;
    let server: LocalServer;
    let onEnd: ((event: ReleaseEvent) => void) | undefined;
    const nextEnd = () => new Promise<ReleaseEvent>((resolve) => (onEnd = resolve));
    const post = async (manifest: object) => {
      const response = await fetch(`${server.url}/releases`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify(manifest),
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    };
    const get = async (releaseId: string) =>
      (await (await fetch(`${server.url}/releases/${releaseId}`)).json()) as ReleaseStatusView;

    before(async () => {
      dataDir = mkdtempSync(path.join(tmpdir(), "rm-policy-"));
      server = await startLocalServer({
        port: await freePort(),
        s3Port: await freePort(),
        dataDir,
        pipelines: [{ name: "r-svc", durationMs: 0, outcome: "Succeeded" }],
        failurePolicy: "letFinish",
        onReleaseEvent: (event) => {
          if (event.type === "ended") onEnd?.(event);
        },
      });
    });

    after(async () => {
      await server?.close();
      rmSync(dataDir, { recursive: true, force: true });
    });

    it("answers an unknown failurePolicy with 400 naming the field and the allowed values, and starts nothing", async () => {
      const answer = await post({ releaseId: "bad-policy", failurePolicy: "retry", pipelines: ["r-svc"] });
      assert.equal(answer.status, 400);
      assert.equal(answer.body.error, "InvalidManifest");
      assert.deepEqual(answer.body.problems, [
        {
          path: "/failurePolicy",
          rule: "enum",
          message: "failurePolicy must be one of stopRemaining, letFinish",
        },
      ]);
      assert.equal(server.machine.codepipeline.executions("r-svc").length, 0);
    });

    it("records the machine's letFinish for a manifest that chooses none, and the manifest's own stopRemaining", async () => {
      let ended = nextEnd();
      assert.equal((await post({ releaseId: "silent-policy", pipelines: ["r-svc"] })).status, 202);
      await ended;
      ended = nextEnd();
      const chosen = { releaseId: "chosen-policy", failurePolicy: "stopRemaining", pipelines: ["r-svc"] };
      assert.equal((await post(chosen)).status, 202);
      await ended;

      assert.deepEqual(
        [await get("silent-policy"), await get("chosen-policy")].map((r) => [r.status, r.failurePolicy]),
        [
          ["SUCCEEDED", "letFinish"],
          ["SUCCEEDED", "stopRemaining"],
        ],
      );
    });
  });
});
