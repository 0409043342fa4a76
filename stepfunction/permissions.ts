/**
 * The state machine's role, derived from the Task states its definition actually has through the
 * integrations they use (./integrations.ts). One source for the Pulumi program (infra/ deploys it)
 * and local mode (the engine's Task calls are evaluated against it).
 */
import type { HandlerName, PolicyStatement, ResourceArns } from "../contract/permissions";
import type { StateMachineDefinition } from "./asl";
import { allStates } from "./asl";
import { integrationOf } from "./integrations";
import { WORKFLOW_FUNCTIONS } from "./release-workflow";

/** Every function the workflow invokes has a role of its own (contract/permissions.ts HANDLER_NAMES). */
export const WORKFLOW_FUNCTION_ROLES: readonly HandlerName[] = WORKFLOW_FUNCTIONS;

/**
 * The state machine's permissions, derived from its Task states through the integrations they use
 * (stepfunction/integrations.ts): each Lambda it invokes, each table action, the event bus it
 * publishes to. Statements are merged per action so the document stays small.
 */
export function stateMachineStatements(
  definition: StateMachineDefinition,
  arns: ResourceArns,
  tableArnsByName: Record<string, string>,
): PolicyStatement[] {
  const grants = new Map<string, Set<string>>();
  const context = { tableArn: (name: string) => tableArnsByName[name], eventBusArn: arns.eventBusArn };
  for (const [name, state] of allStates(definition)) {
    if (state.Type !== "Task") continue;
    for (const { action, resource } of integrationOf(name, state.Resource).grants(
      state.Parameters ?? {},
      context,
    )) {
      grants.set(action, (grants.get(action) ?? new Set()).add(resource));
    }
  }
  const sids: Record<string, string> = {
    "lambda:InvokeFunction": "InvokeWorkflowFunctions",
    "dynamodb:PutItem": "PutReleaseItems",
    "dynamodb:UpdateItem": "UpdateReleaseItems",
    "dynamodb:GetItem": "ReadReleaseItems",
    "events:PutEvents": "PublishReleaseEvents",
  };
  return [...grants].map(([action, resources]) => ({
    Sid: sids[action] ?? `Call${action.replace(/[^A-Za-z]/g, "")}`,
    Effect: "Allow" as const,
    Action: [action],
    Resource: [...resources].sort(),
  }));
}
