// The local EventBridge stand-in: content filtering as AWS documents it, and asynchronous,
// retried, fault-injectable delivery.
import assert from "node:assert/strict";
import { manifestUploadedPattern, pipelineStateChangePattern } from "../contract/event-patterns";
import {
  type EventEnvelope,
  type EventPattern,
  EventPatternError,
  EventRouter,
  matchesPattern,
} from "../local/event-router";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

function envelope(overrides: Partial<EventEnvelope> = {}): EventEnvelope {
  return {
    version: "0",
    id: "11111111-2222-3333-4444-555555555555",
    "detail-type": "Thing Happened",
    source: "test.source",
    account: "000000000000",
    time: "2026-01-02T03:04:05Z",
    region: "us-east-1",
    resources: [],
    detail: {},
    ...overrides,
  };
}

/** Which of `events` the pattern matches, by index: one assertion shows both outcomes. */
const matching = (pattern: EventPattern, ...events: unknown[]) =>
  events.flatMap((event, i) => (matchesPattern(pattern, event) ? [i] : []));

describe("EventBridge pattern matching", () => {
  describe("the patterns the release machine declares (contract/event-patterns.ts)", () => {
    const manifestUploaded: EventPattern = manifestUploadedPattern("my-bucket");
    const s3Event = (bucket: string, key: string, overrides: Partial<EventEnvelope> = {}) =>
      envelope({
        source: "aws.s3",
        "detail-type": "Object Created",
        resources: [`arn:aws:s3:::${bucket}`],
        detail: {
          version: "0",
          bucket: { name: bucket },
          object: { key, size: 64, etag: "abc", "version-id": "v1", sequencer: "00" },
          "request-id": "r",
          requester: "123456789012",
          reason: "PutObject",
        },
        ...overrides,
      });

    it("matches a .json object created in the release bucket", () => {
      assert.deepEqual(matching(manifestUploaded, s3Event("my-bucket", "releases/5.16.json")), [0]);
    });

    it("ignores other buckets, other keys, other detail types and other sources", () => {
      assert.deepEqual(
        matching(
          manifestUploaded,
          s3Event("other-bucket", "a.json"),
          s3Event("my-bucket", "a.json.txt"),
          s3Event("my-bucket", "a.JSON"),
          s3Event("my-bucket", "a.json", { "detail-type": "Object Deleted" }),
          s3Event("my-bucket", "a.json", { source: "aws.codepipeline" }),
        ),
        [],
      );
    });

    const pipelineChanged: EventPattern = pipelineStateChangePattern(["a", "b"]);
    const pipelineEvent = (pipeline: string, detailType = "CodePipeline Pipeline Execution State Change") =>
      envelope({
        source: "aws.codepipeline",
        "detail-type": detailType,
        detail: { pipeline, "execution-id": "e-1", state: "SUCCEEDED", version: 1 },
      });

    it("matches state changes of the managed pipelines only", () => {
      assert.deepEqual(
        matching(
          pipelineChanged,
          pipelineEvent("a"),
          pipelineEvent("b"),
          pipelineEvent("c"),
          pipelineEvent("a", "CodePipeline Stage Execution State Change"),
        ),
        [0, 1],
      );
    });
  });

  describe("values and structure", () => {
    it("matches a string exactly, and only a string", () => {
      assert.deepEqual(
        matching({ s: ["aws.s3"] }, { s: "aws.s3" }, { s: "aws.s3x" }, { s: "AWS.S3" }, {}),
        [0],
      );
    });

    it("compares numbers numerically, never with strings", () => {
      assert.deepEqual(matching({ n: [300] }, { n: 300 }, { n: 3.0e2 }, { n: 300.5 }, { n: "300" }), [0, 1]);
    });

    it("matches booleans and null exactly; null is not the empty string nor absence", () => {
      assert.deepEqual(matching({ b: [true] }, { b: true }, { b: "true" }, { b: false }), [0]);
      assert.deepEqual(matching({ x: [null] }, { x: null }, { x: "" }, {}), [0]);
      assert.deepEqual(matching({ x: [""] }, { x: "" }, { x: null }), [0]);
    });

    it("matches a field when any value in its list matches (OR)", () => {
      assert.deepEqual(matching({ s: ["a", "b"] }, { s: "b" }, { s: "c" }), [0]);
    });

    it("requires every field of the pattern to match (AND)", () => {
      const pattern = { a: ["1"], b: ["2"] };
      assert.deepEqual(matching(pattern, { a: "1", b: "2", c: "x" }, { a: "1", b: "3" }, { a: "1" }), [0]);
    });

    it("recurses into nested objects and never matches a missing branch", () => {
      const pattern = { detail: { bucket: { name: ["b"] } } };
      assert.deepEqual(
        matching(pattern, { detail: { bucket: { name: "b" } } }, { detail: { bucket: "b" } }, { detail: {} }),
        [0],
      );
    });

    it("matches an array value when any of its elements matches", () => {
      const pattern = { resources: ["arn:x", "arn:y"] };
      assert.deepEqual(
        matching(pattern, { resources: ["arn:z", "arn:y"] }, { resources: ["arn:z"] }, { resources: [] }),
        [0],
      );
    });

    it("matches an array of objects when one element matches the whole nested pattern", () => {
      const pattern = { items: { kind: ["a"], size: [1] } };
      assert.deepEqual(
        matching(
          pattern,
          {
            items: [
              { kind: "b", size: 1 },
              { kind: "a", size: 1 },
            ],
          },
          {
            items: [
              { kind: "a", size: 2 },
              { kind: "b", size: 1 },
            ],
          },
        ),
        [0],
      );
    });
  });

  describe("content filters", () => {
    it("prefix matches the start of strings only", () => {
      const pattern = { t: [{ prefix: "2017-10-02" }] };
      assert.deepEqual(
        matching(pattern, { t: "2017-10-02T18:43:48Z" }, { t: "2017-10-03" }, { t: 20171002 }),
        [0],
      );
    });

    it("prefix with equals-ignore-case ignores case", () => {
      const pattern = { s: [{ prefix: { "equals-ignore-case": "EventB" } }] };
      assert.deepEqual(matching(pattern, { s: "eventbridge" }, { s: "EVENTBUS" }, { s: "events" }), [0, 1]);
    });

    it("suffix matches the end of strings, case-sensitively unless asked", () => {
      assert.deepEqual(
        matching({ k: [{ suffix: ".json" }] }, { k: "a/b.json" }, { k: "a.JSON" }, { k: "json" }),
        [0],
      );
      const ignoreCase = { k: [{ suffix: { "equals-ignore-case": ".png" } }] };
      assert.deepEqual(matching(ignoreCase, { k: "A.PNG" }, { k: "a.png.txt" }), [0]);
    });

    it("equals-ignore-case matches the whole string in any case", () => {
      const pattern = { n: [{ "equals-ignore-case": "alice" }] };
      assert.deepEqual(
        matching(pattern, { n: "ALICE" }, { n: "Alice" }, { n: "alicia" }, { n: ["x", "aLiCe"] }),
        [0, 1, 3],
      );
    });

    it("anything-but excludes a string, a number or a list, and never matches a missing field", () => {
      assert.deepEqual(
        matching({ s: [{ "anything-but": "init" }] }, { s: "running" }, { s: "init" }, {}),
        [0],
      );
      assert.deepEqual(matching({ n: [{ "anything-but": 123 }] }, { n: 124 }, { n: 123 }), [0]);
      const list = { s: [{ "anything-but": ["stopped", "overloaded"] }] };
      assert.deepEqual(matching(list, { s: "running" }, { s: "stopped" }, { s: "overloaded" }), [0]);
      const numbers = { n: [{ "anything-but": [100, 200] }] };
      assert.deepEqual(matching(numbers, { n: 300 }, { n: 200 }), [0]);
    });

    it("anything-but excludes a prefix, a suffix, a case-insensitive value or a wildcard", () => {
      assert.deepEqual(
        matching({ s: [{ "anything-but": { prefix: "aws." } }] }, { s: "my.app" }, { s: "aws.s3" }),
        [0],
      );
      assert.deepEqual(
        matching({ s: [{ "anything-but": { suffix: ".png" } }] }, { s: "a.jpg" }, { s: "a.png" }),
        [0],
      );
      const ignoreCase = { s: [{ "anything-but": { "equals-ignore-case": ["init", "stop"] } }] };
      assert.deepEqual(matching(ignoreCase, { s: "run" }, { s: "INIT" }, { s: "Stop" }), [0]);
      const wildcard = { p: [{ "anything-but": { wildcard: "*/lib/*" } }] };
      assert.deepEqual(matching(wildcard, { p: "/src/a.ts" }, { p: "/usr/lib/a.so" }), [0]);
    });

    it("anything-but over an array value matches when some element is not excluded", () => {
      const pattern = { s: [{ "anything-but": "a" }] };
      assert.deepEqual(matching(pattern, { s: ["a", "b"] }, { s: ["a"] }), [0]);
    });

    it("exists true matches a present leaf value, not an absent field nor an object", () => {
      const pattern = { detail: { state: [{ exists: true }] } };
      assert.deepEqual(
        matching(
          pattern,
          { detail: { state: "pending" } },
          { detail: { state: null } },
          { detail: {} },
          { detail: { state: { a: 1 } } },
        ),
        [0, 1],
      );
    });

    it("exists false matches an absent field or an intermediate node, not a present value", () => {
      const pattern = { detail: { "c-count": [{ exists: false }] } };
      assert.deepEqual(
        matching(
          pattern,
          { detail: {} },
          { detail: { "c-count": { c1: 100 } } },
          {},
          { detail: { "c-count": 5 } },
        ),
        [0, 1, 2],
      );
    });

    it("numeric compares JSON numbers against one or two bounds", () => {
      const range = { c: [{ numeric: [">", 0, "<=", 5] }] };
      assert.deepEqual(matching(range, { c: 5 }, { c: 0.5 }, { c: 0 }, { c: 6 }, { c: "3" }), [0, 1]);
      assert.deepEqual(matching({ x: [{ numeric: ["=", 3.018e2] }] }, { x: 301.8 }, { x: 301 }), [0]);
      assert.deepEqual(matching({ d: [{ numeric: ["<", 10] }] }, { d: -1 }, { d: 10 }), [0]);
      assert.deepEqual(matching({ d: [{ numeric: [">=", 10] }] }, { d: 10 }, { d: 9.99 }), [0]);
    });

    it("wildcard matches any run of characters where * stands, and literally elsewhere", () => {
      const pattern = { k: [{ wildcard: "dir/*.png" }] };
      assert.deepEqual(
        matching(
          pattern,
          { k: "dir/a.png" },
          { k: "dir/.png" },
          { k: "dir/a.pngx" },
          { k: "dirxa.png" },
          { k: "dir/apng" },
        ),
        [0, 1],
      );
      const escaped = { k: [{ wildcard: "a\\*b*" }] };
      assert.deepEqual(matching(escaped, { k: "a*bc" }, { k: "axbc" }), [0]);
    });

    it("$or matches when any alternative matches, at the top level and nested", () => {
      const pattern: EventPattern = {
        source: ["aws.cloudwatch"],
        $or: [{ metricName: ["CPUUtilization"] }, { namespace: ["AWS/EC2"] }],
        detail: { $or: [{ a: ["1"] }, { b: ["2"] }] },
      };
      assert.deepEqual(
        matching(
          pattern,
          { source: "aws.cloudwatch", metricName: "CPUUtilization", detail: { b: "2" } },
          { source: "aws.cloudwatch", namespace: "AWS/EC2", detail: { a: "1" } },
          { source: "aws.cloudwatch", namespace: "AWS/S3", detail: { a: "1" } },
          { source: "aws.cloudwatch", metricName: "CPUUtilization", detail: { c: "3" } },
        ),
        [0, 1],
      );
    });
  });

  describe("patterns it cannot evaluate", () => {
    it("throws naming an unknown matcher, even when another field already fails", () => {
      const pattern = { source: ["nope"], detail: { ip: [{ cidr: "10.0.0.0/24" }] } };
      assert.throws(() => matchesPattern(pattern, { source: "other" }), {
        name: "EventPatternError",
        message: 'detail.ip: unsupported EventBridge pattern matcher {"cidr":"10.0.0.0/24"}',
      });
    });

    it("throws for an unknown matcher whose field is absent from the event", () => {
      assert.throws(
        () => matchesPattern({ x: ["a", { regex: ".*" }] }, { x: "a" }),
        /matcher \{"regex":".\*"\}/,
      );
    });

    it("throws for malformed patterns instead of guessing", () => {
      const malformed: unknown[] = [
        {},
        { source: "aws.s3" },
        { source: [] },
        { n: [{ numeric: ["~", 1] }] },
        { n: [{ numeric: [">", "1"] }] },
        { n: [{ numeric: ["toString", 1] }] },
        { s: [{ "anything-but": ["a", 1] }] },
        { s: [{ "anything-but": { cidr: "10.0.0.0/8" } }] },
        { s: [{ exists: "yes" }] },
        { s: [{ prefix: "a", suffix: "b" }] },
        { s: [{ prefix: ["a", "b"] }] },
        { k: [{ wildcard: "a**b" }] },
        { k: [{ wildcard: "a\\b" }] },
        { $or: [{ a: ["1"] }] },
        { s: [["nested"]] },
      ];
      for (const pattern of malformed)
        assert.throws(
          () => matchesPattern(pattern as EventPattern, {}),
          EventPatternError,
          JSON.stringify(pattern),
        );
    });
  });
});

