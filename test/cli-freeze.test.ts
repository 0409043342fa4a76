/**
 * `release-machine freeze add|list|remove` against the real local server started in-process: the
 * local routes reach the same freeze function as the deployed API (handlers/freezes.ts), under the
 * freeze function's own role (local IAM enforcement).
 */
import assert from "node:assert/strict";
import { type CliServer, type Run, runCli, startCliServer } from "./cli-harness";

let testServer: CliServer;
const cli = (args: string[], user = "release-manager"): Promise<Run> =>
  runCli(testServer.server, args, { RELEASE_MACHINE_USER: user });

describe("release-machine CLI: freezes", function () {
  this.timeout(30_000);

  before(async () => {
    testServer = await startCliServer("cli-freeze", [
      { name: "svc-a-pipeline", durationMs: 60_000 },
      { name: "svc-b-pipeline", durationMs: 60_000 },
    ]);
  });
  after(async () => {
    await testServer.close();
  });

  it("adds the emergency stop, lists it active until removed, and removes it", async () => {
    const added = await cli([
      "freeze",
      "add",
      "stop-the-line",
      "--pipelines",
      "*",
      "--reason",
      "incident 123",
    ]);
    assert.equal(added.code, 0, added.stderr);
    assert.equal(added.stdout, "Freeze stop-the-line added.\n");
    const listed = await cli(["freeze", "list", "--json"]);
    assert.equal(listed.code, 0, listed.stderr);
    const { freezes } = JSON.parse(listed.stdout) as {
      freezes: { name: string; active: boolean; until: null; createdBy: string; reason: string }[];
    };
    assert.deepEqual(
      freezes.map((f) => [f.name, f.active, f.until, f.createdBy, f.reason]),
      [["stop-the-line", true, null, "release-manager", "incident 123"]],
    );
    const removed = await cli(["freeze", "remove", "stop-the-line"]);
    assert.equal(removed.code, 0, removed.stderr);
    assert.equal((await cli(["freeze", "list"])).stdout, "No freezes.\n");
  });

  it("adds a recurring window, warning of a glob that matches no pipeline", async () => {
    const added = await cli([
      ...["freeze", "add", "weekend", "--pipelines", "svc-*,web-*", "--reason", "weekends"],
      ...["--rrule", "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16", "--duration", "3840", "--timezone", "Europe/Berlin"],
    ]);
    assert.equal(added.code, 0, added.stderr);
    assert.match(added.stdout, /warning: pipelines: web-\* matches no pipeline this stack may release/);
  });

  it("exits 1 with the field and rule for a bad time zone, a taken name and an unknown name", async () => {
    const zone = await cli([
      ...["freeze", "add", "bad-zone", "--pipelines", "svc-*", "--reason", "r"],
      ...["--rrule", "FREQ=DAILY", "--duration", "60", "--timezone", "Mars/Base"],
    ]);
    assert.equal(zone.code, 1);
    assert.match(zone.stderr, /schedule\.timezone must be an IANA time zone/);
    const taken = await cli(["freeze", "add", "weekend", "--pipelines", "svc-*", "--reason", "again"]);
    assert.equal(taken.code, 1);
    assert.match(taken.stderr, /a freeze named weekend exists/);
    const unknown = await cli(["freeze", "remove", "nope"]);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no freeze is named nope/);
  });

  it("exits 2 for a command line missing what add needs", async () => {
    const noReason = await cli(["freeze", "add", "x", "--pipelines", "*"]);
    assert.equal(noReason.code, 2);
    assert.match(noReason.stderr, /freeze add needs --reason TEXT/);
    const noAction = await cli(["freeze"]);
    assert.equal(noAction.code, 2);
  });
});
