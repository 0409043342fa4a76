import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { ReleaseErrors } from "../contract/errors";
import { allStates } from "../stepfunction/asl";
import {
  PLACEHOLDER_REFS,
  TRANSIENT_DYNAMODB_ERRORS,
  TRANSIENT_LAMBDA_ERRORS,
  releaseWorkflow,
} from "../stepfunction/release-workflow";

const ROOT = path.join(__dirname, "..");
/** The program's own code: every layer but the tests. */
const SOURCE_DIRS = ["contract", "handlers", "stepfunction", "infra", "local", "cli", "policy"];

function sources(): { file: string; text: string }[] {
  return SOURCE_DIRS.flatMap((dir) =>
    readdirSync(path.join(ROOT, dir), { recursive: true, encoding: "utf8" })
      .filter((file) => file.endsWith(".ts"))
      .map((file) => path.join(dir, file))
      .map((file) => ({ file, text: readFileSync(path.join(ROOT, file), "utf8") })),
  );
}

/** Every name the rendered workflow's Retry and Catch lists match. */
function matchedNames(): string[] {
  return allStates(releaseWorkflow(PLACEHOLDER_REFS)).flatMap(([, state]) =>
    "Retry" in state || "Catch" in state
      ? [...(state.Retry ?? []), ...(state.Catch ?? [])].flatMap((rule) => rule.ErrorEquals)
      : [],
  );
}

describe("error names: one set, in contract/errors.ts", () => {
  it("the workflow matches no error name of its own outside ReleaseErrors", () => {
    const service = [...TRANSIENT_LAMBDA_ERRORS, ...TRANSIENT_DYNAMODB_ERRORS];
    const own = matchedNames().filter(
      (name) => !name.startsWith("States.") && !name.includes(".") && !service.includes(name),
    );
    const known: string[] = Object.values(ReleaseErrors);
    assert.deepEqual(
      own.filter((name) => !known.includes(name)),
      [],
    );
    // What it catches by name: the refusals it records, and a retry that lost.
    assert.deepEqual([...new Set(own)].sort(), [
      "DuplicateRelease",
      "InvalidManifest",
      "ManifestNotFound",
      "RetryRefused",
    ]);
  });

  it("every name in ReleaseErrors is raised somewhere: its class thrown, or the name written through ReleaseErrors", () => {
    const code = sources().filter(({ file }) => file !== path.join("contract", "errors.ts"));
    const unraised = Object.keys(ReleaseErrors).filter(
      (name) =>
        !code.some(({ text }) => text.includes(`new ${name}(`) || text.includes(`ReleaseErrors.${name}`)),
    );
    assert.deepEqual(unraised, []);
  });

  it("each key of ReleaseErrors is its own name, so a class and its Step Functions error type agree", () => {
    for (const [key, name] of Object.entries(ReleaseErrors)) assert.equal(name, key);
  });
});
