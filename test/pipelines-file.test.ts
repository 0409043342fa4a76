/**
 * `pipelines.local.json` checks (local/pipelines-file.ts): every mistake names the file, the field
 * as a JSON Pointer and the rule it breaks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { InvalidPipelinesFile, checkLocalPipelines, readLocalPipelines } from "../local/pipelines-file";

/** The problems of `value` as "path rule message" lines; fails when it is accepted. */
function problemsOf(value: unknown): string[] {
  try {
    checkLocalPipelines("pipelines.local.json", value);
  } catch (error) {
    assert.ok(error instanceof InvalidPipelinesFile, String(error));
    assert.equal(error.file, "pipelines.local.json");
    return error.problems.map((p) => `${p.path} ${p.rule} ${p.message}`);
  }
  return assert.fail("the pipelines were accepted");
}

const ok = { name: "svc-a", durationMs: 100, outcome: "Succeeded" };

describe("pipelines.local.json", () => {
  it("accepts the repository's own pipelines.local.json", () => {
    const pipelines = readLocalPipelines(path.join(__dirname, "..", "pipelines.local.json"));
    assert.ok(pipelines.some((p) => p.name === "demo-failing-pipeline" && p.failure?.stage === "Build"));
  });

  it("accepts stages as names or as names with actions, and a failure naming one of them", () => {
    const failing = {
      name: "svc-b",
      durationMs: null,
      outcome: "Failed",
      stages: ["Source", { name: "Deploy", actions: ["DeployApp", "Migrate"] }],
      failure: { stage: "Deploy", action: "Migrate", code: "JobFailed", message: "timeout" },
    };
    assert.deepEqual(checkLocalPipelines("f.json", { pipelines: [ok, failing] }), [ok, failing]);
  });

  it('rejects "stages": "Build" naming the field and the type rule', () => {
    assert.deepEqual(problemsOf({ pipelines: [{ ...ok, stages: "Build" }] }), [
      '/pipelines/0/stages type must be array, got "Build"',
    ]);
  });

  it("rejects negative durations, unknown outcomes and unknown fields, each at its field", () => {
    assert.deepEqual(
      problemsOf({ pipelines: [{ ...ok, durationMs: -5, outcome: "Done", colour: "red" }], extra: true }),
      [
        '/extra additionalProperties unknown field "extra"',
        '/pipelines/0/colour additionalProperties unknown field "colour"',
        "/pipelines/0/durationMs minimum must be >= 0, got -5",
        '/pipelines/0/outcome enum must be "Succeeded" or "Failed"',
      ],
    );
  });

  it("rejects a missing name and an empty list of pipelines", () => {
    assert.deepEqual(problemsOf({ pipelines: [{ durationMs: 1, outcome: "Failed" }] }), [
      "/pipelines/0/name required is required",
    ]);
    assert.deepEqual(problemsOf({ pipelines: [] }), ["/pipelines minItems must NOT have fewer than 1 items"]);
  });

  it("rejects duplicate pipeline names and duplicate stage names", () => {
    assert.deepEqual(problemsOf({ pipelines: [ok, { ...ok, stages: ["Build", { name: "Build" }] }] }), [
      '/pipelines/1/name uniqueName pipeline "svc-a" is already used at index 0',
      '/pipelines/1/stages/1 uniqueName stage "Build" is already used at index 0',
    ]);
  });

  it("rejects a failure on a pipeline that succeeds, or naming a stage or action it does not have", () => {
    const failing = { ...ok, outcome: "Failed", stages: ["Build"] };
    assert.deepEqual(
      problemsOf({
        pipelines: [
          { ...ok, failure: { stage: "Build" } },
          { ...failing, name: "b", failure: { stage: "Deploy" } },
          { ...failing, name: "c", failure: { action: "Lint" } },
        ],
      }),
      [
        '/pipelines/0/failure failureNeedsFailed only a pipeline whose outcome is "Failed" has a failure',
        '/pipelines/1/failure/stage knownStage "Deploy" is not one of the pipeline\'s stages',
        '/pipelines/2/failure/action knownAction "Lint" is not an action of stage Build',
      ],
    );
  });

  it("accepts an execution mode, outcomes per attempt, and actions with a duration or a manual approval", () => {
    const pipeline = {
      name: "svc-c",
      durationMs: 1000,
      outcomes: ["Failed", "Succeeded"],
      executionMode: "QUEUED",
      stages: [
        { name: "Build", actions: ["Compile", { name: "Migrate", durationMs: 500 }] },
        { name: "Approve", actions: [{ name: "Sign-off", manualApproval: true }] },
      ],
      failure: { stage: "Build", action: "Migrate" },
    };
    assert.deepEqual(checkLocalPipelines("f.json", { pipelines: [pipeline] }), [pipeline]);
  });

  it("rejects an unknown execution mode, an empty outcomes list and an action field that is not a duration", () => {
    assert.deepEqual(
      problemsOf({
        pipelines: [
          {
            ...ok,
            executionMode: "FIFO",
            stages: [{ name: "Build", actions: [{ name: "Compile", durationMs: "fast", retries: 2 }] }],
          },
          { name: "b", durationMs: 1, outcomes: [] },
        ],
      }),
      [
        '/pipelines/0/executionMode enum must be "SUPERSEDED" or "QUEUED" or "PARALLEL"',
        '/pipelines/0/stages/0/actions/0/retries additionalProperties unknown field "retries"',
        '/pipelines/0/stages/0/actions/0/durationMs type must be number, got "fast"',
        "/pipelines/1/outcomes minItems must NOT have fewer than 1 items",
      ],
    );
  });

  it("asks for outcome or outcomes (not both, not neither), unique action names, and a Failed outcome for a failure", () => {
    assert.deepEqual(
      problemsOf({
        pipelines: [
          { ...ok, outcomes: ["Succeeded"] },
          { name: "b", durationMs: 1 },
          { name: "c", durationMs: 1, outcomes: ["Succeeded"], failure: {} },
          { ...ok, name: "d", stages: [{ name: "Build", actions: ["Lint", { name: "Lint" }] }] },
        ],
      }),
      [
        '/pipelines/0/outcome outcomeOrOutcomes give either "outcome" or "outcomes" (one per attempt), not both or neither',
        '/pipelines/1/outcome outcomeOrOutcomes give either "outcome" or "outcomes" (one per attempt), not both or neither',
        '/pipelines/2/failure failureNeedsFailed only a pipeline whose outcome is "Failed" has a failure',
        '/pipelines/3/stages/0/actions/1 uniqueName action "Lint" is already used at index 0',
      ],
    );
  });

  describe("reading the file", () => {
    let dir: string;
    before(() => (dir = mkdtempSync(path.join(tmpdir(), "rm-pipelines-"))));
    after(() => rmSync(dir, { recursive: true, force: true }));

    it("names the file, line and column of a JSON syntax error", () => {
      const file = path.join(dir, "broken.json");
      writeFileSync(file, '{\n  "pipelines": [\n    { "name": "a", }\n  ]\n}\n');
      assert.throws(() => readLocalPipelines(file), {
        name: "InvalidPipelinesFile",
        message: `${file}: 1 problem\n  (file)  json  PropertyNameExpected at line 3, column 20`,
      });
    });

    it("names a file that cannot be read", () => {
      const file = path.join(dir, "missing.json");
      assert.throws(() => readLocalPipelines(file), {
        message: `${file}: 1 problem\n  (file)  readable  cannot be read (ENOENT)`,
      });
    });
  });
});
