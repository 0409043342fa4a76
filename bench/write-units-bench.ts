/**
 * DynamoDB write units per pipeline of one release, metered as AWS bills them (bench/write-units.ts)
 * on the local release machine: a release of 5 and one of 500 pipelines that take no time, every
 * write of the handlers and of the workflow's own DynamoDB states included, from submission to the
 * recorded outcome.
 */
import { executionsTableShape, releasePipelinesTableShape, releasesTableShape } from "../contract/tables";
import {
  LOCAL_CREDENTIALS,
  LOCAL_REGION,
  LOCAL_TABLES,
  startLocalReleaseMachine,
} from "../local/release-machine";
import { pipelineNames } from "./simulation";
import { WriteUnitMeter } from "./write-units";

export interface WriteUnitsPerPipeline {
  p5: number;
  p500: number;
  /** Units by table (table and index units apart) of the 500-pipeline release. */
  detail500: Record<string, { table: number; indexes: number }>;
}

/** Write units of one release of `pipelines` pipelines, by table. */
export async function meterRelease(
  pipelines: number,
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
    pipelines: names.map((name) => ({ name, durationMs: 0, outcome: "Succeeded" as const })),
    manifestRules: { maxPipelines: Math.max(pipelines, 5) },
    retryPauseMs: 5,
    onDynamoClient: (client, endpoint) => meter.attach(client, endpoint),
  });
  try {
    const done = await machine.submit({ releaseId: `units-${pipelines}`, pipelines: names }).done;
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
  const per = (units: number, n: number) => Math.round((units / n) * 100) / 100;
  return { p5: per(five.units, 5), p500: per(large.units, 500), detail500: large.byTable };
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
