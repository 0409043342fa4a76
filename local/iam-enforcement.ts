/**
 * IAM at run time in local mode: every AWS call a function (or the workflow's engine) makes is
 * evaluated against the statements the program deploys for its role (contract/permissions.ts,
 * stepfunction/permissions.ts), by an independent engine (@cloud-copilot/iam-simulate), and a
 * denied call fails as AWS fails it: AccessDeniedException (AccessDenied from S3), naming the
 * principal, the action and the resource. Local mode must fail where AWS fails; a hand-written
 * match of statements would share our own misreadings of IAM.
 *
 * The engine is AGPL-3.0: a devDependency, loaded lazily (local/iam-decisions.ts, which also
 * memoizes its decisions exactly) on the first evaluation and never by
 * handlers/, infra/ or cli/, so neither the Lambda archives, the CLI package nor the Pulumi
 * program's dependencies carry it (docs/architecture.md, "Local mode").
 */
import { CodePipelineServiceException } from "@aws-sdk/client-codepipeline";
import { DynamoDBServiceException } from "@aws-sdk/client-dynamodb";
import { AccessDeniedException as EventBridgeAccessDenied } from "@aws-sdk/client-eventbridge";
import { AccessDenied as S3AccessDenied } from "@aws-sdk/client-s3";
import { SFNServiceException } from "@aws-sdk/client-sfn";
import type {
  InitializeHandlerArguments,
  InitializeHandlerOutput,
  InitializeMiddleware,
  MetadataBearer,
  MiddlewareStack,
} from "@smithy/types";
import { type HandlerName, type ResourceArns, handlerStatements, pipelineArn } from "../contract/permissions";
import type { StateMachineDefinition } from "../stepfunction/asl";
import { stateMachineStatements } from "../stepfunction/permissions";
import { type IamDecision, type IamRequest, type IamRole, type IamScope, evaluate } from "./iam-decisions";

// Who calls, and what it asks (local/iam-decisions.ts defines them, with the decisions).
export type { IamRequest, IamRole, IamScope } from "./iam-decisions";

/** The services whose SDK clients can be enforced, by their IAM prefix. */
export type IamService = "dynamodb" | "codepipeline" | "states" | "events" | "s3";

/**
 * A Lambda function's session: AWS names a function's calls after its role and a session named
 * after the function.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_identifiers.html#identifiers-arns
 */
export function assumedRolePrincipal(scope: IamScope, roleName: string, sessionName: string): string {
  return `arn:${scope.partition}:sts::${scope.accountId}:assumed-role/${roleName}/${sessionName}`;
}

/** What local mode names, resolved to the ARNs the roles' statements are rendered over. */
export interface LocalResourceNames extends IamScope {
  tables: { releases: string; executions: string; releasePipelines: string };
  bucket: string;
  eventBusName: string;
  pipelines: readonly string[];
  stateMachineArn: string;
}

export function localResourceArns(names: LocalResourceNames): ResourceArns {
  const { partition, region, accountId } = names;
  const table = (name: string) => `arn:${partition}:dynamodb:${region}:${accountId}:table/${name}`;
  return {
    partition,
    region,
    accountId,
    bucketArn: `arn:${partition}:s3:::${names.bucket}`,
    releasesTableArn: table(names.tables.releases),
    executionsTableArn: table(names.tables.executions),
    releasePipelinesTableArn: table(names.tables.releasePipelines),
    pipelineArns: names.pipelines.map((p) => pipelineArn(partition, region, accountId, p)),
    eventBusArn: `arn:${partition}:events:${region}:${accountId}:event-bus/${names.eventBusName}`,
    stateMachineArn: names.stateMachineArn,
  };
}

/** A handler's role in local mode: `release-machine-<handler>`, its statements over `arns`. */
export function localHandlerRole(handler: HandlerName, arns: ResourceArns): IamRole {
  const scope = { partition: arns.partition, region: arns.region, accountId: arns.accountId };
  return {
    principal: assumedRolePrincipal(scope, `release-machine-${handler}`, handler),
    statements: handlerStatements(handler, arns),
    scope,
  };
}

/**
 * The state machine's role in local mode: the statements the program derives from the definition's
 * Task states, for the engine's own calls (its DynamoDB tasks, Lambda invocations, release events).
 */
export function localStateMachineRole(
  definition: StateMachineDefinition,
  arns: ResourceArns,
  tableArnsByName: Record<string, string>,
): IamRole {
  const scope = { partition: arns.partition, region: arns.region, accountId: arns.accountId };
  return {
    principal: assumedRolePrincipal(scope, "release-machine-state-machine", "states"),
    statements: stateMachineStatements(definition, arns, tableArnsByName),
    scope,
  };
}

