/**
 * `npm run graph`: draws the release workflow the program deploys (default options, placeholder
 * ARNs: the same definition as `npm run definition`) as docs/workflow.svg and prints the path.
 * test/graph.test.ts fails when the file is not what this would write, so it cannot go stale.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { renderSvg, workflowToDot } from "./graph";
import {
  DEFAULT_WORKFLOW_OPTIONS,
  PLACEHOLDER_REFS,
  releaseWorkflow,
} from "../../stepfunction/release-workflow";

export const WORKFLOW_SVG_PATH = path.join(__dirname, "..", "workflow.svg");

/** The SVG `npm run graph` writes. */
export function workflowSvg(): Promise<string> {
  const definition = releaseWorkflow(PLACEHOLDER_REFS, DEFAULT_WORKFLOW_OPTIONS);
  const title = `Release workflow (failure policy: ${DEFAULT_WORKFLOW_OPTIONS.failurePolicy})`;
  return renderSvg(workflowToDot(definition, { title }));
}

async function main(): Promise<void> {
  const svg = await workflowSvg();
  mkdirSync(path.dirname(WORKFLOW_SVG_PATH), { recursive: true });
  writeFileSync(WORKFLOW_SVG_PATH, svg);
  process.stdout.write(`${path.relative(process.cwd(), WORKFLOW_SVG_PATH)}\n`);
}

if (require.main === module) {
  main().catch((error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exitCode = 1;
  });
}
