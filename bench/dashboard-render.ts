/**
 * `dashboardRenderMs500` (issue 21): how long the dashboard takes to show a 500-pipeline release
 * in Chromium (Debian's /usr/bin/chromium, headless, driven by playwright-core), from the start
 * of the page's navigation to the moment all 500 pipelines are in the page, through the real
 * dashboard server and a stand-in API answering the release (bench/dashboard-fixture.ts). Also
 * how long a click on a pipeline takes to show its details (the page stays responsive). Real
 * time: this machine's figure. Run alone: `npx ts-node --transpile-only bench/dashboard-render.ts`.
 */
import { existsSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { chromium } from "playwright-core";
import { startDashboard } from "../cli/dashboard/server";
import { bigRelease, stubApi } from "./dashboard-fixture";

export const DASHBOARD_PIPELINES = 500;
const RUNS = 5;
const CHROMIUM = process.env.RELEASE_MACHINE_CHROMIUM ?? "/usr/bin/chromium";

export type DashboardRender =
  { medianMs: number; maxMs: number; clickMedianMs: number; runs: number } | { error: string };

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

export async function measureDashboardRender(): Promise<DashboardRender> {
  if (!existsSync(CHROMIUM)) return { error: `no Chromium at ${CHROMIUM} (apt-get install chromium)` };
  const api = await stubApi([bigRelease("bench-500", DASHBOARD_PIPELINES)]);
  const dashboard = await startDashboard({ target: { url: api.url, user: "bench" } });
  const browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ["--no-sandbox"] });
  try {
    const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
    await (await context.newPage()).goto(dashboard.url); // the one-time token: a session cookie
    const [renders, clicks]: [number[], number[]] = [[], []];
    for (let run = 0; run < RUNS; run += 1) {
      const page = await context.newPage();
      const started = performance.now();
      await page.goto(`http://127.0.0.1:${dashboard.port}/#/releases/bench-500`);
      // The graph is appended in one piece: its last pipeline there means all are.
      await page
        .locator(`.node[data-pipeline="svc-${DASHBOARD_PIPELINES - 1}"]`)
        .waitFor({ state: "attached" });
      renders.push(performance.now() - started);
      const shown = await page.locator(".node").count();
      if (shown !== DASHBOARD_PIPELINES) throw new Error(`the page shows ${shown} pipelines`);
      const name = `svc-${(run * 97) % DASHBOARD_PIPELINES}`;
      const clicked = performance.now();
      await page.click(`.node[data-pipeline="${name}"]`);
      await page.waitForSelector(`#details h2:text-is("${name}")`);
      clicks.push(performance.now() - clicked);
      await page.close();
    }
    return {
      medianMs: Math.round(median(renders)),
      maxMs: Math.round(Math.max(...renders)),
      clickMedianMs: Math.round(median(clicks)),
      runs: RUNS,
    };
  } finally {
    await browser.close();
    await dashboard.close();
    await api.close();
  }
}

export function dashboardRenderLine(result: DashboardRender): string {
  return "error" in result
    ? `dashboardRenderMs500: not measured (${result.error})`
    : `dashboardRenderMs500: ${result.medianMs} ms median of ${result.runs} (max ${result.maxMs}); a click shows a pipeline's details in ${result.clickMedianMs} ms (median)`;
}

if (require.main === module) {
  measureDashboardRender().then(
    (result) => process.stdout.write(`${dashboardRenderLine(result)}\n`),
    (error: unknown) => {
      process.stderr.write(`${String(error)}\n`);
      process.exitCode = 1;
    },
  );
}
