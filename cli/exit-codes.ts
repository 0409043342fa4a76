/**
 * The CLI's exit codes and what each release status exits with: the one source that the commands
 * (cli/main.ts, cli/watch.ts, cli/render.ts) and every `--help` (cli/help.ts) read.
 */
import {
  PIPELINE_VIEW_STATUSES,
  RELEASE_VIEW_STATUSES,
  type ReleaseViewStatus,
} from "../contract/release-view";

export const EXIT = {
  /** Done: the request was accepted, or the release is running or succeeded. */
  ok: 0,
  /** The release did not succeed, or the API refused the request or could not be reached. */
  failed: 1,
  /** A usage error, or `watch` gave up waiting for the release to appear. */
  usage: 2,
} as const;

export type ExitCode = (typeof EXIT)[keyof typeof EXIT];

/** What `status` and `watch` exit with for each release status (a Record: none can be missing). */
export const RELEASE_STATUS_EXIT: Record<ReleaseViewStatus, ExitCode> = {
  RUNNING: EXIT.ok,
  CANCELLING: EXIT.ok,
  SUCCEEDED: EXIT.ok,
  FAILED: EXIT.failed,
  REJECTED: EXIT.failed,
  CANCELLED: EXIT.failed,
};

const statusesExiting = (code: ExitCode) => {
  const statuses = RELEASE_VIEW_STATUSES.filter((status) => RELEASE_STATUS_EXIT[status] === code);
  return statuses.length > 1
    ? `${statuses.slice(0, -1).join(", ")} or ${statuses.at(-1)}`
    : (statuses[0] ?? "none");
};

/** What each code means, for the help. */
const MEANINGS: Record<ExitCode, () => string> = {
  0: () =>
    `done: submitted, cancel accepted, retried, decided, listed; status and watch: the release is ${statusesExiting(EXIT.ok)}`,
  1: () =>
    `status and watch: the release is ${statusesExiting(EXIT.failed)}; any command: the API refused the request (400 invalid input, 403 not allowed, 404 no such release, 409 a state that does not allow it) or could not be reached`,
  2: () => "a usage error; watch gave up waiting for the release to appear (--timeout)",
};

/** `text` in lines of at most WIDTH characters, the first after `first`, the others after `rest`. */
function wrap(text: string, first: string, rest: string): string {
  const WIDTH = 96;
  const lines: string[] = [];
  let line = first;
  for (const word of text.split(" ")) {
    const prefix = lines.length === 0 ? first : rest;
    if (line !== prefix && `${line} ${word}`.length > WIDTH) {
      lines.push(line);
      line = `${rest}${word}`;
    } else line = line === prefix ? `${line}${word}` : `${line} ${word}`;
  }
  return [...lines, line].join("\n");
}

/** The help's section on statuses and exit codes, the same under every command. */
export function statusesAndExitCodes(): string {
  const codes = Object.values(EXIT).map((code) => wrap(MEANINGS[code](), `  ${code}  `, "     "));
  return [
    "Release statuses (status and watch exit with the code after each):",
    wrap(RELEASE_VIEW_STATUSES.map((s) => `${s} ${RELEASE_STATUS_EXIT[s]}`).join(", "), "  ", "  "),
    "Pipeline statuses:",
    wrap(PIPELINE_VIEW_STATUSES.join(", "), "  ", "  "),
    "Exit codes:",
    ...codes,
  ].join("\n");
}
