/**
 * The handlers' allow-list from the file the program puts in each archive (ALLOWED_PIPELINES_FILE
 * under LAMBDA_TASK_ROOT), as written by the program's own writer.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { manifestRulesFromEnvironment } from "../handlers/config";
import { ConfigurationError } from "../contract/errors";
import { writeAllowListFile } from "../infra/allow-list";

describe("the allow-list file in the function's code", () => {
  let root: string;
  before(() => (root = mkdtempSync(path.join(tmpdir(), "rm-allow-list-"))));
  after(() => rmSync(root, { recursive: true, force: true }));

  it("reads 500 pipeline names from the file the program wrote, relative to LAMBDA_TASK_ROOT", () => {
    const names = Array.from(
      { length: 500 },
      (_, i) => `pipeline-${String(i).padStart(3, "0")}-${"x".repeat(27)}`,
    );
    const file = writeAllowListFile(names, root);
    const rules = manifestRulesFromEnvironment({ ALLOWED_PIPELINES_FILE: file, LAMBDA_TASK_ROOT: root });
    assert.deepEqual(rules.allowedPipelines, names);
  });

  it("names the file by its content, so two lists never share a file", () => {
    assert.notEqual(writeAllowListFile(["a"], root), writeAllowListFile(["b"], root));
    assert.equal(writeAllowListFile(["a"], root), writeAllowListFile(["a"], root));
  });

  it("refuses a missing or malformed file with a ConfigurationError naming the variable", () => {
    writeFileSync(path.join(root, "bad.json"), '{"not": "a list"}');
    for (const file of ["missing.json", "bad.json"]) {
      assert.throws(
        () => manifestRulesFromEnvironment({ ALLOWED_PIPELINES_FILE: file, LAMBDA_TASK_ROOT: root }),
        (e: Error) => e instanceof ConfigurationError && /^ALLOWED_PIPELINES_FILE /.test(e.message),
      );
    }
  });

  it("still takes a comma-separated ALLOWED_PIPELINES when no file is named (local mode)", () => {
    assert.deepEqual(manifestRulesFromEnvironment({ ALLOWED_PIPELINES: "a,b" }).allowedPipelines, ["a", "b"]);
  });
});
