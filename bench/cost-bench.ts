/**
 * The cost of one release of 50 pipelines that run 60 minutes (simulated time: the harness's
 * virtual clock, bench/simulation.ts), for ours and for the polling baseline, from counts metered
 * on the local run (bench/cost.ts) times the published prices.
 */
import { executionsTableShape, releasePipelinesTableShape, releasesTableShape } from "../contract/tables";
import { LOCAL_CREDENTIALS, LOCAL_REGION, LOCAL_TABLES } from "../local/release-machine";
import { BaselineBench } from "./baseline-bench";
import { type BilledCounts, LAMBDA_MEMORY_GB, LambdaClock, ReadUnitMeter, costUsd } from "./cost";
import { type BenchMeter, OursBench } from "./ours-bench";
import type { CellSpec } from "./simulation";
import { WriteUnitMeter } from "./write-units";

export interface DesignCost {
  counts: BilledCounts;
  usd: number;
  status: string;
  /** Invocations the harness could not time (pipeline-event deliveries), billed at the timed mean. */
  untimedInvocations: number;
}

export interface ReleaseCost {
  label: string;
  ours: DesignCost;
  baseline: DesignCost;
}

interface Meters extends BenchMeter {
  writes: WriteUnitMeter;
  reads: ReadUnitMeter;
}

function meters(): Meters {
  const writes = new WriteUnitMeter(
    { region: LOCAL_REGION, credentials: LOCAL_CREDENTIALS },
    {
      [LOCAL_TABLES.releases]: releasesTableShape,
      [LOCAL_TABLES.executions]: executionsTableShape,
      [LOCAL_TABLES.releasePipelines]: releasePipelinesTableShape,
    },
  );
  const reads = new ReadUnitMeter();
  return {
    writes,
    reads,
    clock: new LambdaClock(),
    onDynamoClient: (client, endpoint) => {
      writes.attach(client, endpoint);
      reads.attach(client);
    },
  };
}

/** One design's bill from its run and its meters. */
function billed(
  m: Meters,
  run: { transitions: number; lambdaInvocations: number; status: string },
  eventBridgeEvents: number,
): DesignCost {
  const untimed = Math.max(0, run.lambdaInvocations - m.clock.invocations);
  const counts: BilledCounts = {
    transitions: run.transitions,
    lambdaInvocations: run.lambdaInvocations,
    lambdaGbSeconds: m.clock.gbSeconds() + (untimed * m.clock.meanMs() * LAMBDA_MEMORY_GB) / 1000,
    dynamoWriteUnits: m.writes.units(),
    dynamoReadUnits: m.reads.units,
    eventBridgeEvents,
  };
  return { counts, usd: costUsd(counts), status: run.status, untimedInvocations: untimed };
}

/** Both designs' cost of the release `spec` describes, each on a fresh, metered machine. */
export async function measureReleaseCost(spec: CellSpec): Promise<ReleaseCost> {
  const oursMeters = meters();
  const ours = await OursBench.start(oursMeters);
  let oursCost: DesignCost;
  try {
    const run = await ours.runCell(spec);
    oursCost = billed(oursMeters, run, ours.eventsPut());
  } finally {
    await ours.close();
    oursMeters.writes.close();
  }
  const baseMeters = meters();
  const baseline = await BaselineBench.start(baseMeters);
  let baselineCost: DesignCost;
  try {
    // The baseline publishes no events of its own.
    baselineCost = billed(baseMeters, await baseline.run(spec), 0);
  } finally {
    await baseline.close();
    baseMeters.writes.close();
  }
  return { label: `${spec.pipelines}×${spec.duration.label}`, ours: oursCost, baseline: baselineCost };
}
