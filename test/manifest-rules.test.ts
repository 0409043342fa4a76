/**
 * The manifest's rules, one test each: every rule `parseManifest` enforces is shown rejecting a
 * manifest with the exact problems (path and rule) it reports. Accepted forms, derived identifiers
 * and the schema's draft-04 portability are in test/manifest.test.ts.
 */
import assert from "node:assert/strict";
import { parseManifest } from "../contract/manifest";
import { type ManifestRules } from "../contract/manifest-schema";
import { assertRejected as assertShared, manifest, withPipelines } from "./manifest-helpers";

const RULES: ManifestRules = {
  allowedPipelines: ["svc-a", "svc-b", "svc-c"],
  maxPipelines: 3,
  maxBytes: 2000,
};
/** No allow-list, so a name's own pattern is the only rule on it. */
const OPEN_RULES: ManifestRules = { maxPipelines: 20, maxBytes: 2000 };

interface ExpectedProblem {
  path: string;
  rule: string;
  /** Key words the message must contain. */
  message: RegExp;
}

const assertRejected = (text: string, expected: ExpectedProblem[], rules: ManifestRules = RULES) =>
  assertShared(text, expected, rules);

describe("parseManifest: one test per rule", () => {
  describe("json", () => {
    it("rejects malformed JSON, saying where the text breaks", () => {
      assertRejected('{"releaseId": "r1", ', [
        { path: "", rule: "json", message: /not valid JSON.*line 1, offset 20/ },
      ]);
    });

    it("rejects a trailing comma", () => {
      assertRejected('{"releaseId": "r1", "pipelines": ["svc-a"],}', [
        { path: "", rule: "json", message: /not valid JSON/ },
      ]);
    });

    it("rejects a comment, which JSON does not have", () => {
      assertRejected('{"releaseId": "r1", // the next release\n "pipelines": ["svc-a"]}', [
        { path: "", rule: "json", message: /not valid JSON: InvalidCommentToken/ },
      ]);
    });

    it("rejects empty text", () => {
      assertRejected("", [{ path: "", rule: "json", message: /JSON/ }]);
    });
  });

  describe("maxBytes", () => {
    it("rejects a manifest over the byte limit, giving its size and the limit", () => {
      const text = manifest({ releaseId: "r1", pipelines: ["svc-a"], padding: "x".repeat(1948) });
      assert.equal(Buffer.byteLength(text), 2001);

      assertRejected(text, [{ path: "", rule: "maxBytes", message: /2001 bytes; the limit is 2000 bytes/ }]);
    });

    it("counts bytes, not characters, so multi-byte text cannot slip past the limit", () => {
      const text = manifest({ releaseId: "r1", pipelines: ["svc-a"], padding: "é".repeat(990) });
      assert.ok(text.length < 2000);

      assertRejected(text, [{ path: "", rule: "maxBytes", message: /the limit is 2000 bytes/ }]);
    });
  });

  describe("duplicateKey", () => {
    it("rejects a top-level field given twice, naming it", () => {
      assertRejected('{"releaseId": "r1", "releaseId": "r2", "pipelines": ["svc-a"]}', [
        { path: "/releaseId", rule: "duplicateKey", message: /"releaseId" appears more than once/ },
      ]);
    });

    it("rejects a nested key given twice, at its full path", () => {
      assertRejected(
        '{"releaseId": "r1", "pipelines": [{"name": "svc-a", "variables": {"A": "1", "A": "2"}}]}',
        [{ path: "/pipelines/0/variables/A", rule: "duplicateKey", message: /"A" appears more than once/ }],
      );
    });
  });

  describe("forbiddenKey", () => {
    it("rejects __proto__ and leaves Object.prototype unpolluted", () => {
      assertRejected('{"releaseId": "r1", "pipelines": ["svc-a"], "__proto__": {"polluted": true}}', [
        { path: "/__proto__", rule: "forbiddenKey", message: /"__proto__" is not allowed/ },
      ]);

      assert.equal(({} as Record<string, unknown>).polluted, undefined);
      assert.equal(Object.prototype.hasOwnProperty.call(Object.prototype, "polluted"), false);
    });

    it("rejects constructor inside a pipeline object", () => {
      assertRejected(
        '{"releaseId": "r1", "pipelines": [{"name": "svc-a", "constructor": {"prototype": {"polluted": true}}}]}',
        [{ path: "/pipelines/0/constructor", rule: "forbiddenKey", message: /"constructor" is not allowed/ }],
      );

      assert.equal(({} as Record<string, unknown>).polluted, undefined);
    });
  });

  describe("depth", () => {
    it("rejects a deeply nested variables value at the level where it becomes too deep", () => {
      const nested = "[".repeat(12) + "]".repeat(12);

      assertRejected(`{"releaseId": "r1", "pipelines": [{"name": "svc-a", "variables": {"A": ${nested}}}]}`, [
        { path: "/pipelines/0/variables/A", rule: "type", message: /must be of type string/ },
        {
          path: "/pipelines/0/variables/A/0/0/0/0/0/0/0",
          rule: "depth",
          message: /nesting deeper than 10 levels/,
        },
      ]);
    });
  });

  describe("type", () => {
    it("rejects a top-level array or string: a manifest is an object", () => {
      for (const text of ["[]", '"svc-a"']) {
        assertRejected(text, [{ path: "", rule: "type", message: /the manifest must be of type object/ }]);
      }
    });

    it("rejects a boolean releaseId", () => {
      assertRejected(manifest({ releaseId: true, pipelines: ["svc-a"] }), [
        { path: "/releaseId", rule: "type", message: /releaseId must be of type string or number/ },
      ]);
    });

    it("rejects pipelines that are not an array", () => {
      assertRejected(manifest({ releaseId: "r1", pipelines: { "svc-a": true } }), [
        { path: "/pipelines", rule: "type", message: /pipelines must be of type array/ },
      ]);
    });

    it("rejects a pipeline item that is a number, saying what an item may be", () => {
      assertRejected(withPipelines([5]), [
        { path: "/pipelines/0", rule: "type", message: /a name \(string\) or an object/ },
      ]);
    });
  });

  describe("required", () => {
    it("rejects a manifest without releaseId", () => {
      assertRejected(manifest({ pipelines: ["svc-a"] }), [
        { path: "/releaseId", rule: "required", message: /releaseId is required/ },
      ]);
    });

    it("rejects a manifest without pipelines", () => {
      assertRejected(manifest({ releaseId: "r1" }), [
        { path: "/pipelines", rule: "required", message: /pipelines is required/ },
      ]);
    });

    it("rejects an empty object, naming both missing fields", () => {
      assertRejected("{}", [
        { path: "/pipelines", rule: "required", message: /pipelines is required/ },
        { path: "/releaseId", rule: "required", message: /releaseId is required/ },
      ]);
    });
  });

  describe("additionalProperties", () => {
    it("rejects an unknown top-level field, naming it and the allowed fields", () => {
      assertRejected(manifest({ releaseId: "r1", pipelines: ["svc-a"], approver: "alice" }), [
        {
          path: "/approver",
          rule: "additionalProperties",
          message: /unknown field "approver"; allowed: releaseId, pipelines and failurePolicy/,
        },
      ]);
    });

    it("rejects an unknown key in a pipeline object", () => {
      assertRejected(withPipelines([{ name: "svc-a", stage: "Deploy" }]), [
        { path: "/pipelines/0/stage", rule: "additionalProperties", message: /unknown field "stage"/ },
      ]);
    });
  });

  describe("releaseId pattern", () => {
    const badIds: [string, string][] = [
      ["with a space", "release 1"],
      ["with a leading dot", ".release"],
      ["of 65 characters", "r".repeat(65)],
      ["with a Cyrillic look-alike letter", "rel\u0435ase"],
      ["with a zero-width space", "rel\u200base"],
    ];
    for (const [description, releaseId] of badIds) {
      it(`rejects a releaseId ${description}`, () => {
        assertRejected(manifest({ releaseId, pipelines: ["svc-a"] }), [
          { path: "/releaseId", rule: "pattern", message: /releaseId must be 1-64 characters/ },
        ]);
      });
    }

    it("rejects a negative number as releaseId (by the schema's minimum, which API Gateway checks too)", () => {
      assertRejected('{"releaseId": -5, "pipelines": ["svc-a"]}', [
        { path: "/releaseId", rule: "minimum", message: /releaseId must be >= 0/ },
      ]);
    });

    it("accepts a releaseId of exactly 64 characters", () => {
      const releaseId = `r${"0".repeat(63)}`;

      assert.equal(parseManifest(manifest({ releaseId, pipelines: ["svc-a"] }), RULES).releaseId, releaseId);
    });
  });

  describe("pipelines: minItems, maxItems, uniqueItems", () => {
    it("rejects an empty pipeline list", () => {
      assertRejected(withPipelines([]), [
        { path: "/pipelines", rule: "minItems", message: /at least 1 item/ },
      ]);
    });

    it("rejects more pipelines than the limit, giving the limit", () => {
      const rules = { ...RULES, allowedPipelines: ["svc-a", "svc-b", "svc-c", "svc-d"] };

      assertRejected(
        withPipelines(["svc-a", "svc-b", "svc-c", "svc-d"]),
        [{ path: "/pipelines", rule: "maxItems", message: /at most 3 items/ }],
        rules,
      );
    });

    it("rejects a manifest whose pipelines repeat, naming both positions", () => {
      assertRejected(withPipelines(["svc-a", "svc-b", "svc-a"]), [
        { path: "/pipelines/2", rule: "uniqueItems", message: /repeats "svc-a" \(first at \/pipelines\/0\)/ },
      ]);
    });

    it("rejects a pipeline given once as a name and again as an object with the same name", () => {
      assertRejected(withPipelines(["svc-a", { name: "svc-a", variables: { A: "1" } }]), [
        { path: "/pipelines/1", rule: "uniqueItems", message: /repeats "svc-a" \(first at \/pipelines\/0\)/ },
      ]);
    });
  });

  describe("allowList", () => {
    it("rejects a pipeline that is not on the allow-list, naming it and the allowed ones", () => {
      assertRejected(withPipelines(["svc-a", "svc-z"]), [
        {
          path: "/pipelines/1",
          rule: "allowList",
          message: /pipeline "svc-z" is not on this machine's allow-list; allowed: svc-a, svc-b, svc-c/,
        },
      ]);
    });
  });

  describe("pipeline name pattern", () => {
    it("rejects a pipeline name with a space, given as a string or as an object's name", () => {
      assertRejected(
        withPipelines(["svc x", { name: "svc y" }]),
        [
          {
            path: "/pipelines/0",
            rule: "pattern",
            message: /pipeline name "svc x" must be 1-100 characters/,
          },
          {
            path: "/pipelines/1/name",
            rule: "pattern",
            message: /pipeline name "svc y" must be 1-100 characters/,
          },
        ],
        OPEN_RULES,
      );
    });
  });

  describe("variables", () => {
    it("rejects a variable name outside CodePipeline's alphabet", () => {
      assertRejected(withPipelines([{ name: "svc-a", variables: { "bad name": "1" } }]), [
        {
          path: "/pipelines/0/variables/bad name",
          rule: "additionalProperties",
          message: /unknown field "bad name"; allowed: names matching/,
        },
      ]);
    });

    it("rejects a variable value over 1000 characters", () => {
      assertRejected(withPipelines([{ name: "svc-a", variables: { A: "x".repeat(1001) } }]), [
        { path: "/pipelines/0/variables/A", rule: "maxLength", message: /1000 characters/ },
      ]);
    });
  });

  describe("sourceRevisions", () => {
    it("rejects an unknown revisionType, listing the allowed ones", () => {
      const revision = { actionName: "Source", revisionType: "BRANCH", revisionValue: "main" };

      assertRejected(withPipelines([{ name: "svc-a", sourceRevisions: [revision] }]), [
        {
          path: "/pipelines/0/sourceRevisions/0/revisionType",
          rule: "enum",
          message: /COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID, S3_OBJECT_KEY/,
        },
      ]);
    });

    it("rejects a revision without its revisionValue", () => {
      const revision = { actionName: "Source", revisionType: "COMMIT_ID" };

      assertRejected(withPipelines([{ name: "svc-a", sourceRevisions: [revision] }]), [
        {
          path: "/pipelines/0/sourceRevisions/0/revisionValue",
          rule: "required",
          message: /revisionValue is required/,
        },
      ]);
    });
  });

  describe("several problems", () => {
    it("reports every problem together, sorted by path", () => {
      assertRejected(manifest({ releaseId: "bad id", pipelines: ["svc-z", "svc-a", "svc-a"], extra: 1 }), [
        { path: "/extra", rule: "additionalProperties", message: /unknown field "extra"/ },
        { path: "/pipelines/0", rule: "allowList", message: /"svc-z"/ },
        { path: "/pipelines/2", rule: "uniqueItems", message: /repeats "svc-a"/ },
        { path: "/releaseId", rule: "pattern", message: /releaseId must be/ },
      ]);
    });

    it("sorts item positions as numbers, so /pipelines/2 comes before /pipelines/10", () => {
      const names = ["a", "b", "c x", "d", "e", "f", "g", "h", "i", "j", "k y"];

      assertRejected(
        withPipelines(names),
        [
          { path: "/pipelines/2", rule: "pattern", message: /"c x"/ },
          { path: "/pipelines/10", rule: "pattern", message: /"k y"/ },
        ],
        OPEN_RULES,
      );
    });
  });
});

