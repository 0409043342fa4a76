/**
 * The submission function's answers that local mode cannot provoke through its stand-ins: Step
 * Functions throttling and failing, a crash between the claim and StartExecution, and the claim's
 * expiry; with a real DynamoDB (dynalite) and a Step Functions client that answers as the test says.
 */
import assert from "node:assert/strict";
import type { SFNClient } from "@aws-sdk/client-sfn";
import { GetCommand, PutCommand } from "@aws-sdk/lib-dynamodb";
import { documentClient } from "../handlers/clients";
import {
  CLAIM_PREFIX,
  CLAIM_SECONDS,
  type SubmissionRequest,
  submissionHandler,
} from "../handlers/submission";
import { LOCAL_TABLES } from "../local/local-names";
import { startReleaseTables, stopReleaseTables } from "./local-helpers";

const STATE_MACHINE_ARN = "arn:aws:states:us-east-1:123456789012:stateMachine:release-machine";
const RULES = { allowedPipelines: ["svc-a", "svc-b"], maxPipelines: 50, maxBytes: 4096 };

/** A Step Functions client whose StartExecution does what `answer` says, counting the calls. */
function fakeSfn(answer: (input: { name: string; input: string }) => object) {
  const calls: { name: string; input: string }[] = [];
  const client = {
    send: async (command: { input: { name: string; input: string } }) => {
      calls.push(command.input);
      return answer(command.input);
    },
  } as unknown as SFNClient;
  return { client, calls };
}

const failure = (name: string, fault: "client" | "server") =>
  Object.assign(new Error(`${name} happened`), { name, $fault: fault });

const request = (
  body: string,
  headers: Record<string, string> = { "Content-Type": "application/json" },
): SubmissionRequest => ({
  body,
  headers,
  requestContext: { requestId: "req-1", identity: { userArn: "arn:aws:iam::123456789012:user/ana" } },
});

