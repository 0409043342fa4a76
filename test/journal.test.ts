/**
 * The data folder's journals (local/journal.ts): what an append acknowledged is read back, and a
 * line a kill cut off mid-append (never acknowledged) is skipped, not fatal.
 */
import assert from "node:assert/strict";
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { openJournal } from "../local/journal";

describe("a journal in the data folder", () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(path.join(tmpdir(), "rm-journal-"))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it("reads back every appended entry, skips a last line cut off mid-append, and appends after it on a line of its own", () => {
    const file = path.join(dir, "j.jsonl");
    const first = openJournal<{ n: number }>(file);
    first.append({ n: 1 });
    first.append({ n: 2 });
    first.close();
    appendFileSync(file, '{"n": 3, "cut');

    const second = openJournal<{ n: number }>(file);
    assert.deepEqual(second.entries, [{ n: 1 }, { n: 2 }]);
    second.append({ n: 4 });
    second.close();

    assert.deepEqual(openJournal<{ n: number }>(file).entries, [{ n: 1 }, { n: 2 }, { n: 4 }]);
  });

  it("keeps only what compact returns, rewriting the file, and appends nothing once closed", () => {
    const file = path.join(dir, "j.jsonl");
    const journal = openJournal<{ id: string; v: number }>(file);
    for (const [id, v] of [
      ["a", 1],
      ["b", 1],
      ["a", 2],
    ] as const)
      journal.append({ id, v });
    journal.close();
    journal.append({ id: "c", v: 1 });

    const newest = (entries: { id: string; v: number }[]) => [
      ...new Map(entries.map((e) => [e.id, e])).values(),
    ];
    const compacted = openJournal(file, newest);
    compacted.close();
    assert.deepEqual(compacted.entries, [
      { id: "a", v: 2 },
      { id: "b", v: 1 },
    ]);
    assert.equal(readFileSync(file, "utf8"), '{"id":"a","v":2}\n{"id":"b","v":1}\n');
  });
});
