/**
 * DynamoDB write units per pipeline of one release, metered as AWS bills them (bench/write-units.ts)
 * on the local release machine: a release of 5 and one of 500 pipelines that take no time, every
 * write of the handlers and of the workflow's own DynamoDB states included, from submission to the
 * recorded outcome.
 */
import { executionsTableShape, releasePipelinesTableShape, releasesTableShape } from "../contract/tables";
import { executionsByIds } from "../handlers/executions";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  LOCAL_TABLES,
  type LocalReleaseMachine,
  startLocalReleaseMachine,
} from "../local/release-machine";
import { pipelineNames } from "./simulation";
import { WriteUnitMeter } from "./write-units";

export interface WriteUnitsPerPipeline {
  p5: number;
  p500: number;
  /** Units by table (table and index units apart) of the 500-pipeline release. */
  detail500: Record<string, { table: number; indexes: number }>;
  /**
   * The 500-pipeline release again, each pipeline ending only once its start is recorded, as every
   * pipeline on AWS does (its events come seconds after StartPipelineExecution answers): no end
   * arrives before the start record, which the instant pipelines above race.
   */
  p500Recorded: number;
  detail500Recorded: Record<string, { table: number; indexes: number }>;
}

/** How the metered pipelines end: at once (racing their start record), or once it is recorded. */
export type Ending = "instant" | "afterRecord";

/** Ends each execution once its start is recorded (the schedule names it, and it is linked), until the release is done. */
async function finishRecorded(machine: LocalReleaseMachine, releaseId: string, done: Promise<unknown>) {
  let over = false;
  void done.finally(() => (over = true));
  const finished = new Set<string>();
  while (!over) {
    const release = await machine.readRelease(releaseId);
    const named = (release?.pipelines ?? []).flatMap((p) => p.pipelineExecutionId ?? []);
    const linked = await executionsByIds(
      machine.deps,
      named.filter((id) => !finished.has(id)),
    );
    for (const execution of linked) {
      if (execution.releaseId === undefined) continue;
      finished.add(execution.pipelineExecutionId);
      machine.codepipeline.finish(execution.pipelineExecutionId, "Succeeded");
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** Write units of one release of `pipelines` pipelines, by table. */
export async function meterRelease(
  pipelines: number,
  ending: Ending = "instant",
): Promise<{ units: number; byTable: WriteUnitsPerPipeline["detail500"] }> {
  const names = pipelineNames(pipelines, 3);
  const meter = new WriteUnitMeter(
    { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS },
    {
      [LOCAL_TABLES.releases]: releasesTableShape,
      [LOCAL_TABLES.executions]: executionsTableShape,
      [LOCAL_TABLES.releasePipelines]: releasePipelinesTableShape,
    },
  );
  const machine = await startLocalReleaseMachine({
    pipelines: names.map((name) => ({
      name,
      durationMs: ending === "instant" ? 0 : null,
      outcome: "Succeeded" as const,
    })),
    manifestRules: { maxPipelines: Math.max(pipelines, 5) },
    retryPauseMs: 5,
    onDynamoClient: (client, endpoint) => meter.attach(client, endpoint),
  });
  try {
    const releaseId = `units-${pipelines}`;
    const submitted = machine.submit({ releaseId, pipelines: names }).done;
    if (ending === "afterRecord") await finishRecorded(machine, releaseId, submitted);
    const done = await submitted;
    if (done.status !== "SUCCEEDED")
      throw new Error(`bench: metered release ended ${done.status}: ${done.cause}`);
    await machine.router.idle();
    return { units: meter.units(), byTable: Object.fromEntries(meter.byTable) };
  } finally {
    await machine.close();
    meter.close();
  }
}

export async function measureWriteUnits(): Promise<WriteUnitsPerPipeline> {
  const five = await meterRelease(5);
  const large = await meterRelease(500);
  const recorded = await meterRelease(500, "afterRecord");
  const per = (units: number, n: number) => Math.round((units / n) * 100) / 100;
  return {
    p5: per(five.units, 5),
    p500: per(large.units, 500),
    detail500: large.byTable,
    p500Recorded: per(recorded.units, 500),
    detail500Recorded: recorded.byTable,
  };
}

if (require.main === module) {
  measureWriteUnits().then(
    (r) => {
      process.stdout.write(`${JSON.stringify(r, null, 2)}\n`);
      process.exit();
    },
    (error: unknown) => {
      process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
      process.exit(1);
    },
  );
}
