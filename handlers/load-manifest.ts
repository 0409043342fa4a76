/**
 * LoadManifest and ValidateManifest: turn an execution's input (an S3 object reference from the
 * "Object Created" rule, or the API's request body) into a validated release plan. What they
 * refuse they throw as InvalidManifest or ManifestNotFound; an InvalidManifest carries its problems
 * and readable releaseId in its message (contract/rejection.ts), all RecordRejected needs.
 */
import { GetObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { InvalidManifest, ManifestNotFound } from "../contract/errors";
import { isRecord } from "../contract/json";
import { type PlannedPipeline, type ValidatedRelease, readableReleaseId } from "../contract/manifest";
import { STATE_PLAN_BUDGET, STATE_TEXT_BUDGET } from "../contract/manifest-schema";
import {
  RELEASE_ID_PREFIX_BYTES,
  cappedRejection,
  readRejection,
  rejectionError,
  releaseIdAtStart,
} from "../contract/rejection";

/** The execution input: what the S3 rule's input transformer or the submission function sends. */
export type ReleaseRequest =
  | { source: "s3"; bucket: string; key: string; versionId?: string; requester?: string }
  | { source: "api"; body: string; submittedBy?: string };

export interface LoadedManifest {
  text: string;
  /** Where it came from, for the release record: `s3://bucket/key?versionId=…` or `api`. */
  location: string;
  /**
   * Who submitted it: the API caller's IAM ARN (the submission function passes
   * `requestContext.identity.userArn`), S3's `requester` when the event carries it, else `unknown`.
   */
  submittedBy: string;
}

/** Who submitted a release, as its request says; `unknown` when it does not. */
function submitterOf(request: ReleaseRequest): string {
  const who = request.source === "api" ? request.submittedBy : request.requester;
  return who && who.trim() !== "" ? who.slice(0, 2048) : "unknown";
}

function describeRequestProblem(message: string): InvalidManifest {
  return new InvalidManifest([{ path: "", rule: "request", message }]);
}

export function parseReleaseRequest(input: unknown): ReleaseRequest {
  if (isRecord(input) && input.source === "s3") {
    const { bucket, key, versionId, requester } = input;
    const by = typeof requester === "string" && requester !== "" ? { requester } : {};
    if (typeof bucket !== "string" || bucket === "" || typeof key !== "string" || key === "") {
      throw describeRequestProblem("an S3 release request needs the bucket and key of the manifest object");
    }
    return typeof versionId === "string" && versionId !== ""
      ? { source: "s3", bucket, key, versionId, ...by }
      : { source: "s3", bucket, key, ...by };
  }
  if (isRecord(input) && input.source === "api") {
    if (typeof input.body !== "string") {
      throw describeRequestProblem("an API release request needs the request body as text");
    }
    const by = typeof input.submittedBy === "string" ? { submittedBy: input.submittedBy } : {};
    return { source: "api", body: input.body, ...by };
  }
  throw describeRequestProblem(
    'the execution input must be {"source":"s3","bucket","key","versionId"} or {"source":"api","body"}',
  );
}

// A plain array: Pulumi's closure serialization does not carry a Set's contents.
// Without s3:ListBucket (deliberately not granted) S3 answers a missing key with AccessDenied, not
// NoSuchKey, so AccessDenied counts as "not found" too; the message keeps S3's own error name.
const NOT_FOUND = ["NoSuchKey", "NoSuchVersion", "NotFound", "NoSuchBucket", "AccessDenied"];

export async function loadManifest(
  deps: { s3: S3Client; maxBytes: number },
  input: unknown,
): Promise<LoadedManifest> {
  try {
    return await readManifest(deps, input);
  } catch (error) {
    // A refusal that names its releaseId already carries it (an oversized object, too large state).
    throw error instanceof InvalidManifest && readRejection(error.message).rejection === undefined
      ? rejectionError(error, { problems: error.problems })
      : error;
  }
}

async function readManifest(
  deps: { s3: S3Client; maxBytes: number },
  input: unknown,
): Promise<LoadedManifest> {
  const request = parseReleaseRequest(input);
  if (request.source === "api")
    return {
      text: namedRefusal(request.body, () => withinStateLimit(request.body, deps.maxBytes)),
      location: "api",
      submittedBy: submitterOf(request),
    };

  const location = `s3://${request.bucket}/${request.key}${request.versionId ? `?versionId=${request.versionId}` : ""}`;
  let response;
  try {
    response = await deps.s3.send(
      new GetObjectCommand({ Bucket: request.bucket, Key: request.key, VersionId: request.versionId }),
    );
  } catch (error) {
    if (error instanceof Error && NOT_FOUND.includes(error.name)) {
      throw new ManifestNotFound(`manifest ${location} does not exist or cannot be read (${error.name})`);
    }
    throw error;
  }
  // Refuse an oversized object before reading it into memory.
  if (response.ContentLength !== undefined && response.ContentLength > deps.maxBytes) {
    const start = await startOf(response.Body);
    const message = `the manifest is ${response.ContentLength} bytes; the limit is ${deps.maxBytes} bytes`;
    throw namedError(start, new InvalidManifest([{ path: "", rule: "maxBytes", message }]));
  }
  const text = (await response.Body?.transformToString("utf-8")) ?? "";
  return {
    text: namedRefusal(text, () => withinStateLimit(text, deps.maxBytes)),
    location,
    submittedBy: submitterOf(request),
  };
}

/**
 * The first RELEASE_ID_PREFIX_BYTES of an object's body, the rest left unread: an oversized
 * manifest is never read into memory, but its releaseId is read from its start.
 */
async function startOf(body: unknown): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  const stream = body as (AsyncIterable<Uint8Array> & { destroy?: () => void }) | undefined;
  if (stream && typeof stream[Symbol.asyncIterator] === "function") {
    for await (const chunk of stream) {
      chunks.push(Buffer.from(chunk));
      size += chunk.length;
      if (size >= RELEASE_ID_PREFIX_BYTES) break;
    }
  }
  stream?.destroy?.();
  return Buffer.concat(chunks).toString("utf8");
}

