/**
 * The Step Functions execution name of a release submitted through the API: one rule, written
 * here for the local server and in VTL (infra/api-templates.ts) for API Gateway; a test renders
 * the template for many ids and compares.
 *
 * StartExecution names are 1-80 characters; with CloudWatch Logs logging on (the workflow logs at
 * level ALL) they should use only `0-9 A-Z a-z - _`.
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html#StepFunctions-StartExecution-request-name
 *
 * A releaseId (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`) is encoded without collisions: letters, digits
 * and `-` stay, `_` becomes `__` and `.` becomes `_d` (a prefix code: `5.16` → `release-5_d16`,
 * `5_16` → `release-5__16`). An id with any other character, or whose name would pass 80
 * characters, gets no name: exactly-once never depends on the name, because the workflow's
 * conditional write on the release item refuses a second run of a releaseId.
 */
export const EXECUTION_NAME_PREFIX = "release-";
export const MAX_EXECUTION_NAME = 80;
/** The longest encoded releaseId that still fits the name. */
export const MAX_ENCODED_RELEASE_ID = MAX_EXECUTION_NAME - EXECUTION_NAME_PREFIX.length;

const PLAIN = /^[A-Za-z0-9-]$/;

export function executionNameFor(releaseId: string): string | undefined {
  let encoded = "";
  for (const character of releaseId.split("")) {
    if (character === "_") encoded += "__";
    else if (character === ".") encoded += "_d";
    else if (PLAIN.test(character)) encoded += character;
    else return undefined;
  }
  if (encoded === "" || encoded.length > MAX_ENCODED_RELEASE_ID) return undefined;
  return `${EXECUTION_NAME_PREFIX}${encoded}`;
}

/**
 * The releaseId an execution name encodes (`release-5_d16` → `5.16`), or undefined for a name
 * executionNameFor never produces: another prefix, a `_` not followed by `_` or `d`, a character
 * outside the alphabet, or a decoded id that is not a releaseId. Exactly inverts executionNameFor,
 * so the CLI and the API name a release by what its author wrote.
 */
export function releaseIdFromExecutionName(name: string): string | undefined {
  if (!name.startsWith(EXECUTION_NAME_PREFIX)) return undefined;
  const encoded = name.slice(EXECUTION_NAME_PREFIX.length);
  let releaseId = "";
  for (let at = 0; at < encoded.length; at++) {
    const character = encoded[at];
    if (character === "_") {
      const next = encoded[++at];
      if (next === "_") releaseId += "_";
      else if (next === "d") releaseId += ".";
      else return undefined;
    } else if (PLAIN.test(character)) releaseId += character;
    else return undefined;
  }
  // Only an id the encoder accepts encodes back to this very name (empty and overlong ones do not).
  return executionNameFor(releaseId) === name ? releaseId : undefined;
}
