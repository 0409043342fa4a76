/**
 * Counting what AWS would bill, at the wire: DynamoDB requests by operation (an SDK middleware on
 * the client every DynamoDB call goes through), CodePipeline calls (the stand-in counts the HTTP
 * requests it receives) and Lambda invocations (counted by the harness where it invokes).
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";
import type { CodePipelineService } from "../local/codepipeline-service";

const WRITE_OPERATIONS = ["PutItem", "UpdateItem", "DeleteItem", "BatchWriteItem", "TransactWriteItems"];
const READ_OPERATIONS = ["GetItem", "Query", "Scan", "BatchGetItem", "TransactGetItems"];
const CODEPIPELINE_OPERATIONS = [
  "StartPipelineExecution",
  "GetPipelineExecution",
  "StopPipelineExecution",
  "ListPipelineExecutions",
];

/** Counts DynamoDB requests by operation (`X-Amz-Target`), once per request sent. */
export class DynamoRequestCounter {
  private readonly byOperation = new Map<string, number>();

  /** A document client shares its middleware stack with the client it wraps: attach either, once. */
  attach(client: DynamoDBClient | DynamoDBDocumentClient): void {
    client.middlewareStack.add(
      (next) => async (args) => {
        const headers = (args.request as { headers?: Record<string, string> }).headers ?? {};
        const operation = String(headers["x-amz-target"] ?? "").replace(/^DynamoDB_\d+\./, "");
        this.byOperation.set(operation, (this.byOperation.get(operation) ?? 0) + 1);
        return next(args);
      },
      { step: "build", name: "benchDynamoRequestCounter" },
    );
  }

  count(operation: string): number {
    return this.byOperation.get(operation) ?? 0;
  }

  writes(): number {
    return WRITE_OPERATIONS.reduce((sum, op) => sum + this.count(op), 0);
  }

  reads(): number {
    return READ_OPERATIONS.reduce((sum, op) => sum + this.count(op), 0);
  }
}

export function codePipelineCalls(service: CodePipelineService): number {
  return CODEPIPELINE_OPERATIONS.reduce((sum, op) => sum + service.callCount(op), 0);
}

/** Everything billed per release besides Step Functions itself. */
export interface CallCounts {
  lambdaInvocations: number;
  dynamoWrites: number;
  dynamoReads: number;
  codePipelineCalls: number;
}

export const NO_CALLS: CallCounts = {
  lambdaInvocations: 0,
  dynamoWrites: 0,
  dynamoReads: 0,
  codePipelineCalls: 0,
};

export function difference(after: CallCounts, before: CallCounts): CallCounts {
  return {
    lambdaInvocations: after.lambdaInvocations - before.lambdaInvocations,
    dynamoWrites: after.dynamoWrites - before.dynamoWrites,
    dynamoReads: after.dynamoReads - before.dynamoReads,
    codePipelineCalls: after.codePipelineCalls - before.codePipelineCalls,
  };
}

export function sum(a: CallCounts, b: CallCounts): CallCounts {
  return {
    lambdaInvocations: a.lambdaInvocations + b.lambdaInvocations,
    dynamoWrites: a.dynamoWrites + b.dynamoWrites,
    dynamoReads: a.dynamoReads + b.dynamoReads,
    codePipelineCalls: a.codePipelineCalls + b.codePipelineCalls,
  };
}
