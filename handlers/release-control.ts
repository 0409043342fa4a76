/**
 * The release-control API: cancel, retry, approval decisions and the release list, on AWS (one
 * Lambda behind API Gateway's proxy integration, `AWS_IAM` on every route) and in `npm start`
 * alike. Each route parses and checks its request, authorizes the caller, then leaves every
 * decision to the scheduler (handlers/release/), whose conditional writes settle the races.
 * The routes and their bodies' schemas are declared once, in contract/control-routes.ts, for API
 * Gateway (infra/api-control.ts), this handler and the local server.
 */
import type { ErrorObject } from "ajv";
import Ajv from "ajv-draft-04";
import {
  GateNotAwaiting,
  ReleaseStateConflict,
  type RequestProblem,
  RequestRefused,
} from "../contract/errors";
import type { ExecutionDeps } from "./executions";
import { type Person, describePerson, personOf, samePerson } from "../contract/identity";
import { type JsonSchema, PIPELINE_NAME_PATTERN, RELEASE_ID_PATTERN } from "../contract/manifest-schema";
import {
  CONTROL_BODY_SCHEMAS,
  type ControlBodyModel,
  type ControlRouteName,
  controlRouteOf,
} from "../contract/control-routes";
import { RELEASE_STATUSES, type ReleaseStatus } from "../contract/tables";
import { listNewest, listReleasesByStatus } from "./release-list";
import { type ProxyResponse, json } from "./release-status";
import type { PipelineItem, ReleaseItem } from "../contract/lifecycle";
import { cancelRelease, incompleteSchedule } from "./release/control";
import {
  alreadyStarted,
  isAlreadyExists,
  recordLostAttempt,
  recordRetry,
  startAttempt,
} from "./release/retry-request";
import { decideGate } from "./release/gates";
import { readPipeline, readReleaseItem } from "./release/reads";

/** What the control routes need besides the scheduler's clients. */
export interface ControlDeps extends ExecutionDeps {
  /** The release workflow, whose next attempt a retry starts. */
  stateMachineArn: string;
  /** Whether a release's submitter may approve its own gates (stack config `allowSelfApproval`). */
  allowSelfApproval: boolean;
}

export const DEFAULT_LIST_LIMIT = 20;
export const MAX_LIST_LIMIT = 100;

// Draft 4, as API Gateway validates: a schema its metaschema refuses fails here too, at load.
const ajv = new Ajv({ allErrors: true, strict: true });
const validators = Object.fromEntries(
  Object.entries(CONTROL_BODY_SCHEMAS).map(([name, schema]) => [name, ajv.compile(schema)]),
) as Record<ControlBodyModel, ReturnType<typeof ajv.compile>>;

function describe(error: ErrorObject): RequestProblem {
  const params = error.params as Record<string, unknown>;
  const key = params.missingProperty ?? params.additionalProperty;
  const path = key === undefined ? error.instancePath : `${error.instancePath}/${String(key)}`;
  const field = path === "" ? "the body" : path.slice(1);
  const messages: Record<string, () => string> = {
    required: () => `${field} is required`,
    additionalProperties: () => `unknown field "${String(key)}"; allowed: ${allowedOf(error)}`,
    type: () => `${field} must be of type ${String(params.type)}`,
    enum: () => `${field} must be one of ${(params.allowedValues as string[]).join(", ")}`,
    minLength: () => `${field} must not be empty; leave it out instead`,
    maxLength: () => `${field} must be at most ${String(params.limit)} characters`,
  };
  return {
    path,
    rule: error.keyword,
    message: (messages[error.keyword] ?? (() => `${field} ${error.message}`))(),
  };
}

function allowedOf(error: ErrorObject): string {
  const names = Object.keys((error.parentSchema as JsonSchema | undefined)?.properties ?? {});
  return names.length > 0 ? names.join(", ") : "none (send {})";
}

