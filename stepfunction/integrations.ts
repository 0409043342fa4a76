/**
 * The Step Functions service integrations the workflow may use, each declared once: its resource
 * ARN, the IAM grants a state using it needs (stepfunction/permissions.ts `stateMachineStatements` derives the
 * state machine's role from these), and how the local engine runs it (local/engine.ts interprets
 * `local`). Adding an integration is one entry here; a Task whose resource has no entry is refused
 * by both. Pure data and functions: no Pulumi, no AWS SDK.
 */
import type { PayloadTemplate } from "./payload";

/** What a state's grants are resolved against: the ARNs of the resources its parameters name. */
export interface GrantContext {
  /** A table's ARN by the table name a state names, or undefined for a table that is not ours. */
  tableArn(name: string): string | undefined;
  eventBusArn: string;
}

export interface Grant {
  action: string;
  resource: string;
}

/** How the local engine runs a Task of this integration. */
export type LocalCall =
  /** The optimized Lambda integration: the in-process handler for `FunctionName`. */
  | { kind: "lambda"; waitForTaskToken: boolean }
  /** An optimized DynamoDB integration: the same command against dynalite, errors as `DynamoDB.<name>`. */
  | { kind: "dynamodb"; command: "PutItem" | "UpdateItem" | "GetItem" }
  /** events:putEvents: the local event router. */
  | { kind: "putEvents" };

export interface Integration {
  resource: string;
  grants(parameters: PayloadTemplate, context: GrantContext): Grant[];
  local: LocalCall;
}

/** A grant on the table a DynamoDB state names; a table that is not ours is a definition error. */
function onTable(action: string) {
  return (parameters: PayloadTemplate, context: GrantContext): Grant[] => {
    const table = String(parameters.TableName);
    const resource = context.tableArn(table);
    if (!resource) throw new UnknownTaskResource(`table ${table} is not one of this machine's tables`);
    return [{ action, resource }];
  };
}

const invokes = (parameters: PayloadTemplate): Grant[] => [
  { action: "lambda:InvokeFunction", resource: String(parameters.FunctionName) },
];

/** Every integration the workflow may use, by resource ARN. */
export const INTEGRATIONS = {
  lambdaInvoke: {
    resource: "arn:aws:states:::lambda:invoke",
    grants: invokes,
    local: { kind: "lambda", waitForTaskToken: false },
  },
  lambdaInvokeWaitForTaskToken: {
    resource: "arn:aws:states:::lambda:invoke.waitForTaskToken",
    grants: invokes,
    local: { kind: "lambda", waitForTaskToken: true },
  },
  dynamoPutItem: {
    resource: "arn:aws:states:::dynamodb:putItem",
    grants: onTable("dynamodb:PutItem"),
    local: { kind: "dynamodb", command: "PutItem" },
  },
  dynamoUpdateItem: {
    resource: "arn:aws:states:::dynamodb:updateItem",
    grants: onTable("dynamodb:UpdateItem"),
    local: { kind: "dynamodb", command: "UpdateItem" },
  },
  dynamoGetItem: {
    resource: "arn:aws:states:::dynamodb:getItem",
    grants: onTable("dynamodb:GetItem"),
    local: { kind: "dynamodb", command: "GetItem" },
  },
  eventsPutEvents: {
    resource: "arn:aws:states:::events:putEvents",
    grants: (_parameters, context) => [{ action: "events:PutEvents", resource: context.eventBusArn }],
    local: { kind: "putEvents" },
  },
} as const satisfies Record<string, Integration>;

/** A Task resource no integration declares: add it to INTEGRATIONS first. */
export class UnknownTaskResource extends Error {
  override readonly name = "UnknownTaskResource";
}

/** The integration a Task's resource names; throws UnknownTaskResource naming the state otherwise. */
export function integrationOf(stateName: string, resource: string): Integration {
  const found = Object.values(INTEGRATIONS).find((i) => i.resource === resource);
  if (!found) throw new UnknownTaskResource(`state "${stateName}": no integration declares ${resource}`);
  return found;
}
