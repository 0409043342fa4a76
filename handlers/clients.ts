/**
 * AWS SDK v3 clients built from the environment only. On Lambda that means the function's
 * role and region; locally the same code reaches the stand-ins through `AWS_ENDPOINT_URL_<SERVICE>`.
 * Built once per container (CallbackFunction's callbackFactory), never per invocation.
 */
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { S3Client } from "@aws-sdk/client-s3";
import { SFNClient } from "@aws-sdk/client-sfn";
import { DynamoDBDocumentClient } from "@aws-sdk/lib-dynamodb";

export interface AwsClients {
  ddb: DynamoDBDocumentClient;
  s3: S3Client;
  sfn: SFNClient;
  codepipeline: CodePipelineClient;
  events: EventBridgeClient;
}

export function documentClient(client: DynamoDBClient): DynamoDBDocumentClient {
  return DynamoDBDocumentClient.from(client, { marshallOptions: { removeUndefinedValues: true } });
}

// Checksums only where S3 requires them: identical on AWS, and the local S3 stand-in stores
// streamed uploads corrupted otherwise.
const S3_SETTINGS = {
  requestChecksumCalculation: "WHEN_REQUIRED",
  responseChecksumValidation: "WHEN_REQUIRED",
} as const;

/** The S3 client alone, for the one function that needs no other (LoadManifest). */
export const s3ClientFromEnvironment = (): S3Client => new S3Client(S3_SETTINGS);

export function clientsFromEnvironment(): AwsClients {
  return {
    ddb: documentClient(new DynamoDBClient({})),
    s3: new S3Client(S3_SETTINGS),
    sfn: new SFNClient({}),
    // Starts come in bursts (a release's first pipelines, a dependency's dependants); the SDK's
    // adaptive mode backs off on CodePipeline's throttling inside the function.
    codepipeline: new CodePipelineClient({ maxAttempts: 6, retryMode: "adaptive" }),
    events: new EventBridgeClient({}),
  };
}
