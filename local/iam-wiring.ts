/**
 * IAM at run time in the local release machine (docs/architecture.md, "Local mode"): which role
 * each function and the engine act as, over the local ARNs, and the engine's own calls checked
 * against the state machine's role. The SDK clients' enforcement is local/iam-enforcement.ts; this
 * module applies it to what local/release-machine.ts builds.
 */
import type { HandlerName, PolicyStatement } from "../contract/permissions";
import type { StateMachineDefinition } from "../stepfunction/asl";
import type { EngineServices } from "./engine";
import { TaskError } from "./engine-calls";
import {
  type IamRole,
  type LocalResourceNames,
  deniedMessage,
  enforceIam,
  iamRequestsOf,
  localHandlerRole,
  localResourceArns,
  localStateMachineRole,
} from "./iam-enforcement";

/** Whether IAM is enforced, and any role's statements replaced (`stateMachine`: the workflow's role). */
export interface LocalIamOptions {
  enforce?: boolean;
  statements?: Partial<
    Record<HandlerName | "stateMachine", (granted: PolicyStatement[]) => PolicyStatement[]>
  >;
}

export interface LocalIam {
  /** Function `name`'s role, undefined when IAM is not enforced. */
  role(name: HandlerName): IamRole | undefined;
  /** The state machine's role for `definition`, undefined when IAM is not enforced. */
  stateMachine(definition: StateMachineDefinition): IamRole | undefined;
}

/** The roles local mode enforces: the program's statements over the local ARNs, with the options' overrides. */
export function localIam(names: LocalResourceNames, options: LocalIamOptions = {}): LocalIam {
  if (options.enforce === false) return { role: () => undefined, stateMachine: () => undefined };
  const arns = localResourceArns(names);
  const replace = (who: HandlerName | "stateMachine", role: IamRole): IamRole => {
    const override = options.statements?.[who];
    return override ? { ...role, statements: override(role.statements) } : role;
  };
  return {
    role: (name) => replace(name, localHandlerRole(name, arns)),
    stateMachine: (definition) =>
      replace(
        "stateMachine",
        localStateMachineRole(definition, arns, {
          [names.tables.releases]: arns.releasesTableArn,
          [names.tables.executions]: arns.executionsTableArn,
        }),
      ),
  };
}

/**
 * A denied Lambda invoke, as a Task reports it. Step Functions reports Lambda's errors as
 * `Lambda.<ErrorName>` and names AWSLambdaException among them
 * (https://docs.aws.amazon.com/step-functions/latest/dg/bp-lambda-serviceexception.html); AWS
 * documents no name for a denied invoke in particular. Lambda answers it with AccessDeniedException
 * and 403, which the integration's client, having no class for it, raises as AWSLambdaException,
 * with the service's answer in the cause. Like every AWSLambdaException, the workflow's Retry repeats
 * it (stepfunction/release-workflow.ts TRANSIENT_LAMBDA_ERRORS) before the Task fails.
 */
const lambdaDenied = (message: string) =>
  new TaskError(
    "Lambda.AWSLambdaException",
    `${message} (Service: AWSLambda; Status Code: 403; Error Code: AccessDeniedException)`,
  );

/**
 * A denied call of an optimized integration, as `ServiceName.ErrorName`
 * (https://docs.aws.amazon.com/step-functions/latest/dg/supported-services-awssdk.html): EventBridge
 * answers AccessDeniedException with 400
 * (https://docs.aws.amazon.com/eventbridge/latest/APIReference/CommonErrors.html).
 */
const eventsDenied = (message: string) =>
  new TaskError("EventBridge.AccessDeniedException", `${message} (Service: EventBridge, Status Code: 400)`);

/**
 * The engine's services acting as `role`: its DynamoDB client enforces it (a denied task fails as
 * `DynamoDB.AccessDeniedException`, local/engine.ts), and each Lambda invocation and release event
 * is checked before it happens. Unchanged when `role` is undefined.
 */
export function enforcedEngineServices(services: EngineServices, role: IamRole | undefined): EngineServices {
  if (!role) return services;
  enforceIam(services.dynamodb, "dynamodb", role);
  const functions = Object.fromEntries(
    Object.entries(services.functions).map(([arn, invoke]) => [
      arn,
      async (payload: unknown) => {
        const denied = await deniedMessage(role, { action: "lambda:InvokeFunction", resource: arn });
        if (denied !== undefined) throw lambdaDenied(denied);
        return invoke(payload);
      },
    ]),
  );
  return {
    ...services,
    functions,
    putEvents: async (entries) => {
      for (const request of iamRequestsOf("events", "PutEvents", { Entries: entries }, role.scope)) {
        const denied = await deniedMessage(role, request);
        if (denied !== undefined) throw eventsDenied(denied);
      }
      return services.putEvents(entries);
    },
  };
}