/** Parses a route's JSON body (an absent or empty body is `{}`) and checks it against its model. */
export function parseControlBody<T>(model: ControlBodyModel, body: string | null | undefined): T {
  let value: unknown = {};
  if (body !== undefined && body !== null && body.trim() !== "") {
    try {
      value = JSON.parse(body);
    } catch {
      throw new RequestRefused(400, "InvalidRequest", "the body is not valid JSON", [
        { path: "", rule: "json", message: "the body must be a JSON object" },
      ]);
    }
  }
  const validate = validators[model];
  if (!validate(value)) {
    const problems = (validate.errors ?? []).map(describe);
    throw new RequestRefused(400, "InvalidRequest", problems.map((p) => p.message).join("; "), problems);
  }
  return value as T;
}

function checkReleaseId(releaseId: string | undefined): string {
  if (releaseId === undefined || !new RegExp(RELEASE_ID_PATTERN).test(releaseId)) {
    throw new RequestRefused(
      400,
      "InvalidReleaseId",
      "releaseId must be 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit",
    );
  }
  return releaseId;
}

async function existingRelease(deps: ExecutionDeps, releaseId: string): Promise<ReleaseItem> {
  const release = await readReleaseItem(deps, releaseId);
  if (!release) throw new RequestRefused(404, "ReleaseNotFound", `no release has releaseId ${releaseId}`);
  return release;
}

/** `POST /releases/{releaseId}/cancel`: 202 CANCELLING; 404 unknown; 409 once it ended. */
export async function cancelRoute(
  deps: ExecutionDeps,
  request: { releaseId?: string; body?: string | null; caller: string },
): Promise<{ releaseId: string; status: "CANCELLING"; cancelledBy: string }> {
  const releaseId = checkReleaseId(request.releaseId);
  const { reason, force } = parseControlBody<{ reason?: string; force?: boolean }>(
    "CancelRequest",
    request.body,
  );
  await existingRelease(deps, releaseId);
  try {
    const options = { ...(reason ? { reason } : {}), ...(force ? { force } : {}) };
    return await cancelRelease(deps, { releaseId, by: request.caller, ...options });
  } catch (error) {
    if (error instanceof ReleaseStateConflict)
      throw new RequestRefused(409, "ReleaseNotRunning", error.message);
    throw error;
  }
}

/**
 * `POST /releases/{releaseId}/retry`: records the decision (attempt n+1, who asked) on the release,
 * then starts attempt n+1 as an execution named by the attempt with an input made of that record
 * alone. StartExecution answers a repeat of the same name and input, while that execution runs,
 * with the same execution
 * (https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html), so a
 * request repeated after a crash, or racing the first, starts the one recorded attempt: a 202 means
 * the attempt runs. 409 while the release runs, after it succeeded, for a rejected submission, for a
 * release whose schedule was never completely written, or once the attempt's execution ended.
 */
export async function retryRoute(
  deps: ControlDeps,
  request: { releaseId?: string; body?: string | null; caller: string },
): Promise<{ releaseId: string; attempt: number; executionArn: string }> {
  const releaseId = checkReleaseId(request.releaseId);
  parseControlBody<Record<string, never>>("RetryRequest", request.body);
  const release = await existingRelease(deps, releaseId);
  if (release.status !== "FAILED" && release.status !== "CANCELLED") {
    const why = release.status === "SUCCEEDED" ? "it succeeded" : `it is ${release.status}`;
    throw new RequestRefused(
      409,
      "ReleaseNotRetryable",
      `release ${releaseId} cannot be retried: ${why}; only a FAILED or CANCELLED release can`,
    );
  }
  if (release.schedulePending !== undefined)
    throw new RequestRefused(409, "ReleaseNotRetryable", incompleteSchedule(release));
  const requestedBy = await recordRetry(deps, release, request.caller);
  try {
    return await startAttempt(deps, releaseId, release.attempt + 1, requestedBy);
  } catch (error) {
    if (!isAlreadyExists(error)) throw error;
    // The recorded attempt's execution ended before it took the release, with no Catch run (it
    // was stopped, or local mode restarted): its name is spent, so it is recorded failed, and
    // this request starts the next attempt.
    const next = await recordLostAttempt(deps, release);
    const nextBy = await recordRetry(deps, next, request.caller);
    try {
      return await startAttempt(deps, releaseId, next.attempt + 1, nextBy);
    } catch (again) {
      if (!isAlreadyExists(again)) throw again;
      throw alreadyStarted(releaseId, next.attempt + 1);
    }
  }
}

