// Task tokens for `.waitForTaskToken`: the registry in-process, and the same registry completed
// through the unmodified SFNClient talking to the local JSON 1.0 endpoint.
import assert from "node:assert/strict";
import {
  InvalidOutput,
  InvalidToken,
  SFNClient,
  SendTaskFailureCommand,
  SendTaskHeartbeatCommand,
  SendTaskSuccessCommand,
  TaskDoesNotExist,
  TaskTimedOut,
  ValidationException,
} from "@aws-sdk/client-sfn";
import {
  type SfnService,
  TASK_CANCELLED,
  TaskTokenError,
  TaskTokenRegistry,
  startSfnService,
} from "../local/sfn-service";

const credentials = { accessKeyId: "local", secretAccessKey: "local" };

/** The rejection of `promise`, which must reject. */
async function rejectionOf(promise: Promise<unknown>): Promise<Error> {
  try {
    await promise;
  } catch (error) {
    assert.ok(error instanceof Error, `expected an Error, got ${String(error)}`);
    return error;
  }
  return assert.fail("expected a rejection");
}

describe("TaskTokenRegistry, in-process", () => {
  it("issues long, unique tokens that stay pending until completed", () => {
    const registry = new TaskTokenRegistry();
    const [a, b] = [registry.create(), registry.create()];
    assert.notEqual(a, b);
    assert.deepEqual([a.length, b.length], [1024, 1024]);
    assert.match(a, /^local-task-token:[0-9a-f-]{36}:[\w-]+$/);
    assert.deepEqual(registry.pending(), [a, b]);
    registry.succeed(a, { ok: true });
    assert.deepEqual(registry.pending(), [b]);
  });

  it("resolves a wait with the output, and rejects one with the failure's name and cause", async () => {
    const registry = new TaskTokenRegistry();
    const [ok, failed] = [registry.create(), registry.create()];
    registry.succeed(ok, { pipeline: "svc-a" });
    registry.fail(failed, "PipelineFailed", "svc-a ended Failed");
    assert.deepEqual(await registry.wait(ok), { pipeline: "svc-a" });
    const error = await rejectionOf(registry.wait(failed));
    assert.deepEqual([error.name, error.message], ["PipelineFailed", "svc-a ended Failed"]);
  });

  it("rejects a cancelled wait with the reason, and refuses to complete it afterwards", async () => {
    const registry = new TaskTokenRegistry();
    const token = registry.create();
    const waiting = registry.wait(token);
    registry.cancel(token, "the execution ended");
    const error = await rejectionOf(waiting);
    assert.deepEqual([error.name, error.message], [TASK_CANCELLED, "the execution ended"]);
    assert.throws(() => registry.succeed(token, {}), { name: "TaskTimedOut" });
    assert.throws(() => registry.cancel(token, "again"), { name: "TaskTimedOut" });
    assert.throws(() => registry.heartbeat(token), { name: "TaskTimedOut" });
    assert.deepEqual(registry.pending(), []);
  });

  it("refuses to complete a task twice", () => {
    const registry = new TaskTokenRegistry();
    const token = registry.create();
    registry.fail(token, "E", "c");
    assert.throws(
      () => registry.fail(token, "E", "c"),
      (error: unknown) => error instanceof TaskTokenError && error.code === "TaskTimedOut",
    );
  });

  it("answers a token it never issued with InvalidToken, and another registry's with TaskDoesNotExist", async () => {
    const registry = new TaskTokenRegistry();
    const invalid = await rejectionOf(registry.wait("not-a-token"));
    assert.equal(invalid.name, "InvalidToken");
    assert.throws(() => registry.succeed(new TaskTokenRegistry().create(), {}), { name: "TaskDoesNotExist" });
  });
});