describe("the submission function", function () {
  this.timeout(30_000);
  let tables: Awaited<ReturnType<typeof startReleaseTables>>;
  let now = new Date("2026-12-08T10:00:00Z");
  before(async () => {
    tables = await startReleaseTables(LOCAL_TABLES);
  });
  after(async () => {
    await stopReleaseTables(tables);
  });

  const handler = (sfn: SFNClient) =>
    submissionHandler({
      ddb: documentClient(tables.raw),
      sfn,
      tables: LOCAL_TABLES,
      rules: RULES,
      stateMachineArn: STATE_MACHINE_ARN,
      now: () => now,
    });
  const parsed = (answer: { body: string }) => JSON.parse(answer.body) as Record<string, unknown>;

  it("answers 429 when Step Functions throttles or too many executions run, and 503 when it fails", async () => {
    for (const [name, fault, status] of [
      ["ThrottlingException", "client", 429],
      ["ExecutionLimitExceeded", "client", 429],
      ["ServiceUnavailable", "server", 503],
    ] as const) {
      const sfn = fakeSfn(() => {
        throw failure(name, fault);
      });
      const answer = await handler(sfn.client)(
        request(JSON.stringify({ releaseId: `busy-${name}`, pipelines: ["svc-a"] })),
      );
      assert.equal(answer.statusCode, status, answer.body);
      assert.equal(parsed(answer).error, name);
    }
  });

  it("answers 409 when the name is taken by another input (a closed execution, another caller)", async () => {
    const sfn = fakeSfn(() => {
      throw failure("ExecutionAlreadyExists", "client");
    });
    const answer = await handler(sfn.client)(
      request(JSON.stringify({ releaseId: "taken-1", pipelines: ["svc-a"] })),
    );
    assert.equal(answer.statusCode, 409);
    assert.equal(parsed(answer).error, "DuplicateRelease");
  });

  it("answers 415 for a Content-Type other than JSON, whatever the header's case, and reads a base64 body", async () => {
    const sfn = fakeSfn((input) => ({ executionArn: `arn:x:${input.name}` }));
    const body = JSON.stringify({ releaseId: "typed-1", pipelines: ["svc-a"] });
    assert.equal(
      (await handler(sfn.client)(request(body, { "CONTENT-TYPE": "text/plain" }))).statusCode,
      415,
    );
    const encoded = { ...request(Buffer.from(body).toString("base64")), isBase64Encoded: true };
    assert.equal((await handler(sfn.client)(encoded)).statusCode, 202);
    assert.equal(sfn.calls.length, 1);
    assert.deepEqual(JSON.parse(sfn.calls[0].input), {
      source: "api",
      submittedBy: "arn:aws:iam::123456789012:user/ana",
      body,
    });
  });

  it("resumes a claim whose StartExecution never happened when the request is repeated, and lets another manifest in once the claim expired", async () => {
    const crashed = fakeSfn(() => {
      throw new Error("the function died before StartExecution answered");
    });
    const first = JSON.stringify({ releaseId: "crash-1", pipelines: ["svc-a"] });
    await assert.rejects(handler(crashed.client)(request(first)), /died/);
    const claim = await documentClient(tables.raw).send(
      new GetCommand({ TableName: LOCAL_TABLES.releases, Key: { releaseId: `${CLAIM_PREFIX}crash-1` } }),
    );
    assert.ok(claim.Item, "the claim was written before StartExecution");

    const sfn = fakeSfn((input) => ({ executionArn: `${STATE_MACHINE_ARN}:${input.name}` }));
    const other = JSON.stringify({ releaseId: "crash-1", pipelines: ["svc-b"] });
    assert.equal((await handler(sfn.client)(request(other))).statusCode, 409);
    const repeated = await handler(sfn.client)(request(first));
    assert.equal(repeated.statusCode, 202);
    assert.equal(sfn.calls.length, 1);

    now = new Date(now.getTime() + (CLAIM_SECONDS + 1) * 1000);
    const later = await handler(sfn.client)(request(other));
    assert.equal(later.statusCode, 202, later.body);
    assert.notEqual(parsed(later).executionArn, parsed(repeated).executionArn);
  });

  it("refuses a body without a readable releaseId with every problem and records nothing", async () => {
    const sfn = fakeSfn(() => ({}));
    const answer = await handler(sfn.client)(
      request(JSON.stringify({ releaseId: "no good!", pipelines: ["svc-x"] })),
    );
    assert.equal(answer.statusCode, 400);
    const body = parsed(answer);
    assert.deepEqual(
      (body.problems as { path: string; rule: string }[]).map((p) => [p.path, p.rule]),
      [
        ["/pipelines/0", "allowList"],
        ["/releaseId", "pattern"],
      ],
    );
    assert.equal(body.recordedAs, undefined);
    assert.equal(sfn.calls.length, 0);
  });
  it("starts again a releaseId whose registration failed for good, under a new name, and answers 409 once its release ran", async () => {
    const releaseId = "failed-for-good";
    const started = (input: { name: string }) => ({
      executionArn: `${STATE_MACHINE_ARN.replace(":stateMachine:", ":execution:")}:${input.name}`,
    });
    const sfn = fakeSfn(started);
    const body = JSON.stringify({ releaseId, pipelines: ["svc-a"] });
    const first = parsed(await handler(sfn.client)(request(body)));
    // Its registration died before the schedule was complete; the workflow's Catch recorded FAILED.
    const release = (fields: Record<string, unknown>) =>
      documentClient(tables.raw).send(
        new PutCommand({
          TableName: LOCAL_TABLES.releases,
          Item: { releaseId, status: "FAILED", executionArn: first.executionArn, attempt: 1, ...fields },
        }),
      );
    await release({ schedulePending: first.executionArn });
    const identical = await handler(sfn.client)(request(body));
    assert.equal(identical.statusCode, 202, identical.body);
    assert.notEqual(parsed(identical).executionArn, first.executionArn);
    assert.match(sfn.calls[1].name, new RegExp(`^${releaseId}-[0-9a-f]{15}$`));
    // While that one may run, another manifest is kept out (its claim is live).
    const meanwhile = await handler(sfn.client)(request(JSON.stringify({ releaseId, pipelines: ["svc-b"] })));
    assert.equal(meanwhile.statusCode, 409, meanwhile.body);
    // It failed for good too: a corrected manifest passes its claim at once (not expired).
    const second = String(parsed(identical).executionArn);
    await release({ executionArn: second, schedulePending: second });
    const corrected = await handler(sfn.client)(
      request(JSON.stringify({ releaseId, pipelines: ["svc-a", "svc-b"] })),
    );
    assert.equal(corrected.statusCode, 202, corrected.body);
    assert.equal(new Set(sfn.calls.map((c) => c.name)).size, 3);
    // FAILED after its schedule was complete: it may have run, so only `retry` takes it.
    await release({});
    const ran = await handler(sfn.client)(request(JSON.stringify({ releaseId, pipelines: ["svc-b"] })));
    assert.deepEqual([ran.statusCode, parsed(ran).error], [409, "DuplicateRelease"]);
    assert.equal(sfn.calls.length, 3);
  });
});
