/**
 * The submission function: `POST /releases` (API Gateway Lambda proxy, AWS_IAM) on AWS and the
 * local server alike (handlers/wiring.ts). It runs the workflow's own LoadManifest and
 * ValidateManifest checks on the body and answers at once:
 *
 * - 415 a Content-Type other than JSON; 413 a body over the manifest byte limit; 400 every problem
 *   (field as JSON Pointer, rule). A refused body that names a readable releaseId is recorded as
 *   the workflow records a refused upload (handlers/rejections.ts): under its releaseId, or apart
 *   under `rejected:<request id>` when that releaseId has a release of its own.
 * - 409 a releaseId that already ran or runs, or that another manifest is being submitted under.
 *   A release whose registration failed for good (FAILED before its schedule was complete, so
 *   nothing started) does not count: its releaseId runs the next submission, named from the
 *   manifest and the failed execution (whose name stays taken), and RegisterRelease takes it.
 * - 202 `{releaseId, executionArn, status: "SUBMITTED"}` once the execution started (or, for an
 *   exact repeat while it runs, the execution the first request started).
 * - 429 and 503 when Step Functions throttles or fails the start.
 *
 * Before StartExecution the releaseId is claimed for this manifest's digest (a conditional write,
 * `submission:<releaseId>` in the Releases table): of concurrent different manifests one wins,
 * the others get 409; an exact repeat passes the condition again (the same digest), so a crash
 * between the claim and StartExecution is resumed by repeating the request, and a claim never
 * started expires after CLAIM_SECONDS, so another manifest can get in then. The workflow's
 * RegisterRelease stays the exactly-once record of the release, for both doors.
 */
import { createHash, randomUUID } from "node:crypto";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { StartExecutionCommand } from "@aws-sdk/client-sfn";
import { InvalidManifest, type ManifestProblem, ReleaseErrors } from "../contract/errors";
import { executionArnOf, submissionExecutionName } from "../contract/execution-name";
import type { ReleaseItem } from "../contract/lifecycle";
import { failedForGood } from "../contract/lifecycle-reregister";
import { manifestParser } from "../contract/manifest";
import type { ManifestRules } from "../contract/manifest-schema";
import { readRejection, releaseIdAtStart } from "../contract/rejection";
import { ReleasesTable } from "../contract/tables";
import type { ExecutionDeps } from "./executions";
import { validateManifest, withinStateLimit } from "./load-manifest";
import { readItem } from "./reads";
import { REJECTED_PREFIX, recordRefusal } from "./rejections";
import { type ProxyResponse, json } from "./release-status";

/** What API Gateway's Lambda proxy integration hands the function (the parts it reads). */
export interface SubmissionRequest {
  body?: string | null;
  isBase64Encoded?: boolean;
  headers?: Record<string, string | undefined> | null;
  requestContext?: { requestId?: string; identity?: { userArn?: string | null } };
}

export interface SubmissionDeps {
  ddb: ExecutionDeps["ddb"];
  sfn: ExecutionDeps["sfn"];
  tables: ExecutionDeps["tables"];
  rules: ManifestRules;
  stateMachineArn: string;
  now?: () => Date;
}

/** How long a claim that started nothing keeps another manifest of its releaseId out. */
export const CLAIM_SECONDS = 600;
/** The key prefix of a releaseId's submission claim in the Releases table. */
export const CLAIM_PREFIX = "submission:";

/** The 415 body, on AWS and locally. */
export const UNSUPPORTED_MEDIA_TYPE = {
  error: "UnsupportedMediaType",
  message: "send the manifest with the header Content-Type: application/json",
} as const;

/**
 * Whether the Content-Type reads as JSON: none (API Gateway's own default for a missing
 * Content-Type is application/json), or application/json with any parameters such as a charset.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/integration-passthrough-behaviors.html
 */
export function acceptsContentType(header: string | undefined): boolean {
  if (header === undefined || header.trim() === "") return true;
  return header.split(";")[0].trim().toLowerCase() === "application/json";
}

/** A header's value, whatever its case (API Gateway passes headers as the client wrote them). */
function headerOf(request: SubmissionRequest, name: string): string | undefined {
  const headers = request.headers ?? {};
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  return key === undefined ? undefined : headers[key];
}

function bodyText(request: SubmissionRequest): string {
  const body = request.body ?? "";
  return request.isBase64Encoded ? Buffer.from(body, "base64").toString("utf8") : body;
}

/** The submission function's handler over its clients and rules. */
export function submissionHandler(
  deps: SubmissionDeps,
): (request: SubmissionRequest) => Promise<ProxyResponse> {
  const parse = manifestParser(deps.rules);
  return (request) => submit(deps, parse, request);
}