describe("EventRouter", () => {
  const routers: EventRouter[] = [];
  const newRouter = (options: ConstructorParameters<typeof EventRouter>[0] = {}) => {
    const router = new EventRouter({ retryDelayMs: 1, ...options });
    routers.push(router);
    return router;
  };
  afterEach(() => routers.splice(0).forEach((router) => router.close()));

  /** A rule whose target throws on its first `failures` calls ("attempt n failed"), counting every call. */
  function failingTarget(router: EventRouter, name: string, failures: number) {
    const target = { calls: 0 };
    router.addRule({
      name,
      pattern: { source: ["test.source"] },
      target: async () => {
        target.calls += 1;
        if (target.calls <= failures) throw new Error(`attempt ${target.calls} failed`);
      },
    });
    return target;
  }

  /** A rule on `source: [source]` that records what it receives. */
  function recorder(router: EventRouter, name: string, source = "test.source", eventBusName?: string) {
    const received: EventEnvelope[] = [];
    router.addRule({
      name,
      eventBusName,
      pattern: { source: [source] },
      target: (e) => void received.push(e),
    });
    return received;
  }

  it("delivers to matching targets asynchronously, never inside publish", async () => {
    const router = newRouter();
    const received = recorder(router, "r1");
    const other = recorder(router, "r2", "other.source");
    router.publish(envelope());
    assert.equal(received.length, 0);
    await router.idle();
    assert.deepEqual(received, [envelope()]);
    assert.deepEqual(other, []);
    assert.deepEqual(router.published, [envelope()]);
  });

  it("routes by event bus, accepting a bus name or its ARN", async () => {
    const router = newRouter();
    const onDefault = recorder(router, "r1");
    const onCustom = recorder(
      router,
      "r1",
      "test.source",
      "arn:aws:events:us-east-1:000000000000:event-bus/releases",
    );
    router.publish(envelope({ id: "a" }));
    router.publish(envelope({ id: "b" }), "releases");
    await router.idle();
    assert.deepEqual(
      onDefault.map((e) => e.id),
      ["a"],
    );
    assert.deepEqual(
      onCustom.map((e) => e.id),
      ["b"],
    );
  });

  it("gives every target its own copy of the event", async () => {
    const router = newRouter();
    router.addRule({
      name: "mutates",
      pattern: { source: ["test.source"] },
      target: (e) => void (e.detail.x = 1),
    });
    const received = recorder(router, "reads");
    router.publish(envelope());
    await router.idle();
    assert.deepEqual(received[0].detail, {});
    assert.deepEqual(router.published[0].detail, {});
  });

  it("retries a throwing target and records nothing once it succeeds", async () => {
    const router = newRouter({ maxAttempts: 3 });
    const target = failingTarget(router, "flaky", 2);
    router.publish(envelope());
    await router.idle();
    assert.equal(target.calls, 3);
    assert.deepEqual(router.deliveryFailures, []);
  });

  it("records a delivery failure after the last attempt instead of throwing", async () => {
    const router = newRouter({ maxAttempts: 2 });
    const target = failingTarget(router, "broken", Infinity);
    router.publish(envelope({ id: "e-1" }));
    await router.idle();
    assert.equal(target.calls, 2);
    assert.deepEqual(router.deliveryFailures, [
      { rule: "broken", eventId: "e-1", error: "Error: attempt 2 failed" },
    ]);
  });

  it("lets the intercept hook drop or duplicate a delivery per rule", async () => {
    const router = newRouter();
    const dropped = recorder(router, "dropped");
    const doubled = recorder(router, "doubled");
    const seen: string[] = [];
    router.intercept = (event, ruleName) => {
      seen.push(`${ruleName}:${event.id}`);
      return ruleName === "dropped" ? "drop" : "duplicate";
    };
    router.publish(envelope({ id: "e-1" }));
    await router.idle();
    assert.deepEqual(seen, ["dropped:e-1", "doubled:e-1"]);
    assert.deepEqual(dropped, []);
    assert.deepEqual(
      doubled.map((e) => e.id),
      ["e-1", "e-1"],
    );
    assert.equal(router.published.length, 1);
  });

  it("lets the intercept hook delay a delivery, and idle() waits for it", async () => {
    const router = newRouter();
    const late = recorder(router, "late");
    let promptDelivered!: () => void;
    const prompt = new Promise<void>((resolve) => (promptDelivered = resolve));
    router.addRule({ name: "prompt", pattern: { source: ["test.source"] }, target: () => promptDelivered() });
    router.intercept = (_event, rule) => (rule === "late" ? { delayMs: 60 } : "deliver");
    const started = Date.now();

    router.publish(envelope());
    await prompt;
    const beforeDelay = late.length;
    await router.idle();

    assert.deepEqual([beforeDelay, late.length], [0, 1]);
    assert.ok(Date.now() - started >= 55, `delivered after ${Date.now() - started} ms`);
  });

  it("idle() also waits for events that deliveries publish", async () => {
    const router = newRouter();
    const second = recorder(router, "second", "second.source");
    router.addRule({
      name: "first",
      pattern: { source: ["test.source"] },
      target: async () => {
        await new Promise((resolve) => setImmediate(resolve));
        router.putEvents([{ Source: "second.source", DetailType: "Then", Detail: "{}" }]);
      },
    });
    router.publish(envelope());
    await router.idle();
    assert.deepEqual(
      second.map((e) => e.source),
      ["second.source"],
    );
  });

  it("close() cancels pending delayed deliveries and later publishes", async () => {
    const router = newRouter();
    const received = recorder(router, "late");
    router.intercept = () => ({ delayMs: 10_000 });
    router.publish(envelope());
    router.close();
    router.intercept = undefined;
    router.publish(envelope({ id: "after" }));
    await router.idle();
    assert.deepEqual(received, []);
    assert.equal(router.published.length, 2);
  });

  it("rejects a rule whose pattern it cannot evaluate, and replaces a rule of the same name", async () => {
    const router = newRouter();
    assert.throws(
      () =>
        router.addRule({
          name: "bad",
          pattern: { detail: { ip: [{ cidr: "10.0.0.0/8" }] } },
          target: () => {},
        }),
      /\{"cidr":"10.0.0.0\/8"\}/,
    );
    const first = recorder(router, "same", "first.source");
    const second = recorder(router, "same", "second.source");
    router.publish(envelope({ source: "first.source" }));
    router.publish(envelope({ source: "second.source" }));
    await router.idle();
    assert.deepEqual([first.length, second.length], [0, 1]);
  });

  describe("putEvents", () => {
    it("wraps each entry in the EventBridge envelope and publishes it", async () => {
      const router = newRouter({ region: "eu-west-1", accountId: "123456789012" });
      const received = recorder(router, "release", "release-machine");
      const result = router.putEvents([
        {
          Source: "release-machine",
          DetailType: "Release State Change",
          Detail: JSON.stringify({ releaseId: "5.16", state: "SUCCEEDED" }),
          Resources: ["arn:aws:states:eu-west-1:123456789012:execution:m:e"],
          Time: new Date("2026-01-02T03:04:05.678Z"),
        },
      ]);
      await router.idle();
      assert.equal(result.FailedEntryCount, 0);
      const [{ EventId }] = result.Entries;
      assert.match(EventId ?? "", UUID);
      assert.deepEqual(received, [
        {
          version: "0",
          id: EventId,
          "detail-type": "Release State Change",
          source: "release-machine",
          account: "123456789012",
          time: "2026-01-02T03:04:05.678Z",
          region: "eu-west-1",
          resources: ["arn:aws:states:eu-west-1:123456789012:execution:m:e"],
          detail: { releaseId: "5.16", state: "SUCCEEDED" },
        },
      ]);
    });

    it("stamps the current time and no resources when none are given, and accepts an ISO time string", () => {
      const router = newRouter();
      const before = Date.now();
      router.putEvents([
        { Source: "s", DetailType: "d", Detail: "{}", EventBusName: "custom" },
        { Source: "s", DetailType: "d", Detail: "{}", Time: "2026-01-15T10:00:00.000Z" },
      ]);
      const [now, given] = router.published;
      assert.ok(Date.parse(now.time) >= before && Date.parse(now.time) <= Date.now(), now.time);
      assert.deepEqual([now.resources, given.time], [[], "2026-01-15T10:00:00.000Z"]);
    });

    it("fails entries without Source, without DetailType or with an invalid Time as InvalidArgument", () => {
      const router = newRouter();
      const result = router.putEvents([
        { Source: "", DetailType: "d", Detail: "{}" },
        { Source: "s", DetailType: "", Detail: "{}" },
        { Source: "s", DetailType: "d", Detail: "{}", Time: "yesterday-ish" },
      ]);
      assert.deepEqual(
        [result.FailedEntryCount, result.Entries.map((e) => e.ErrorCode)],
        [3, ["InvalidArgument", "InvalidArgument", "InvalidArgument"]],
      );
      assert.deepEqual(router.published, []);
    });

    it("fails entries whose Detail is not a JSON object with MalformedDetail, and publishes the rest", () => {
      const router = newRouter();
      const details = ["not json", "[1,2]", "null", '"text"', '{"ok":true}'];
      const result = router.putEvents(details.map((Detail) => ({ Source: "s", DetailType: "d", Detail })));
      assert.equal(result.FailedEntryCount, 4);
      assert.deepEqual(
        result.Entries.map((e) => e.ErrorCode ?? "ok"),
        ["MalformedDetail", "MalformedDetail", "MalformedDetail", "MalformedDetail", "ok"],
      );
      assert.deepEqual(
        router.published.map((e) => [e.id, e.detail]),
        [[result.Entries[4].EventId, { ok: true }]],
      );
    });
  });
});
