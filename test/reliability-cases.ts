/**
 * The bad-input battery of test/reliability.test.ts: manifests that must be rejected through the
 * local API (a 4xx) and through the bucket (a REJECTED record), each with the one problem (its JSON
 * Pointer and rule) the rejection must name. They are judged against RELIABILITY_ALLOW_LIST;
 * pipelines off it stand for the unknown ones.
 */

export const RELIABILITY_ALLOW_LIST = ["svc-a", "svc-b", "svc-c", "svc-manual", "svc-fails"];

export interface BadInput {
  /** Completes "rejects …". */
  name: string;
  /** The raw bytes sent: a string is sent as UTF-8. */
  body: string | Buffer;
  /** The problem the rejection must report: "" is the manifest as a whole. */
  path: string;
  rule: string;
}

const ok = { releaseId: "bad-input", pipelines: ["svc-a"] };
const json = (value: unknown): string => JSON.stringify(value);
/** The valid manifest with one field replaced. */
const withId = (releaseId: unknown): string => json({ ...ok, releaseId });
const withPipelines = (pipelines: unknown): string => json({ ...ok, pipelines });
/** The valid manifest with its releaseId's JSON text replaced, for text JSON.stringify cannot write. */
const withRawId = (text: string): string => `{"releaseId": ${text}, "pipelines": ["svc-a"]}`;
/** The valid manifest with a raw JSON fragment added after pipelines. */
const withRaw = (fragment: string): string =>
  `{"releaseId": "bad-input", "pipelines": ["svc-a"], ${fragment}}`;
const nested = (depth: number): string => `${"[".repeat(depth)}1${"]".repeat(depth)}`;

/** The valid manifest padded with spaces to exactly `bytes` bytes. */
function paddedTo(bytes: number): string {
  const text = json(ok);
  return `${text.slice(0, -1)}${" ".repeat(bytes - Buffer.byteLength(text))}}`;
}

const bad = (name: string, body: string | Buffer, path: string, rule: string): BadInput => ({
  name,
  body,
  path,
  rule,
});
const notJson = (name: string, body: string): BadInput => bad(name, body, "", "json");
const notObject = (name: string, body: string): BadInput => bad(name, body, "", "type");
const badId = (name: string, releaseId: unknown, rule = "pattern"): BadInput =>
  bad(name, withId(releaseId), "/releaseId", rule);
const badNumberId = (name: string, text: string, rule: string): BadInput =>
  bad(name, withRawId(text), "/releaseId", rule);
const badPipelines = (name: string, pipelines: unknown, path: string, rule: string): BadInput =>
  bad(name, withPipelines(pipelines), path, rule);

