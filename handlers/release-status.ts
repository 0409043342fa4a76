/**
 * Reads a release and its pipelines' executions into the shape `GET /releases/{releaseId}`
 * answers, on AWS and locally alike.
 */
import { type DynamoDBDocumentClient, GetCommand } from "@aws-sdk/lib-dynamodb";
import type { TableNames } from "./config";
import { executionsOfRelease } from "./executions";
import { RELEASE_ID_PATTERN } from "./manifest";
import { ReleasesTable } from "./model";

export interface PipelineStatusView {
  name: string;
  /** The execution's status in CodePipeline's API spelling, or "Pending" before it started. */
  status: string;
  pipelineExecutionId?: string;
  startedAt?: string;
  history: { state: string; at: string }[];
}

export interface ReleaseStatusView {
  releaseId: string;
  status: string;
  executionArn?: string;
  source?: string;
  startedAt?: string;
  endedAt?: string;
  error?: string;
  cause?: string;
  pipelines: PipelineStatusView[];
}

interface ReleaseItem {
  releaseId: string;
  status: string;
  executionArn?: string;
  source?: string;
  startedAt?: string;
  endedAt?: string;
  errorName?: string;
  cause?: string;
  pipelines?: string[];
}

/**
 * A Lambda error reaches Step Functions as a JSON Cause (`{"errorType","errorMessage","trace"}`);
 * people read the message.
 */
export function readableCause(cause: string): string {
  try {
    const parsed: unknown = JSON.parse(cause);
    if (
      parsed &&
      typeof parsed === "object" &&
      typeof (parsed as { errorMessage?: unknown }).errorMessage === "string"
    ) {
      return (parsed as { errorMessage: string }).errorMessage;
    }
  } catch {
    // not JSON: already readable
  }
  return cause;
}

/** Returns undefined when no release has that id. */
export async function readRelease(
  deps: { ddb: DynamoDBDocumentClient; tables: TableNames },
  releaseId: string,
): Promise<ReleaseStatusView | undefined> {
  const { Item } = await deps.ddb.send(
    new GetCommand({
      TableName: deps.tables.releases,
      Key: { [ReleasesTable.hashKey]: releaseId },
      ConsistentRead: true,
    }),
  );
  if (!Item) return undefined;
  const release = Item as ReleaseItem;
  const executions = await executionsOfRelease(deps, releaseId);
  const names = release.pipelines ?? [];
  // A pipeline started twice is impossible by token, but show every execution found, manifest order first.
  const extra = executions
    .map((e) => e.pipeline ?? "")
    .filter((name) => name !== "" && !names.includes(name));
  const pipelines = [...names, ...new Set(extra)].map((name): PipelineStatusView => {
    const execution = executions.find((e) => e.pipeline === name);
    if (!execution) return { name, status: "Pending", history: [] };
    const history = [...(execution.history ?? [])]
      .sort((a, b) => a.at.localeCompare(b.at))
      .map(({ state, at }) => ({ state, at }));
    return {
      name,
      status: execution.status ?? "Started",
      pipelineExecutionId: execution.pipelineExecutionId,
      ...(execution.startedAt ? { startedAt: execution.startedAt } : {}),
      history,
    };
  });
  return {
    releaseId: release.releaseId,
    status: release.status,
    ...(release.executionArn ? { executionArn: release.executionArn } : {}),
    ...(release.source ? { source: release.source } : {}),
    ...(release.startedAt ? { startedAt: release.startedAt } : {}),
    ...(release.endedAt ? { endedAt: release.endedAt } : {}),
    ...(release.errorName ? { error: release.errorName } : {}),
    ...(release.cause ? { cause: readableCause(release.cause) } : {}),
    pipelines,
  };
}

/** The subset of API Gateway's Lambda proxy event this handler reads. */
export interface ReleaseStatusRequest {
  pathParameters?: { releaseId?: string } | null;
}

export interface ProxyResponse {
  statusCode: number;
  headers: Record<string, string>;
  body: string;
}

const json = (statusCode: number, body: unknown): ProxyResponse => ({
  statusCode,
  headers: { "content-type": "application/json" },
  body: JSON.stringify(body),
});

/** `GET /releases/{releaseId}`: 200 with the release, 404 for an unknown id, 400 for a malformed one. */
export async function releaseStatusApi(
  deps: { ddb: DynamoDBDocumentClient; tables: TableNames },
  request: ReleaseStatusRequest,
): Promise<ProxyResponse> {
  const releaseId = request.pathParameters?.releaseId ?? "";
  if (!new RegExp(RELEASE_ID_PATTERN).test(releaseId)) {
    return json(400, {
      error: "InvalidReleaseId",
      message:
        "releaseId must be 1-64 characters of letters, digits, '.', '_' and '-', starting with a letter or digit",
    });
  }
  const release = await readRelease(deps, releaseId);
  if (!release)
    return json(404, { error: "ReleaseNotFound", message: `no release has releaseId ${releaseId}` });
  return json(200, release);
}