/**
 * Known defects, reported and not fixed here: these fail until contract/manifest.ts is fixed, and
 * each says what the rule should report.
 */
describe("parseManifest: type errors inside pipeline objects and at the top level", () => {
  // parseManifest (contract/manifest.ts:364) reads `manifest.releaseId` on null: a TypeError escapes.
  it("rejects a top-level null as the wrong type, as it does an array or a string", () => {
    assertRejected("null", [{ path: "", rule: "type", message: /the manifest must be of type object/ }]);
  });

  // schemaProblems (contract/manifest.ts:339) drops every "type" error inside the pipeline-object
  // branch of the item anyOf, so wrongly typed fields of a pipeline object are accepted or crash.
  it("rejects a pipeline object whose name is a number", () => {
    assertRejected(
      withPipelines([{ name: 5 }]),
      [{ path: "/pipelines/0/name", rule: "type", message: /string/ }],
      OPEN_RULES,
    );
  });

  it("rejects a variable whose value is not a string", () => {
    assertRejected(
      withPipelines([{ name: "svc-a", variables: { A: 5 } }]),
      [{ path: "/pipelines/0/variables/A", rule: "type", message: /string/ }],
      OPEN_RULES,
    );
  });

  it("rejects sourceRevisions that are not an array", () => {
    assertRejected(
      withPipelines([{ name: "svc-a", sourceRevisions: "abc123" }]),
      [{ path: "/pipelines/0/sourceRevisions", rule: "type", message: /array/ }],
      OPEN_RULES,
    );
  });
});
