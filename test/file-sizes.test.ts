/**
 * No source file passes 500 lines: a file that long holds more than one concern and is split by
 * concern. Counts every .ts file outside test/ (test/source-files.ts); tests and their generated
 * fixtures are not counted.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { ROOT, sourceFiles } from "./source-files";

const LIMIT = 500;

/** Lines of a file's text, a final newline not counting as one more. */
export function lineCount(text: string): number {
  return text === "" ? 0 : text.replace(/\n$/, "").split("\n").length;
}

/** Each file of `files` over `limit` lines, as `file (n lines)`. */
export function oversized(files: Record<string, string>, limit = LIMIT): string[] {
  return Object.entries(files)
    .map(([file, text]) => ({ file, lines: lineCount(text) }))
    .filter(({ lines }) => lines > limit)
    .map(({ file, lines }) => `${file} (${lines} lines)`);
}

describe("source files", () => {
  const files = Object.fromEntries(
    sourceFiles().map((file) => [file, readFileSync(path.join(ROOT, file), "utf8")] as const),
  );

  it(`are at most ${LIMIT} lines each, outside test/`, () => {
    assert.deepEqual(oversized(files), []);
  });

  it("counts lines as an editor shows them and names each file over the limit", () => {
    assert.equal(lineCount(""), 0);
    assert.equal(lineCount("one\n"), 1);
    assert.equal(lineCount("one\ntwo"), 2);
    const long = `${"x\n".repeat(LIMIT)}`;
    assert.deepEqual(oversized({ "infra/ok.ts": long, "infra/long.ts": `${long}y\n` }), [
      "infra/long.ts (501 lines)",
    ]);
  });
});
