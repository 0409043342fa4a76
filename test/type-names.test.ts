/**
 * Every exported type name means one thing across the source tree: a name a file exports as an
 * interface, type alias, class or enum is declared as a type in no other source file (exported or
 * not), so an import by that name can only mean the one shape.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { ROOT, sourceFiles } from "./source-files";

interface Declared {
  name: string;
  exported: boolean;
}

/** The top-level type declarations of one file. */
export function typeDeclarations(file: string, text: string): Declared[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, false);
  return source.statements.flatMap((statement): Declared[] => {
    const declares =
      ts.isInterfaceDeclaration(statement) ||
      ts.isTypeAliasDeclaration(statement) ||
      ts.isClassDeclaration(statement) ||
      ts.isEnumDeclaration(statement);
    if (!declares || !statement.name) return [];
    const exported = (ts.getModifiers(statement) ?? []).some((m) => m.kind === ts.SyntaxKind.ExportKeyword);
    return [{ name: statement.name.text, exported }];
  });
}

/** Each exported type name declared in more than one file, with those files. */
export function typeNamesDeclaredTwice(files: Record<string, string>): string[] {
  const where = new Map<string, { files: string[]; exported: boolean }>();
  for (const [file, text] of Object.entries(files)) {
    for (const { name, exported } of typeDeclarations(file, text)) {
      const entry = where.get(name) ?? { files: [], exported: false };
      if (!entry.files.includes(file)) entry.files.push(file);
      entry.exported ||= exported;
      where.set(name, entry);
    }
  }
  return [...where]
    .filter(([, entry]) => entry.exported && entry.files.length > 1)
    .map(([name, entry]) => `${name}: ${entry.files.sort().join(", ")}`)
    .sort();
}

describe("exported type names", () => {
  const files = Object.fromEntries(
    sourceFiles().map((file) => [file, readFileSync(path.join(ROOT, file), "utf8")] as const),
  );

  it("are each declared in one source file only", () => {
    assert.deepEqual(typeNamesDeclaredTwice(files), []);
  });

  it("fires on a planted second declaration, exported or not, and ignores private names and re-exports", () => {
    const planted = {
      "contract/tables.ts": "export type ExecutionStatus = string;\ninterface Private {}",
      "local/engine.ts": 'type ExecutionStatus = "RUNNING";\ninterface Private {}',
      "handlers/a.ts": "export interface View { a: string }",
      "cli/b.ts": "export class View {}",
      "handlers/c.ts": 'export type { View } from "./a";',
    };
    assert.deepEqual(typeNamesDeclaredTwice(planted), [
      "ExecutionStatus: contract/tables.ts, local/engine.ts",
      "View: cli/b.ts, handlers/a.ts",
    ]);
  });
});
