/**
 * The release manifest: each rule parseManifest enforces, shown rejecting a manifest with the exact
 * problems (path, rule, and the words of the message) it reports; the accepted forms with the exact
 * release they plan; the identifiers a release derives; and the schema's fitness for API Gateway.
 */
import assert from "node:assert/strict";
import Ajv from "ajv";
import { InvalidManifest } from "../contract/errors";
import { canonicalReleaseId, clientRequestToken, parseManifest } from "../contract/manifest";
import {
  type JsonSchema,
  type ManifestRules,
  DEFAULT_APPROVAL_TIMEOUT_HOURS,
  DEFAULT_MANIFEST_RULES,
  manifestSchema,
} from "../contract/manifest-schema";
import { assertRejected, manifest, problemsOf, withPipelines } from "./manifest-helpers";

const RULES: ManifestRules = {
  allowedPipelines: ["svc-a", "svc-b", "svc-c"],
  maxPipelines: 4,
  maxBytes: 4000,
};
/** No allow-list: a name's own pattern is the only rule on it. */
const OPEN: ManifestRules = { maxPipelines: 20, maxBytes: 4000 };
const SEED_PIPELINES = [1, 2, 3, 4, 5].map((n) => `pipeline-for-stepfunctions-pipeline-repo-${n}`);

/** [path, rule, words the message must contain] */
type Expected = [string, string, RegExp];

function assertProblems(text: string, expected: Expected[], rules: ManifestRules = RULES): void {
  assertRejected(
    text,
    expected.map(([path, rule, message]) => ({ path, rule, message })),
    rules,
  );
}

const withReleaseId = (literal: string): string => `{"releaseId": ${literal}, "pipelines": ["svc-a"]}`;

describe("parseManifest accepts", () => {
  it("reads the seed manifest's numeric releaseId 5.15 as release 5.15, keeping pipeline order", () => {
    const seedRules = { ...DEFAULT_MANIFEST_RULES, allowedPipelines: SEED_PIPELINES };
    const text = `{\n  "releaseId": 5.15,\n  "pipelines": ${JSON.stringify(SEED_PIPELINES, null, 4)}\n}\n`;

    const release = parseManifest(text, seedRules);

    assert.equal(release.releaseId, "5.15");
    assert.deepEqual(
      release.pipelines,
      SEED_PIPELINES.map((name) => ({ name })),
    );
  });

  it("keeps a numeric releaseId's JSON text, so 5.10 and 5.1 are two releases", () => {
    assert.deepEqual(
      ["5.10", "5.1", "1e3", "0"].map((literal) => parseManifest(withReleaseId(literal), RULES).releaseId),
      ["5.10", "5.1", "1e3", "0"],
    );
  });

  it("keeps the text of numbers a JavaScript number cannot hold exactly", () => {
    const literals = ["12345678901234567890", "0.1000000000000000055511"];

    assert.deepEqual(
      literals.map((literal) => parseManifest(withReleaseId(literal), RULES).releaseId),
      literals,
    );
  });

  it("plans a plain name as a pipeline with only its name: no dependencies, variables or revisions", () => {
    assert.deepEqual(parseManifest(withPipelines(["svc-b"]), RULES), {
      releaseId: "r1",
      pipelines: [{ name: "svc-b" }],
    });
  });

  it("keeps the extended form's dependsOn and sourceRevisions as CodePipeline takes them, and its variables as the manifest wrote them", () => {
    const text = withPipelines([
      {
        name: "svc-a",
        variables: { IMAGE_TAG: "5.15", "deploy@region": "us-east-1" },
        sourceRevisions: [{ actionName: "Source", revisionType: "COMMIT_ID", revisionValue: "abc123" }],
      },
      { name: "svc-b", dependsOn: ["svc-a"] },
      { name: "svc-c", dependsOn: [] },
    ]);

    const release = parseManifest(text, RULES);

    assert.deepEqual(release.pipelines, [
      {
        name: "svc-a",
        // Compact, as written: CodePipeline's list form would triple them in the workflow's state.
        variables: { IMAGE_TAG: "5.15", "deploy@region": "us-east-1" },
        sourceRevisions: [{ actionName: "Source", revisionType: "COMMIT_ID", revisionValue: "abc123" }],
      },
      { name: "svc-b", dependsOn: ["svc-a"] },
      { name: "svc-c" },
    ]);
  });
});