export const BAD_INPUTS: BadInput[] = [
  // Malformed JSON.
  notJson("an empty body", ""),
  notJson("a body of only whitespace", " \n\t "),
  notJson("a truncated object", json(ok).slice(0, -1)),
  notJson("a trailing comma", `${json(ok).slice(0, -1)},}`),
  notJson("single-quoted strings", json(ok).replace(/"/g, "'")),
  notJson("unquoted keys", '{releaseId: "bad-input", pipelines: ["svc-a"]}'),
  notJson("a comment", `// release\n${json(ok)}`),
  notJson("a byte order mark", `\ufeff${json(ok)}`),
  notJson("NaN as releaseId", withRawId("NaN")),
  notJson("two documents in one body", `${json(ok)}${json(ok)}`),
  notJson("an invalid escape", withRawId('"bad\\x41"')),
  notJson("a raw newline inside a string", withRawId('"bad\ninput"')),
  notJson("a lone closing bracket", "]"),

  // Wrong top-level types.
  notObject("a top-level array", json([ok])),
  notObject("a top-level string", json("bad-input")),
  notObject("a top-level number", "42"),
  notObject("a top-level null", "null"),
  notObject("a top-level boolean", "true"),

  // Missing and unknown fields.
  bad("an empty object", "{}", "/releaseId", "required"),
  bad("a manifest without pipelines", json({ releaseId: "bad-input" }), "/pipelines", "required"),
  bad("a manifest without releaseId", json({ pipelines: ["svc-a"] }), "/releaseId", "required"),
  bad("an unknown top-level field", json({ ...ok, dryRun: true }), "/dryRun", "additionalProperties"),
  bad(
    "releaseId spelled with a capital R",
    json({ ...ok, ReleaseId: "x" }),
    "/ReleaseId",
    "additionalProperties",
  ),
  badPipelines(
    "an unknown field in a pipeline object",
    [{ name: "svc-a", branch: "main" }],
    "/pipelines/0/branch",
    "additionalProperties",
  ),

  // Prototype-polluting keys, as raw text (in an object literal __proto__ would set the prototype).
  bad("a top-level __proto__ key", withRaw('"__proto__": {"isAdmin": true}'), "/__proto__", "forbiddenKey"),
  bad(
    "a top-level constructor key",
    withRaw('"constructor": {"prototype": {"isAdmin": true}}'),
    "/constructor",
    "forbiddenKey",
  ),
  bad(
    "a prototype key inside a pipeline object",
    '{"releaseId": "bad-input", "pipelines": [{"name": "svc-a", "prototype": {}}]}',
    "/pipelines/0/prototype",
    "forbiddenKey",
  ),
  bad(
    "a __proto__ variable",
    '{"releaseId": "bad-input", "pipelines": [{"name": "svc-a", "variables": {"__proto__": "x"}}]}',
    "/pipelines/0/variables/__proto__",
    "forbiddenKey",
  ),

  // Duplicate keys.
  bad("releaseId given twice", withRaw('"releaseId": "bad-input-2"'), "/releaseId", "duplicateKey"),
  bad("pipelines given twice", withRaw('"pipelines": ["svc-b"]'), "/pipelines", "duplicateKey"),
  bad(
    "a pipeline object's name given twice",
    '{"releaseId": "bad-input", "pipelines": [{"name": "svc-a", "name": "svc-b"}]}',
    "/pipelines/0/name",
    "duplicateKey",
  ),

  // releaseId: its alphabet and length.
  badId("an empty releaseId", ""),
  badId("a releaseId with a space", "5 16"),
  badId("a releaseId with a slash", "release/5.16"),
  badId("a releaseId with a colon, as rejection records are keyed", "rejected:release-5.16"),
  badId("a releaseId starting with a dot", ".5.16"),
  badId("a releaseId starting with a hyphen", "-5.16"),
  badId("a releaseId of 65 characters", "r".repeat(65)),
  badId("a releaseId with a trailing newline", "5.16\n"),
  // Unicode look-alikes and invisible characters.
  badId("a releaseId with a Cyrillic look-alike letter", "r\u0435lease-5.16"),
  badId("a releaseId of fullwidth digits", "\uff15.\uff11\uff16"),
  badId("a releaseId with a zero-width space", "5.16\u200b"),
  badId("a releaseId with a right-to-left override", "\u202e61.5"),
  badId("a releaseId with a non-breaking space", "5\u00a016"),
  badNumberId("a releaseId with a lone surrogate escape", '"5.16\\ud800"', "pattern"),
  bad(
    "a releaseId with bytes that are not UTF-8",
    Buffer.concat([
      Buffer.from('{"releaseId": "5.16'),
      Buffer.from([0xff, 0xfe]),
      Buffer.from('", "pipelines": ["svc-a"]}'),
    ]),
    "/releaseId",
    "pattern",
  ),
  // releaseId: types, and numbers whose text is not a releaseId or whose value a double cannot hold.
  badId("a null releaseId", null, "type"),
  badId("a releaseId that is an array", ["5.16"], "type"),
  badNumberId("a negative number as releaseId", "-5.16", "minimum"),
  badNumberId("a number with an exponent sign as releaseId", "5e+16", "pattern"),
  badNumberId("a number too large for a double as releaseId", "1e400", "type"),
  badNumberId("a 70-digit number as releaseId, which no double holds", "9".repeat(70), "pattern"),

  // pipelines.
  badPipelines("an empty pipeline list", [], "/pipelines", "minItems"),
  badPipelines("a pipeline listed twice", ["svc-a", "svc-b", "svc-a"], "/pipelines/2", "uniqueItems"),
  badPipelines(
    "a pipeline listed as a name and again as an object",
    ["svc-a", { name: "svc-a" }],
    "/pipelines/1",
    "uniqueItems",
  ),
  badPipelines(
    "51 pipelines, over the limit of 50",
    Array.from({ length: 51 }, (_, i) => `svc-${i}`),
    "/pipelines",
    "maxItems",
  ),
  badPipelines(
    "a pipeline that is not on the allow-list",
    ["svc-a", "svc-unknown"],
    "/pipelines/1",
    "allowList",
  ),
  badPipelines("a pipeline name with a space", ["svc a"], "/pipelines/0", "allowList"),
  badPipelines("a pipeline name of 101 characters", ["s".repeat(101)], "/pipelines/0", "allowList"),
  badPipelines("an empty pipeline name", [{ name: "" }], "/pipelines/0/name", "allowList"),
  badPipelines("a pipeline name with a zero-width joiner", ["svc-a\u200d"], "/pipelines/0", "allowList"),
  badPipelines("a pipeline that is a number", [7], "/pipelines/0", "type"),
  badPipelines("a pipeline that is null", [null], "/pipelines/0", "type"),
  badPipelines("a pipeline that is a nested list", [["svc-a"]], "/pipelines/0", "type"),
  badPipelines("pipelines as a single string", "svc-a", "/pipelines", "type"),
  badPipelines(
    "a pipeline object without a name",
    [{ variables: { STAGE: "prod" } }],
    "/pipelines/0/name",
    "required",
  ),
  badPipelines(
    "a pipeline object with empty variables",
    [{ name: "svc-a", variables: {} }],
    "/pipelines/0/variables",
    "minProperties",
  ),
  badPipelines(
    "a variable whose value is not a string",
    [{ name: "svc-a", variables: { COUNT: 3 } }],
    "/pipelines/0/variables/COUNT",
    "type",
  ),
  badPipelines(
    "a source revision of an unknown type",
    [
      {
        name: "svc-a",
        sourceRevisions: [{ actionName: "Source", revisionType: "BRANCH", revisionValue: "main" }],
      },
    ],
    "/pipelines/0/sourceRevisions/0/revisionType",
    "enum",
  ),

  // Size and depth.
  bad("a body one byte over the 64 KiB limit", paddedTo(65_537), "", "maxBytes"),
  bad(
    "a body over the limit in bytes but not in characters",
    withId(`r${"\u00e9".repeat(33_000)}`),
    "",
    "maxBytes",
  ),
  bad("a body of 1 MiB", paddedTo(1024 * 1024), "", "maxBytes"),
  badPipelines(
    "variables nested 11 levels deep",
    [{ name: "svc-a", variables: { DEEP: JSON.parse(nested(9)) } }],
    "/pipelines/0/variables/DEEP/0/0/0/0/0/0/0",
    "depth",
  ),
  bad("arrays nested 10,000 levels deep", nested(10_000), "", "depth"),
  bad(
    "objects nested 5,000 levels deep in an unknown field",
    withRaw(`"x": ${'{"a":'.repeat(5000)}1${"}".repeat(5000)}`),
    "",
    "depth",
  ),
];

/** A bad request to a release-control route, and the refusal it must get (test/reliability.test.ts). */
export interface BadControlRequest {
  /** Completes "refuses …". */
  name: string;
  method: "GET" | "POST";
  /**
   * The path, with RUNNING, ENDED and REJECTED standing for a running (gated) release, an ended
   * one and a rejected submission.
   */
  path: string;
  body?: string;
  contentType?: string;
  /** Who calls; the submitter of both releases when unset. */
  user?: string;
  status: number;
  error: string;
  /** The problem a 400 for a bad body must name (JSON Pointer and rule). */
  problem?: { path: string; rule: string };
}

const long = "x".repeat(1001);
const CANCEL = "/releases/RUNNING/cancel";
const GATE = "/releases/RUNNING/approvals/svc-manual";
const approve = json({ decision: "approve" });

/** A POST the API refuses with `status` and `error`. */
const post = (
  name: string,
  path: string,
  body: string,
  status: number,
  error: string,
): BadControlRequest => ({
  name,
  method: "POST",
  path,
  body,
  status,
  error,
});

/** An approval of `pipeline` in `release` that the API refuses. */
const decide = (name: string, release: string, pipeline: string, status: number, error: string) =>
  post(name, `/releases/${release}/approvals/${pipeline}`, approve, status, error);

/** A POST whose body the API refuses (400), naming the problem: its JSON Pointer and rule. */
const badBody = (name: string, path: string, body: string, at: string, rule: string): BadControlRequest => ({
  ...post(name, path, body, 400, "InvalidRequest"),
  problem: { path: at, rule },
});

/** A listing query the API refuses (400). */
const badList = (name: string, path: string, error: string): BadControlRequest => ({
  name,
  method: "GET",
  path,
  status: 400,
  error,
});

const token = (key: unknown): string => Buffer.from(json(key)).toString("base64url");

export const BAD_CONTROL_REQUESTS: BadControlRequest[] = [
  // Unknown release, pipeline or route.
  post("a cancel of an unknown release", "/releases/no-such-release/cancel", "{}", 404, "ReleaseNotFound"),
  post("a retry of an unknown release", "/releases/no-such-release/retry", "{}", 404, "ReleaseNotFound"),
  decide("a decision in an unknown release", "no-such-release", "svc-a", 404, "ReleaseNotFound"),
  decide("a decision on a pipeline the release does not have", "RUNNING", "svc-b", 404, "PipelineNotFound"),
  post("a malformed releaseId", "/releases/bad%24id/cancel", "{}", 400, "InvalidReleaseId"),
  decide("a malformed pipeline name", "RUNNING", "svc%20a", 400, "InvalidPipeline"),
  post("an unknown control route", "/releases/RUNNING/pause", "{}", 404, "NotFound"),
  // Wrong state.
  post("a cancel of a release that ended", "/releases/ENDED/cancel", "{}", 409, "ReleaseNotRunning"),
  post("a retry of a running release", "/releases/RUNNING/retry", "{}", 409, "ReleaseNotRetryable"),
  post("a retry of a release that succeeded", "/releases/ENDED/retry", "{}", 409, "ReleaseNotRetryable"),
  decide("a decision on a pipeline without a gate", "ENDED", "svc-a", 409, "NoApprovalGate"),
  decide(
    "the submitter's approval of their own release",
    "RUNNING",
    "svc-manual",
    403,
    "SelfApprovalNotAllowed",
  ),
  {
    ...decide(
      "a decision by someone outside the gate's approvers",
      "RUNNING",
      "svc-manual",
      403,
      "NotAnApprover",
    ),
    user: "mallory",
  },
  post("a cancel of a rejected submission", "/releases/REJECTED/cancel", "{}", 409, "ReleaseNotRunning"),
  post("a retry of a rejected submission", "/releases/REJECTED/retry", "{}", 409, "ReleaseNotRetryable"),
  decide("a decision in a rejected submission", "REJECTED", "svc-a", 409, "ReleaseNotRunning"),
  // Bad bodies.
  badBody("a cancel body that is not JSON", CANCEL, "{reason: x}", "", "json"),
  badBody("a cancel body that is an array", CANCEL, "[]", "", "type"),
  badBody("a cancel with an unknown field", CANCEL, json({ why: "x" }), "/why", "additionalProperties"),
  badBody("a cancel reason that is not a string", CANCEL, json({ reason: 42 }), "/reason", "type"),
  badBody(
    "an oversized cancel reason (1001 characters)",
    CANCEL,
    json({ reason: long }),
    "/reason",
    "maxLength",
  ),
  badBody(
    "a retry body with a field",
    "/releases/ENDED/retry",
    json({ attempt: 3 }),
    "/attempt",
    "additionalProperties",
  ),
  badBody("a decision without a decision", GATE, json({ comment: "ok" }), "/decision", "required"),
  badBody(
    "a decision that is neither approve nor reject",
    GATE,
    json({ decision: "maybe" }),
    "/decision",
    "enum",
  ),
  badBody(
    "an oversized comment (1001 characters)",
    GATE,
    json({ decision: "reject", comment: long }),
    "/comment",
    "maxLength",
  ),
  badBody("an empty comment", GATE, json({ decision: "reject", comment: "" }), "/comment", "minLength"),
  post(
    "a control body larger than 16 KiB",
    CANCEL,
    json({ reason: "x".repeat(17_000) }),
    413,
    "InvalidRequest",
  ),
  {
    ...post("a cancel sent as text/plain", CANCEL, "{}", 415, "UnsupportedMediaType"),
    contentType: "text/plain",
  },
  // Bad list queries.
  badList(
    "a nextToken from another status's listing",
    `/releases?status=SUCCEEDED&nextToken=${token({ releaseId: "x", status: "FAILED", startedAt: "2026-11-30T00:00:00.000Z" })}`,
    "InvalidNextToken",
  ),
  badList("a list of an unknown status", "/releases?status=done", "InvalidStatus"),
  badList("a list limit of 0", "/releases?limit=0", "InvalidLimit"),
  badList("a list limit over 100", "/releases?limit=101", "InvalidLimit"),
  badList("a list limit that is not a number", "/releases?limit=ten", "InvalidLimit"),
  badList("a nextToken that is not one", "/releases?nextToken=garbage", "InvalidNextToken"),
  badList("a nextToken naming another key", `/releases?nextToken=${token({ x: "1" })}`, "InvalidNextToken"),
];
