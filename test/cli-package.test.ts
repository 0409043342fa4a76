/**
 * The CLI as a user installs it: packed on its own (cli/package.json), installed without dev
 * dependencies into an empty folder, then run as `release-machine --help` and `status` against a
 * small HTTP server answering `GET /releases/{id}` as the release API does. Proves the CLI
 * declares what it needs at run time: neither ts-node nor TypeScript is there to lean on.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync, spawn } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { packCliPackage, stageCliPackage } from "../cli/pack";
import { followChild, stopGently } from "./child-process-helpers";
import { releaseView, withReleaseApi } from "./release-api";

const ROOT = path.join(__dirname, "..");

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(bin: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [bin, ...args],
      { env: { ...process.env, ...env } },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : null) : 0, stdout, stderr });
      },
    );
  });
}

describe("the packaged CLI, installed without dev dependencies", function () {
  this.timeout(120_000);
  let dir: string;
  let bin: string;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), "rm-cli-package-"));
    const tarball = packCliPackage(stageCliPackage(path.join(dir, "staging")), path.join(dir, "packed"));
    const app = path.join(dir, "app");
    execFileSync("mkdir", ["-p", app]);
    writeFileSync(path.join(app, "package.json"), '{ "private": true }\n');
    // From npm's cache when it has these versions (it does after `npm ci`); the registry otherwise.
    execFileSync(
      "npm",
      ["install", "--omit=dev", "--prefer-offline", "--no-audit", "--no-fund", "--ignore-scripts", tarball],
      { cwd: app, stdio: ["ignore", "pipe", "pipe"] },
    );
    bin = path.join(app, "node_modules", ".bin", "release-machine");
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it("declares the same versions of its dependencies as the repository, and installs neither ts-node, TypeScript nor local mode's AGPL IAM engine", () => {
    const cli = JSON.parse(readFileSync(path.join(ROOT, "cli", "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    const root = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as {
      dependencies: Record<string, string>;
    };
    for (const [name, version] of Object.entries(cli.dependencies))
      assert.equal(root.dependencies[name], version, name);
    const modules = path.join(dir, "app", "node_modules");
    assert.deepEqual(
      ["ts-node", "typescript", "@cloud-copilot", "release-machine-cli"].map((name) =>
        existsSync(path.join(modules, name)),
      ),
      [false, false, false, true],
    );
  });

  it("prints its help and exits 0", async () => {
    const help = await run(bin, ["--help"]);

    assert.equal(help.code, 0, help.stderr);
    assert.match(help.stdout, /^ {2}release-machine status RELEASE_ID /m);
  });

  it("reads a release's status from the API and exits 1 for a FAILED one", async () => {
    const failed = releaseView("pkg-1", "FAILED", {
      startedAt: "2026-11-30T10:00:00.000Z",
      endedAt: "2026-11-30T10:00:04.000Z",
      error: "PipelineFailed",
      pipelines: [
        { name: "svc-a", status: "Failed", history: [{ state: "FAILED", at: "2026-11-30T10:00:04.000Z" }] },
      ],
    });
    const status = await withReleaseApi([failed], (url) =>
      run(bin, ["status", "pkg-1"], { RELEASE_MACHINE_URL: url }),
    );

    assert.equal(status.code, 1, status.stderr);
    assert.match(status.stdout, /^Release pkg-1: FAILED$/m);
    assert.match(status.stdout, /^ {2}!! svc-a\s+Failed\s+FAILED at 10:00:04Z$/m);
  });

  it("serves the dashboard's page and its hand-written files from the package", async () => {
    const dashboard = followChild(
      spawn(process.execPath, [bin, "dashboard", "--no-open", "--api", "http://127.0.0.1:9"], {
        stdio: ["ignore", "pipe", "pipe"],
      }),
      "packaged dashboard",
    );
    try {
      const [, url] = await dashboard.logged(/^Dashboard: (\S+)$/m);
      const exchanged = await fetch(url, { redirect: "manual" });
      const cookie = (exchanged.headers.get("set-cookie") ?? "").split(";")[0];
      const origin = new URL(url).origin;
      for (const file of [
        "/",
        "/assets/app.js",
        "/assets/release.js",
        "/assets/graph.js",
        "/assets/app.css",
      ]) {
        const answer = await fetch(`${origin}${file}`, { headers: { cookie } });
        assert.equal(answer.status, 200, file);
      }
    } finally {
      await stopGently(dashboard);
    }
  });
});