describe("approval gates in the manifest", () => {
  it("plans `true` as a gate with the default timeout and any approver but the submitter", () => {
    const release = parseManifest(
      withPipelines(["svc-a", { name: "svc-b", dependsOn: ["svc-a"], approval: true }]),
      RULES,
    );
    assert.deepEqual(release.pipelines[1], {
      name: "svc-b",
      dependsOn: ["svc-a"],
      approval: { timeoutHours: DEFAULT_APPROVAL_TIMEOUT_HOURS },
    });
    assert.deepEqual(parseManifest(withPipelines([{ name: "svc-a", approval: false }]), RULES).pipelines, [
      { name: "svc-a" },
    ]);
  });

  it("keeps a gate's own timeout and approver patterns", () => {
    const approvers = [
      "arn:aws:sts::123456789012:assumed-role/release-approvers/*",
      "arn:aws:iam::123456789012:user/ops",
    ];
    const release = parseManifest(
      withPipelines([{ name: "svc-a", approval: { timeoutHours: 4, approvers } }]),
      RULES,
    );
    assert.deepEqual(release.pipelines[0].approval, { timeoutHours: 4, approvers });
  });

  it("rejects a gate of the wrong type, an unknown field, and a timeout or approver list outside its limits", () => {
    assertProblems(
      withPipelines([
        { name: "svc-a", approval: "yes" },
        { name: "svc-b", approval: { timeoutHours: 0, who: "me" } },
        // 8713 hours would reach the release's backstop (contract/execution-limits.ts).
        { name: "svc-c", approval: { timeoutHours: 8713, approvers: [] } },
        { name: "svc-d", approval: { timeoutHours: 1.5, approvers: ["not an arn"] } },
      ]),
      [
        ["/pipelines/0/approval", "type", /approval must be of type boolean or object/],
        ["/pipelines/1/approval/timeoutHours", "minimum", /timeoutHours must be at least 1/],
        [
          "/pipelines/1/approval/who",
          "additionalProperties",
          /unknown field "who"; allowed: timeoutHours and approvers/,
        ],
        ["/pipelines/2/approval/approvers", "minItems", /approvers must list at least 1 item/],
        ["/pipelines/2/approval/timeoutHours", "maximum", /timeoutHours must be at most 8712/],
        ["/pipelines/3/approval/approvers/0", "pattern", /"not an arn" must be an IAM ARN or ARN pattern/],
        ["/pipelines/3/approval/timeoutHours", "type", /timeoutHours must be of type integer/],
      ],
      OPEN,
    );
  });
});

describe("parseManifest rejects dependencies that could never run", () => {
  const problemsOf = (pipelines: unknown[]) => {
    try {
      parseManifest(withPipelines(pipelines), RULES);
    } catch (error) {
      return (error as InvalidManifest).problems.map(({ path, rule }) => ({ path, rule }));
    }
    return [];
  };

  it("names a dependency that is not a pipeline of the manifest, by its JSON Pointer", () => {
    assert.deepEqual(problemsOf(["svc-a", { name: "svc-b", dependsOn: ["svc-a", "svc-c"] }]), [
      { path: "/pipelines/1/dependsOn/1", rule: "unknownDependency" },
    ]);
  });

  it("names a pipeline that depends on itself", () => {
    assert.deepEqual(problemsOf([{ name: "svc-a", dependsOn: ["svc-a"] }]), [
      { path: "/pipelines/0/dependsOn/0", rule: "selfDependency" },
    ]);
  });

  it("names a dependency listed twice, pointing at the repeat", () => {
    assert.deepEqual(problemsOf(["svc-a", { name: "svc-b", dependsOn: ["svc-a", "svc-a"] }]), [
      { path: "/pipelines/1/dependsOn/1", rule: "uniqueItems" },
    ]);
  });

  it("names a cycle and every pipeline on it, so none of them could start", () => {
    let message = "";
    try {
      parseManifest(
        withPipelines([
          { name: "svc-a", dependsOn: ["svc-c"] },
          { name: "svc-b", dependsOn: ["svc-a"] },
          { name: "svc-c", dependsOn: ["svc-b"] },
        ]),
        RULES,
      );
    } catch (error) {
      message = (error as Error).message;
      assert.deepEqual(
        (error as InvalidManifest).problems.map(({ path, rule }) => ({ path, rule })),
        [{ path: "/pipelines/0/dependsOn", rule: "cycle" }],
      );
    }
    assert.match(message, /cycle \("svc-a" -> "svc-c" -> "svc-b" -> "svc-a"\)/);
  });

  it("refuses a dependsOn that is not a list of names, by type and pattern", () => {
    assert.deepEqual(problemsOf([{ name: "svc-a", dependsOn: "svc-b" }]), [
      { path: "/pipelines/0/dependsOn", rule: "type" },
    ]);
    assert.deepEqual(problemsOf(["svc-a", { name: "svc-b", dependsOn: ["svc a"] }]), [
      { path: "/pipelines/1/dependsOn/0", rule: "pattern" },
    ]);
  });

  it("accepts a diamond: two pipelines on one dependency, a third on both", () => {
    const diamond = withPipelines([
      "db",
      { name: "api", dependsOn: ["db"] },
      { name: "web", dependsOn: ["db"] },
      { name: "smoke", dependsOn: ["api", "web"] },
    ]);
    const release = parseManifest(diamond, { maxPipelines: 5, maxBytes: 10_000 });
    assert.deepEqual(
      release.pipelines.map((p) => [p.name, p.dependsOn ?? []]),
      [
        ["db", []],
        ["api", ["db"]],
        ["web", ["db"]],
        ["smoke", ["api", "web"]],
      ],
    );
  });
});