// What AWS authorizes each SDK command against. Service Authorization Reference:
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazondynamodb.html
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awscodepipeline.html
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_awsstepfunctions.html
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazoneventbridge.html
// https://docs.aws.amazon.com/service-authorization/latest/reference/list_amazons3.html
// A command not listed is refused (UnmappedCommand): add its mapping before local code may call it.

type Input = Record<string, unknown>;
type Requests = (input: Input, scope: IamScope) => IamRequest[];

/** A command local mode cannot authorize: no mapping to the IAM actions AWS checks for it. */
export class UnmappedCommand extends Error {
  override readonly name = "UnmappedCommand";
}

const text = (value: unknown, what: string): string => {
  if (typeof value !== "string" || value === "")
    throw new UnmappedCommand(`${what} is missing: cannot name the resource`);
  return value;
};

/** A table by name or ARN (DynamoDB accepts either); with IndexName, the index's own ARN. */
function tableArn(scope: IamScope, table: unknown, index?: unknown): string {
  const name = text(table, "TableName");
  const arn = name.startsWith("arn:")
    ? name
    : `arn:${scope.partition}:dynamodb:${scope.region}:${scope.accountId}:table/${name}`;
  return index === undefined ? arn : `${arn}/index/${text(index, "IndexName")}`;
}

const onTable =
  (action: string): Requests =>
  (input, scope) => [{ action, resource: tableArn(scope, input.TableName, input.IndexName) }];

/** Batch reads and writes are authorized once per table they name (RequestItems' keys). */
const onEachTable =
  (action: string): Requests =>
  (input, scope) =>
    Object.keys((input.RequestItems ?? {}) as Input).map((table) => ({
      action,
      resource: tableArn(scope, table),
    }));

/** A transaction is authorized as the item actions it is made of, each on its table. */
const TRANSACT_ACTIONS: Record<string, string> = {
  Get: "dynamodb:GetItem",
  Put: "dynamodb:PutItem",
  Update: "dynamodb:UpdateItem",
  Delete: "dynamodb:DeleteItem",
  ConditionCheck: "dynamodb:ConditionCheckItem",
};
const transaction: Requests = (input, scope) =>
  ((input.TransactItems ?? []) as Input[]).flatMap((item) =>
    Object.entries(item).map(([kind, operation]) => {
      const action = TRANSACT_ACTIONS[kind];
      if (!action) throw new UnmappedCommand(`transaction item ${kind}`);
      return { action, resource: tableArn(scope, (operation as Input).TableName) };
    }),
  );

const DYNAMODB: Record<string, Requests> = {
  GetItem: onTable("dynamodb:GetItem"),
  PutItem: onTable("dynamodb:PutItem"),
  UpdateItem: onTable("dynamodb:UpdateItem"),
  DeleteItem: onTable("dynamodb:DeleteItem"),
  // With IndexName, Query and Scan are authorized on the index's ARN, not the table's.
  Query: onTable("dynamodb:Query"),
  Scan: onTable("dynamodb:Scan"),
  BatchGetItem: onEachTable("dynamodb:BatchGetItem"),
  BatchWriteItem: onEachTable("dynamodb:BatchWriteItem"),
  TransactGetItems: transaction,
  TransactWriteItems: transaction,
};

/** Every CodePipeline action this program calls is authorized on the pipeline it names. */
const onPipeline =
  (action: string, field: "name" | "pipelineName"): Requests =>
  (input, scope) => [
    {
      action,
      resource: pipelineArn(scope.partition, scope.region, scope.accountId, text(input[field], field)),
    },
  ];

const CODEPIPELINE: Record<string, Requests> = {
  StartPipelineExecution: onPipeline("codepipeline:StartPipelineExecution", "name"),
  GetPipelineState: onPipeline("codepipeline:GetPipelineState", "name"),
  GetPipeline: onPipeline("codepipeline:GetPipeline", "name"),
  GetPipelineExecution: onPipeline("codepipeline:GetPipelineExecution", "pipelineName"),
  StopPipelineExecution: onPipeline("codepipeline:StopPipelineExecution", "pipelineName"),
  ListActionExecutions: onPipeline("codepipeline:ListActionExecutions", "pipelineName"),
  ListPipelineExecutions: onPipeline("codepipeline:ListPipelineExecutions", "pipelineName"),
};

/** Task tokens are not resources: the task-completion actions have no resource-level permissions. */
const anyResource =
  (action: string): Requests =>
  () => [{ action, resource: "*" }];
const onField =
  (action: string, field: string): Requests =>
  (input) => [{ action, resource: text(input[field], field) }];