/** Whether an approver pattern (`*` any run of characters) matches the caller, case-sensitively as ARNs are. */
export function approverMatches(pattern: string, caller: string): boolean {
  const regex = pattern
    .split("*")
    .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
    .join(".*");
  return new RegExp(`^${regex}$`).test(caller);
}

function checkPipelineName(pipeline: string | undefined): string {
  const name = pipeline ?? "";
  if (!new RegExp(PIPELINE_NAME_PATTERN).test(name)) {
    throw new RequestRefused(
      400,
      "InvalidPipeline",
      "pipeline must be 1-100 characters of letters, digits, '.', '@', '_' and '-'",
    );
  }
  return name;
}

/** The gated pipeline a decision is for: 404 when the release has no such pipeline, 409 when it has no gate. */
function gatedPipeline(
  item: PipelineItem | undefined,
  releaseId: string,
  pipeline: string,
): PipelineItem & { approval: NonNullable<PipelineItem["approval"]> } {
  if (!item)
    throw new RequestRefused(404, "PipelineNotFound", `release ${releaseId} has no pipeline ${pipeline}`);
  if (!item.approval)
    throw new RequestRefused(
      409,
      "NoApprovalGate",
      `pipeline ${pipeline} of release ${releaseId} has no approval gate`,
    );
  return { ...item, approval: item.approval };
}

/** Who may decide: a release that still runs, a caller among the approvers, no self-approval unless allowed. */
function checkMayDecide(
  deps: ControlDeps,
  release: ReleaseItem,
  gate: NonNullable<PipelineItem["approval"]>,
  request: { releaseId: string; pipeline: string; decision: "approve" | "reject"; caller: string },
): void {
  const { releaseId, pipeline, caller } = request;
  if (release.status !== "RUNNING" || release.cancelledBy !== undefined) {
    const state = release.cancelledBy !== undefined ? "CANCELLING" : release.status;
    throw new RequestRefused(
      409,
      "ReleaseNotRunning",
      `release ${releaseId} is ${state}; its gates can no longer be decided`,
    );
  }
  if (gate.approvers && !gate.approvers.some((p) => approverMatches(p, caller))) {
    throw new RequestRefused(
      403,
      "NotAnApprover",
      `${caller} is not among the approvers of ${pipeline}: ${gate.approvers.join(", ")}`,
    );
  }
  if (!deps.allowSelfApproval) checkFourEyes(release, gate, request);
}

/**
 * Four eyes by person, not session (contract/identity.ts): the approver may not be the submitter
 * as far as AWS vouches for either. An S3 upload's submitter is known only once CloudTrail's
 * record of it was matched (handlers/release/uploader.ts); until then only a principal named in
 * the gate's approvers may decide it (the approvers check above already held).
 */
function checkFourEyes(
  release: ReleaseItem,
  gate: NonNullable<PipelineItem["approval"]>,
  request: { releaseId: string; pipeline: string; decision: "approve" | "reject"; caller: string },
): void {
  const { releaseId, pipeline, decision, caller } = request;
  const submitter = submitterOf(release);
  if (submitter === undefined) {
    if (gate.approvers) return;
    throw new RequestRefused(
      403,
      "UploaderNotKnown",
      `the uploader of release ${releaseId} (${release.source ?? "s3"}) is not known yet: S3's event names only the account, and CloudTrail's record of the upload has not been matched to the release; until it is, only a principal named in the approvers of ${pipeline} may decide it, and its gate names none`,
    );
  }
  const approver = personOf(caller);
  if (decision === "approve" && samePerson(submitter, approver)) {
    const as =
      caller === release.submittedBy
        ? ""
        : ` (as ${release.submittedBy}; both are ${describePerson(approver)})`;
    throw new RequestRefused(
      403,
      "SelfApprovalNotAllowed",
      `${caller} submitted release ${releaseId}${as} and may not approve it (stack config allowSelfApproval)`,
    );
  }
}