describe("parseManifest rejects", () => {
  it("rejects empty text and text after the manifest", () => {
    assertProblems(" \n", [["", "json", /the manifest is empty/]]);
    assertProblems(`${withPipelines(["svc-a"])} {}`, [["", "json", /EndOfFileExpected/]]);
  });

  it("refuses 10,000 nested arrays with a depth problem instead of overflowing the parser's stack", () => {
    const text = `${"[".repeat(10_000)}${"]".repeat(10_000)}`;

    assertProblems(text, [["", "depth", /nesting deeper than 10 levels .*line 1, offset 100,/]], {
      ...OPEN,
      maxBytes: 65536,
    });
  });

  it("rejects a pipeline item of the wrong type with one problem per item", () => {
    assertProblems(withPipelines([5, null, { name: 5 }, { name: "svc-a", variables: { A: 1 } }]), [
      [
        "/pipelines/0",
        "type",
        /each pipeline must be a name \(string\) or an object \{ name, dependsOn\?, variables\?/,
      ],
      ["/pipelines/1", "type", /each pipeline must be a name/],
      ["/pipelines/2/name", "type", /pipeline name must be of type string/],
      ["/pipelines/3/variables/A", "type", /variable "A" must be of type string/],
    ]);
  });

  const badIds: [string, string, RegExp][] = [
    ["with a space", "release 1", /got "release 1"/],
    ["starting with a dot", ".r1", /starting with a letter or digit/],
    ["of 65 characters", "r".repeat(65), /1-64 characters/],
    ["with a Cyrillic look-alike e", "rel\u0435ase", /got "rel\\u0435ase"/],
    ["with a zero-width space", "r\u200b1", /got "r\\u200b1"/],
    ["ending in a newline", "r1\n", /got "r1\\n"/],
  ];
  for (const [what, releaseId, shown] of badIds) {
    it(`rejects a releaseId ${what}, listing the characters allowed`, () => {
      const allowed = /only letters A-Z a-z, digits, '\.', '_' and '-'/;

      assertProblems(manifest({ releaseId, pipelines: ["svc-a"] }), [["/releaseId", "pattern", allowed]]);
      assert.match(problemsOf(manifest({ releaseId, pipelines: ["svc-a"] }), RULES)[0].message, shown);
    });
  }

  it("rejects a numeric releaseId whose JSON text is not a valid id", () => {
    for (const literal of ["-0", "1E+3", "1".repeat(65)]) {
      assertProblems(withReleaseId(literal), [
        ["/releaseId", "pattern", /got the number .*send it as a string/],
      ]);
    }
  });

  it("cuts a long allow-list short in the message", () => {
    const allowedPipelines = Array.from({ length: 60 }, (_, i) => `pipeline-number-${i}`);

    const [problem] = problemsOf(withPipelines(["other"]), { ...OPEN, allowedPipelines });

    assert.match(problem.message, /allowed: pipeline-number-0, pipeline-number-1, .*, … \(60 in all\)$/);
    assert.ok(problem.message.length < 400);
  });

  it("states the allow-list once when 42 of 60 pipelines are off it, and points to it from the others", () => {
    const allowedPipelines = Array.from({ length: 60 }, (_, i) => `pipeline-number-${i}`);
    const names = Array.from({ length: 60 }, (_, i) => (i < 18 ? `pipeline-number-${i}` : `other-${i}`));

    const problems = problemsOf(withPipelines(names), { ...OPEN, allowedPipelines, maxPipelines: 60 });

    assert.equal(problems.length, 42);
    assert.match(problems[0].message, /allowed: pipeline-number-0, .*\(60 in all\)$/);
    for (const problem of problems.slice(1)) {
      assert.equal(problem.rule, "allowList");
      assert.match(
        problem.message,
        /^pipeline "other-\d+" is not on this machine's allow-list; allowed: as listed at \/pipelines\/18$/,
      );
    }
    const text = JSON.stringify(problems);
    assert.equal(text.split("pipeline-number-1,").length - 1, 1, "the allow-list appears once");
    assert.ok(text.length < 8000, String(text.length));
  });

  it("reports one problem per location: the allow-list for a malformed name, the type for a number", () => {
    assertProblems(withPipelines(["svc a", { name: 5 }]), [
      ["/pipelines/0", "allowList", /pipeline "svc a" is not on this machine's allow-list/],
      ["/pipelines/1/name", "type", /must be of type string/],
    ]);
  });

  it("rejects variables outside CodePipeline's limits", () => {
    const variables = Object.fromEntries(Array.from({ length: 51 }, (_, i) => [`V${i}`, "x"]));

    assertProblems(
      withPipelines([
        { name: "a", variables: { "bad name": "1", EMPTY: "", LONG: "x".repeat(1001) } },
        { name: "b", variables: {} },
        { name: "c", variables },
      ]),
      [
        ["/pipelines/0/variables/EMPTY", "minLength", /variable "EMPTY" must not be empty/],
        ["/pipelines/0/variables/LONG", "maxLength", /variable "LONG" must be at most 1000 characters/],
        [
          "/pipelines/0/variables/bad name",
          "additionalProperties",
          /allowed: names matching .*'@', '_' and '-'/,
        ],
        ["/pipelines/1/variables", "minProperties", /variables must have at least one entry/],
        ["/pipelines/2/variables", "maxProperties", /variables may have at most 50 entries/],
      ],
      OPEN,
    );
  });

  it("rejects sourceRevisions outside CodePipeline's limits", () => {
    const revision = { actionName: "Source", revisionType: "COMMIT_ID", revisionValue: "abc" };

    assertProblems(
      withPipelines([
        {
          name: "a",
          sourceRevisions: [{ ...revision, revisionType: "BRANCH" }, { actionName: "my source" }],
        },
        { name: "b", sourceRevisions: [] },
      ]),
      [
        [
          "/pipelines/0/sourceRevisions/0/revisionType",
          "enum",
          /one of COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID/,
        ],
        [
          "/pipelines/0/sourceRevisions/1/actionName",
          "pattern",
          /actionName "my source" must be 1-100 characters/,
        ],
        ["/pipelines/0/sourceRevisions/1/revisionType", "required", /revisionType is required/],
        ["/pipelines/0/sourceRevisions/1/revisionValue", "required", /revisionValue is required/],
        ["/pipelines/1/sourceRevisions", "minItems", /sourceRevisions must list at least 1 item/],
      ],
      OPEN,
    );
  });

  it("lists the first problems and counts the rest, so the error fits a Step Functions Cause", () => {
    const text = withPipelines(Array(5000).fill(0));

    const problems = problemsOf(text, { ...OPEN, maxBytes: 65536 });

    assert.deepEqual(problems.slice(0, 2), [
      {
        path: "/pipelines",
        rule: "maxItems",
        message: "pipelines may list at most 20 items; split the release",
      },
      {
        path: "/pipelines/0",
        rule: "type",
        message:
          "each pipeline must be a name (string) or an object { name, dependsOn?, variables?, sourceRevisions?, approval? }",
      },
    ]);
    assert.deepEqual(problems.at(-1), {
      path: "",
      rule: "tooManyProblems",
      message: `${5001 - (problems.length - 1)} more problems are not listed`,
    });
    assert.ok(new InvalidManifest(problems).message.length < 32_768);
  });
});

describe("identifiers derived from a release", () => {
  const CLIENT_REQUEST_TOKEN = /^[a-zA-Z0-9-]{1,128}$/;

  it("derives a stable CodePipeline token that tells 5.15 from 5-15 and one pipeline from another", () => {
    const tokens = [
      clientRequestToken("5.15", "svc-a"),
      clientRequestToken("5-15", "svc-a"),
      clientRequestToken("5.15", "svc-b"),
    ];

    tokens.forEach((token) => assert.match(token, CLIENT_REQUEST_TOKEN));
    assert.equal(new Set(tokens).size, 3);
    assert.equal(clientRequestToken("5.15", "svc-a"), tokens[0]);
    assert.equal(tokens[0], "rm-0736cbcbd7d273e3f2d8d2e4a61db26c25e4c248b43f24d2d6d0a42221ca6d0a");
  });

  it("derives a new token for each retry attempt, keeping the first attempt's token unchanged", () => {
    assert.equal(clientRequestToken("5.15", "svc-a", 1), clientRequestToken("5.15", "svc-a"));
    assert.notEqual(clientRequestToken("5.15", "svc-a", 2), clientRequestToken("5.15", "svc-a", 1));
    assert.notEqual(clientRequestToken("5.15", "svc-a", 2), clientRequestToken("5.15", "svc-a", 3));
    assert.match(clientRequestToken("5.15", "svc-a", 2), CLIENT_REQUEST_TOKEN);
  });

  it("canonicalizes a releaseId: strings as given, numbers by their JSON text, invalid ones to undefined", () => {
    assert.deepEqual(
      [
        canonicalReleaseId("5.16"),
        canonicalReleaseId(5.1, "5.10"),
        canonicalReleaseId(5.1),
        canonicalReleaseId(-5, "-5"),
        canonicalReleaseId("r 1"),
      ],
      ["5.16", "5.10", "5.1", undefined, undefined],
    );
  });
});

describe("manifestSchema", () => {
  it("refuses an empty allow-list, which would allow nothing and is not a valid draft-04 enum", () => {
    assert.throws(() => manifestSchema({ ...OPEN, allowedPipelines: [] }), {
      name: "ConfigurationError",
      message: "the pipeline allow-list is empty: list at least one pipeline, or leave it unset",
    });
  });

  /** Keywords valid in both draft-04 (API Gateway models) and draft-07 (ajv), as this schema may use them. */
  const SHARED_KEYWORDS = [
    "additionalProperties",
    "anyOf",
    "description",
    "enum",
    "items",
    "maxItems",
    "maxLength",
    "maxProperties",
    "maximum",
    "minItems",
    "minLength",
    "minProperties",
    "minimum",
    "pattern",
    "patternProperties",
    "properties",
    "required",
    "title",
    "type",
    "uniqueItems",
  ];

  const DRAFT_06_AND_LATER = ["const", "contains", "propertyNames", "if", "then", "else", "$ref", "$id"];

  /** Every keyword used, walking only schema positions (not the names inside properties). */
  function keywordsOf(schema: JsonSchema): Set<string> {
    const found = new Set(Object.keys(schema));
    const children = [
      ...Object.values(schema.properties ?? {}),
      ...Object.values(schema.patternProperties ?? {}),
      ...(schema.anyOf ?? []),
      ...(schema.items ? [schema.items] : []),
    ];
    for (const child of children) keywordsOf(child).forEach((keyword) => found.add(keyword));
    return found;
  }

  it("compiles in ajv's strict mode without a warning, with and without an allow-list", () => {
    const complaints: unknown[] = [];
    const logger = {
      log: () => undefined,
      warn: (m: unknown) => complaints.push(m),
      error: (m: unknown) => complaints.push(m),
    };

    for (const rules of [RULES, OPEN]) {
      const validate = new Ajv({ strict: true, allowUnionTypes: true, logger }).compile(
        manifestSchema(rules),
      );
      assert.equal(validate({ releaseId: "r1", pipelines: ["svc-a", { name: "svc-b" }] }), true);
      assert.equal(validate({ releaseId: "r1", pipelines: ["svc-a"], extra: 1 }), false);
    }
    assert.deepEqual(complaints, []);
  });

  it("uses only keywords shared by draft-04 and draft-07, and none of draft-06's or later", () => {
    const used = [...keywordsOf(manifestSchema(RULES))].sort();

    assert.deepEqual(used, SHARED_KEYWORDS);
    assert.deepEqual(
      used.filter((keyword) => DRAFT_06_AND_LATER.includes(keyword)),
      [],
    );
  });

  it("puts the allow-list, without repeats, on both places a pipeline name can appear", () => {
    const schema = manifestSchema({ ...RULES, allowedPipelines: ["svc-a", "svc-b", "svc-a"] });
    const [asString, asObject] = schema.properties?.pipelines.items?.anyOf ?? [];

    assert.deepEqual(asString.enum, ["svc-a", "svc-b"]);
    assert.deepEqual(asObject.properties?.name.enum, ["svc-a", "svc-b"]);
    assert.equal(manifestSchema(OPEN).properties?.pipelines.items?.anyOf?.[0].enum, undefined);
  });
});
