/**
 * The polling baseline on the same local runtime as ours: dynalite with the same tables, the
 * CodePipeline stand-in and `LocalWorkflowEngine` (the engine `npm start` uses) running the
 * baseline definition with the bench's Lambda functions. A polling design has no event rule, so the
 * stand-in's events go nowhere.
 *
 * The engine runs the definition rendered with a 0-second Wait (the simulation advances its own
 * clock by 30 s per poll): a Wait's length changes no transition and no history event, so the
 * counts are those of the 30-second definition (`definition`), and nothing in the engine is patched.
 */
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { documentClient } from "../handlers/clients";
import { manifestParser } from "../contract/manifest";
import { DEFAULT_MANIFEST_RULES } from "../contract/manifest-schema";
import {
  type CodePipelineService,
  type LocalPipelineSpec,
  startCodePipelineService,
} from "../local/codepipeline-service";
import { createReleaseTables, type LocalDynamo, startDynamo } from "../local/dynamodb";
import { type LocalExecution, LocalWorkflowEngine } from "../local/engine";
import {
  LOCAL_ACCOUNT,
  LOCAL_CREDENTIALS,
  LOCAL_REFS,
  LOCAL_REGION,
  LOCAL_TABLES,
} from "../local/release-machine";
import { TaskTokenRegistry } from "../local/sfn-service";
import type { StateMachineDefinition } from "../stepfunction/asl";
import { type BaselineDeps, checkPipelines, startPipelines, validateManifest } from "./baseline-handlers";
import { type BaselineRefs, baselineWorkflow } from "./baseline-workflow";
import { type CallCounts, DynamoRequestCounter, codePipelineCalls } from "./counters";
import type { BenchMeter } from "./ours-bench";

export type BaselineFunction = keyof BaselineRefs["functions"];

const functionArn = (name: string) =>
  `arn:aws:lambda:${LOCAL_REGION}:${LOCAL_ACCOUNT}:function:baseline-${name}`;

export const BASELINE_REFS: BaselineRefs = {
  functions: {
    validateManifest: functionArn("validate-manifest"),
    startPipelines: functionArn("start-pipelines"),
    checkPipelines: functionArn("check-pipelines"),
  },
  releasesTable: LOCAL_REFS.releasesTable,
};

export interface BaselineMachine {
  /** The definition as deployed (30-second Wait); the engine runs it with a 0-second one. */
  definition: StateMachineDefinition;
  engine: LocalWorkflowEngine;
  codepipeline: CodePipelineService;
  counts(): CallCounts;
  submit(manifest: unknown): LocalExecution;
  close(): Promise<void>;
}

export async function startBaselineMachine(options: {
  pipelines: LocalPipelineSpec[];
  /** Runs before every Lambda invocation (the harness advances its simulated clock here). */
  beforeInvoke?: (fn: BaselineFunction, payload: unknown) => Promise<void> | void;
  /** Metering (bench/cost-bench.ts): the DynamoDB client and the clock the handlers are timed on. */
  meter?: BenchMeter;
}): Promise<BaselineMachine> {
  const clientConfig = { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS };
  const tables = LOCAL_TABLES;
  const dynamo: LocalDynamo = await startDynamo();
  const dynamodb = new DynamoDBClient({ ...clientConfig, endpoint: dynamo.endpoint });
  await createReleaseTables(dynamodb, tables);
  const counter = new DynamoRequestCounter();
  counter.attach(dynamodb);
  options.meter?.onDynamoClient(dynamodb, dynamo.endpoint);
  const codepipeline = await startCodePipelineService({
    pipelines: options.pipelines,
    onEvent: () => undefined,
    region: LOCAL_REGION,
    accountId: LOCAL_ACCOUNT,
  });
  const deps: BaselineDeps = {
    ddb: documentClient(dynamodb),
    codepipeline: new CodePipelineClient({ ...clientConfig, endpoint: codepipeline.endpoint }),
    tables,
    parse: manifestParser({
      ...DEFAULT_MANIFEST_RULES,
      allowedPipelines: options.pipelines.map((p) => p.name),
    }),
  };
  let lambdaInvocations = 0;
  const handlers: Record<BaselineFunction, (payload: never) => Promise<unknown>> = {
    validateManifest: (payload: { text: string }) => validateManifest(deps, payload),
    startPipelines: (payload: { releaseId: string; pipelines: string[] }) => startPipelines(deps, payload),
    checkPipelines: (payload: Parameters<typeof checkPipelines>[1]) => checkPipelines(deps, payload),
  };
  const functions = Object.fromEntries(
    (Object.keys(handlers) as BaselineFunction[]).map((name) => [
      BASELINE_REFS.functions[name],
      async (payload: unknown) => {
        lambdaInvocations += 1;
        await options.beforeInvoke?.(name, payload);
        const run = () => handlers[name](payload as never);
        return options.meter ? options.meter.clock.time(run) : run();
      },
    ]),
  );
  const definition = baselineWorkflow(BASELINE_REFS);
  const engine = new LocalWorkflowEngine(
    baselineWorkflow(BASELINE_REFS, { waitSeconds: 0 }),
    {
      functions,
      dynamodb,
      putEvents: async () => ({ FailedEntryCount: 0, Entries: [] }),
      tokens: new TaskTokenRegistry(),
    },
    {
      stateMachineArn: `arn:aws:states:${LOCAL_REGION}:${LOCAL_ACCOUNT}:stateMachine:baseline`,
      retryPauseMs: 5,
    },
  );
  return {
    definition,
    engine,
    codepipeline,
    counts: () => ({
      lambdaInvocations,
      dynamoWrites: counter.writes(),
      dynamoReads: counter.reads(),
      codePipelineCalls: codePipelineCalls(codepipeline),
    }),
    submit: (manifest) => engine.startExecution({ input: { source: "api", body: JSON.stringify(manifest) } }),
    async close() {
      await engine.stopAll();
      await codepipeline.close();
      deps.codepipeline.destroy();
      dynamodb.destroy();
      await dynamo.close();
    },
  };
}