/** The submitter as a person; undefined while an S3 upload's uploader is not yet known. */
function submitterOf(release: ReleaseItem): Person | undefined {
  if (release.source?.startsWith("s3://")) {
    const known = release.uploadedBy !== undefined && release.uploadedFrom === release.source;
    return known ? personOf(release.uploadedBy ?? "", release.uploaderSourceIdentity) : undefined;
  }
  return personOf(release.submittedBy ?? "unknown");
}

/**
 * `POST /releases/{releaseId}/approvals/{pipeline}`: 200 with the decision. 403 when the caller is
 * not among the gate's approvers, or approves a release they submitted (unless the stack allows
 * it); 409 when the gate is not waiting (decided, expired, skipped) or the release no longer runs.
 */
export async function approvalRoute(
  deps: ControlDeps,
  request: { releaseId?: string; pipeline?: string; body?: string | null; caller: string },
): Promise<{
  releaseId: string;
  pipeline: string;
  decision: "approve" | "reject";
  decidedBy: string;
  status: string;
}> {
  const releaseId = checkReleaseId(request.releaseId);
  const pipeline = checkPipelineName(request.pipeline);
  const { decision, comment } = parseControlBody<{ decision: "approve" | "reject"; comment?: string }>(
    "ApprovalDecision",
    request.body,
  );
  // Both reads at once: the answer waits for one read's time, not two (bench/control-latency.ts).
  const [release, scheduled] = await Promise.all([
    existingRelease(deps, releaseId),
    readPipeline(deps, releaseId, pipeline),
  ]);
  if (release.status === "REJECTED") {
    throw new RequestRefused(
      409,
      "ReleaseNotRunning",
      `release ${releaseId} was REJECTED; it has no gates to decide`,
    );
  }
  const item = gatedPipeline(scheduled, releaseId, pipeline);
  checkMayDecide(deps, release, item.approval, { releaseId, pipeline, decision, caller: request.caller });
  try {
    const decided = await decideGate(deps, {
      releaseId,
      pipeline,
      decision,
      by: request.caller,
      ...(comment ? { comment } : {}),
    });
    return { releaseId, pipeline, decision, decidedBy: request.caller, status: decided.status };
  } catch (error) {
    if (error instanceof GateNotAwaiting) throw new RequestRefused(409, "GateNotAwaiting", error.message);
    throw error;
  }
}

/** One line of `GET /releases`. */
export interface ReleaseSummary {
  releaseId: string;
  status: ReleaseStatus | "CANCELLING";
  startedAt?: string;
  endedAt?: string;
  submittedBy?: string;
  attempt?: number;
}

/**
 * `GET /releases?status=&limit=&nextToken=`: newest first, from the `newest` index's shards merged
 * (handlers/release-list.ts), or one status's `byStatus` shards merged: Queries, never a scan.
 */
