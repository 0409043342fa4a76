/**
 * Freeze windows (issue 20, items 3-4): the request's checks (field, rule), recurring windows in a
 * named IANA zone across daylight-saving changes, and the freeze function's routes over dynalite.
 */
import assert from "node:assert/strict";
import { CodePipelineClient } from "@aws-sdk/client-codepipeline";
import { DynamoDBClient } from "@aws-sdk/client-dynamodb";
import { EventBridgeClient } from "@aws-sdk/client-eventbridge";
import { SFNClient } from "@aws-sdk/client-sfn";
import {
  FREEZES_KEY,
  type FreezeRecord,
  freezeHold,
  globMatches,
  parseFreezeRequest,
} from "../contract/freeze";
import { activeSchedule } from "../contract/freeze-schedule";
import { documentClient } from "../handlers/clients";
import { type FreezeRequest, freezeHandler } from "../handlers/freezes";
import { type LocalDynamo, createReleaseTables, startDynamo } from "../local/dynamodb";

const NOW = new Date("2026-03-20T12:00:00Z");
const rulesOf = (body: unknown) => {
  const result = parseFreezeRequest(body, NOW);
  return (result.problems ?? []).map((p) => `${p.path} ${p.rule}`);
};
const base = { name: "xmas", pipelines: ["svc-*"], reason: "code freeze" };

describe("a freeze request", () => {
  it("is accepted as a fixed window, an open-ended stop or a recurring window", () => {
    assert.deepEqual(rulesOf({ ...base, start: "2026-12-20T00:00:00Z", end: "2027-01-02T00:00:00Z" }), []);
    assert.deepEqual(rulesOf({ ...base, name: "stop-the-line", pipelines: ["*"] }), []);
    const schedule = {
      rrule: "FREQ=WEEKLY;BYDAY=FR;BYHOUR=16",
      durationMinutes: 960,
      timezone: "Europe/Berlin",
    };
    const parsed = parseFreezeRequest({ ...base, schedule }, NOW);
    assert.deepEqual(parsed.freeze?.schedule, { ...schedule, startsOn: "2026-03-20" });
  });

  it("names the field and the rule of every problem", () => {
    assert.deepEqual(rulesOf({ pipelines: [], reason: " ", color: "red" }), [
      "/color additionalProperties",
      "/name pattern",
      "/pipelines minItems",
      "/reason required",
    ]);
    assert.deepEqual(rulesOf({ ...base, pipelines: ["svc a"] }), ["/pipelines/0 pattern"]);
    assert.deepEqual(rulesOf({ ...base, start: "tomorrow" }), ["/start format"]);
  });

  it("refuses a window whose end is before its start, or already past", () => {
    const backwards = { ...base, start: "2026-12-20T00:00:00Z", end: "2026-12-19T00:00:00Z" };
    assert.deepEqual(rulesOf(backwards), ["/end afterStart"]);
    assert.deepEqual(rulesOf({ ...base, end: "2026-03-01T00:00:00Z" }), ["/end future"]);
  });

  it("refuses a malformed RRULE, one that never occurs, and an unknown time zone", () => {
    const schedule = (rrule: string, timezone = "Europe/Berlin") => ({
      ...base,
      schedule: { rrule, durationMinutes: 60, timezone },
    });
    assert.deepEqual(rulesOf(schedule("FREQ=SOMETIMES")), ["/schedule/rrule rrule"]);
    assert.deepEqual(rulesOf(schedule("BYHOUR=9")), ["/schedule/rrule rrule"]);
    assert.deepEqual(rulesOf(schedule("FREQ=DAILY;BYHOUR=25")), ["/schedule/rrule rrule"]);
    assert.deepEqual(rulesOf(schedule("FREQ=YEARLY;BYMONTH=2;BYMONTHDAY=30")), [
      "/schedule/rrule neverOccurs",
    ]);
    assert.deepEqual(rulesOf(schedule("FREQ=DAILY;UNTIL=20260101T000000Z")), ["/schedule/rrule neverOccurs"]);
    assert.deepEqual(rulesOf(schedule("FREQ=DAILY", "Mars/Olympus_Mons")), ["/schedule/timezone timeZone"]);
    const both = { ...schedule("FREQ=DAILY"), end: "2026-12-19T00:00:00Z" };
    assert.deepEqual(rulesOf(both), ["/schedule oneOf"]);
  });
});

