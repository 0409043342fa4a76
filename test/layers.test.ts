/**
 * The layers of docs/architecture.md ("Layers"), enforced: every source file's imports (static, dynamic and
 * require) may reach only the layers below its own. contract/ is the bottom; the CLI and the policy
 * pack stand beside the program and read only contract/.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import { ROOT, sourceFiles } from "./source-files";

/** Each layer and the layers it may import (itself included); `*` is anything but test/. */
const MAY_IMPORT: Record<string, readonly string[] | "*"> = {
  contract: ["contract"],
  handlers: ["handlers", "contract"],
  stepfunction: ["stepfunction", "contract"],
  infra: ["infra", "contract", "handlers", "stepfunction"],
  local: ["local", "contract", "handlers", "stepfunction"],
  cli: ["cli", "contract"],
  policy: ["policy", "contract"],
  "docs/tools": ["docs/tools", "contract", "stepfunction"],
  bench: "*",
  "index.ts": ["infra", "contract"],
};

/** The layer a repository path belongs to: its first folder (docs/tools as one), or index.ts. */
export function layerOf(file: string): string {
  if (file.startsWith("docs/tools/")) return "docs/tools";
  const [first] = file.split("/");
  return first;
}

/** The repository paths a file's relative imports reach; packages (`ajv`, `node:fs`) are not layers. */
export function importsOf(file: string, text: string): string[] {
  return ts
    .preProcessFile(text, true, true)
    .importedFiles.map((imported) => imported.fileName)
    .filter((name) => name.startsWith("."))
    .map((name) => path.posix.normalize(path.posix.join(path.posix.dirname(file), name)));
}

/** Every import that reaches a layer its file may not import, as `file → import`. */
export function layerViolations(files: Record<string, string>): string[] {
  return Object.entries(files).flatMap(([file, text]) => {
    const allowed = MAY_IMPORT[layerOf(file)];
    if (allowed === undefined) return [`${file}: in no layer`];
    return importsOf(file, text)
      .filter((target) => {
        const layer = layerOf(target);
        return allowed === "*" ? layer === "test" : !allowed.includes(layer);
      })
      .map((target) => `${file} → ${target}`);
  });
}

/** Import cycles among `files`, each as its files in import order from its smallest path. */
export function importCycles(files: Record<string, string>): string[] {
  const module = (target: string) =>
    [`${target}.ts`, `${target}/index.ts`, target].find((candidate) => candidate in files);
  const edges = new Map(
    Object.entries(files).map(([file, text]) => [
      file,
      importsOf(file, text)
        .map(module)
        .filter((target): target is string => target !== undefined),
    ]),
  );
  const cycles = new Set<string>();
  // A file whose imports were all explored leads to no cycle not already found: it is not walked
  // again (walking every path instead grows exponentially with the import graph).
  const explored = new Set<string>();
  const visit = (file: string, trail: string[]): void => {
    if (explored.has(file)) return;
    const at = trail.indexOf(file);
    if (at >= 0) {
      const cycle = trail.slice(at);
      const start = cycle.indexOf([...cycle].sort()[0]);
      cycles.add([...cycle.slice(start), ...cycle.slice(0, start)].join(" → "));
      return;
    }
    for (const next of edges.get(file) ?? []) visit(next, [...trail, file]);
    explored.add(file);
  };
  for (const file of edges.keys()) visit(file, []);
  return [...cycles].sort();
}

describe("the layers (docs/architecture.md)", () => {
  const files = Object.fromEntries(
    sourceFiles().map((file) => [file, readFileSync(path.join(ROOT, file), "utf8")] as const),
  );

  it("has every source file in a layer and no import upward or sideways", () => {
    assert.ok(Object.keys(files).length > 100, "the walk found too few files");
    assert.deepEqual(layerViolations(files), []);
  });

  it("has no import cycle", () => {
    assert.deepEqual(importCycles(files), []);
  });

  it("finds a planted import cycle", () => {
    const planted = {
      "stepfunction/asl.ts": 'import { INTEGRATIONS } from "./integrations";',
      "stepfunction/integrations.ts": 'import type { PayloadTemplate } from "./asl";',
      "stepfunction/payload.ts": "",
    };
    assert.deepEqual(importCycles(planted), ["stepfunction/asl.ts → stepfunction/integrations.ts"]);
  });

  it("reads static, type-only, dynamic and require imports, relative to the importing file", () => {
    const text = [
      'import { a } from "./own";',
      'import type { B } from "../contract/tables";',
      'export { c } from "../handlers/reads";',
      'const d = await import("../local/engine");',
      'const e = require("../stepfunction/asl");',
      'import ts from "typescript";',
    ].join("\n");
    assert.deepEqual(importsOf("cli/main.ts", text), [
      "cli/own",
      "contract/tables",
      "handlers/reads",
      "local/engine",
      "stepfunction/asl",
    ]);
  });

  it("fires on a planted upward, sideways or test import, and on a file outside every layer", () => {
    const planted = {
      "contract/planted.ts": 'import { readItem } from "../handlers/reads";',
      "handlers/planted.ts": 'import { Engine } from "../local/engine";',
      "cli/planted.ts": 'import type { ReleaseStatusView } from "../handlers/release-status";',
      "infra/planted.ts": 'import { check } from "../policy/policies";',
      "index.ts": 'import { startLocalServer } from "./local/server";',
      "bench/planted.ts": 'import { until } from "../test/local-helpers";',
      "stepfunction/planted.ts": 'const cycle = require("../infra/api");',
      "scripts/planted.ts": "",
      "policy/fine.ts": 'import { isRecord } from "../contract/json";',
    };
    assert.deepEqual(layerViolations(planted), [
      "contract/planted.ts → handlers/reads",
      "handlers/planted.ts → local/engine",
      "cli/planted.ts → handlers/release-status",
      "infra/planted.ts → policy/policies",
      "index.ts → local/server",
      "bench/planted.ts → test/local-helpers",
      "stepfunction/planted.ts → infra/api",
      "scripts/planted.ts: in no layer",
    ]);
  });
});
