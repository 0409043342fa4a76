/**
 * What a refused submission's error carries to RecordRejected: its problems and the releaseId to
 * record it under. The Lambda Node.js runtime reports an error to Step Functions as `errorType`,
 * `errorMessage` and `trace` only (docs/aws-facts.md, "Step Functions"), so they travel in the
 * message: first what a person reads, then one line of JSON from which they are read back exactly.
 *
 *     /pipelines/1: pipeline "svc-nope" is not on this machine's allow-list; … [allowList]
 *     {"rejection":{"releaseId":"5.16","problems":[{"path":"/pipelines/1","rule":"allowList","message":"…"}]}}
 */
import { type ManifestProblem, leftOutCount, problemsLeftOut } from "./errors";
import { RELEASE_ID_PATTERN } from "./manifest-schema";

export interface Rejection {
  /** The releaseId the submission names, when it names a readable one that is not itself a problem. */
  releaseId?: string;
  problems: ManifestProblem[];
  /** How many more problems there were than `problems` lists (cappedRejection). */
  omitted?: number;
}

/**
 * The most characters a rejection's message may take as a JSON string. A task failure's Cause is
 * at most 32,768 characters (docs/aws-facts.md); the runtime's Cause holds the message as a JSON
 * string beside the error type and a trace, which rejectionError keeps to one line, so 28,000
 * leaves room for both.
 */
export const REJECTION_MESSAGE_BUDGET = 28_000;

const BLOCK = '\n{"rejection":';

/** Characters `text` takes inside a JSON string: its escaped form without the quotes. */
const escapedLength = (text: string): number => JSON.stringify(text).length - 2;

/** The message: `summary`, then the rejection as one line of JSON. */
export const rejectionMessage = (summary: string, rejection: Rejection): string =>
  `${summary}\n${JSON.stringify({ rejection })}`;

/**
 * `rejection` with as many problems as keep its message to `summary` within
 * REJECTION_MESSAGE_BUDGET, and how many were left out: those dropped here, and those the list's
 * own closing problemsLeftOut stood for (the parser caps its list too). A single problem always fits.
 */
export function cappedRejection(summary: string, rejection: Rejection): Rejection {
  const last = rejection.problems.at(-1);
  const noted = last === undefined ? undefined : leftOutCount(last);
  const listed = noted === undefined ? rejection.problems : rejection.problems.slice(0, -1);
  const most = { ...rejection, problems: [], omitted: rejection.problems.length + (noted ?? 0) };
  // JSON escapes character by character, so the parts' escaped lengths add up.
  let room = REJECTION_MESSAGE_BUDGET - escapedLength(rejectionMessage(summary, most));
  const kept = listed.filter((problem) => (room -= escapedLength(JSON.stringify(problem)) + 1) >= 0);
  return kept.length === listed.length
    ? rejection
    : { ...most, problems: kept, omitted: listed.length - kept.length + (noted ?? 0) };
}

/**
 * `error`, its message now carrying `rejection`. Its stack is cut to the message's first line: the
 * runtime's trace is the stack, whose first lines would repeat the whole message, and a refusal's
 * call stack tells nobody anything.
 */
export function rejectionError<E extends Error>(error: E, rejection: Rejection): E {
  error.stack = `${error.name}: ${error.message.split("\n")[0].slice(0, 200)}`;
  error.message = rejectionMessage(error.message, rejection);
  return error;
}

/** A problem as the JSON line carries it. */
function isProblem(value: unknown): value is ManifestProblem {
  return (
    typeof value === "object" &&
    value !== null &&
    "path" in value &&
    typeof value.path === "string" &&
    "rule" in value &&
    typeof value.rule === "string" &&
    "message" in value &&
    typeof value.message === "string"
  );
}

/**
 * The summary and the rejection a message carries; only the summary (the whole message) when it
 * carries none. Problems left out are listed as one problemsLeftOut, as the parser lists them.
 */
export function readRejection(message: string): { summary: string; rejection?: Rejection } {
  const at = message.lastIndexOf(BLOCK);
  if (at < 0) return { summary: message };
  let parsed: unknown;
  try {
    parsed = JSON.parse(message.slice(at + 1));
  } catch {
    return { summary: message };
  }
  const body =
    typeof parsed === "object" && parsed !== null && "rejection" in parsed ? parsed.rejection : undefined;
  if (typeof body !== "object" || body === null || !("problems" in body) || !Array.isArray(body.problems))
    return { summary: message };
  const problems: unknown[] = body.problems;
  if (!problems.every(isProblem)) return { summary: message };
  const releaseId = "releaseId" in body && typeof body.releaseId === "string" ? body.releaseId : undefined;
  const omitted = "omitted" in body && typeof body.omitted === "number" ? body.omitted : 0;
  const more = omitted > 0 ? [problemsLeftOut(omitted)] : [];
  return {
    summary: message.slice(0, at),
    rejection: { ...(releaseId === undefined ? {} : { releaseId }), problems: [...problems, ...more] },
  };
}

/** How much of a manifest's start releaseIdAtStart reads. */
export const RELEASE_ID_PREFIX_BYTES = 4096;

/**
 * The releaseId the start of a manifest's text names, when the text is too large to parse (an
 * oversized upload or body): the first `"releaseId"` key of the top-level object, with a string
 * value or a number as written, well-formed. No parser is involved, so the text may be cut short
 * anywhere after the value; strings and nested objects before it are skipped by a small scanner.
 */
export function releaseIdAtStart(text: string): string | undefined {
  const head = text.slice(0, RELEASE_ID_PREFIX_BYTES);
  let depth = 0;
  for (let at = 0; at < head.length; at++) {
    const character = head[at];
    if (character === "{" || character === "[") depth += 1;
    else if (character === "}" || character === "]") depth -= 1;
    else if (character === '"') {
      const end = stringEnd(head, at);
      if (end < 0) return undefined;
      if (depth === 1 && head.slice(at, end + 1) === '"releaseId"') {
        const value = /^\s*:\s*(?:"([^"\\]*)"|(\d[0-9.eE+-]*))/.exec(head.slice(end + 1));
        const id = value?.[1] ?? value?.[2];
        return id !== undefined && new RegExp(RELEASE_ID_PATTERN).test(id) ? id : undefined;
      }
      at = end;
    }
  }
  return undefined;
}

/** The index of the quote closing the string that opens at `start`, or -1 when it does not close. */
function stringEnd(text: string, start: number): number {
  for (let at = start + 1; at < text.length; at++) {
    if (text[at] === "\\") at += 1;
    else if (text[at] === '"') return at;
  }
  return -1;
}
