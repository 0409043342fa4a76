/**
 * How long a control call takes to answer under load (issue 18 C.6): cancels of releases whose
 * pipelines all run, and approvals of gates, all at once, on the local release machine (real
 * time: this machine's figure). A control call answers once its decision is recorded and handed
 * off (handlers/release/hand-off.ts); the stop pass and the start run after, so the answer does
 * not grow with the release. Run alone: `npx ts-node bench/control-latency.ts`; `npm run bench`
 * prints its line.
 */
import { performance } from "node:perf_hooks";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import { startLocalReleaseMachine } from "../local/release-machine";

const RELEASES = 10;
const PIPELINES_EACH = 20;
const CALLER = "arn:aws:iam::123456789012:user/bench-operator";

const percentile = (values: number[], p: number) => {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];
};

export interface ControlLatency {
  cancelMs: { p50: number; p95: number; max: number };
  approveMs: { p50: number; p95: number; max: number };
  releases: number;
  pipelinesEach: number;
}

const figures = (ms: number[]) => ({
  p50: Math.round(percentile(ms, 50)),
  p95: Math.round(percentile(ms, 95)),
  max: Math.round(Math.max(...ms)),
});

/** Waits, polling, until `probe` holds. */
async function until(probe: () => boolean | Promise<boolean>): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (!(await probe())) {
    if (Date.now() > deadline) throw new Error("control latency: the releases did not get ready");
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

export async function measureControlLatency(): Promise<ControlLatency> {
  const names = Array.from({ length: RELEASES * PIPELINES_EACH }, (_, i) => `lat-${i}`);
  const gates = Array.from({ length: RELEASES }, (_, i) => `lat-gate-${i}`);
  const pipelines: LocalPipelineSpec[] = [...names, ...gates].map((name) => ({
    name,
    durationMs: null,
    outcome: "Succeeded",
  }));
  const m = await startLocalReleaseMachine({ pipelines, retryPauseMs: 5 });
  try {
    const call = async (resource: string, path: Record<string, string>, body: object) => {
      const started = performance.now();
      const answer = await m.api.releaseControl({
        resource,
        httpMethod: "POST",
        pathParameters: path,
        body: JSON.stringify(body),
        requestContext: { identity: { userArn: CALLER } },
      });
      if (answer.statusCode >= 300) throw new Error(`control latency: ${answer.statusCode} ${answer.body}`);
      return performance.now() - started;
    };
    const stamp = Date.now().toString(36);
    const running = Array.from({ length: RELEASES }, (_, r) => `lat-run-${stamp}-${r}`);
    running.forEach((releaseId, r) =>
      m.submit({ releaseId, pipelines: names.slice(r * PIPELINES_EACH, (r + 1) * PIPELINES_EACH) }),
    );
    const gated = gates.map((gate, r) => ({ releaseId: `lat-gate-${stamp}-${r}`, gate }));
    gated.forEach(({ releaseId, gate }) =>
      m.submit({ releaseId, pipelines: [{ name: gate, approval: true }] }),
    );
    await until(() => names.every((n) => m.codepipeline.executions(n).length === 1));
    await until(async () => {
      const views = await Promise.all(gated.map((g) => m.readRelease(g.releaseId)));
      return views.every((v) => v?.pipelines[0]?.status === "AwaitingApproval");
    });
    await m.router.idle();
    // All at once, cancels and approvals together: the load the answers are measured under.
    const [cancelMs, approveMs] = await Promise.all([
      Promise.all(running.map((releaseId) => call("/releases/{releaseId}/cancel", { releaseId }, {}))),
      Promise.all(
        gated.map(({ releaseId, gate }) =>
          call(
            "/releases/{releaseId}/approvals/{pipeline}",
            { releaseId, pipeline: gate },
            { decision: "approve" },
          ),
        ),
      ),
    ]);
    await m.router.idle();
    return {
      cancelMs: figures(cancelMs),
      approveMs: figures(approveMs),
      releases: RELEASES,
      pipelinesEach: PIPELINES_EACH,
    };
  } finally {
    await m.close();
  }
}

/** One line for `npm run bench`'s progress. */
export function controlLatencyLine(l: ControlLatency): string {
  return `control answers under load (${l.releases} cancels of ${l.pipelinesEach} running pipelines each, ${l.releases} approvals, at once): cancel p50 ${l.cancelMs.p50} ms, p95 ${l.cancelMs.p95} ms, max ${l.cancelMs.max} ms; approve p50 ${l.approveMs.p50} ms, p95 ${l.approveMs.p95} ms, max ${l.approveMs.max} ms`;
}

if (require.main === module) {
  measureControlLatency().then(
    (l) => {
      process.stdout.write(`${controlLatencyLine(l)}\n`);
      process.exit();
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
