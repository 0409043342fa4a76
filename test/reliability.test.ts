/**
 * Reliability of the whole local release machine: a battery of bad manifests through the API and
 * the bucket, duplicate storms, and faults injected through the stand-ins. Every check looks at
 * what was recorded and started (dynalite, the CodePipeline stand-in, the engine), not only at
 * the answer, and the run ends with one summary line of what it proved.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ScanCommand } from "@aws-sdk/lib-dynamodb";
import type { ExecutionItem } from "../handlers/executions";
import { clientRequestToken } from "../contract/manifest";
import type { ReleaseStatusView } from "../contract/release-view";
import type { ExecutionRecord } from "../local/codepipeline-service";
import type { LocalExecution } from "../local/engine";
import type { EventEnvelope } from "../local/event-router";
import {
  type LocalReleaseMachine,
  type LocalReleaseMachineOptions,
  startLocalReleaseMachine,
} from "../local/release-machine";
import { S3RVER_CREDENTIALS } from "../local/s3";
import { LOCAL_BUCKET, type LocalServer, startLocalServer } from "../local/server";
import { finished, holdDeliveries, localPipelines, newReleaseId, until } from "./local-helpers";
import {
  BAD_CONTROL_REQUESTS,
  BAD_INPUTS,
  type BadControlRequest,
  type BadInput,
  RELIABILITY_ALLOW_LIST,
} from "./reliability-cases";

/** Keys of this run's uploads, apart from earlier runs' in a reused bucket. */
const RUN = Date.now().toString(36);

const PIPELINES = localPipelines(
  { "svc-a": 20, "svc-b": 40, "svc-c": 30, "svc-manual": null, "svc-fails": 30 },
  ["svc-fails"],
);

/** What the summary line reports, counted as the tests run. */
const tally = { badInputs: 0, leaks: 0, storms: 0, stormReleases: 0, faults: 0, correctOutcomes: 0 };

type Intercept = NonNullable<LocalReleaseMachineOptions["interceptFunction"]>;
type Answer = { status: number; body: Record<string, unknown> };

async function scanAll(machine: LocalReleaseMachine, table: string): Promise<Record<string, unknown>[]> {
  const items: Record<string, unknown>[] = [];
  let startKey: Record<string, unknown> | undefined;
  do {
    const page = await machine.deps.ddb.send(
      new ScanCommand({ TableName: table, ExclusiveStartKey: startKey }),
    );
    items.push(...(page.Items ?? []));
    startKey = page.LastEvaluatedKey;
  } while (startKey);
  return items;
}

const executionItems = async (machine: LocalReleaseMachine) =>
  (await scanAll(machine, machine.tables.executions)) as unknown as ExecutionItem[];

/** The stand-in's executions of one release's pipeline, found by the start token only that release uses. */
function startsOf(machine: LocalReleaseMachine, releaseId: string, pipeline: string): ExecutionRecord[] {
  const token = clientRequestToken(releaseId, pipeline);
  return machine.codepipeline.executions(pipeline).filter((e) => e.clientRequestToken === token);
}

/** Each pipeline's name, status and recorded states, in manifest order. */
const historyOf = (release: ReleaseStatusView | undefined) =>
  release?.pipelines.map((p) => [p.name, p.status, p.history.map((h) => h.state)]);

async function endedRelease(machine: LocalReleaseMachine, releaseId: string): Promise<ReleaseStatusView> {
  const release = await until(`release ${releaseId} to end`, async () => {
    const found = await machine.readRelease(releaseId);
    return found && found.status !== "RUNNING" ? found : undefined;
  });
  await machine.router.idle();
  return (await machine.readRelease(releaseId)) ?? release;
}

/**
 * The release ran once: exactly one execution per pipeline in the stand-in (by its start token),
 * each recorded in the Executions table with its whole history, and no waiter left behind.
 */
async function assertRanOnce(machine: LocalReleaseMachine, releaseId: string, pipelines: string[]) {
  for (const pipeline of pipelines) {
    assert.equal(startsOf(machine, releaseId, pipeline).length, 1, `${pipeline} started exactly once`);
  }
  const items = (await executionItems(machine)).filter((i) => i.releaseId === releaseId);
  assert.deepEqual(items.map((i) => i.pipeline).sort(), [...pipelines].sort(), "one Executions item each");
  const schedule = await machine.readRelease(releaseId);
  assert.deepEqual(
    schedule?.pipelines.filter((p) => p.status === "Started" || p.status === "InProgress").map((p) => p.name),
    [],
    "no pipeline is left waiting for its end",
  );
}

/** Each of `pipelines` (in order) started once and went STARTED -> SUCCEEDED; no waiter is left. */
async function assertRanCleanly(machine: LocalReleaseMachine, releaseId: string, pipelines: string[]) {
  assert.deepEqual(
    historyOf(await machine.readRelease(releaseId)),
    pipelines.map((pipeline) => [pipeline, "Succeeded", ["STARTED", "SUCCEEDED"]]),
  );
  await assertRanOnce(machine, releaseId, pipelines);
}

