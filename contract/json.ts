/**
 * The one test for a JSON object: every layer that reads parsed JSON (the manifest parser, the
 * handlers, the policy pack's IAM documents, the local HTTP server, the CLI) narrows with it.
 */
export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
