/**
 * An append-only journal in the data folder: one JSON object per line, each append written and
 * fsync'd before it returns, so what was acknowledged after an append survives a `kill -9` (or a
 * power cut) of local mode. Read back at start-up; a last line cut off by a kill mid-append was
 * never acknowledged and is skipped. Local mode keeps what AWS keeps durably here: accepted
 * executions (local/execution-journal.ts), accepted S3 events (local/s3.ts) and CodePipeline's
 * executions (local/codepipeline-store.ts); docs/architecture.md, "Local mode".
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, writeSync } from "node:fs";
import path from "node:path";

export interface Journal<T> {
  /** What the journal held when it was opened, oldest first. */
  readonly entries: T[];
  /** Appends one entry durably (written and fsync'd) before returning; nothing once closed. */
  append(entry: T): void;
  close(): void;
}

/** Opens (creating) the journal `file`, with its entries so far. */
export function openJournal<T>(file: string): Journal<T> {
  mkdirSync(path.dirname(file), { recursive: true });
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== "ENOENT") throw error;
  }
  const entries: T[] = [];
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    try {
      entries.push(JSON.parse(line) as T);
    } catch {
      // A line cut off by a kill mid-append: its append never returned.
    }
  }
  let fd: number | undefined = openSync(file, "a");
  // A cut-off last line must not swallow the next entry.
  if (text !== "" && !text.endsWith("\n")) writeSync(fd, "\n");
  return {
    entries,
    append(entry) {
      if (fd === undefined) return;
      writeSync(fd, `${JSON.stringify(entry)}\n`);
      fsyncSync(fd);
    },
    close() {
      if (fd !== undefined) closeSync(fd);
      fd = undefined;
    },
  };
}
