/**
 * Builds the CLI as a package of its own: cli/package.json (only the CLI's run-time dependencies),
 * the shim, the README and the compiled JavaScript of cli/ and the few modules it imports. The
 * result installs with `npm install --omit=dev` and runs without ts-node or TypeScript.
 * `npm run pack:cli` stages it under dist/cli-package and packs it there.
 */
import { execFileSync } from "node:child_process";
import { copyFileSync, cpSync, mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";

const CLI = __dirname;

/** Writes the package's files to `staging` (emptied first); returns `staging`. */
export function stageCliPackage(staging: string): string {
  rmSync(staging, { recursive: true, force: true });
  mkdirSync(staging, { recursive: true });
  // Emit only: `npm run typecheck` checks these sources with the rest of the program.
  const tsc = require.resolve("typescript/bin/tsc");
  const project = path.join(CLI, "tsconfig.json");
  execFileSync(process.execPath, [tsc, "-p", project, "--outDir", path.join(staging, "dist"), "--noCheck"], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  for (const file of ["package.json", "release-machine.js", "README.md"]) {
    copyFileSync(path.join(CLI, file), path.join(staging, file));
  }
  // The dashboard's page (hand-written, not compiled) beside its compiled server.
  cpSync(path.join(CLI, "dashboard", "assets"), path.join(staging, "dist", "cli", "dashboard", "assets"), {
    recursive: true,
  });
  return staging;
}

/** `npm pack` of a staged package into `destination`; returns the tarball's path. */
export function packCliPackage(staging: string, destination: string): string {
  mkdirSync(destination, { recursive: true });
  execFileSync("npm", ["pack", "--silent", "--pack-destination", destination], {
    cwd: staging,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const tarball = readdirSync(destination).find((name) => name.endsWith(".tgz"));
  if (!tarball) throw new Error(`npm pack wrote no tarball to ${destination}`);
  return path.join(destination, tarball);
}

if (require.main === module) {
  const out = path.join(CLI, "..", "dist");
  const tarball = packCliPackage(stageCliPackage(path.join(out, "cli-package")), out);
  process.stdout.write(`${tarball}\nInstall it with: npm install --omit=dev ${tarball}\n`);
}