async function submit(
  deps: SubmissionDeps,
  parse: ReturnType<typeof manifestParser>,
  request: SubmissionRequest,
): Promise<ProxyResponse> {
  if (!acceptsContentType(headerOf(request, "content-type"))) return json(415, UNSUPPORTED_MEDIA_TYPE);
  const startedAt = (deps.now ? deps.now() : new Date()).toISOString();
  const submittedBy = request.requestContext?.identity?.userArn ?? "unknown";
  const refuse = refuser(deps, request, startedAt);
  const text = bodyText(request);
  const bytes = Buffer.byteLength(text, "utf8");
  const { maxBytes } = deps.rules;
  if (bytes > maxBytes) {
    const problem = {
      path: "",
      rule: "maxBytes",
      message: `the manifest is ${bytes} bytes; the limit is ${maxBytes} bytes`,
    };
    return refuse(413, new InvalidManifest([problem]), releaseIdAtStart(text));
  }
  let releaseId: string;
  try {
    // The workflow's own checks, in its order: the text's size as state, then the manifest.
    withinStateLimit(text, maxBytes);
  } catch (error) {
    if (!(error instanceof InvalidManifest)) throw error;
    return refuse(400, error, releaseIdAtStart(text));
  }
  try {
    releaseId = validateManifest(parse, { text, location: "api", submittedBy }).releaseId;
  } catch (error) {
    if (!(error instanceof InvalidManifest)) throw error;
    return refuse(400, error);
  }
  const digest = sha256(text);
  const release = await readItem<ReleaseItem>(deps.ddb, deps.tables.releases, {
    [ReleasesTable.hashKey]: releaseId,
  });
  const claimed = await readItem<Claim>(deps.ddb, deps.tables.releases, {
    [ReleasesTable.hashKey]: `${CLAIM_PREFIX}${releaseId}`,
  });
  // A registration that failed for good started nothing: its releaseId is free again. The names of
  // its execution and of the last one claimed stay taken (90 days), so the next is named from them.
  const spent = failedForGood(release) ? release.executionArn : undefined;
  const name =
    repeatedName(release, claimed, digest, startedAt) ??
    submissionExecutionName(
      releaseId,
      spent === undefined ? digest : sha256([text, spent, claimed?.executionArn ?? ""].join("\n")),
    );
  const executionArn = executionArnOf(deps.stateMachineArn, name);
  const taken = takenBy(releaseId, release, executionArn);
  if (taken) return duplicate(releaseId, taken);
  if (!(await claim(deps, { releaseId, digest, executionArn, spent }))) {
    return duplicate(releaseId, {
      message: `release ${releaseId} is being submitted with another manifest; a releaseId runs once`,
    });
  }
  return start(deps, { releaseId, name, input: { source: "api", submittedBy, body: text } });
}

/** Records a refused body (when it names a readable releaseId) and answers with its problems. */
function refuser(deps: SubmissionDeps, request: SubmissionRequest, startedAt: string) {
  return async (status: 400 | 413, error: InvalidManifest, readable?: string): Promise<ProxyResponse> => {
    const { summary, problems, releaseId } = problemsOf(error, readable);
    const recordedAs =
      releaseId === undefined
        ? undefined
        : await recordRefusal(deps, {
            releaseId,
            source: "api",
            errorName: ReleaseErrors.InvalidManifest,
            cause: summary,
            problems,
            startedAt,
            apartAs: `${REJECTED_PREFIX}api-${request.requestContext?.requestId ?? randomUUID()}`,
          });
    return json(status, {
      error: ReleaseErrors.InvalidManifest,
      message: summary,
      problems,
      ...(releaseId !== undefined ? { releaseId } : {}),
      ...(recordedAs !== undefined ? { recordedAs } : {}),
    });
  };
}

/**
 * The summary, problems and releaseId an InvalidManifest carries: validateManifest puts them in its
 * message as the workflow's RecordRejected reads them (contract/rejection.ts), capped alike.
 */
function problemsOf(
  error: InvalidManifest,
  readable: string | undefined,
): { summary: string; problems: ManifestProblem[]; releaseId?: string } {
  const { summary, rejection } = readRejection(error.message);
  const releaseId = rejection?.releaseId ?? readable;
  return { summary, problems: rejection?.problems ?? error.problems, ...(releaseId ? { releaseId } : {}) };
}

interface Taken {
  message: string;
  executionArn?: string;
}

const sha256 = (text: string) => createHash("sha256").update(text, "utf8").digest("hex");

/** A releaseId's submission claim, as the Releases table holds it. */
interface Claim {
  digest?: string;
  executionArn?: string;
  claimExpiresAt?: number;
}

