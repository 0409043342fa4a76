/**
 * `watch`: polls `GET /releases/{id}` until the release ends. On a terminal the per-pipeline view
 * is redrawn in place; otherwise one line is printed per change. A release that does not exist
 * yet is waited for (an S3 upload starts its release asynchronously) up to a timeout.
 */
import type { ReleaseView } from "./view";
import { type ApiTarget, ApiError, Unreachable, getRelease } from "./api";
import { EXIT } from "./exit-codes";
import { exitCodeFor, formatDuration, isFinished, renderChanges, renderFrame, renderOutcome } from "./render";

export interface Output {
  write(text: string): unknown;
}

export interface WatchOptions {
  intervalMs: number;
  /** How long a release that does not exist yet is waited for. */
  timeoutMs: number;
  json: boolean;
  /** Redraw in place (stdout is a terminal). */
  tty: boolean;
  /** Terminal width, to keep redrawn lines from wrapping. */
  columns?: () => number | undefined;
}

/** Consecutive failed polls (5xx, throttling, network) tolerated once the release was seen. */
const TRANSIENT_LIMIT = 5;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

function isTransient(error: unknown): boolean {
  return (
    error instanceof Unreachable ||
    (error instanceof ApiError && (error.status >= 500 || error.status === 429))
  );
}

/** Returns the exit code: 0 succeeded, 1 failed or rejected, 2 not found before the timeout. */
export async function watchRelease(
  target: ApiTarget,
  releaseId: string,
  options: WatchOptions,
  out: Output,
  err: Output,
): Promise<number> {
  const started = Date.now();
  let previous: ReleaseView | undefined;
  let drawn = 0;
  let failures = 0;
  let saidWaiting = false;

  const draw = (lines: string[]) => {
    const width = options.columns?.() ?? 0;
    const fitted =
      width > 1 ? lines.map((line) => (line.length >= width ? line.slice(0, width - 1) : line)) : lines;
    // Up to the first line drawn last time, clear to the end of the screen, draw again.
    out.write(`${drawn > 0 ? `\x1b[${drawn}A\r\x1b[J` : ""}${fitted.join("\n")}\n`);
    drawn = fitted.length;
  };

  for (;;) {
    let view: ReleaseView | undefined;
    try {
      view = await getRelease(target, releaseId);
      failures = 0;
    } catch (error) {
      // Fail at once when the API never answered (e.g. not running); ride out blips later.
      if (!isTransient(error) || (previous === undefined && error instanceof Unreachable)) throw error;
      failures += 1;
      if (failures > TRANSIENT_LIMIT) throw error;
      err.write(`release-machine: ${(error as Error).message}; retrying (${failures}/${TRANSIENT_LIMIT})\n`);
      await sleep(options.intervalMs);
      continue;
    }

    if (!view) {
      const waited = Date.now() - started;
      if (waited >= options.timeoutMs) {
        const message = `no release has releaseId ${releaseId} (waited ${formatDuration(waited)})`;
        if (options.json) out.write(`${JSON.stringify({ error: "ReleaseNotFound", message }, null, 2)}\n`);
        else err.write(`release-machine: ${message}\n`);
        return EXIT.usage;
      }
      if (!options.json) {
        const line = `Waiting for release ${releaseId} to appear (${formatDuration(waited)} of ${formatDuration(options.timeoutMs)})`;
        if (options.tty) draw([line]);
        else if (!saidWaiting) out.write(`${line}\n`);
        saidWaiting = true;
      }
      await sleep(options.intervalMs);
      continue;
    }

    const now = new Date();
    if (!options.json) {
      if (options.tty) draw(renderFrame(view, now));
      else for (const line of renderChanges(previous, view)) out.write(`${line}\n`);
    }
    if (isFinished(view)) {
      if (options.json) out.write(`${JSON.stringify(view, null, 2)}\n`);
      else out.write(`${renderOutcome(view, now).join("\n")}\n`);
      return exitCodeFor(view);
    }
    previous = view;
    await sleep(options.intervalMs);
  }
}
