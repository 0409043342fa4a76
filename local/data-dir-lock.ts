/**
 * One `npm start` per data folder. dynalite keeps its tables in LevelDB, which a second process
 * cannot open: it would start, then crash on its first request ("Database is not open"). A lock
 * file holding the owner's process id is taken first, so the second start fails at once, saying
 * which folder and which process; a lock left by a process that is gone is taken over, and the
 * taker is told so: the last run did not stop cleanly (a `kill -9`, a crash).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from "node:fs";
import path from "node:path";

/** The data folder is used by another running process. */
export class DataDirInUse extends Error {
  override readonly name = "DataDirInUse";
  constructor(
    readonly dataDir: string,
    readonly pid: number,
  ) {
    super(`the data folder ${dataDir} is in use by another release machine (process ${pid})`);
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    // EPERM: it exists but belongs to someone else.
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export interface DataDirLock {
  release(): void;
  /** The lock was left by a process that is gone: the last run on this folder did not stop cleanly. */
  tookOver: boolean;
}

/** Takes the folder's lock (creating the folder). Throws DataDirInUse. */
export function lockDataDir(dataDir: string): DataDirLock {
  mkdirSync(dataDir, { recursive: true });
  const file = path.join(dataDir, "release-machine.lock");
  let tookOver = false;
  for (let attempt = 0; attempt < 2; attempt += 1) {
    try {
      const fd = openSync(file, "wx");
      writeSync(fd, String(process.pid));
      closeSync(fd);
      return { release: () => rmSync(file, { force: true }), tookOver };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") throw error;
      const owner = Number(readFileSync(file, "utf8").trim());
      if (Number.isInteger(owner) && owner > 0 && alive(owner)) throw new DataDirInUse(dataDir, owner);
      rmSync(file, { force: true }); // left by a process that is gone
      tookOver = true;
    }
  }
  throw new Error(`cannot take the lock ${file}`);
}
