/**
 * What one release costs on AWS, from counts measured on the local run and the published
 * us-east-1 on-demand prices (each cited in bench/RESULTS.md by `PRICES[...].url`).
 *
 * Counted: Step Functions standard state transitions (the engine's count), Lambda requests and
 * GB-seconds (each invocation's measured duration, rounded up to 1 ms, at the function's configured
 * memory), DynamoDB write request units (bench/write-units.ts: item size per 1 KB, every index copy)
 * and read request units (DynamoDB's own ConsumedCapacity, asked for on every read), and the custom
 * events put on EventBridge. Not counted, the same for both designs: the pipelines themselves
 * (CodePipeline bills per pipeline or action-minute, not per API call), the one API request that
 * submits the release, and logs.
 */
import type { DynamoDBClient } from "@aws-sdk/client-dynamodb";

export interface Price {
  usd: number;
  per: string;
  url: string;
}

/** us-east-1 on-demand prices. */
export const PRICES = {
  stateTransition: {
    usd: 0.025 / 1000,
    per: "state transition (Standard workflows)",
    url: "https://aws.amazon.com/step-functions/pricing/",
  },
  lambdaRequest: { usd: 0.2 / 1e6, per: "Lambda request", url: "https://aws.amazon.com/lambda/pricing/" },
  lambdaGbSecond: {
    usd: 0.0000133334,
    per: "Lambda GB-second (Arm, first 7.5 billion GB-s a month)",
    url: "https://aws.amazon.com/lambda/pricing/",
  },
  dynamoWriteUnit: {
    usd: 0.625 / 1e6,
    per: "DynamoDB on-demand write request unit (Standard table class)",
    url: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
  },
  dynamoReadUnit: {
    usd: 0.125 / 1e6,
    per: "DynamoDB on-demand read request unit (Standard table class)",
    url: "https://aws.amazon.com/dynamodb/pricing/on-demand/",
  },
  eventBridgeEvent: {
    usd: 1 / 1e6,
    per: "EventBridge custom event published (64 KB chunk)",
    url: "https://aws.amazon.com/eventbridge/pricing/",
  },
} as const satisfies Record<string, Price>;

/** Both designs' functions, as deployed: infra/functions.ts sets 256 MB on every function. */
export const LAMBDA_MEMORY_GB = 256 / 1024;

/** What one release is billed for. */
export interface BilledCounts {
  transitions: number;
  lambdaInvocations: number;
  lambdaGbSeconds: number;
  dynamoWriteUnits: number;
  dynamoReadUnits: number;
  eventBridgeEvents: number;
}

/** The release's cost in USD: each count times its price. */
export function costUsd(c: BilledCounts): number {
  return (
    c.transitions * PRICES.stateTransition.usd +
    c.lambdaInvocations * PRICES.lambdaRequest.usd +
    c.lambdaGbSeconds * PRICES.lambdaGbSecond.usd +
    c.dynamoWriteUnits * PRICES.dynamoWriteUnit.usd +
    c.dynamoReadUnits * PRICES.dynamoReadUnit.usd +
    c.eventBridgeEvents * PRICES.eventBridgeEvent.usd
  );
}

/** Lambda durations as billed: each invocation rounded up to 1 ms, at the configured memory. */
export class LambdaClock {
  private billedMs = 0;
  invocations = 0;

  async time<T>(work: () => Promise<T>): Promise<T> {
    const start = process.hrtime.bigint();
    try {
      return await work();
    } finally {
      this.add(Number(process.hrtime.bigint() - start) / 1e6);
    }
  }

  add(ms: number): void {
    this.invocations += 1;
    this.billedMs += Math.max(1, Math.ceil(ms));
  }

  gbSeconds(memoryGb = LAMBDA_MEMORY_GB): number {
    return (this.billedMs / 1000) * memoryGb;
  }

  /** The mean billed duration of the timed invocations (ms). */
  meanMs(): number {
    return this.invocations === 0 ? 0 : this.billedMs / this.invocations;
  }
}

const READS = new Set([
  "GetItemCommand",
  "QueryCommand",
  "ScanCommand",
  "BatchGetItemCommand",
  "GetCommand",
  "BatchGetCommand",
]);

type Consumed = { CapacityUnits?: number } | { CapacityUnits?: number }[] | undefined;

/**
 * Read request units as DynamoDB reports them: every read asks for ReturnConsumedCapacity TOTAL
 * and the answer's CapacityUnits are summed (an eventually consistent read of up to 4 KB is half a
 * unit: https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/read-write-operations.html).
 */
export class ReadUnitMeter {
  units = 0;

  attach(client: DynamoDBClient): void {
    client.middlewareStack.add(
      (next, context) => async (args) => {
        if (!READS.has(String(context.commandName))) return next(args);
        const input = args.input as Record<string, unknown>;
        input.ReturnConsumedCapacity ??= "TOTAL";
        const result = await next(args);
        const consumed = (result.output as { ConsumedCapacity?: Consumed }).ConsumedCapacity;
        for (const c of Array.isArray(consumed) ? consumed : consumed ? [consumed] : [])
          this.units += c.CapacityUnits ?? 0;
        return result;
      },
      { step: "initialize", name: "benchReadUnitMeter" },
    );
  }
}