const SFN: Record<string, Requests> = {
  SendTaskSuccess: anyResource("states:SendTaskSuccess"),
  SendTaskFailure: anyResource("states:SendTaskFailure"),
  SendTaskHeartbeat: anyResource("states:SendTaskHeartbeat"),
  StartExecution: onField("states:StartExecution", "stateMachineArn"),
  DescribeExecution: onField("states:DescribeExecution", "executionArn"),
  StopExecution: onField("states:StopExecution", "executionArn"),
};

/** A bus by name or ARN; an entry without one goes to the account's default bus. */
function busArn(scope: IamScope, nameOrArn: unknown): string {
  const name = typeof nameOrArn === "string" && nameOrArn !== "" ? nameOrArn : "default";
  return name.startsWith("arn:")
    ? name
    : `arn:${scope.partition}:events:${scope.region}:${scope.accountId}:event-bus/${name}`;
}

const EVENTS: Record<string, Requests> = {
  // PutEvents is authorized against each bus its entries write to.
  PutEvents: (input, scope) =>
    [...new Set(((input.Entries ?? []) as Input[]).map((entry) => busArn(scope, entry.EventBusName)))].map(
      (resource) => ({ action: "events:PutEvents", resource }),
    ),
};

const objectArn = (scope: IamScope, input: Input) =>
  `arn:${scope.partition}:s3:::${text(input.Bucket, "Bucket")}/${text(input.Key, "Key")}`;
/**
 * Reading a given version is authorized as s3:GetObjectVersion alone (s3:GetObject is then not
 * required); the current version as s3:GetObject. HeadObject is authorized as GetObject is.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_HeadObject.html
 */
const readObject: Requests = (input, scope) => [
  {
    action: input.VersionId === undefined ? "s3:GetObject" : "s3:GetObjectVersion",
    resource: objectArn(scope, input),
  },
];

const S3: Record<string, Requests> = {
  GetObject: readObject,
  HeadObject: readObject,
  PutObject: (input, scope) => [{ action: "s3:PutObject", resource: objectArn(scope, input) }],
  ListObjectsV2: (input, scope) => [
    { action: "s3:ListBucket", resource: `arn:${scope.partition}:s3:::${text(input.Bucket, "Bucket")}` },
  ],
};

const COMMANDS: Record<IamService, Record<string, Requests>> = {
  dynamodb: DYNAMODB,
  codepipeline: CODEPIPELINE,
  states: SFN,
  events: EVENTS,
  s3: S3,
};

/**
 * The authorizations AWS makes for one SDK command of `service` (`commandName` as the SDK names
 * it, e.g. GetItemCommand: the DocumentClient's commands arrive as the DynamoDB commands they wrap).
 */
export function iamRequestsOf(
  service: IamService,
  commandName: string,
  input: Input,
  scope: IamScope,
): IamRequest[] {
  const operation = commandName.replace(/Command$/, "");
  const requests = COMMANDS[service][operation];
  if (!requests) throw new UnmappedCommand(`no IAM mapping for ${service} ${operation}: add it to COMMANDS`);
  return requests(input, scope);
}

// AWS's answer to a denied call (the engine's decisions: local/iam-decisions.ts).
export { type IamDecision, UnevaluableRequest, evaluate } from "./iam-decisions";

/**
 * AWS's message for a denied call.
 * https://docs.aws.amazon.com/IAM/latest/UserGuide/troubleshoot_access-denied.html
 */
export function accessDeniedMessage(principal: string, request: IamRequest, decision: IamDecision): string {
  const why =
    decision === "ExplicitlyDenied"
      ? "with an explicit deny in an identity-based policy"
      : `because no identity-based policy allows the ${request.action} action`;
  return `User: ${principal} is not authorized to perform: ${request.action} on resource: ${request.resource} ${why}`;
}

/**
 * The error each service answers a denied call with, as its SDK client raises it:
 * AccessDeniedException with HTTP 400 from DynamoDB, CodePipeline, Step Functions and EventBridge
 * (their common errors), AccessDenied with HTTP 403 from S3.
 * https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html
 * https://docs.aws.amazon.com/codepipeline/latest/APIReference/CommonErrors.html
 * https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html
 * https://docs.aws.amazon.com/AmazonS3/latest/API/ErrorResponses.html
 */
export function accessDeniedError(service: IamService, message: string): Error & MetadataBearer {
  const $metadata = { httpStatusCode: service === "s3" ? 403 : 400, attempts: 1, totalRetryDelay: 0 };
  const options = { name: "AccessDeniedException", $fault: "client" as const, $metadata, message };
  switch (service) {
    case "dynamodb":
      return new DynamoDBServiceException(options);
    case "codepipeline":
      return new CodePipelineServiceException(options);
    case "states":
      return new SFNServiceException(options);
    case "events":
      return new EventBridgeAccessDenied({ $metadata, message });
    case "s3":
      return new S3AccessDenied({ $metadata, message });
  }
}