/** The release SUCCEEDED and each of `pipelines` ran cleanly. */
async function assertCleanSuccess(
  machine: LocalReleaseMachine,
  release: ReleaseStatusView,
  pipelines: string[],
) {
  assert.equal(release.status, "SUCCEEDED", release.cause);
  await assertRanCleanly(machine, release.releaseId, pipelines);
}

/** POST /releases with `manifest` as its JSON body. */
function postManifest(
  serverUrl: string,
  manifest: { releaseId: string; pipelines: string[] },
): Promise<Response> {
  return fetch(`${serverUrl}/releases`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(manifest),
  });
}

function faultTest(title: string, body: () => Promise<void>): void {
  it(title, async () => {
    tally.faults += 1;
    await body();
    tally.correctOutcomes += 1;
  });
}

describe("reliability: bad input, duplicate storms and injected faults", function () {
  this.timeout(30_000);
  let dataDir: string;
  let server: LocalServer;
  let machine: LocalReleaseMachine;
  let s3: S3Client;

  const post = async (body: string | Buffer): Promise<Answer> => {
    const response = await fetch(`${server.url}/releases`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: typeof body === "string" ? body : new Uint8Array(body),
    });
    const text = await response.text();
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      parsed = { text };
    }
    return { status: response.status, body: parsed };
  };
  const put = (key: string, body: string | Buffer) =>
    s3.send(
      new PutObjectCommand({
        Bucket: LOCAL_BUCKET,
        Key: key,
        Body: body,
        ContentLength: Buffer.byteLength(body),
      }),
    );
  const executionsSince = (count: number) => machine.engine.listExecutions().slice(count);

  before(async () => {
    assert.deepEqual(
      PIPELINES.map((p) => p.name),
      RELIABILITY_ALLOW_LIST,
      "the battery is judged against this server's allow-list",
    );
    dataDir = mkdtempSync(path.join(tmpdir(), "rm-reliability-"));
    server = await startLocalServer({
      port: 0,
      s3Port: 0,
      dataDir,
      pipelines: PIPELINES,
      retryPauseMs: 5,
      reconcileEveryMs: 3_600_000,
    });
    machine = server.machine;
    s3 = new S3Client({
      endpoint: server.s3Endpoint,
      region: "us-east-1",
      credentials: S3RVER_CREDENTIALS,
      forcePathStyle: true,
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
    });
  });

  afterEach(() => {
    machine.router.intercept = undefined;
    machine.codepipeline.faults.clear();
  });

  after(async () => {
    s3?.destroy();
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
    console.log(
      `reliability: ${tally.badInputs} bad inputs rejected, ${tally.leaks} leaks; ` +
        `${tally.storms} storms → ${tally.stormReleases} releases; ` +
        `${tally.faults} faults → ${tally.correctOutcomes} correct outcomes`,
    );
  });

  describe("a bad-input battery, through the API and through the bucket", () => {
    /** What a rejected manifest may leave behind: nothing but its REJECTED record. */
    interface Footprint {
      starts: number;
      pipelineExecutions: number;
      executionItems: number;
      /** Releases items other than rejection records (REJECTED), as "releaseId STATUS". */
      releases: string[];
      engineExecutions: number;
    }

    async function footprint(): Promise<Footprint> {
      const releases = (await scanAll(machine, machine.tables.releases))
        .filter((item) => item.status !== "REJECTED")
        .map((item) => `${String(item.releaseId)} ${String(item.status)}`);
      return {
        starts: machine.codepipeline.callCount("StartPipelineExecution"),
        pipelineExecutions: machine.codepipeline.executions().length,
        executionItems: (await executionItems(machine)).length,
        releases,
        engineExecutions: machine.engine.listExecutions().length,
      };
    }

    /** Everything a rejection changed beyond `expectedExecutions` new (failed) engine executions. */
    function leaksBetween(before: Footprint, after: Footprint, expectedExecutions: number): string[] {
      const leaks: string[] = [];
      const grew = (what: string, from: number, to: number) => {
        if (to !== from) leaks.push(`${what} went from ${from} to ${to}`);
      };
      grew("StartPipelineExecution calls", before.starts, after.starts);
      grew("CodePipeline executions", before.pipelineExecutions, after.pipelineExecutions);
      grew("Executions table items", before.executionItems, after.executionItems);
      grew("engine executions", before.engineExecutions + expectedExecutions, after.engineExecutions);
      for (const release of after.releases.filter((r) => !before.releases.includes(r))) {
        leaks.push(`a release was recorded: ${release}`);
      }
      return leaks;
    }

    function assertNoLeaks(leaks: string[], path: string): void {
      tally.leaks += leaks.length;
      assert.deepEqual(leaks, [], `the ${path} path left something behind`);
    }

    /** The problems an InvalidManifest message lists: "path: message [rule]; path: message [rule]". */
    function problemsIn(message: string): { path: string; rule: string }[] {
      return message
        .split(/; (?=\(manifest\): |\/\S*: )/)
        .map((part) => /^(\(manifest\)|\/\S*): [\s\S]* \[(\w+)\]$/.exec(part))
        .filter((match): match is RegExpExecArray => match !== null)
        .map(([, where, rule]) => ({ path: where === "(manifest)" ? "" : where, rule }));
    }

    async function rejectionRecordOf(key: string): Promise<Record<string, unknown>> {
      const records = await until(`the rejection of s3://${LOCAL_BUCKET}/${key} to be recorded`, async () => {
        const found = (await scanAll(machine, machine.tables.releases)).filter(
          (item) =>
            item.status === "REJECTED" && String(item.source).startsWith(`s3://${LOCAL_BUCKET}/${key}`),
        );
        return found.length > 0 ? found : undefined;
      });
      assert.equal(records.length, 1, `one rejection record for ${key}`);
      return records[0];
    }

    BAD_INPUTS.forEach((input: BadInput, index) => {
      const named = `${input.path === "" ? "the manifest" : input.path} and the rule ${input.rule}`;
      it(`rejects ${input.name}, naming ${named}, and starts nothing`, async () => {
        const expected = { path: input.path, rule: input.rule };
        const before = await footprint();

        const answer = await post(input.body);
        assert.ok(answer.status >= 400 && answer.status < 500, `a 4xx, got ${JSON.stringify(answer)}`);
        assert.equal(answer.body.error, "InvalidManifest");
        const problems = (answer.body.problems ?? []) as { path: string; rule: string; message: string }[];
        assert.ok(
          problems.some((p) => p.path === expected.path && p.rule === expected.rule && p.message !== ""),
          `the API names ${named}: ${JSON.stringify(problems)}`,
        );
        const afterApi = await footprint();
        assertNoLeaks(leaksBetween(before, afterApi, 0), "API");

        const key = `reliability/${RUN}/bad-${String(index).padStart(3, "0")}.json`;
        await put(key, input.body);
        const record = await rejectionRecordOf(key);
        assert.equal(record.errorName, "InvalidManifest");
        const cause = String(record.cause);
        assert.ok(
          problemsIn(cause).some((p) => p.path === expected.path && p.rule === expected.rule),
          `the rejection's cause names ${named}: ${cause.slice(0, 500)}`,
        );
        const recorded = record.problems as { path: string; rule: string }[];
        assert.ok(
          recorded.some((p) => p.path === expected.path && p.rule === expected.rule),
          `the rejection record lists ${named}: ${JSON.stringify(recorded).slice(0, 500)}`,
        );
        assert.doesNotMatch(cause, /\n\s+at |\/work\/|node_modules/, "no stack trace or local path");
        const execution = machine.engine
          .listExecutions()
          .find((e) => (e.input as { key?: string }).key === key);
        assert.ok(execution, "the upload started one execution");
        const done = await finished(machine, execution);
        assert.deepEqual([done.status, done.error], ["FAILED", "InvalidManifest"]);
        assert.equal(record.executionArn, done.executionArn);
        assertNoLeaks(leaksBetween(afterApi, await footprint(), 1), "S3");

        tally.badInputs += 1;
      });
    });
  });

  describe("a bad-input battery for the release-control routes", () => {
    const running = newReleaseId("control-running");
    const ended = newReleaseId("control-ended");
    const rejected = newReleaseId("control-rejected");

    before(async () => {
      await post(
        JSON.stringify({
          releaseId: running,
          pipelines: [{ name: "svc-manual", approval: { approvers: ["local-user", "bob"] } }],
        }),
      );
      await post(JSON.stringify({ releaseId: ended, pipelines: ["svc-a"] }));
      // Rejected by the workflow, past the API: a pipeline listed twice.
      machine.start({
        source: "api",
        body: JSON.stringify({ releaseId: rejected, pipelines: ["svc-a", "svc-a"] }),
      });
      await until("the gate to wait", async () =>
        (await machine.readRelease(running))?.pipelines[0]?.status === "AwaitingApproval" ? true : undefined,
      );
      await until("the other release to end", async () =>
        (await machine.readRelease(ended))?.status === "SUCCEEDED" ? true : undefined,
      );
      await until("the submission to be rejected", async () =>
        (await machine.readRelease(rejected))?.status === "REJECTED" ? true : undefined,
      );
    });

    /** Everything a refused request must leave as it was. */
    async function state() {
      return {
        releases: await Promise.all([running, ended, rejected].map((id) => machine.readRelease(id))),
        starts: machine.codepipeline.callCount("StartPipelineExecution"),
        engineExecutions: machine.engine.listExecutions().length,
      };
    }

    BAD_CONTROL_REQUESTS.forEach((request: BadControlRequest) => {
      it(`refuses ${request.name} with ${request.status} ${request.error}, changing nothing`, async () => {
        const before = await state();
        const url = `${server.url}${request.path.replace("RUNNING", running).replace("ENDED", ended).replace("REJECTED", rejected)}`;
        const response = await fetch(url, {
          method: request.method,
          headers: {
            ...(request.body !== undefined
              ? { "content-type": request.contentType ?? "application/json" }
              : {}),
            ...(request.user ? { "x-release-machine-user": request.user } : {}),
          },
          ...(request.body !== undefined ? { body: request.body } : {}),
        });
        const body = (await response.json()) as {
          error?: string;
          message?: string;
          problems?: { path: string; rule: string }[];
        };
        assert.deepEqual(
          [response.status, body.error],
          [request.status, request.error],
          JSON.stringify(body),
        );
        assert.ok(body.message && body.message.length > 10, "the refusal says why in words");
        if (request.problem) {
          assert.ok(
            body.problems?.some((p) => p.path === request.problem?.path && p.rule === request.problem.rule),
            `names ${request.problem.path} and ${request.problem.rule}: ${JSON.stringify(body.problems)}`,
          );
        }
        tally.badInputs += 1;
        assert.deepEqual(await state(), before);
      });
    });
  });

  describe("duplicate storms", () => {
    const PAIR = ["svc-a", "svc-b"];

    /**
     * After a storm of one releaseId: exactly one execution won and ran the release, every other
     * one failed DuplicateRelease, and each pipeline started exactly once.
     */
    async function assertOneRelease(releaseId: string, storm: LocalExecution[], startsBefore: number) {
      const release = await endedRelease(machine, releaseId);
      const ended = await Promise.all(storm.map((e) => finished(machine, e)));
      const winners = ended.filter((e) => e.status === "SUCCEEDED");
      tally.stormReleases += winners.length;
      assert.equal(
        winners.length,
        1,
        `one execution ran the release: ${JSON.stringify(ended.map((e) => e.status))}`,
      );
      assert.deepEqual(
        ended.filter((e) => e !== winners[0]).map((e) => [e.status, e.error]),
        ended.slice(1).map(() => ["FAILED", "DuplicateRelease"]),
        "every other execution failed as a duplicate",
      );
      assert.equal(release.status, "SUCCEEDED");
      assert.equal(release.executionArn, winners[0].executionArn);
      assert.deepEqual(historyOf(release), [
        ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
      ]);
      await assertRanOnce(machine, releaseId, PAIR);
      assert.equal(machine.codepipeline.callCount("StartPipelineExecution") - startsBefore, PAIR.length);
      return winners[0];
    }

    /** The starts CodePipeline was asked for and the executions the engine ran, before a storm. */
    const countsBefore = () =>
      [
        machine.codepipeline.callCount("StartPipelineExecution"),
        machine.engine.listExecutions().length,
      ] as const;

    function assertApiAnswers(answers: Answer[], releaseId: string): void {
      for (const answer of answers) {
        assert.ok([202, 409].includes(answer.status), JSON.stringify(answer));
        if (answer.status === 409) {
          assert.equal(answer.body.error, "DuplicateRelease");
          assert.equal(answer.body.releaseId, releaseId);
        }
      }
    }

    it("runs a releaseId posted 20 times at once exactly once, answering each with its one execution or 409", async () => {
      tally.storms += 1;
      const releaseId = newReleaseId("storm-api");
      const [startsBefore, executionsBefore] = countsBefore();
      const body = JSON.stringify({ releaseId, pipelines: PAIR });

      const answers = await Promise.all(Array.from({ length: 20 }, () => post(body)));

      assertApiAnswers(answers, releaseId);
      const arns = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.executionArn));
      assert.equal(arns.size, 1, `every 202 names the same execution: ${[...arns].join(", ")}`);
      const winner = await assertOneRelease(releaseId, executionsSince(executionsBefore), startsBefore);
      assert.deepEqual([...arns], [winner.executionArn]);
    });

    it("runs a releaseId posted 10 times and uploaded 10 times at once exactly once", async () => {
      tally.storms += 1;
      const releaseId = newReleaseId("storm-mixed");
      const [startsBefore, executionsBefore] = countsBefore();
      const body = JSON.stringify({ releaseId, pipelines: PAIR });
      const keys = Array.from({ length: 10 }, (_, i) => `storms/${releaseId}/copy-${i}.json`);

      const [answers] = await Promise.all([
        Promise.all(Array.from({ length: 10 }, () => post(body))),
        Promise.all(keys.map((key) => put(key, body))),
      ]);

      assertApiAnswers(answers, releaseId);
      const arns = new Set(answers.filter((a) => a.status === 202).map((a) => a.body.executionArn));
      assert.ok(arns.size <= 1, `every 202 names the same (named) execution: ${[...arns].join(", ")}`);
      const uploads = await until("every upload to start its execution", () => {
        const started = executionsSince(executionsBefore).filter((e) =>
          keys.includes(String((e.input as { key?: string }).key)),
        );
        return started.length === keys.length ? started : undefined;
      });
      assert.equal(uploads.length, 10);
      await assertOneRelease(releaseId, executionsSince(executionsBefore), startsBefore);
    });

    it("runs a numeric releaseId posted 20 times at once exactly once (one named execution, as for a string id)", async () => {
      tally.storms += 1;
      const releaseId = String(Date.now() * 1000 + 7);
      const [startsBefore, executionsBefore] = countsBefore();
      const body = `{"releaseId": ${releaseId}, "pipelines": ${JSON.stringify(PAIR)}}`;

      const answers = await Promise.all(Array.from({ length: 20 }, () => post(body)));

      assertApiAnswers(answers, releaseId);
      const storm = executionsSince(executionsBefore);
      assert.equal(storm.length, 1, "one execution, which every 202 names");
      assert.deepEqual(new Set(answers.map((a) => a.body.executionArn)), new Set([storm[0].executionArn]));
      await assertOneRelease(releaseId, storm, startsBefore);
    });
  });

  describe("faults injected through the stand-ins", () => {
    const submit = async (releaseId: string, pipelines: string[]) => {
      const answer = await post(JSON.stringify({ releaseId, pipelines }));
      assert.equal(answer.status, 202, JSON.stringify(answer));
      return answer;
    };
    /** The next `times` starts of `pipeline` fail with `error` (with afterEffect, after starting it). */
    const failStarts = (
      pipeline: string,
      error: string,
      times: number,
      options: { afterEffect?: boolean } = {},
    ) =>
      machine.codepipeline.faults.inject({
        operation: "StartPipelineExecution",
        error,
        times,
        pipeline,
        ...options,
      });
    const stateEvents = (executionId: string) =>
      machine.router.published.filter(
        (e) =>
          e["detail-type"] === "CodePipeline Pipeline Execution State Change" &&
          e.detail["execution-id"] === executionId,
      );

    faultTest(
      "a burst of ThrottlingException on start: retried, SUCCEEDED, one start per pipeline (no double start)",
      async () => {
        const releaseId = newReleaseId("throttled");
        const startsBefore = machine.codepipeline.callCount("StartPipelineExecution");
        failStarts("svc-a", "ThrottlingException", 5);
        // A throttled call whose start took effect anyway: the retry must get the same execution back.
        failStarts("svc-b", "ThrottlingException", 2, { afterEffect: true });

        await submit(releaseId, ["svc-a", "svc-b"]);
        const release = await endedRelease(machine, releaseId);

        assert.equal(release.status, "SUCCEEDED", release.cause);
        assert.deepEqual(historyOf(release), [
          ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
          ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ]);
        assert.equal(machine.codepipeline.callCount("StartPipelineExecution") - startsBefore, 6 + 3);
        await assertRanOnce(machine, releaseId, ["svc-a", "svc-b"]);
      },
    );

    faultTest(
      "a burst of ConflictException on start that took effect (afterEffect): SUCCEEDED, no double start",
      async () => {
        const releaseId = newReleaseId("conflict");
        failStarts("svc-c", "ConflictException", 4, { afterEffect: true });

        await submit(releaseId, ["svc-c", "svc-a"]);
        const release = await endedRelease(machine, releaseId);

        await assertCleanSuccess(machine, release, ["svc-c", "svc-a"]);
      },
    );

    faultTest(
      "throttling beyond the retry budget: FAILED naming the pipeline, the others stopped, nothing started twice",
      async () => {
        const releaseId = newReleaseId("throttled-out");
        failStarts("svc-b", "ThrottlingException", 50);

        await submit(releaseId, ["svc-manual", "svc-b"]);
        const release = await endedRelease(machine, releaseId);

        assert.equal(release.status, "FAILED");
        assert.equal(release.error, "PipelineFailed");
        assert.match(release.cause ?? "", /^Pipeline svc-b could not start: ThrottlingException: /);
        assert.deepEqual(startsOf(machine, releaseId, "svc-b"), [], "svc-b never started");
        const [manual] = startsOf(machine, releaseId, "svc-manual");
        await until("svc-manual to be stopped", () => manual.status === "Stopped");
        await machine.router.idle();
        const after = await machine.readRelease(releaseId);
        assert.deepEqual(historyOf(after), [
          ["svc-manual", "Stopped", ["STARTED", "STOP_REQUESTED", "STOPPING", "STOPPED"]],
          ["svc-b", "Failed", []],
        ]);
        await assertRanOnce(machine, releaseId, ["svc-manual"]);
      },
    );

    faultTest(
      "terminal pipeline events dropped: the reconciler completes the release, SUCCEEDED with full history",
      async () => {
        const releaseId = newReleaseId("dropped");
        machine.router.intercept = (event, rule) =>
          rule === "pipeline-state-changed" && event.detail.state === "SUCCEEDED" ? "drop" : "deliver";

        await submit(releaseId, ["svc-a", "svc-b"]);
        const waiting = await until("both pipelines to end unnoticed while their waiters wait", async () => {
          // Their STARTED events delivered: the link to the release may be written before them.
          await machine.router.idle();
          const items = (await executionItems(machine)).filter((i) => i.releaseId === releaseId);
          // Their schedule names them (recorded Started): the reconciler's pass finds them there.
          const named = (await machine.readRelease(releaseId))?.pipelines.map((p) => p.pipelineExecutionId);
          const ended = items.filter(
            (i) =>
              named?.includes(i.pipelineExecutionId) &&
              startsOf(machine, releaseId, String(i.pipeline))[0]?.status === "Succeeded",
          );
          return ended.length === 2 ? ended : undefined;
        });
        assert.deepEqual(
          waiting.map((i) => i.status),
          ["InProgress", "InProgress"],
        );
        assert.equal((await machine.readRelease(releaseId))?.status, "RUNNING");

        const report = await machine.reconcile();

        assert.deepEqual(report.failures, []);
        assert.equal(report.completed, 2);
        const release = await endedRelease(machine, releaseId);
        await assertCleanSuccess(machine, release, ["svc-a", "svc-b"]);
      },
    );

    faultTest("every pipeline event delivered twice: SUCCEEDED, each state recorded once", async () => {
      const releaseId = newReleaseId("duplicated");
      machine.router.intercept = () => "duplicate";

      await submit(releaseId, ["svc-a", "svc-b", "svc-c"]);
      const release = await endedRelease(machine, releaseId);

      assert.equal(release.status, "SUCCEEDED", release.cause);
      assert.deepEqual(historyOf(release), [
        ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ["svc-c", "Succeeded", ["STARTED", "SUCCEEDED"]],
      ]);
      assert.deepEqual(machine.router.deliveryFailures, []);
      await assertRanOnce(machine, releaseId, ["svc-a", "svc-b", "svc-c"]);
    });

    faultTest(
      "events reordered (STARTED delivered after SUCCEEDED): SUCCEEDED, the terminal status kept, both states recorded",
      async () => {
        const releaseId = newReleaseId("reordered");
        const started = holdDeliveries(
          machine.router,
          (event, rule) => rule === "pipeline-state-changed" && event.detail.state === "STARTED",
        );

        await submit(releaseId, ["svc-a", "svc-b"]);
        await endedRelease(machine, releaseId);
        assert.equal(started.held.length, 2, "each pipeline's STARTED was held back");
        started.release();
        const release = await endedRelease(machine, releaseId);

        assert.equal(release.status, "SUCCEEDED", release.cause);
        const items = (await executionItems(machine)).filter((i) => i.releaseId === releaseId);
        for (const item of items) {
          // The late STARTED wrote nothing (the start record stands for it, handlers/executions.ts),
          // so it cannot reopen the end; the success is on the item, or on the schedule alone.
          assert.deepEqual(
            (item.history ?? []).map((h) => h.state).filter((state) => state !== "SUCCEEDED"),
            [],
            `${item.pipeline}: a late STARTED is not recorded over the end`,
          );
          assert.notEqual(item.status, "Started");
        }
        assert.deepEqual(
          release.pipelines.map((p) => [p.name, p.status, p.history.map((h) => h.state)]),
          [
            ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
            ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
          ],
        );
        await assertRanCleanly(machine, releaseId, ["svc-a", "svc-b"]);
      },
    );

    faultTest(
      "a late terminal event, then every event redelivered after the release ended: SUCCEEDED once, history unchanged",
      async () => {
        const releaseId = newReleaseId("late");
        const terminal = holdDeliveries(
          machine.router,
          (event, rule) =>
            rule === "pipeline-state-changed" &&
            event.detail.pipeline === "svc-b" &&
            event.detail.state === "SUCCEEDED",
        );

        await submit(releaseId, ["svc-a", "svc-b"]);
        const [b] = await until("svc-b to end in CodePipeline", () => {
          const found = startsOf(machine, releaseId, "svc-b");
          return found[0]?.status === "Succeeded" ? found : undefined;
        });
        await machine.router.idle();
        assert.equal(terminal.held.length, 1, "svc-b's SUCCEEDED was held back");
        assert.equal(
          (await machine.readRelease(releaseId))?.status,
          "RUNNING",
          "the release waits for the event",
        );
        terminal.release();
        const release = await endedRelease(machine, releaseId);
        assert.equal(release.status, "SUCCEEDED", release.cause);
        const before = historyOf(release);

        machine.router.intercept = undefined;
        const a = startsOf(machine, releaseId, "svc-a")[0];
        const redelivered = [...stateEvents(a.pipelineExecutionId), ...stateEvents(b.pipelineExecutionId)];
        assert.equal(redelivered.length, 4);
        for (const event of redelivered) machine.router.publish(structuredClone(event) as EventEnvelope);
        await machine.router.idle();

        assert.deepEqual(historyOf(await machine.readRelease(releaseId)), before);
        assert.deepEqual(before, [
          ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
          ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
        ]);
        assert.deepEqual(machine.router.deliveryFailures, []);
        await assertRanOnce(machine, releaseId, ["svc-a", "svc-b"]);
      },
    );

    describe("in the handlers", () => {
      let handlerMachine: LocalReleaseMachine;
      let inject: Intercept | undefined;
      const calls: { name: string; pipeline?: string }[] = [];

      before(async () => {
        handlerMachine = await startLocalReleaseMachine({
          pipelines: PIPELINES,
          // svc-gone is on the allow-list but missing from CodePipeline.
          allowedPipelines: [...RELIABILITY_ALLOW_LIST, "svc-gone"],
          retryPauseMs: 5,
          interceptFunction: (name, payload, invoke) => {
            calls.push({ name, pipeline: (payload as { pipeline?: string }).pipeline });
            return inject ? inject(name, payload, invoke) : invoke(payload);
          },
        });
      });
      after(async () => handlerMachine?.close());
      afterEach(() => {
        inject = undefined;
        calls.length = 0;
      });

      const named = (name: string, message: string) => Object.assign(new Error(message), { name });
      /** A fault test on the handler machine, with a fresh releaseId labelled `label`. */
      const handlerFault = (
        title: string,
        label: string,
        body: (m: LocalReleaseMachine, releaseId: string) => Promise<void>,
      ) => faultTest(title, () => body(handlerMachine, newReleaseId(label)));
      /** The next call of `fn` throws `error` instead of running (the first `times` calls); the rest run. */
      const throwFrom = (fn: string, error: Error, times = 1) => {
        let thrown = 0;
        inject = async (name, payload, invoke) => {
          if (name !== fn || thrown >= times) return invoke(payload);
          thrown += 1;
          throw error;
        };
        return { thrown: () => thrown };
      };
      const callsOf = (name: string, pipeline?: string) =>
        calls.filter((c) => c.name === name && (pipeline === undefined || c.pipeline === pipeline)).length;

      handlerFault(
        "PipelineNotFoundException mid-release: FAILED naming the missing pipeline, the others stopped",
        "gone",
        async (m, releaseId) => {
          // svc-gone starts once svc-c has succeeded, while svc-manual runs.
          const execution = await finished(
            m,
            m.submit({
              releaseId,
              pipelines: ["svc-manual", "svc-c", { name: "svc-gone", dependsOn: ["svc-c"] }],
            }),
          );

          assert.deepEqual([execution.status, execution.error], ["FAILED", "PipelineFailed"]);
          const release = await endedRelease(m, releaseId);
          assert.equal(release.status, "FAILED");
          assert.match(
            release.cause ?? "",
            /^Pipeline svc-gone could not start: PipelineNotFoundException: /,
          );
          const started = ["svc-manual", "svc-c"].flatMap((p) => startsOf(m, releaseId, p));
          assert.equal(started.length, 2, "each existing pipeline started once");
          await until("no pipeline of the failed release to be left running", () =>
            started.every((e) => e.status !== "InProgress" && e.status !== "Stopping"),
          );
          await m.router.idle();
          const view = await m.readRelease(releaseId);
          assert.deepEqual(historyOf(view), [
            ["svc-manual", "Stopped", ["STARTED", "STOP_REQUESTED", "STOPPING", "STOPPED"]],
            ["svc-c", "Succeeded", ["STARTED", "SUCCEEDED"]],
            ["svc-gone", "Failed", []],
          ]);
          await assertRanOnce(m, releaseId, ["svc-manual", "svc-c"]);
        },
      );

      // The race that once left a pipeline running unseen: the first failure used to fail the Map,
      // cancelling an iteration whose StartPipeline had returned but whose RecordStart had not run.
      // Now failed iterations end normally, pipelines queued for a slot check the release first, and
      // a waiter registered after the failure stops its own pipeline.
      faultTest(
        "a start in flight when another pipeline fails: that pipeline is stopped, none left running",
        async () => {
          const m = await startLocalReleaseMachine({
            pipelines: PIPELINES,
            allowedPipelines: [...RELIABILITY_ALLOW_LIST, "svc-gone"],
            retryPauseMs: 5,
          });
          try {
            const releaseId = newReleaseId("in-flight");
            const execution = await finished(
              m,
              m.submit({ releaseId, pipelines: ["svc-c", "svc-gone", "svc-manual"] }),
            );
            assert.equal(execution.status, "FAILED");
            assert.match(String(execution.cause), /svc-gone/);
            const [manual] = startsOf(m, releaseId, "svc-manual");
            await until("svc-manual to be stopped", () => !manual || manual.status === "Stopped", 2000);
            assert.ok(
              !m.codepipeline
                .executions()
                .some((e) => e.status === "InProgress" && startsOf(m, releaseId, e.pipeline).includes(e)),
              "no pipeline of the failed release is left running",
            );
          } finally {
            await m.close();
          }
        },
      );

      handlerFault(
        "DynamoDB throttling in the release's wait (ProvisionedThroughputExceededException once): retried, SUCCEEDED",
        "ddb-throttled",
        async (m, releaseId) => {
          const fault = throwFrom(
            "awaitRelease",
            named(
              "ProvisionedThroughputExceededException",
              "The level of configured provisioned throughput for the table was exceeded.",
            ),
          );

          const execution = await finished(m, m.submit({ releaseId, pipelines: ["svc-a", "svc-b"] }));

          assert.equal(execution.status, "SUCCEEDED", execution.cause);
          assert.equal(fault.thrown(), 1);
          assert.equal(callsOf("awaitRelease"), 2, "the throttled call was retried once");
          await assertRanCleanly(m, releaseId, ["svc-a", "svc-b"]);
        },
      );

      handlerFault(
        "a handler that throws a transient error once (Lambda.ServiceException in LoadManifest): retried, SUCCEEDED",
        "transient",
        async (m, releaseId) => {
          throwFrom(
            "loadManifest",
            named("Lambda.ServiceException", "Lambda was unable to run the function"),
          );

          const execution = await finished(m, m.submit({ releaseId, pipelines: ["svc-b"] }));

          assert.equal(execution.status, "SUCCEEDED", execution.cause);
          assert.equal(callsOf("loadManifest"), 2);
          await assertRanCleanly(m, releaseId, ["svc-b"]);
        },
      );

      handlerFault(
        "a handler that throws a non-transient error (TypeError in the release's wait): not retried, FAILED naming it, the rest stopped",
        "defect",
        async (m, releaseId) => {
          throwFrom(
            "awaitRelease",
            new TypeError("Cannot read properties of undefined (reading 'S')"),
            Infinity,
          );

          const execution = await finished(m, m.submit({ releaseId, pipelines: ["svc-manual", "svc-b"] }));

          assert.deepEqual([execution.status, execution.error], ["FAILED", "TypeError"]);
          assert.match(execution.cause ?? "", /Cannot read properties of undefined/);
          assert.equal(callsOf("awaitRelease"), 1, "a defect is not retried");
          const started = ["svc-manual", "svc-b"].flatMap((p) => startsOf(m, releaseId, p));
          await until("every pipeline of the failed release to end", () =>
            started.every((e) => e.status !== "InProgress" && e.status !== "Stopping"),
          );
          await m.router.idle();
          const release = await m.readRelease(releaseId);
          assert.equal(release?.status, "FAILED");
          assert.deepEqual(historyOf(release)?.[0], [
            "svc-manual",
            "Stopped",
            ["STARTED", "STOP_REQUESTED", "STOPPING", "STOPPED"],
          ]);
          await assertRanOnce(m, releaseId, ["svc-manual", "svc-b"]);
        },
      );
    });

    faultTest(
      "the local engine stopped mid-release and started again: the release is taken up where it stood, and a success it had not acted on reads Succeeded, from CodePipeline",
      async () => {
        const restartDir = mkdtempSync(path.join(tmpdir(), "rm-reliability-restart-"));
        const options = {
          port: 0,
          s3Port: 0,
          dataDir: restartDir,
          pipelines: PIPELINES,
          retryPauseMs: 5,
          reconcileEveryMs: 3_600_000,
        };
        let first: LocalServer | undefined = await startLocalServer(options);
        let second: LocalServer | undefined;
        try {
          const cutId = newReleaseId("cut");
          // svc-a's end reaches CodePipeline's record but never the stopped machine's handler.
          const held = holdDeliveries(
            first.machine.router,
            (event, rule) =>
              rule === "pipeline-state-changed" &&
              event.detail.pipeline === "svc-a" &&
              event.detail.state === "SUCCEEDED",
          );
          const answer = await postManifest(first.url, {
            releaseId: cutId,
            pipelines: ["svc-manual", "svc-a"],
          });
          assert.equal(answer.status, 202);
          const firstMachine = first.machine;
          const before = await until("svc-a to end unseen and svc-manual to run", async () => {
            const release = await firstMachine.readRelease(cutId);
            const [manual, a] = release?.pipelines ?? [];
            return held.held.length === 1 && a?.status === "InProgress" && manual?.status === "InProgress"
              ? release
              : undefined;
          });
          await first.close();
          first = undefined;

          second = await startLocalServer(options);

          assert.deepEqual(second.recovered, [], "nothing is guessed: the release runs on");
          const machine = second.machine;
          const taken = await until("svc-a's real end to be recorded", async () => {
            const release = await machine.readRelease(cutId);
            return release?.pipelines[1]?.status === "Succeeded" ? release : undefined;
          });
          assert.equal(taken.status, "RUNNING");
          assert.deepEqual(
            taken.pipelines.map((p) => [p.name, p.status, p.pipelineExecutionId]),
            before.pipelines.map((p) => [
              p.name,
              p.name === "svc-a" ? "Succeeded" : "InProgress",
              p.pipelineExecutionId,
            ]),
            "the same executions, followed to their real ends",
          );
          machine.codepipeline.finish(before.pipelines[0].pipelineExecutionId ?? "", "Succeeded");
          const cut = await endedRelease(machine, cutId);
          assert.equal(cut.status, "SUCCEEDED", cut.cause);
          assert.deepEqual(historyOf(cut), [
            ["svc-manual", "Succeeded", ["STARTED", "SUCCEEDED"]],
            ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
          ]);
          assert.equal(machine.codepipeline.executions("svc-a").length, 1, "svc-a ran once");
          const running = (await scanAll(machine, machine.tables.releases)).filter(
            (item) => item.status === "RUNNING",
          );
          assert.deepEqual(running, [], "nothing is left RUNNING");

          const nextId = newReleaseId("after-restart");
          const next = await postManifest(second.url, { releaseId: nextId, pipelines: ["svc-a", "svc-b"] });
          assert.equal(next.status, 202);
          const release = await endedRelease(second.machine, nextId);
          assert.equal(release.status, "SUCCEEDED", release.cause);
          assert.deepEqual(historyOf(release), [
            ["svc-a", "Succeeded", ["STARTED", "SUCCEEDED"]],
            ["svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]],
          ]);
          await assertRanOnce(second.machine, nextId, ["svc-a", "svc-b"]);
        } finally {
          await first?.close();
          await second?.close();
          rmSync(restartDir, { recursive: true, force: true });
        }
      },
    );
  });
});
