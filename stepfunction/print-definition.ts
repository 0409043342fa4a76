/** `npm run definition`: prints the rendered release workflow (placeholder ARNs) as JSON on stdout. */
import { DEFAULT_WORKFLOW_OPTIONS, PLACEHOLDER_REFS, releaseWorkflow } from "./release-workflow";

process.stdout.write(
  `${JSON.stringify(releaseWorkflow(PLACEHOLDER_REFS, DEFAULT_WORKFLOW_OPTIONS), null, 2)}\n`,
);
