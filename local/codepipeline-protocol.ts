/**
 * CodePipeline's JSON 1.1 protocol as the stand-in (local/codepipeline-service.ts) speaks it: its
 * errors, request validation and paging, and the answer shapes of executions and action runs.
 */
import { isRecord } from "../contract/json";
import type { ActionRecord, ExecutionRecord } from "./codepipeline-run";

/** An error as CodePipeline's JSON protocol answers it: its `__type`, message and HTTP status. */
export class CodePipelineError extends Error {
  constructor(
    readonly type: string,
    message: string,
    readonly httpStatus = 400,
  ) {
    super(message);
  }
}

/** A request body: a JSON object. */
export type Body = Record<string, unknown>;

export const PIPELINE_NAME = /^[A-Za-z0-9.@_-]{1,100}$/;
export const TOKEN = /^[a-zA-Z0-9-]{1,128}$/;
/** The pattern of pipelineExecutionId (and of an approval's token) on the API Reference pages. */
export const EXECUTION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
export const epochSeconds = (date: Date) => date.getTime() / 1000;
export const validation = (message: string) => new CodePipelineError("ValidationException", message);

/** Validates a list of string-valued objects such as `variables` (at most 50, as on AWS). */
export function listOf<T>(value: unknown, member: string, keys: (keyof T & string)[]): T[] | undefined {
  if (value === undefined) return undefined;
  const valid =
    Array.isArray(value) &&
    value.length <= 50 &&
    value.every((item) => isRecord(item) && keys.every((key) => typeof item[key] === "string"));
  if (!valid) throw validation(`'${member}' must be at most 50 objects with string ${keys.join(", ")}`);
  return value as T[];
}

/** One page of `items` by `maxResults` (1–100, default 100) and a numeric `nextToken`. */
export function page<T>(items: T[], body: Body): { items: T[]; nextToken?: string } {
  const { maxResults = 100, nextToken = "0" } = body;
  const max = Number.isInteger(maxResults) ? Number(maxResults) : 0;
  if (max < 1 || max > 100) throw validation("Value at 'maxResults' failed to satisfy constraint: 1 to 100");
  if (typeof nextToken !== "string" || !/^\d+$/.test(nextToken)) {
    throw new CodePipelineError("InvalidNextTokenException", "The next token is not valid");
  }
  const [from, to] = [Number(nextToken), Number(nextToken) + max];
  return { items: items.slice(from, to), ...(to < items.length && { nextToken: String(to) }) };
}

/** Newest first; reversed first so items started within the same millisecond still list newest first. */
export function newestFirst<T>(items: T[], startOf: (item: T) => Date): T[] {
  return [...items].reverse().sort((a, b) => startOf(b).getTime() - startOf(a).getTime());
}

export const statusSummary = (r: ExecutionRecord) =>
  r.status === "Failed"
    ? { statusSummary: "An action in a stage of this execution failed" }
    : r.stopReason !== undefined
      ? { statusSummary: r.stopReason }
      : {};

/** An open approval's token, where the pipeline's mode shows it (PARALLEL: only ListActionExecutions). */
const openToken = (a: ActionRecord) => (a.status === "InProgress" ? a.token : undefined);

/** GetPipelineState's ActionExecution for one action run; `tokens` false in PARALLEL mode. */
export const actionExecution = (a: ActionRecord, tokens: boolean) => ({
  actionExecutionId: a.actionExecutionId,
  status: a.status,
  lastStatusChange: epochSeconds(a.lastUpdateTime),
  ...(tokens && openToken(a) !== undefined && { token: openToken(a) }),
  ...(a.errorDetails && { summary: a.errorDetails.message, errorDetails: a.errorDetails }),
});

/**
 * ListActionExecutions' ActionExecutionDetail for one action run; in PARALLEL mode an open
 * approval's token is its `externalExecutionId` (`tokens` true), as PutApprovalResult documents.
 */
export const actionExecutionDetail = (pipelineExecutionId: string, a: ActionRecord, tokens: boolean) => ({
  pipelineExecutionId,
  actionExecutionId: a.actionExecutionId,
  pipelineVersion: 1,
  stageName: a.stageName,
  actionName: a.actionName,
  startTime: epochSeconds(a.startTime),
  lastUpdateTime: epochSeconds(a.lastUpdateTime),
  status: a.status,
  ...(tokens &&
    openToken(a) !== undefined && { output: { executionResult: { externalExecutionId: openToken(a) } } }),
  ...(a.status !== "InProgress" && {
    output: {
      executionResult: {
        externalExecutionSummary: a.errorDetails?.message ?? `Action ${a.actionName} ${a.status}`,
        ...(a.errorDetails && { errorDetails: a.errorDetails }),
      },
    },
  }),
});

/** The request body as a JSON object; SerializationException for anything else. */
export function parseBody(text: string): Body {
  try {
    const body: unknown = JSON.parse(text === "" ? "{}" : text);
    if (isRecord(body)) return body;
  } catch {
    // Reported below, like any other body that is not a JSON object.
  }
  throw new CodePipelineError("SerializationException", "The request body is not a JSON object");
}