describe("a recurring freeze window", () => {
  // Berlin leaves CET (+01:00) for CEST (+02:00) on Sunday 2026-03-29.
  const workdays = {
    rrule: "FREQ=DAILY;BYHOUR=9;BYMINUTE=0",
    durationMinutes: 8 * 60,
    timezone: "Europe/Berlin",
    startsOn: "2026-03-01",
  };
  const at = (iso: string) => activeSchedule(workdays, Date.parse(iso));

  it("holds 09:00-17:00 Berlin time before the daylight-saving change (08:00-16:00 UTC)", () => {
    assert.equal(at("2026-03-27T07:59:00Z"), undefined);
    assert.equal(at("2026-03-27T08:00:00Z"), Date.parse("2026-03-27T16:00:00Z"));
    assert.equal(at("2026-03-27T15:59:00Z"), Date.parse("2026-03-27T16:00:00Z"));
    assert.equal(at("2026-03-27T16:00:00Z"), undefined);
  });

  it("holds 09:00-17:00 Berlin time after it (07:00-15:00 UTC)", () => {
    assert.equal(at("2026-03-30T06:59:00Z"), undefined);
    assert.equal(at("2026-03-30T07:00:00Z"), Date.parse("2026-03-30T15:00:00Z"));
    assert.equal(at("2026-03-30T15:00:00Z"), undefined);
  });

  it("holds the same local hours across the change back in autumn (New York)", () => {
    const evenings = { ...workdays, rrule: "FREQ=WEEKLY;BYDAY=SA,MO;BYHOUR=20", durationMinutes: 60 };
    const nyc = { ...evenings, timezone: "America/New_York", startsOn: "2026-10-01" };
    // EDT (-04:00) until Sunday 2026-11-01, EST (-05:00) after.
    assert.equal(activeSchedule(nyc, Date.parse("2026-11-01T00:30:00Z")), Date.parse("2026-11-01T01:00:00Z"));
    assert.equal(activeSchedule(nyc, Date.parse("2026-11-03T00:30:00Z")), undefined);
    assert.equal(activeSchedule(nyc, Date.parse("2026-11-03T01:30:00Z")), Date.parse("2026-11-03T02:00:00Z"));
  });
});

describe("what holds a pipeline", () => {
  const freeze = (name: string, pipelines: string[], end?: string): FreezeRecord => ({
    name,
    pipelines,
    reason: "r",
    createdBy: "arn:aws:iam::1:user/rm",
    createdAt: "2026-03-20T00:00:00.000Z",
    ...(end ? { end } : {}),
  });

  it("matches globs on the whole name", () => {
    assert.ok(globMatches("svc-*", "svc-a-pipeline"));
    assert.ok(globMatches("svc-?", "svc-a"));
    assert.ok(!globMatches("svc-?", "svc-ab"));
    assert.ok(!globMatches("svc.a", "svcXa"));
  });

  it("is every overlapping freeze, and the later end holds; a freeze without end holds for good", () => {
    const freezes = [
      freeze("a", ["svc-*"], "2026-03-21T00:00:00Z"),
      freeze("b", ["svc-a"], "2026-03-22T00:00:00Z"),
    ];
    assert.deepEqual(freezeHold(freezes, "svc-a", NOW.getTime()), {
      frozenBy: ["a", "b"],
      until: "2026-03-22T00:00:00.000Z",
    });
    assert.equal(freezeHold(freezes, "web", NOW.getTime()), undefined);
    const stop = [...freezes, freeze("stop-the-line", ["*"])];
    assert.deepEqual(freezeHold(stop, "svc-a", NOW.getTime())?.until, null);
  });
});

