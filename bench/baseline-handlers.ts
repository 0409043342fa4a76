/**
 * The polling baseline's Lambda functions, written as a polling design writes them (one function starts
 * every pipeline, one checks them all), with the real SDK clients injected, so every CodePipeline
 * call and DynamoDB write they make reaches the stand-ins and is counted there.
 */
import {
  type CodePipelineClient,
  GetPipelineExecutionCommand,
  StartPipelineExecutionCommand,
} from "@aws-sdk/client-codepipeline";
import { type DynamoDBDocumentClient, GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import type { TableNames } from "../handlers/config";
import { isTerminal } from "../contract/tables";
import type { ValidatedRelease } from "../contract/manifest";

export interface BaselineDeps {
  ddb: DynamoDBDocumentClient;
  codepipeline: CodePipelineClient;
  tables: TableNames;
  parse: (text: string) => ValidatedRelease;
}

export interface StartedExecution {
  pipeline: string;
  pipelineExecutionId: string;
}

/** A named error for a repeated releaseId, as a polling design throws it (its check is racy: read, then write). */
export class DuplicateRelease extends Error {
  override readonly name = "DuplicateRelease";
}

export async function validateManifest(
  deps: BaselineDeps,
  payload: { text: string },
): Promise<{ releaseId: string; pipelines: string[] }> {
  const release = deps.parse(payload.text);
  const existing = await deps.ddb.send(
    new GetCommand({ TableName: deps.tables.releases, Key: { releaseId: release.releaseId } }),
  );
  if (existing.Item) throw new DuplicateRelease(`release ${release.releaseId} was already run`);
  return { releaseId: release.releaseId, pipelines: release.pipelines.map((p) => p.name) };
}

export async function startPipelines(
  deps: BaselineDeps,
  payload: { releaseId: string; pipelines: string[] },
): Promise<{ executions: StartedExecution[] }> {
  const executions = await Promise.all(
    payload.pipelines.map(async (pipeline) => {
      const started = await deps.codepipeline.send(new StartPipelineExecutionCommand({ name: pipeline }));
      return { pipeline, pipelineExecutionId: started.pipelineExecutionId ?? "" };
    }),
  );
  return { executions };
}

export type BaselineReleaseStatus = "SUCCEEDED" | "FAILED" | "IN_PROGRESS";

/** One poll: every pipeline's status from CodePipeline, each written to the Executions table. */
export async function checkPipelines(
  deps: BaselineDeps,
  payload: { releaseId: string; executions: StartedExecution[] },
): Promise<{ releaseStatus: BaselineReleaseStatus }> {
  const checkedAt = new Date().toISOString();
  const statuses = await Promise.all(
    payload.executions.map(async ({ pipeline, pipelineExecutionId }) => {
      const { pipelineExecution } = await deps.codepipeline.send(
        new GetPipelineExecutionCommand({ pipelineName: pipeline, pipelineExecutionId }),
      );
      const status = pipelineExecution?.status ?? "Unknown";
      await deps.ddb.send(
        new PutCommand({
          TableName: deps.tables.executions,
          Item: { pipelineExecutionId, releaseId: payload.releaseId, pipeline, status, checkedAt },
        }),
      );
      return status;
    }),
  );
  const releaseStatus: BaselineReleaseStatus = statuses.every((s) => s === "Succeeded")
    ? "SUCCEEDED"
    : statuses.some((s) => isTerminal(s) && s !== "Succeeded")
      ? "FAILED"
      : "IN_PROGRESS";
  return { releaseStatus };
}
