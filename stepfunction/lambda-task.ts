/**
 * Lambda tasks through the optimized integration, and the errors worth retrying on them and on
 * the DynamoDB integration (stepfunction/release-workflow.ts).
 * https://docs.aws.amazon.com/step-functions/latest/dg/connect-lambda.html
 */
import {
  Integrations,
  type PayloadTemplate,
  type Retrier,
  type TaskFields,
  type TaskState,
  type Transition,
  retryTransient,
  task,
} from "./asl";

/** Errors worth retrying when a Lambda task fails: the service's own, and throttling inside the handler. */
export const TRANSIENT_LAMBDA_ERRORS = [
  "Lambda.ServiceException",
  "Lambda.AWSLambdaException",
  "Lambda.SdkClientException",
  "Lambda.TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestLimitExceeded",
  "ThrottlingException",
  "TooManyRequestsException",
  "InternalServerError",
  // CodePipeline answers these while it is busy or its execution queue is full; the scheduler's
  // start is idempotent, so repeating RegisterRelease is safe.
  "ConflictException",
  "ConcurrentPipelineExecutionsLimitExceededException",
];

export const TRANSIENT_DYNAMODB_ERRORS = [
  "DynamoDB.ProvisionedThroughputExceededException",
  "DynamoDB.RequestLimitExceeded",
  "DynamoDB.ThrottlingException",
  "DynamoDB.InternalServerErrorException",
];

export const lambdaRetry: Retrier[] = [retryTransient(TRANSIENT_LAMBDA_ERRORS)];
export const dynamoRetry: Retrier[] = [retryTransient(TRANSIENT_DYNAMODB_ERRORS)];

/** A Lambda task's own fields (its transition is a separate argument: Next or End, never both). */
export type LambdaTaskFields = Omit<TaskFields, "Type" | "Resource" | "Parameters">;

/** A Lambda task through the optimized integration, retrying the transient Lambda errors. */
export function lambdaTask(
  functionArn: string,
  payload: PayloadTemplate,
  fields: LambdaTaskFields,
  transition: Transition,
): TaskState {
  return task(
    {
      Resource: Integrations.lambdaInvoke,
      Parameters: { FunctionName: functionArn, Payload: payload },
      Retry: lambdaRetry,
      ...fields,
    },
    transition,
  );
}
