/**
 * The repository's own TypeScript sources, as the structure tests (layers, type names, file
 * sizes) read them: every .ts file outside test/, node_modules and build output, by its path
 * relative to the repository root with `/` separators.
 */
import { readdirSync } from "node:fs";
import path from "node:path";

export const ROOT = path.join(__dirname, "..");

const SKIPPED = new Set(["node_modules", "dist", "test"]);

function walk(folder: string): string[] {
  return readdirSync(folder, { withFileTypes: true }).flatMap((entry) => {
    if (entry.name.startsWith(".") || SKIPPED.has(entry.name)) return [];
    const full = path.join(folder, entry.name);
    if (entry.isDirectory()) return walk(full);
    return entry.name.endsWith(".ts") && !entry.name.endsWith(".d.ts") ? [full] : [];
  });
}

export function sourceFiles(): string[] {
  return walk(ROOT)
    .map((file) => path.relative(ROOT, file).split(path.sep).join("/"))
    .sort();
}
