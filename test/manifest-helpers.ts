/** Helpers shared by the manifest tests: the problems a text is rejected with, and manifests to reject. */
import assert from "node:assert/strict";
import { InvalidManifest, type ManifestProblem } from "../contract/errors";
import { parseManifest } from "../contract/manifest";
import { type ManifestRules } from "../contract/manifest-schema";

/** The problems of the InvalidManifest that `text` must be rejected with. */
export function problemsOf(text: string, rules: ManifestRules): ManifestProblem[] {
  try {
    parseManifest(text, rules);
  } catch (error) {
    if (error instanceof InvalidManifest) return error.problems;
    throw error;
  }
  return assert.fail(`expected InvalidManifest for ${text.slice(0, 60)}`);
}

/** Rejected with exactly these problems, in this order, each message containing its words. */
export function assertRejected(
  text: string,
  expected: { path: string; rule: string; message: RegExp }[],
  rules: ManifestRules,
): void {
  const problems = problemsOf(text, rules);
  assert.deepEqual(
    problems.map(({ path, rule }) => ({ path, rule })),
    expected.map(({ path, rule }) => ({ path, rule })),
  );
  problems.forEach((problem, i) => assert.match(problem.message, expected[i].message));
}

export const manifest = (fields: Record<string, unknown>): string => JSON.stringify(fields);
export const withPipelines = (pipelines: unknown[]): string => manifest({ releaseId: "r1", pipelines });
