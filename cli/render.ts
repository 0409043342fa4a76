/**
 * Text rendering for the CLI: pure functions from API answers to lines, so tests can call them
 * with fixed values. Times are shown in UTC (`10:00:01Z`) so output is the same on every machine.
 */
import type { ManifestProblem } from "../contract/errors";
import type { ApiErrorBody } from "../contract/release-view";
import { EXIT, RELEASE_STATUS_EXIT } from "./exit-codes";
import type { PipelineView, ReleaseView } from "./view";

/** A release is over once it is anything but RUNNING (or CANCELLING: its pipelines are being stopped). */
export function isFinished(view: ReleaseView): boolean {
  return view.status !== "RUNNING" && view.status !== "CANCELLING";
}

/**
 * The exit code a release's status gives `watch` and `status` (cli/exit-codes.ts); a status this
 * CLI does not know (a newer API's) exits 1.
 */
export function exitCodeFor(view: ReleaseView): number {
  const status: string = view.status;
  return status in RELEASE_STATUS_EXIT ? RELEASE_STATUS_EXIT[view.status] : EXIT.failed;
}

/** `2026-11-27T10:00:01.234Z` → `2026-11-27 10:00:01Z`. */
export function formatTimestamp(iso: string | undefined): string {
  if (!iso) return "-";
  const match = /^(\d{4}-\d{2}-\d{2})T(\d{2}:\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]} ${match[2]}Z` : iso;
}

/** `2026-11-27T10:00:01.234Z` → `10:00:01Z`. */
export function formatTime(iso: string | undefined): string {
  if (!iso) return "-";
  const match = /T(\d{2}:\d{2}:\d{2})/.exec(iso);
  return match ? `${match[1]}Z` : iso;
}

/** 420 → `0.4s`, 65_000 → `1m05s`, 3_725_000 → `1h02m05s`. */
export function formatDuration(ms: number): string {
  if (!Number.isFinite(ms) || ms < 0) return "-";
  if (ms < 60_000) return `${(ms / 1000).toFixed(1)}s`;
  const total = Math.round(ms / 1000);
  const h = Math.floor(total / 3600);
  const m = Math.floor((total % 3600) / 60);
  const s = String(total % 60).padStart(2, "0");
  return h > 0 ? `${h}h${String(m).padStart(2, "0")}m${s}s` : `${m}m${s}s`;
}

function between(from: string | undefined, to: string | undefined): number | undefined {
  if (!from || !to) return undefined;
  const ms = Date.parse(to) - Date.parse(from);
  return Number.isFinite(ms) ? ms : undefined;
}

/** How long the release's current attempt ran (ended) or has been running (now). */
export function releaseElapsed(view: ReleaseView, now: Date): string | undefined {
  const from = view.attemptStartedAt ?? view.startedAt;
  const ms = between(from, view.endedAt ?? (isFinished(view) ? undefined : now.toISOString()));
  return ms === undefined ? undefined : formatDuration(ms);
}

/** How long a pipeline's current run took, or has been running (`now`, when given): ` (1m05s)`. */
export function pipelineElapsed(pipeline: PipelineView, now?: Date): string {
  const to =
    pipeline.endedAt ??
    (pipeline.status === "InProgress" || pipeline.status === "Stopping" ? now?.toISOString() : undefined);
  const ms = between(pipeline.startedAt, to);
  return ms === undefined ? "" : ` (${formatDuration(ms)})`;
}

/** Earlier attempts, one a line: `attempt 1  FAILED  10:00:00Z-10:00:05Z  5.0s`. */
export function attemptLines(attempts: ReleaseView["earlierAttempts"], indent: string): string[] {
  return (attempts ?? []).map((a) => {
    const ms = between(a.startedAt, a.endedAt);
    const took = ms === undefined ? "" : `  ${formatDuration(ms)}`;
    return `${indent}attempt ${a.attempt}  ${a.status}  ${formatTime(a.startedAt)}-${formatTime(a.endedAt)}${took}`;
  });
}

export function lastState(pipeline: PipelineView): { state: string; at: string } | undefined {
  return pipeline.history?.at(-1);
}

/** ` at stage Deploy, action DeployApp` for a pipeline the API says failed there; "" otherwise. */
export function failedAt(pipeline: PipelineView): string {
  if (!pipeline.failedStage) return "";
  return ` at stage ${pipeline.failedStage}${pipeline.failedAction ? `, action ${pipeline.failedAction}` : ""}`;
}

/**
 * `; stopped after svc-b failed at stage Build, action UnitTests` for a pipeline another one's
 * failure stopped (or `skipped after …`, one it kept from starting), naming where that one failed
 * when `all` (the release's pipelines) has it; "" otherwise.
 */
export function stoppedAfter(pipeline: PipelineView, all: readonly PipelineView[] = []): string {
  if (!pipeline.stoppedBy) return "";
  const failed = all.find((p) => p.name === pipeline.stoppedBy);
  const verb = pipeline.status === "Skipped" ? "skipped" : "stopped";
  return `; ${verb} after ${pipeline.stoppedBy} failed${failed ? failedAt(failed) : ""}`;
}

const MARKS: Record<string, string> = {
  Succeeded: "ok",
  Failed: "!!",
  Stopped: "--",
  Stopping: "..",
  Cancelled: "--",
  Superseded: "--",
  InProgress: ">>",
  Started: ">>",
  Pending: "  ",
  AwaitingApproval: "||",
  Skipped: "--",
  Frozen: "**",
};

/**
 * What a pipeline's gate and dependencies say, for display: `; after a, b` while it waits for
 * them, `; awaits approval until 12:00:00Z`, `; approved by arn… ("ship it")`, `; approval expired`.
 */
export function gateAndDependencies(pipeline: PipelineView): string {
  const parts: string[] = [];
  if (pipeline.status === "Pending" && pipeline.dependsOn?.length)
    parts.push(`after ${pipeline.dependsOn.join(", ")}`);
  // Freezes (issue 20): which freezes hold it, and until when.
  if (pipeline.status === "Frozen" && pipeline.frozenBy) {
    const until = pipeline.until ? formatTimestamp(pipeline.until) : "removed";
    parts.push(`frozen by ${pipeline.frozenBy.join(", ")} until ${until}`);
  }
  const gate = pipeline.approval;
  if (gate) {
    const comment = gate.comment ? ` ("${gate.comment}")` : "";
    if (gate.decision === "approve") parts.push(`approved by ${gate.decidedBy ?? "?"}${comment}`);
    else if (gate.decision === "reject") parts.push(`rejected by ${gate.decidedBy ?? "?"}${comment}`);
    else if (gate.decision === "expired") parts.push("approval expired");
    else if (pipeline.status === "AwaitingApproval")
      parts.push(`awaits approval until ${formatTimestamp(gate.deadlineAt)}`);
    else parts.push("gated");
  }
  return parts.length > 0 ? `; ${parts.join("; ")}` : "";
}

/** One pipeline: `ok svc-a    Succeeded   SUCCEEDED at 10:00:04Z`, names padded to `width`. */
export function pipelineLine(
  pipeline: PipelineView,
  width: number,
  statusWidth = 10,
  all: readonly PipelineView[] = [],
  now?: Date,
): string {
  const last = lastState(pipeline);
  const mark = MARKS[pipeline.status] ?? "??";
  const state = last ? `${last.state} at ${formatTime(last.at)}` : "not started";
  const attempt = pipeline.attempt && pipeline.attempt > 1 ? ` (attempt ${pipeline.attempt})` : "";
  return `${mark} ${pipeline.name.padEnd(width)}  ${pipeline.status.padEnd(statusWidth)}  ${state}${pipelineElapsed(pipeline, now)}${attempt}${failedAt(pipeline)}${stoppedAfter(pipeline, all)}${gateAndDependencies(pipeline)}`.trimEnd();
}

const pipelinesOf = (view: ReleaseView) => view.pipelines ?? [];

/** Wide enough for the longest status shown (`AwaitingApproval`), so the columns stay aligned. */
function statusWidth(view: ReleaseView): number {
  return Math.max(10, ...pipelinesOf(view).map((p) => p.status.length));
}

function nameWidth(view: ReleaseView): number {
  return Math.max(8, ...pipelinesOf(view).map((p) => p.name.length));
}

/** A manifest's problems, one a line: `path  rule  message`, columns aligned. */
export function problemLines(problems: ManifestProblem[], indent = "  "): string[] {
  const pathWidth = Math.max(...problems.map((p) => (p.path || "(manifest)").length));
  const ruleWidth = Math.max(...problems.map((p) => p.rule.length));
  return problems.map(
    (p) =>
      `${indent}${(p.path || "(manifest)").padEnd(pathWidth)}  ${p.rule.padEnd(ruleWidth)}  ${p.message}`,
  );
}

/** `status`: the whole release as a readable block. */
export function renderStatus(view: ReleaseView, now: Date): string[] {
  const elapsed = releaseElapsed(view, now);
  const lines = [`Release ${view.releaseId}: ${view.status}`];
  lines.push(`  started  ${formatTimestamp(view.startedAt)}`);
  if (view.endedAt)
    lines.push(`  ended    ${formatTimestamp(view.endedAt)}${elapsed ? ` (${elapsed})` : ""}`);
  else if (elapsed) lines.push(`  running  for ${elapsed}`);
  if (view.source) lines.push(`  source   ${view.source}`);
  if (view.submittedBy) lines.push(`  by       ${view.submittedBy}`);
  if (view.attempt && view.attempt > 1) {
    const by = view.retriedBy ? ` by ${view.retriedBy}` : "";
    lines.push(`  attempt  ${view.attempt} (retried${by} at ${formatTimestamp(view.attemptStartedAt)})`);
    lines.push(...attemptLines(view.earlierAttempts, "           "));
  }
  if (view.cancelledBy)
    lines.push(`  cancel   by ${view.cancelledBy}${view.cancelReason ? `: ${view.cancelReason}` : ""}`);
  if (view.error) lines.push(`  error    ${view.error}`);
  if (view.cause) lines.push(`  cause    ${view.cause}`);
  const problems = view.problems ?? [];
  if (problems.length > 0) lines.push(`Problems (${problems.length}):`, ...problemLines(problems));
  const pipelines = pipelinesOf(view);
  if (pipelines.length === 0) {
    if (view.status !== "REJECTED") lines.push("Pipelines: none recorded");
  } else {
    const width = nameWidth(view);
    lines.push(`Pipelines (${pipelines.length}):`);
    for (const pipeline of pipelines) {
      lines.push(`  ${pipelineLine(pipeline, width, statusWidth(view), pipelines, now)}`);
      lines.push(...attemptLines(pipeline.earlierAttempts, `     ${" ".repeat(width)}  `));
    }
  }
  return lines;
}

/** `watch` on a terminal: the frame redrawn in place on every poll. */
export function renderFrame(view: ReleaseView, now: Date): string[] {
  const elapsed = releaseElapsed(view, now);
  const counts = new Map<string, number>();
  for (const p of pipelinesOf(view)) counts.set(p.status, (counts.get(p.status) ?? 0) + 1);
  const summary = [...counts].map(([status, n]) => `${n} ${status}`).join(", ");
  const width = nameWidth(view);
  return [
    `Release ${view.releaseId}  ${view.status}${elapsed ? `  ${elapsed}` : ""}${summary ? `  (${summary})` : ""}`,
    ...pipelinesOf(view).map((p) => `  ${pipelineLine(p, width, statusWidth(view), pipelinesOf(view), now)}`),
  ];
}

/**
 * `watch` without a terminal: one line per change since the previous answer (all of it at first),
 * in the order things happened: the release starting, its pipelines, the release ending.
 */
export function renderChanges(previous: ReleaseView | undefined, view: ReleaseView): string[] {
  const lines: string[] = [];
  const width = nameWidth(view);
  for (const pipeline of pipelinesOf(view)) {
    const before = previous && pipelinesOf(previous).find((p) => p.name === pipeline.name);
    const changed =
      !before ||
      before.status !== pipeline.status ||
      before.history?.length !== pipeline.history?.length ||
      lastState(before)?.state !== lastState(pipeline)?.state ||
      failedAt(before) !== failedAt(pipeline) ||
      before.stoppedBy !== pipeline.stoppedBy ||
      gateAndDependencies(before) !== gateAndDependencies(pipeline);
    if (!changed) continue;
    const last = lastState(pipeline);
    // A pipeline without events (Pending, Skipped, AwaitingApproval) is dated by its own end, if any.
    const at = formatTime(last?.at ?? pipeline.endedAt ?? view.startedAt);
    const state = last ? ` (${last.state})` : "";
    lines.push(
      `${at} ${pipeline.name.padEnd(width)}  ${pipeline.status}${state}${failedAt(pipeline)}${stoppedAfter(pipeline, pipelinesOf(view))}${gateAndDependencies(pipeline)}`,
    );
  }
  if (!previous || previous.status !== view.status) {
    if (isFinished(view)) {
      // A rejected submission never started: it has no start to report.
      if (!previous && view.startedAt)
        lines.unshift(`${formatTime(view.startedAt)} release ${view.releaseId} started`);
      lines.push(`${formatTime(view.endedAt ?? view.startedAt)} release ${view.releaseId} ${view.status}`);
    } else {
      lines.unshift(`${formatTime(view.startedAt)} release ${view.releaseId} ${view.status}`);
    }
  }
  return lines;
}

/** The last words of `watch`: the outcome, its duration and, for a failure, why. */
export function renderOutcome(view: ReleaseView, now: Date): string[] {
  const elapsed = releaseElapsed(view, now);
  const lines = [`Release ${view.releaseId} ${view.status}${elapsed ? ` after ${elapsed}` : ""}`];
  if (view.status !== "SUCCEEDED") {
    const failed = pipelinesOf(view)
      .filter((p) => p.status === "Failed")
      .map((p) => `${p.name}${failedAt(p)}`);
    if (failed.length > 0) lines.push(`  failed pipelines: ${failed.join("; ")}`);
    if (view.cancelledBy)
      lines.push(`  cancelled by ${view.cancelledBy}${view.cancelReason ? `: ${view.cancelReason}` : ""}`);
    if (view.error) lines.push(`  error: ${view.error}`);
    if (view.cause) lines.push(`  cause: ${view.cause}`);
    const problems = view.problems ?? [];
    if (problems.length > 0)
      lines.push(`  problems (${problems.length}):`, ...problemLines(problems, "    "));
  }
  return lines;
}

/** An API error answer (status undefined: found before sending): its message, then each problem as `path  rule  message`. */
export function renderApiError(status: number | undefined, body: ApiErrorBody): string[] {
  const http = status === undefined ? "" : `HTTP ${status}`;
  const title = body.error ? `${body.error}${http ? ` (${http})` : ""}` : http || "Error";
  const lines = [`${title}${body.message ? `: ${body.message}` : ""}`];
  const problems = body.problems ?? [];
  if (problems.length > 0) {
    const what = body.error === "InvalidRequest" ? "the request" : "the manifest";
    lines[0] = `${title}: ${what} has ${problems.length} problem${problems.length === 1 ? "" : "s"}`;
    lines.push(...problemLines(problems));
  }
  return lines;
}
