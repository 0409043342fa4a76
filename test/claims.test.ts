/**
 * Start claims that cannot be stolen (docs/architecture.md, "Races"): a claim expires only after
 * every function that can hold one has timed out, and a claimant whose claim was taken over
 * records nothing, against dynalite and a CodePipeline fake whose answers the test releases.
 */
import assert from "node:assert/strict";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import type { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import type { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { PutCommand } from "@aws-sdk/lib-dynamodb";
import { CLAIMING_FUNCTIONS, FUNCTION_TIMEOUT_SECONDS } from "../contract/function-timeouts";
import { RELEASE_CHANGES } from "../contract/lifecycle";
import { documentClient } from "../handlers/clients";
import type { ExecutionDeps } from "../handlers/executions";
import { changeRelease } from "../handlers/lifecycle-store";
import { STUCK_START_SECONDS, startClaimed } from "../handlers/release/progress";
import { resumeStuckStarts } from "../handlers/release/reconcile-schedule";
import { readPipeline, readReleaseItem } from "../handlers/release/reads";
import type { LocalDynamo } from "../local/dynamodb";
import { startReleaseTables, stopReleaseTables } from "./local-helpers";

const tables = { releases: "releases", executions: "executions", releasePipelines: "release-pipelines" };
const T0 = Date.parse("2026-12-07T10:00:00.000Z");

/** A promise and its resolvers, so the test decides when an answer arrives. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve: (v: T) => void = () => undefined;
  let reject: (e: unknown) => void = () => undefined;
  const promise = new Promise<T>((res, rej) => ([resolve, reject] = [res, rej]));
  return { promise, resolve, reject };
}

describe("start claims", () => {
  let dynamo: LocalDynamo;
  let raw: DynamoDBClient;

  before(async () => {
    ({ dynamo, raw } = await startReleaseTables(tables));
  });
  after(() => stopReleaseTables({ dynamo, raw }));

  it("expire only after the longest timeout of the functions that claim starts, plus a margin", () => {
    // An approval (releaseControl) takes a claim it never starts: pipelineEvent takes it over.
    assert.deepEqual([...CLAIMING_FUNCTIONS].sort(), ["pipelineEvent", "reconciler", "registerRelease"]);
    const longest = Math.max(...CLAIMING_FUNCTIONS.map((f) => FUNCTION_TIMEOUT_SECONDS[f]));
    assert.equal(longest, FUNCTION_TIMEOUT_SECONDS.reconciler);
    assert.ok(STUCK_START_SECONDS > longest, `${STUCK_START_SECONDS} s against ${longest} s`);
  });

  /**
   * A running release with one pipeline claimed by `claim` at `since`; `starts` answers each
   * StartPipelineExecution in order, with the answers the test releases.
   */
  async function claimedStart(releaseId: string, claim: string, since: string) {
    const ddb = documentClient(raw);
    await changeRelease({ ddb, tables }, releaseId, RELEASE_CHANGES.register, {
      fields: {
        executionArn: `arn:aws:states:us-east-1:0:execution:m:${releaseId}`,
        startedAt: since,
        source: "api",
        attempt: 1,
        failurePolicy: "stopRemaining",
        pipelineCount: 1,
        pipelineTimeoutSeconds: 3600,
        submittedBy: "tester",
        listed: "release",
        schedulePending: `arn:aws:states:us-east-1:0:execution:m:${releaseId}`,
      },
    });
    const item = {
      releaseId,
      pipeline: "svc-a",
      order: 0,
      dependsOn: [],
      dependants: [],
      status: "Starting" as const,
      claimedBy: claim,
      startingSince: since,
    };
    await ddb.send(new PutCommand({ TableName: tables.releasePipelines, Item: item }));
    return item;
  }

  function depsAt(now: () => number, send: (name: string) => Promise<unknown>): ExecutionDeps {
    const client = <T>(answer: (name: string) => Promise<unknown>): T =>
      ({ send: (command: { constructor: { name: string } }) => answer(command.constructor.name) }) as T;
    return {
      ddb: documentClient(raw),
      codepipeline: client<CodePipelineClient>(send),
      sfn: client<SFNClient>(async (name) => assert.fail(`unexpected ${name}`)),
      events: client<EventBridgeClient>(async () => ({ FailedEntryCount: 0 })),
      tables,
      now: () => new Date(now()),
    };
  }

  it("are not taken over while the claimant's longest timeout has not passed", async () => {
    const releaseId = "claims-young";
    // A year on from the other tests' clock, so their reconciler passes do not find this claim.
    const since = T0 + 365 * 24 * 3600 * 1000;
    await claimedStart(releaseId, "claimant-a", new Date(since).toISOString());
    // Past the old five-minute threshold, within the reconciler's own 600-second timeout.
    const deps = depsAt(
      () => since + 301_000,
      async (name) => assert.fail(`unexpected ${name}`),
    );

    assert.equal(await resumeStuckStarts(deps), 0);
    assert.equal((await readPipeline(deps, releaseId, "svc-a"))?.claimedBy, "claimant-a");
  });

  it("keeps the new claimant's start when the claimant it took over fails its start afterwards", async () => {
    const releaseId = "claims-taken-over";
    const item = await claimedStart(releaseId, "claimant-a", new Date(T0).toISOString());
    let now = T0;
    const firstAnswer = deferred<unknown>();
    const takeoverAnswer = deferred<unknown>();
    const answers = [firstAnswer.promise, takeoverAnswer.promise];
    const sent: string[] = [];
    const deps = depsAt(
      () => now,
      (name) => {
        sent.push(name);
        return answers[sent.length - 1] ?? assert.fail(`unexpected ${name}`);
      },
    );

    // Claimant A sends its start and hangs; past the expiry the reconciler takes the claim over.
    const claimantA = startClaimed(deps, item);
    await new Promise((resolve) => setImmediate(resolve));
    now = T0 + (STUCK_START_SECONDS + 1) * 1000;
    const reconciler = resumeStuckStarts(deps);
    while (sent.length < 2) await new Promise((resolve) => setImmediate(resolve));
    assert.notEqual((await readPipeline(deps, releaseId, "svc-a"))?.claimedBy, "claimant-a");

    // A's start is refused for good while the new claimant's is in flight: A records nothing.
    firstAnswer.reject(Object.assign(new Error("bad request"), { name: "ValidationException" }));
    await claimantA;
    const afterA = await readPipeline(deps, releaseId, "svc-a");
    assert.equal(afterA?.status, "Starting");
    assert.equal((await readReleaseItem(deps, releaseId))?.firstFailure, undefined);

    takeoverAnswer.resolve({ pipelineExecutionId: "exec-new" });
    assert.equal(await reconciler, 1);
    const pipeline = await readPipeline(deps, releaseId, "svc-a");
    assert.deepEqual([pipeline?.status, pipeline?.pipelineExecutionId], ["Started", "exec-new"]);
    const release = await readReleaseItem(deps, releaseId);
    assert.equal(release?.firstFailure, undefined);
    assert.equal(release?.settledCount ?? 0, 0);
  });
});