/** `error` carrying the releaseId the start of `text` names, so it is recorded under it. */
function namedError(text: string, error: InvalidManifest): InvalidManifest {
  const releaseId = releaseIdAtStart(text);
  return rejectionError(error, { problems: error.problems, ...(releaseId ? { releaseId } : {}) });
}

/** `check()`'s result; a refusal it throws names the releaseId the start of `text` names. */
function namedRefusal(text: string, check: () => string): string {
  try {
    return check();
  } catch (error) {
    throw error instanceof InvalidManifest ? namedError(text, error) : error;
  }
}

/**
 * The text travels in the workflow's state as a JSON string, where escaping can make it larger
 * than its bytes (a raw control character takes 6). Step Functions fails an execution whose state
 * passes 256 KiB with States.DataLimitExceeded, which no Catch can handle, so text that could not
 * fit is refused here as a manifest problem, before it is carried.
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions
 */
export function withinStateLimit(text: string, maxBytes: number): string {
  const escaped = Buffer.byteLength(JSON.stringify(text), "utf8");
  if (escaped > STATE_TEXT_BUDGET) {
    throw new InvalidManifest([
      {
        path: "",
        rule: "maxBytes",
        message: `the manifest takes ${escaped} bytes as JSON text (control characters and quotes count several times); the limit is ${maxBytes} bytes of plain JSON`,
      },
    ]);
  }
  return text;
}

export interface ValidatedManifestOutput {
  releaseId: string;
  /** Where the manifest came from, carried on for the release record. */
  location: string;
  /** Who submitted it, carried on for the release record. */
  submittedBy: string;
  pipelines: PlannedPipeline[];
  /**
   * What the manifest chose for this release beyond its pipelines, always present (an empty object
   * when it chose nothing) so that RegisterRelease's parameters can name it: Step Functions fails a
   * task whose parameter path matches nothing
   * (https://docs.aws.amazon.com/step-functions/latest/dg/input-output-inputpath-params.html).
   */
  options: { failurePolicy?: ValidatedRelease["failurePolicy"] };
}

export function validateManifest(
  parse: (text: string) => ValidatedRelease,
  input: { text: unknown; location?: unknown; submittedBy?: unknown },
): ValidatedManifestOutput {
  if (typeof input.text !== "string") {
    throw new InvalidManifest([
      { path: "", rule: "json", message: "the manifest is empty; send a JSON object" },
    ]);
  }
  const { text } = input;
  let release: ValidatedRelease;
  try {
    release = parse(text);
  } catch (error) {
    if (!(error instanceof InvalidManifest)) throw error;
    // A releaseId the parser refused is not one to record the rejection under.
    const refused = error.problems.some((p) => p.path === "/releaseId");
    const releaseId = refused ? undefined : readableReleaseId(text);
    const rejection = { problems: error.problems, ...(releaseId === undefined ? {} : { releaseId }) };
    throw rejectionError(error, cappedRejection(error.message, rejection));
  }
  const output = {
    releaseId: release.releaseId,
    location: typeof input.location === "string" ? input.location : "api",
    submittedBy: typeof input.submittedBy === "string" ? input.submittedBy : "unknown",
    pipelines: release.pipelines,
    options: release.failurePolicy ? { failurePolicy: release.failurePolicy } : {},
  };
  return withinPlanBudget(output);
}

/**
 * The plan travels in the workflow's state to RegisterRelease; past 256 KiB Step Functions would
 * fail the execution with States.DataLimitExceeded, which no Catch handles, after the API already
 * answered. A plan that could not fit is refused here, as a manifest problem naming the limit.
 * https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html#service-limits-task-executions
 */
function withinPlanBudget(output: ValidatedManifestOutput): ValidatedManifestOutput {
  const bytes = Buffer.byteLength(JSON.stringify(output), "utf8");
  if (bytes <= STATE_PLAN_BUDGET) return output;
  const largest = output.pipelines.reduce((a, b) =>
    JSON.stringify(b).length > JSON.stringify(a).length ? b : a,
  );
  const error = new InvalidManifest([
    {
      path: "",
      rule: "stateSize",
      message: `the release's plan takes ${bytes} bytes of workflow state; the limit is ${STATE_PLAN_BUDGET} bytes (Step Functions' 256 KiB state quota); the largest pipeline is ${JSON.stringify(largest.name)}: list fewer pipelines or shorter variables`,
    },
  ]);
  throw rejectionError(error, { releaseId: output.releaseId, problems: error.problems });
}
