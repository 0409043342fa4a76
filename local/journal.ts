/**
 * An append-only journal in the data folder: one JSON object per line, each append written and
 * fsync'd before it returns, so what was acknowledged after an append survives a `kill -9` (or a
 * power cut) of local mode. Read back at start-up; a last line cut off by a kill mid-append was
 * never acknowledged and is skipped. Local mode keeps what AWS keeps durably here: accepted
 * executions (local/execution-journal.ts), accepted S3 events (local/s3.ts) and CodePipeline's
 * executions (local/codepipeline-store.ts); docs/architecture.md, "Local mode".
 */
import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeSync } from "node:fs";
import path from "node:path";

export interface Journal<T> {
  /** What the journal held when it was opened, oldest first. */
  readonly entries: T[];
  /** Appends one entry durably (written and fsync'd) before returning; nothing once closed. */
  append(entry: T): void;
  close(): void;
}

/** Replaces `file` with `entries`, atomically: a new file written and fsync'd, then renamed over it. */
function rewrite<T>(file: string, entries: T[]): void {
  const next = `${file}.next`;
  const fd = openSync(next, "w");
  try {
    writeSync(fd, entries.map((entry) => `${JSON.stringify(entry)}\n`).join(""));
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  renameSync(next, file);
  const dir = openSync(path.dirname(file), "r");
  try {
    fsyncSync(dir);
  } finally {
    closeSync(dir);
  }
}

/**
 * Opens (creating) the journal `file`, with its entries so far; `compact`, when given, keeps only
 * what it returns of them (e.g. each item's newest state), rewriting the file when that is less.
 */
export function openJournal<T>(file: string, compact?: (entries: T[]) => T[]): Journal<T> {
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
  const kept = compact ? compact(entries) : entries;
  if (kept.length < entries.length) {
    rewrite(file, kept);
    text = "";
  }
  let fd: number | undefined = openSync(file, "a");
  // A cut-off last line must not swallow the next entry.
  if (text !== "" && !text.endsWith("\n")) writeSync(fd, "\n");
  return {
    entries: kept,
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