describe("the freeze function", () => {
  const TABLES = { releases: "releases", executions: "executions", releasePipelines: "release-pipelines" };
  let dynamo: LocalDynamo;
  let client: DynamoDBClient;
  let call: (
    request: Omit<FreezeRequest, "requestContext">,
    caller?: string,
  ) => ReturnType<ReturnType<typeof freezeHandler>>;
  before(async () => {
    dynamo = await startDynamo();
    client = new DynamoDBClient({
      endpoint: dynamo.endpoint,
      region: "eu-west-1",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    });
    await createReleaseTables(client, TABLES);
    // The override's clients are not reached by these routes: endpoints nothing listens on.
    const unused = {
      region: "eu-west-1",
      endpoint: "http://127.0.0.1:9",
      credentials: { accessKeyId: "x", secretAccessKey: "x" },
    };
    const handler = freezeHandler({
      sfn: new SFNClient(unused),
      codepipeline: new CodePipelineClient(unused),
      events: new EventBridgeClient(unused),
      ddb: documentClient(client),
      tables: TABLES,
      rules: { allowedPipelines: ["svc-a", "svc-b"] },
      now: () => NOW,
    });
    call = (request, caller = "arn:aws:iam::1:user/rm") =>
      handler({ ...request, requestContext: { identity: { userArn: caller } } });
  });
  after(async () => {
    client.destroy();
    await dynamo.close();
  });
  const post = (body: object) =>
    call({ resource: "/freezes", httpMethod: "POST", body: JSON.stringify(body) });
  const remove = (name: string) =>
    call({ resource: "/freezes/{name}", httpMethod: "DELETE", pathParameters: { name } });

  it("adds a freeze recording who and when, warns of globs that match nothing, and lists it active", async () => {
    const added = await post({ name: "stop-the-line", pipelines: ["*", "web-*"], reason: "incident 123" });
    assert.equal(added.statusCode, 201, added.body);
    const body = JSON.parse(added.body) as { freeze: FreezeRecord; warnings: string[] };
    assert.equal(body.freeze.createdBy, "arn:aws:iam::1:user/rm");
    assert.equal(body.freeze.createdAt, NOW.toISOString());
    assert.deepEqual(body.warnings, ["pipelines: web-* matches no pipeline this stack may release"]);
    const listed = await call({ resource: "/freezes", httpMethod: "GET" });
    const list = JSON.parse(listed.body) as {
      freezes: (FreezeRecord & { active: boolean; until: string | null })[];
    };
    assert.deepEqual(
      list.freezes.map((f) => [f.name, f.active, f.until]),
      [["stop-the-line", true, null]],
    );
  });

  it("answers 409 for a name that exists and leaves the first freeze as it was", async () => {
    const again = await post({ name: "stop-the-line", pipelines: ["svc-a"], reason: "other" });
    assert.equal(again.statusCode, 409);
    assert.equal((JSON.parse(again.body) as { error: string }).error, "FreezeExists");
    const listed = JSON.parse((await call({ resource: "/freezes", httpMethod: "GET" })).body) as {
      freezes: FreezeRecord[];
    };
    assert.deepEqual(listed.freezes[0].pipelines, ["*", "web-*"]);
  });

  it("answers 400 with the problems, 403 without a caller, 404 deleting an unknown name", async () => {
    const bad = await post({ name: "x", pipelines: ["svc-a"], reason: "r", end: "2026-01-01T00:00:00Z" });
    assert.equal(bad.statusCode, 400);
    assert.deepEqual(
      (JSON.parse(bad.body) as { problems: { path: string }[] }).problems.map((p) => p.path),
      ["/end"],
    );
    const notJson = await call({ resource: "/freezes", httpMethod: "POST", body: "{" });
    assert.equal(notJson.statusCode, 400);
    const anonymous = await call({ resource: "/freezes", httpMethod: "POST", body: "{}" }, "");
    assert.equal(anonymous.statusCode, 403);
    const unknown = await remove("no-such-freeze");
    assert.equal(unknown.statusCode, 404);
    assert.equal((JSON.parse(unknown.body) as { error: string }).error, "FreezeNotFound");
  });

  it("removes a freeze, answering what it removed, and keeps the store's key out of the releases", async () => {
    const removed = await remove("stop-the-line");
    assert.equal(removed.statusCode, 200);
    assert.equal((JSON.parse(removed.body) as { removed: FreezeRecord }).removed.reason, "incident 123");
    const listed = JSON.parse((await call({ resource: "/freezes", httpMethod: "GET" })).body) as {
      freezes: unknown[];
    };
    assert.deepEqual(listed.freezes, []);
    assert.match(FREEZES_KEY, /:/, "a releaseId never holds ':' (RELEASE_ID_PATTERN)");
  });
});
