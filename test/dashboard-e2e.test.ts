/**
 * `release-machine dashboard` end to end: the real local machine (in-process, as `npm start`
 * runs it), the command run as a child process exactly as a user runs it, and Chromium opening
 * the URL it printed. It sees a release's graph, approves a gate and sees the pipeline start,
 * cancels a release and sees it end CANCELLED; an approval the API would refuse is shown
 * disabled with the reason. It takes the screenshots the README shows (docs/dashboard-*.png, with
 * RELEASE_MACHINE_SCREENSHOTS=docs; test/dashboard-helpers.ts).
 * Pipelines never end by themselves here: the test ends them with the stand-in's `finish()`.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import type { Browser, Page } from "playwright-core";
import type { LocalServer } from "../local/server";
import { type FollowedChild, followChild, stopGently } from "./child-process-helpers";
import { type CliServer, runCli, startCliServer } from "./cli-harness";
import { DOCS, launchChromium } from "./dashboard-helpers";
import { newReleaseId, until } from "./local-helpers";

const ROOT = path.join(__dirname, "..");

describe("release-machine dashboard, end to end in Chromium", function () {
  this.timeout(90_000);
  let testServer: CliServer;
  let server: LocalServer;
  let browser: Browser;
  let command: FollowedChild;
  let page: Page;
  let origin: string;

  async function submitted(manifest: { releaseId: string; pipelines: unknown[] }, user: string) {
    const file = path.join(testServer.dataDir, `${manifest.releaseId}.json`);
    writeFileSync(file, JSON.stringify(manifest));
    const run = await runCli(server, ["submit", file], { RELEASE_MACHINE_USER: user });
    assert.equal(run.code, 0, run.stderr);
  }

  /** Ends the execution of `pipeline` that `releaseId` started (other releases run the same pipelines). */
  async function finish(releaseId: string, pipeline: string): Promise<void> {
    const executionId = await until(`${pipeline} of ${releaseId} to run`, async () => {
      const entry = (await server.machine.readRelease(releaseId))?.pipelines.find((p) => p.name === pipeline);
      return entry?.status === "InProgress" ? entry.pipelineExecutionId : undefined;
    });
    server.machine.codepipeline.finish(executionId, "Succeeded");
    await server.machine.router.idle();
  }

  before(async function () {
    browser = await launchChromium(this);
    testServer = await startCliServer(
      "dashboard-e2e",
      ["d-build", "d-prod", "d-api", "d-web", "d-docs"].map((name) => ({
        name,
        durationMs: null,
        outcome: "Succeeded" as const,
      })),
    );
    server = testServer.server;
    // The command as a user runs it: the repository's bin through ts-node, acting as bob.
    const child = spawn(
      process.execPath,
      [path.join(ROOT, "cli", "release-machine.js"), "dashboard", "--no-open", "--api", server.url],
      { cwd: ROOT, env: { ...process.env, RELEASE_MACHINE_USER: "bob" }, stdio: ["ignore", "pipe", "pipe"] },
    );
    command = followChild(child, "release-machine dashboard");
    const [line, url] = await command.logged(/^Dashboard: (http:\/\/127\.0\.0\.1:\d+\/\?token=[\w-]+)$/m);
    assert.equal(command.output().trim(), line, "it prints exactly one line");
    origin = new URL(url).origin;
    page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
    await page.goto(url);
  });

  after(async () => {
    await browser?.close();
    await stopGently(command);
    await testServer?.close();
  });

  it("opens the printed URL and shows the release list, then a release's graph by depth with its critical path", async () => {
    const releaseId = newReleaseId("dash-graph");
    await submitted(
      {
        releaseId,
        pipelines: [
          "d-build",
          { name: "d-api", dependsOn: ["d-build"] },
          { name: "d-web", dependsOn: ["d-build"] },
          { name: "d-prod", dependsOn: ["d-api", "d-web"], approval: { timeoutHours: 2 } },
        ],
      },
      "alice",
    );
    await page.waitForSelector(`tr[data-release-id="${releaseId}"]`);
    await page.screenshot({ path: path.join(DOCS, "dashboard-list.png") });
    await page.click(`tr[data-release-id="${releaseId}"] a`);
    await page.waitForSelector('.node[data-pipeline="d-build"][data-status="InProgress"]');
    const left = async (name: string) =>
      (await page.locator(`.node[data-pipeline="${name}"]`).boundingBox())?.x ?? NaN;
    const [build, api, web, prod] = await Promise.all(["d-build", "d-api", "d-web", "d-prod"].map(left));
    assert.ok(build < api && api === web && web < prod, `by depth: ${[build, api, web, prod].join(", ")}`);
    const critical = await page.$$eval(".node.critical", (n) =>
      n.map((x) => x.getAttribute("data-pipeline")),
    );
    assert.equal(critical.length, 3, `the critical path runs through 3 pipelines: ${critical.join(", ")}`);
    assert.ok(critical.includes("d-build") && critical.includes("d-prod"));
    assert.match((await page.textContent('.node[data-pipeline="d-build"]')) ?? "", /▶ d-build\s*InProgress/);
  });

  it("approves a gate after confirming, and the pipeline starts", async () => {
    const releaseId = newReleaseId("dash-approve");
    await submitted(
      { releaseId, pipelines: ["d-build", { name: "d-prod", dependsOn: ["d-build"], approval: true }] },
      "alice",
    );
    await page.goto(`${origin}/#/releases/${encodeURIComponent(releaseId)}`);
    await page.waitForSelector('.node[data-pipeline="d-build"][data-status="InProgress"]');
    await finish(releaseId, "d-build");
    const approve = '[data-action="approve"][data-pipeline="d-prod"]';
    await page.waitForSelector(`.gates ${approve}:not([disabled])`);
    await page.click('.node[data-pipeline="d-prod"]');
    await page.waitForSelector("#details .gate");
    await page.screenshot({ path: path.join(DOCS, "dashboard-release.png") });
    await page.click(`.gates ${approve}`);
    await page.waitForSelector("#confirm[open]");
    await page.fill("#confirm-input", "looks good");
    await page.click("#confirm-yes");
    await page.waitForSelector('.node[data-pipeline="d-prod"][data-status="InProgress"]');
    await page.waitForSelector('.history li:has-text("approved d-prod by bob: looks good")');
    await finish(releaseId, "d-prod");
    await page.waitForSelector('.release[data-status="SUCCEEDED"]');
  });

  it("disables an approval the API would refuse, saying why: the viewer submitted the release", async () => {
    const releaseId = newReleaseId("dash-own");
    await submitted({ releaseId, pipelines: [{ name: "d-docs", approval: true }] }, "bob");
    await page.goto(`${origin}/#/releases/${encodeURIComponent(releaseId)}`);
    const approve = '.gates [data-action="approve"][data-pipeline="d-docs"]';
    await page.waitForSelector(`${approve}[disabled]`);
    assert.match(
      (await page.textContent('.gates li[data-gate="d-docs"]')) ?? "",
      /you submitted this release/,
    );
    assert.ok(
      await page.isEnabled('.gates [data-action="reject"][data-pipeline="d-docs"]'),
      "bob may still reject",
    );
  });

  it("cancels a release with a reason after confirming, and it ends CANCELLED", async () => {
    const releaseId = newReleaseId("dash-cancel");
    await submitted({ releaseId, pipelines: ["d-api", { name: "d-web", dependsOn: ["d-api"] }] }, "alice");
    await page.goto(`${origin}/#/releases/${encodeURIComponent(releaseId)}`);
    await page.waitForSelector('.node[data-pipeline="d-api"][data-status="InProgress"]');
    await page.click('[data-action="cancel"]');
    await page.click("#confirm-no");
    assert.equal(
      await server.machine.readRelease(releaseId).then((r) => r?.status),
      "RUNNING",
      "Back sends nothing",
    );
    await page.click('[data-action="cancel"]');
    await page.fill("#confirm-input", "wrong build");
    await page.click("#confirm-yes");
    await page.waitForSelector('.release[data-status="CANCELLED"]');
    await page.waitForSelector('.history li:has-text("cancelled by bob: wrong build")');
    await page.waitForSelector('.node[data-pipeline="d-web"][data-status="Skipped"]');
    await page.waitForSelector('[data-action="retry"]');
    await page.screenshot({ path: path.join(DOCS, "dashboard-cancelled.png") });

    await page.click('a[href="#/"]');
    await page.waitForSelector(`tr[data-release-id="${releaseId}"]`);
    await page.selectOption("#status-filter", "CANCELLED");
    await page.waitForSelector('tr[data-release-id^="dash-graph"]', { state: "detached" });
    const listed = await page.$$eval("tr[data-release-id]", (rows) =>
      rows.map((r) => r.getAttribute("data-release-id")),
    );
    assert.deepEqual(listed, [releaseId], "only the CANCELLED release is listed");
  });
});
