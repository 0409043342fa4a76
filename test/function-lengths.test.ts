/**
 * No function of the Pulumi program is longer than 80 lines, so each reads as one step: measured
 * on the TypeScript AST, every function-like node with a body (declarations, methods,
 * constructors, arrows, function expressions), from its first line to its last. File sizes are
 * bounded by test/file-sizes.test.ts.
 */
import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

const ROOT = path.join(__dirname, "..");
const LIMIT = 80;

/** Each function-like node with a body in one file: its length in lines and where it starts. */
export function functionLengths(file: string): { lines: number; where: string }[] {
  const source = ts.createSourceFile(file, readFileSync(file, "utf8"), ts.ScriptTarget.Latest, true);
  const found: { lines: number; where: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isFunctionLike(node) && "body" in node && node.body) {
      const first = source.getLineAndCharacterOfPosition(node.getStart(source)).line;
      const last = source.getLineAndCharacterOfPosition(node.getEnd()).line;
      found.push({ lines: last - first + 1, where: `${path.relative(ROOT, file)}:${first + 1}` });
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("the Pulumi program's functions", () => {
  it(`are at most ${LIMIT} lines each (infra/ and index.ts)`, () => {
    const files = [
      ...readdirSync(path.join(ROOT, "infra"))
        .filter((name) => name.endsWith(".ts"))
        .map((name) => path.join(ROOT, "infra", name)),
      path.join(ROOT, "index.ts"),
    ];
    const measured = files.flatMap(functionLengths);
    assert.ok(measured.length > 50, `only ${measured.length} functions found: the walk is broken`);
    assert.deepEqual(
      measured.filter((f) => f.lines > LIMIT).map((f) => `${f.where} (${f.lines} lines)`),
      [],
    );
  });

  it("measures a function from its first line to its last", () => {
    const file = path.join(ROOT, "infra", "release-machine.ts");
    const longest = Math.max(...functionLengths(file).map((f) => f.lines));
    assert.ok(longest > 40 && longest <= LIMIT, `the constructor measured ${longest} lines`);
  });
});