export async function listRoute(
  deps: Pick<ExecutionDeps, "ddb" | "tables">,
  query: { status?: string; limit?: string; nextToken?: string },
): Promise<{ releases: ReleaseSummary[]; nextToken?: string }> {
  const { status } = query;
  if (status !== undefined && !(RELEASE_STATUSES as readonly string[]).includes(status)) {
    throw new RequestRefused(400, "InvalidStatus", `status must be one of ${RELEASE_STATUSES.join(", ")}`);
  }
  const limit = query.limit === undefined ? DEFAULT_LIST_LIMIT : Number(query.limit);
  if (!/^\d+$/.test(query.limit ?? String(DEFAULT_LIST_LIMIT)) || limit < 1 || limit > MAX_LIST_LIMIT) {
    throw new RequestRefused(400, "InvalidLimit", `limit must be an integer from 1 to ${MAX_LIST_LIMIT}`);
  }
  const page = status
    ? await listReleasesByStatus(deps, status, limit, query.nextToken)
    : await listNewest(deps, limit, query.nextToken);
  const releases = page.items.map((r): ReleaseSummary => ({
    releaseId: r.releaseId,
    status: r.status === "RUNNING" && r.cancelledBy !== undefined ? "CANCELLING" : r.status,
    ...(r.startedAt ? { startedAt: r.startedAt } : {}),
    ...(r.endedAt ? { endedAt: r.endedAt } : {}),
    ...(r.submittedBy ? { submittedBy: r.submittedBy } : {}),
    ...(r.attempt ? { attempt: r.attempt } : {}),
  }));
  return { releases, ...(page.nextToken ? { nextToken: page.nextToken } : {}) };
}

/** The subset of API Gateway's Lambda proxy event the control routes read. */
export interface ControlRequest {
  /** The route's resource path, e.g. `/releases/{releaseId}/cancel`. */
  resource: string;
  httpMethod: string;
  pathParameters?: Record<string, string | undefined> | null;
  queryStringParameters?: Record<string, string | undefined> | null;
  body?: string | null;
  /** On AWS `requestContext.identity.userArn` (AWS_IAM); locally the `x-release-machine-user` header. */
  requestContext?: { identity?: { userArn?: string | null } | null } | null;
}

/** What a route is handed: its path parameters, body and query, and who calls. */
interface RouteCall {
  path: Record<string, string | undefined>;
  query: Record<string, string | undefined>;
  body?: string | null;
  caller: string;
}

/** Each route's handler and success status: the compiler asks for one per declared route. */
const ROUTE_HANDLERS: Record<
  ControlRouteName,
  { status: number; needsCaller: boolean; run: (deps: ControlDeps, call: RouteCall) => Promise<object> }
> = {
  list: { status: 200, needsCaller: false, run: (deps, call) => listRoute(deps, call.query) },
  cancel: {
    status: 202,
    needsCaller: true,
    run: (deps, call) =>
      cancelRoute(deps, { releaseId: call.path.releaseId, body: call.body, caller: call.caller }),
  },
  retry: {
    status: 202,
    needsCaller: true,
    run: (deps, call) =>
      retryRoute(deps, { releaseId: call.path.releaseId, body: call.body, caller: call.caller }),
  },
  approval: {
    status: 200,
    needsCaller: true,
    run: (deps, call) =>
      approvalRoute(deps, {
        releaseId: call.path.releaseId,
        pipeline: call.path.pipeline,
        body: call.body,
        caller: call.caller,
      }),
  },
};

/** The control Lambda: routes by resource, answers every refusal with its status and a clear error. */
export async function releaseControlApi(deps: ControlDeps, request: ControlRequest): Promise<ProxyResponse> {
  try {
    const route = controlRouteOf(request.httpMethod, request.resource);
    if (!route)
      throw new RequestRefused(404, "NotFound", `no route ${request.httpMethod} ${request.resource}`);
    const handler = ROUTE_HANDLERS[route];
    const caller = request.requestContext?.identity?.userArn ?? "";
    if (handler.needsCaller && caller === "")
      throw new RequestRefused(
        403,
        "NoCallerIdentity",
        "the request carries no caller identity; sign it with IAM credentials",
      );
    const call = {
      path: request.pathParameters ?? {},
      query: request.queryStringParameters ?? {},
      body: request.body,
      caller,
    };
    return json(handler.status, await handler.run(deps, call));
  } catch (error) {
    if (error instanceof RequestRefused) {
      return json(error.statusCode, {
        error: error.error,
        message: error.message,
        ...(error.problems ? { problems: error.problems } : {}),
      });
    }
    throw error;
  }
}
