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
