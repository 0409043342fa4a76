/**
 * The pipeline allow-list travels inside every function's code archive as a JSON file, not in the
 * environment: Lambda allows 4 KB of environment variables in all, and 500 pipelines of 40
 * characters need about 20 KB. The archive holds up to 50 MB zipped, costs no call at cold start
 * and changes with the code when the list changes. The handlers read the file named by
 * ALLOWED_PIPELINES_FILE under LAMBDA_TASK_ROOT (handlers/config.ts).
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";

/** Where the program writes the file, relative to the project root (the archive path too). */
export const ALLOW_LIST_DIRECTORY = ".pulumi-build";

/**
 * Writes the list once per content (the file name carries its hash, so stacks with different
 * lists never overwrite each other's file) and returns its path relative to the project root,
 * which is also its path inside the archive.
 */
export function writeAllowListFile(pipelines: readonly string[], root = process.cwd()): string {
  const content = `${JSON.stringify(pipelines)}\n`;
  const hash = createHash("sha256").update(content).digest("hex").slice(0, 16);
  const relative = path.posix.join(ALLOW_LIST_DIRECTORY, `allowed-pipelines-${hash}.json`);
  mkdirSync(path.join(root, ALLOW_LIST_DIRECTORY), { recursive: true });
  writeFileSync(path.join(root, relative), content);
  return relative;
}