/**
 * The name of the execution this very manifest started, while it may still run: an exact repeat
 * goes on to StartExecution, which returns it (or answers ExecutionAlreadyExists once it closed).
 * Read from the releaseId's claim, which names the manifest's digest and the execution it started:
 * the execution that registered the release, or, over a registration that failed for good, one
 * started since (its claim not yet expired).
 */
function repeatedName(
  release: ReleaseItem | undefined,
  claimed: Claim | undefined,
  digest: string,
  now: string,
): string | undefined {
  if (claimed?.digest !== digest || claimed.executionArn === undefined) return undefined;
  const registeredIt = release?.status === "RUNNING" && release.executionArn === claimed.executionArn;
  const startedSince =
    failedForGood(release) &&
    release.executionArn !== claimed.executionArn &&
    (claimed.claimExpiresAt ?? 0) >= Date.parse(now);
  return registeredIt || startedSince ? claimed.executionArn.split(":").pop() : undefined;
}

/**
 * Whether the releaseId already ran or runs: its release exists, is not only rejected, and did not
 * fail for good (FAILED before its schedule was complete: nothing started; `retry` takes any other
 * FAILED release). The execution this very manifest started, still running, is not taken.
 */
function takenBy(
  releaseId: string,
  release: ReleaseItem | undefined,
  executionArn: string,
): Taken | undefined {
  if (release === undefined || release.status === "REJECTED" || failedForGood(release)) return undefined;
  if (release.status === "RUNNING" && release.executionArn === executionArn) return undefined;
  return {
    message: `release ${releaseId} was already submitted (${release.status}); a releaseId runs once`,
    executionArn: release.executionArn,
  };
}

/**
 * Claims the releaseId for this manifest: granted when unclaimed, claimed for the same digest, by a
 * claim that expired, or by the claim of the execution whose registration failed for good
 * (`spent`). Conditional, so of racing different manifests one wins.
 */
async function claim(
  deps: SubmissionDeps,
  request: { releaseId: string; digest: string; executionArn: string; spent?: string },
): Promise<boolean> {
  const { releaseId, digest, executionArn, spent } = request;
  const now = deps.now ? deps.now() : new Date();
  try {
    await deps.ddb.send(
      new PutCommand({
        TableName: deps.tables.releases,
        Item: {
          [ReleasesTable.hashKey]: `${CLAIM_PREFIX}${releaseId}`,
          digest,
          executionArn,
          claimedAt: now.toISOString(),
          claimExpiresAt: now.getTime() + CLAIM_SECONDS * 1000,
        },
        ConditionExpression: `attribute_not_exists(#key) OR #digest = :digest OR #expires < :now${
          spent === undefined ? "" : " OR #executionArn = :spent"
        }`,
        ExpressionAttributeNames: {
          "#key": ReleasesTable.hashKey,
          "#digest": "digest",
          "#expires": "claimExpiresAt",
          ...(spent === undefined ? {} : { "#executionArn": "executionArn" }),
        },
        ExpressionAttributeValues: {
          ":digest": digest,
          ":now": now.getTime(),
          ...(spent === undefined ? {} : { ":spent": spent }),
        },
      }),
    );
    return true;
  } catch (error) {
    if (error instanceof Error && error.name === "ConditionalCheckFailedException") return false;
    throw error;
  }
}

function duplicate(releaseId: string, taken: Taken): ProxyResponse {
  return json(409, {
    error: ReleaseErrors.DuplicateRelease,
    message: taken.message,
    releaseId,
    ...(taken.executionArn ? { executionArn: taken.executionArn } : {}),
  });
}

/**
 * StartExecution's answers: started (202), the name taken by another input or a closed execution
 * (409), throttled or too many running (429), Step Functions failing (503).
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
 * https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
 */
async function start(
  deps: SubmissionDeps,
  call: { releaseId: string; name: string; input: object },
): Promise<ProxyResponse> {
  const { releaseId } = call;
  try {
    const started = await deps.sfn.send(
      new StartExecutionCommand({
        stateMachineArn: deps.stateMachineArn,
        name: call.name,
        input: JSON.stringify(call.input),
      }),
    );
    return json(202, { releaseId, executionArn: started.executionArn, status: "SUBMITTED" });
  } catch (error) {
    const name = error instanceof Error ? error.name : "Error";
    const message = error instanceof Error ? error.message : String(error);
    if (name === "ExecutionAlreadyExists")
      return duplicate(releaseId, {
        message: `release ${releaseId} was already submitted; a releaseId runs once`,
      });
    if (name === "ThrottlingException" || name === "ExecutionLimitExceeded")
      return json(429, { error: name, message: `${message}; retry later` });
    const fault = (error as { $fault?: string }).$fault;
    if (fault === "server")
      return json(503, { error: name, message: `${message}; the release did not start, retry` });
    throw error;
  }
}
