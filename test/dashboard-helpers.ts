/**
 * What the dashboard's tests share: Debian's Chromium driven by playwright-core (never a
 * downloaded browser), and (from bench/dashboard-fixture.ts, which the benchmark shares) a small
 * stand-in of the release API for answers the local machine is not asked to produce.
 */
import { existsSync, mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { type Browser, chromium } from "playwright-core";

export const CHROMIUM = process.env.RELEASE_MACHINE_CHROMIUM ?? "/usr/bin/chromium";
/**
 * Where the end-to-end tests write their screenshots: docs/ (the README's pictures) when
 * `RELEASE_MACHINE_SCREENSHOTS=docs` asks for them, else a temporary folder, so a test run leaves
 * the work tree clean (each run's pictures differ in times and ports).
 */
export const DOCS =
  process.env.RELEASE_MACHINE_SCREENSHOTS === "docs"
    ? path.join(__dirname, "..", "docs")
    : mkdtempSync(path.join(tmpdir(), "dashboard-screenshots-"));

/** CI (.ci/run sets RELEASE_MACHINE_CI; most CI services set CI): a missing browser fails there. */
export const inCi = () => Boolean(process.env.RELEASE_MACHINE_CI || process.env.CI);

/**
 * Chromium, headless. Without it: in CI the calling hook fails (the browser tests must run
 * there); elsewhere the suite is pending, saying why.
 */
export async function launchChromium(context: Mocha.Context): Promise<Browser> {
  if (!existsSync(CHROMIUM)) {
    if (inCi()) throw new Error(`${CHROMIUM} is missing: .ci/run installs Debian's chromium package`);
    context.skip(); // pending: no Chromium at /usr/bin/chromium (apt-get install chromium)
  }
  // --no-sandbox: CI runs as root, where Chromium's sandbox refuses to start.
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
}

export { type StubApi, bigRelease, stubApi } from "../bench/dashboard-fixture";