describe("the local Step Functions endpoint, through the real SFNClient", () => {
  const registry = new TaskTokenRegistry();
  let service: SfnService;
  let client: SFNClient;

  before(async () => {
    service = await startSfnService({ registry });
    client = new SFNClient({ region: "us-east-1", endpoint: service.endpoint, credentials, maxAttempts: 1 });
  });
  after(async () => {
    client.destroy();
    await service.close();
  });

  const succeed = (taskToken: string, output: string) =>
    client.send(new SendTaskSuccessCommand({ taskToken, output }));

  it("listens on 127.0.0.1 only", () => {
    assert.equal(new URL(service.endpoint).hostname, "127.0.0.1");
  });

  it("resolves the waiting task with the parsed output of SendTaskSuccess", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);
    const response = await succeed(token, JSON.stringify({ pipeline: "svc-a", status: "Succeeded" }));
    assert.equal(response.$metadata.httpStatusCode, 200);
    assert.deepEqual(await waiting, { pipeline: "svc-a", status: "Succeeded" });
    assert.equal(registry.pending().includes(token), false);
  });

  it("rejects the waiting task with SendTaskFailure's error as its name and cause as its message", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);
    await client.send(
      new SendTaskFailureCommand({ taskToken: token, error: "PipelineFailed", cause: "svc-b ended Stopped" }),
    );
    const error = await rejectionOf(waiting);
    assert.deepEqual([error.name, error.message], ["PipelineFailed", "svc-b ended Stopped"]);
  });

  it("answers a second completion with the typed TaskTimedOut exception", async () => {
    const token = registry.create();
    await succeed(token, "{}");
    const again = await rejectionOf(succeed(token, "{}"));
    const failure = await rejectionOf(
      client.send(new SendTaskFailureCommand({ taskToken: token, error: "E" })),
    );
    for (const error of [again, failure]) {
      assert.ok(error instanceof TaskTimedOut, `${error.name}: ${error.message}`);
      assert.equal(error.$fault, "client");
    }
    assert.equal(again.message, "Task Timed Out: 'Provided task does not exist anymore'");
  });

  it("answers completing a cancelled task with TaskTimedOut", async () => {
    const token = registry.create();
    registry.cancel(token, "the execution ended");
    assert.ok((await rejectionOf(succeed(token, "{}"))) instanceof TaskTimedOut);
  });

  it("answers a token it never issued with the typed InvalidToken exception", async () => {
    const error = await rejectionOf(succeed("AAAAKgAAAAIAAAAAAAAAAf0token", "{}"));
    assert.ok(error instanceof InvalidToken, `${error.name}: ${error.message}`);
  });

  it("answers a well-formed token of another registry with TaskDoesNotExist", async () => {
    const error = await rejectionOf(succeed(new TaskTokenRegistry().create(), "{}"));
    assert.ok(error instanceof TaskDoesNotExist, `${error.name}: ${error.message}`);
  });

  it("accepts a heartbeat for a waiting task and leaves it waiting", async () => {
    const token = registry.create();
    const response = await client.send(new SendTaskHeartbeatCommand({ taskToken: token }));
    assert.equal(response.$metadata.httpStatusCode, 200);
    assert.ok(registry.pending().includes(token));
  });

  it("answers output that is not JSON with InvalidOutput, and the task keeps waiting", async () => {
    const token = registry.create();
    const waiting = registry.wait(token);
    const error = await rejectionOf(succeed(token, "{not json"));
    assert.ok(error instanceof InvalidOutput, `${error.name}: ${error.message}`);
    assert.ok(registry.pending().includes(token));
    await succeed(token, '{"late":true}');
    assert.deepEqual(await waiting, { late: true });
  });

  it("refuses an error name over Step Functions' 256 characters with ValidationException", async () => {
    const token = registry.create();
    const failure = new SendTaskFailureCommand({ taskToken: token, error: "E".repeat(257), cause: "c" });
    const error = await rejectionOf(client.send(failure));
    assert.ok(error instanceof ValidationException, `${error.name}: ${error.message}`);
    assert.ok(registry.pending().includes(token));
  });

  it("answers an operation it does not serve with 400 UnknownOperationException", async () => {
    const call = (target: string) =>
      fetch(service.endpoint, {
        method: "POST",
        headers: { "content-type": "application/x-amz-json-1.0", "x-amz-target": target },
        body: JSON.stringify({ stateMachineArn: "arn:aws:states:us-east-1:000000000000:stateMachine:m" }),
      }).then(async (response) => [response.status, await response.json()]);
    assert.deepEqual(await call("AWSStepFunctions.StartExecution"), [
      400,
      { __type: "UnknownOperationException", message: "StartExecution is not supported here" },
    ]);
    assert.deepEqual((await call("DynamoDB_20120810.GetItem"))[0], 400);
  });

  it("serves a client configured only through AWS_ENDPOINT_URL_SFN, as the handlers are", async () => {
    const saved = process.env.AWS_ENDPOINT_URL_SFN;
    process.env.AWS_ENDPOINT_URL_SFN = service.endpoint;
    const envClient = new SFNClient({ region: "us-east-1", credentials, maxAttempts: 1 });
    try {
      const token = registry.create();
      const waiting = registry.wait(token);
      await envClient.send(new SendTaskSuccessCommand({ taskToken: token, output: '{"via":"env"}' }));
      assert.deepEqual(await waiting, { via: "env" });
    } finally {
      envClient.destroy();
      if (saved === undefined) delete process.env.AWS_ENDPOINT_URL_SFN;
      else process.env.AWS_ENDPOINT_URL_SFN = saved;
    }
  });
});
