/**
 * The data folder's lock (local/data-dir-lock.ts): one running machine per folder, and a lock left
 * by a process that is gone taken over and reported, so the restart rebuilds the indexes.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { lockDataDir } from "../local/data-dir-lock";

describe("the data folder's lock", () => {
  let dataDir: string;
  beforeEach(() => (dataDir = mkdtempSync(path.join(tmpdir(), "rm-lock-"))));
  afterEach(() => rmSync(dataDir, { recursive: true, force: true }));

  it("reports a clean start after a released lock, and refuses a second holder while it is held", () => {
    lockDataDir(dataDir).release();
    const lock = lockDataDir(dataDir);
    assert.equal(lock.tookOver, false);
    assert.throws(() => lockDataDir(dataDir), { name: "DataDirInUse" });
    lock.release();
  });

  it("takes over a lock whose process is gone, and says the last run did not stop cleanly", () => {
    // A process id that certainly ended: a child that has exited.
    const gone = spawnSync(process.execPath, ["-e", ""]).pid;
    writeFileSync(path.join(dataDir, "release-machine.lock"), String(gone));
    const lock = lockDataDir(dataDir);
    assert.equal(lock.tookOver, true);
    lock.release();
  });
});
