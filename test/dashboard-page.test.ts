/**
 * The dashboard's page in Chromium against a stand-in API: a 500-pipeline release renders every
 * pipeline and stays responsive, a refusal is shown as the API words it, and the page loads
 * nothing from outside the machine. (bench/dashboard-render.ts times the same page.)
 */
import assert from "node:assert/strict";
import type { Browser, Page } from "playwright-core";
import { type Dashboard, startDashboard } from "../cli/dashboard/server";
import { type StubApi, bigRelease, launchChromium, stubApi } from "./dashboard-helpers";

describe("the dashboard's page in Chromium", function () {
  this.timeout(60_000);
  let browser: Browser;
  let api: StubApi;
  let dashboard: Dashboard;
  let page: Page;
  const requested: string[] = [];

  before(async function () {
    browser = await launchChromium(this);
    // Queue and freeze fields the API does not answer yet: shown whenever present.
    const held = { ...bigRelease("held-1", 2), queueReason: "behind release 5.15 (shares svc-0)" };
    held.pipelines[0] = { ...held.pipelines[0], ...{ freezeReason: "change freeze until Monday" } };
    api = await stubApi([bigRelease("big-500", 500), held], (method, path) =>
      method === "POST" && path === "/releases/big-500/cancel"
        ? { status: 409, body: { error: "ReleaseNotRunning", message: "release big-500 is SUCCEEDED" } }
        : { status: 404, body: { error: "NotFound", message: "no such route" } },
    );
    dashboard = await startDashboard({ target: { url: api.url, user: "bob" } });
    page = await browser.newPage({ viewport: { width: 1200, height: 800 } });
    page.on("request", (request) => requested.push(request.url()));
    await page.goto(dashboard.url);
  });

  after(async () => {
    await browser?.close();
    await dashboard?.close();
    await api?.close();
  });

  it("renders all 500 pipelines of a release laid out by depth, with the critical path marked, and answers a click", async () => {
    await page.goto(`http://127.0.0.1:${dashboard.port}/#/releases/big-500`);
    await page.locator('.node[data-pipeline="svc-499"]').waitFor({ state: "attached" });
    assert.equal(await page.locator(".node").count(), 500);
    const styles = await page.$$eval(".node", (nodes) => nodes.map((n) => n.getAttribute("style") ?? ""));
    const columns = new Set(styles.map((style) => /left: (\d+)px/.exec(style)?.[1])).size;
    assert.equal(columns, 20, "20 levels of 25 pipelines: 20 columns");
    const critical = await page.$$eval(".node.critical", (nodes) =>
      nodes.map((n) => n.getAttribute("data-pipeline")),
    );
    assert.equal(critical.length, 20, `one pipeline per level on the critical path: ${critical.join(", ")}`);
    await page.click('.node[data-pipeline="svc-499"]');
    await page.waitForSelector('#details h2:text-is("svc-499")');
    assert.match((await page.textContent("#details")) ?? "", /Who may decide: bob/);
  });

  it("shows a refusal as the API words it, after the user confirmed the action", async () => {
    await page.click('[data-action="cancel"]');
    await page.fill("#confirm-input", "wrong build");
    await page.click("#confirm-yes");
    await page.waitForSelector("#error:not([hidden])");
    assert.equal(
      await page.textContent("#error"),
      "ReleaseNotRunning (HTTP 409): release big-500 is SUCCEEDED",
    );
    assert.ok(api.requests.includes("POST /releases/big-500/cancel"));
  });

  it("shows a release's queue reason and a pipeline's freeze reason when the API answers them", async () => {
    await page.goto(`http://127.0.0.1:${dashboard.port}/#/releases/held-1`);
    await page.waitForSelector(
      '.release[data-release-id="held-1"] > .reasons dd:text-is("behind release 5.15 (shares svc-0)")',
    );
    await page.click('.node[data-pipeline="svc-0"]');
    await page.waitForSelector('#details .reasons dd:text-is("change freeze until Monday")');
  });

  it("loads nothing from outside the machine", () => {
    const outside = requested.filter((url) => !url.startsWith(`http://127.0.0.1:${dashboard.port}/`));
    assert.deepEqual(outside, []);
    assert.ok(requested.some((url) => url.endsWith("/assets/app.js")));
  });
});