/**
 * For calls that do not go through an SDK client (the engine's in-process Lambda invocations and
 * release events): AWS's message if `role` may not make `request`, undefined if it may. The caller
 * shapes the error as its integration reports it.
 */
export async function deniedMessage(role: IamRole, request: IamRequest): Promise<string | undefined> {
  const decision = await evaluate(role, request);
  return decision === "Allowed" ? undefined : accessDeniedMessage(role.principal, request, decision);
}

/** Evaluates every request; throws the service's AccessDenied error for the first one denied. */
export async function authorize(role: IamRole, service: IamService, requests: IamRequest[]): Promise<void> {
  for (const request of requests) {
    const decision = await evaluate(role, request);
    if (decision !== "Allowed")
      throw accessDeniedError(service, accessDeniedMessage(role.principal, request, decision));
  }
}

// The SDK middleware and its application to a function's clients.
const MIDDLEWARE_NAME = "localIamEnforcement";

/** What a missing object answers with when the role may not list the bucket (below). */
const MISSING_OBJECT = new Set(["NoSuchKey", "NotFound"]);

/**
 * Without s3:ListBucket on the bucket, S3 answers a request for a missing object with 403
 * AccessDenied, not 404 NoSuchKey: the caller may not learn which keys exist.
 * https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html
 */
async function hideMissingObject(role: IamRole, input: Input, error: unknown): Promise<unknown> {
  if (!(error instanceof Error) || !MISSING_OBJECT.has(error.name)) return error;
  const list: IamRequest = {
    action: "s3:ListBucket",
    resource: `arn:${role.scope.partition}:s3:::${text(input.Bucket, "Bucket")}`,
  };
  const decision = await evaluate(role, list);
  if (decision === "Allowed") return error;
  return accessDeniedError("s3", "Access Denied");
}

/**
 * The middleware: before a command is serialized, every authorization it needs is evaluated for
 * `role`; a denied one fails the call with the service's error, before any request is sent (and
 * before the SDK's retries, which AWS's AccessDenied does not get either).
 */
export function iamEnforcementMiddleware(
  role: IamRole,
  service: IamService,
): InitializeMiddleware<object, MetadataBearer> {
  return (next, context) =>
    async (args: InitializeHandlerArguments<object>): Promise<InitializeHandlerOutput<MetadataBearer>> => {
      const input = args.input as Input;
      await authorize(role, service, iamRequestsOf(service, String(context.commandName), input, role.scope));
      if (service !== "s3") return next(args);
      try {
        return await next(args);
      } catch (error) {
        throw await hideMissingObject(role, input, error);
      }
    };
}

/** Anything with an SDK middleware stack: a service client or a DynamoDBDocumentClient. */
export interface EnforceableClient {
  middlewareStack: MiddlewareStack<object, MetadataBearer>;
}

/**
 * Enforces `role` on every command `client` sends to `service`, and returns the client. Once per
 * client: a second role on the same client is refused. A DynamoDBDocumentClient shares its
 * DynamoDBClient's stack, so enforcing either enforces both: give each role a DynamoDBClient of
 * its own.
 */
export function enforceIam<C extends EnforceableClient>(client: C, service: IamService, role: IamRole): C {
  if (client.middlewareStack.identify().some((entry) => entry.startsWith(`${MIDDLEWARE_NAME} `)))
    throw new RangeError(`this client already enforces a role: give ${role.principal} a client of its own`);
  client.middlewareStack.add(iamEnforcementMiddleware(role, service), {
    step: "initialize",
    priority: "high",
    name: MIDDLEWARE_NAME,
  });
  return client;
}

/** One function's clients, as handlers/ takes them (every one optional: a function gets those it uses). */
export interface RoleClients {
  ddb?: EnforceableClient;
  sfn?: EnforceableClient;
  codepipeline?: EnforceableClient;
  events?: EnforceableClient;
  s3?: EnforceableClient;
}

const SERVICE_OF: Record<keyof RoleClients, IamService> = {
  ddb: "dynamodb",
  sfn: "states",
  codepipeline: "codepipeline",
  events: "events",
  s3: "s3",
};

/** Enforces `role` on each client given; returns the same clients. */
export function enforceIamOnClients<T extends RoleClients>(clients: T, role: IamRole): T {
  for (const key of Object.keys(SERVICE_OF) as (keyof RoleClients)[]) {
    const client = clients[key];
    if (client) enforceIam(client, SERVICE_OF[key], role);
  }
  return clients;
}
