/**
 * Step Functions execution names of releases.
 *
 * StartExecution names are 1-80 characters; with CloudWatch Logs logging on (the workflow logs at
 * level ALL) they should use only `0-9 A-Z a-z - _`. A STANDARD workflow's StartExecution with
 * the name and the input of an execution that is still running returns that execution; a different
 * input, or a name whose execution has closed, answers ExecutionAlreadyExists (names stay taken
 * for 90 days after the execution closes).
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
 *
 * The submission function (handlers/submission.ts) names an execution by the releaseId and a
 * digest of the manifest's text: `submissionExecutionName`. So an exact repeat of a request while
 * it runs returns the same execution, and a different manifest for the same releaseId gets another
 * name (whether it may run is decided before, on the release's submission claim). Every releaseId
 * (`[A-Za-z0-9][A-Za-z0-9._-]{0,63}`) gets a name: `.` becomes `_`, then `-` and 15 hexadecimal
 * digits of the digest, at most 64 + 1 + 15 = 80 characters. `.` → `_` is not injective
 * (`5.16` and `5_16`), but the digest covers the text, which names the releaseId as written.
 *
 * Names of the earlier rule (`release-<encoded id>`, `_` → `__`, `.` → `_d`) may still be on
 * executions started before: releaseIdFromExecutionName decodes them.
 */
export const EXECUTION_NAME_PREFIX = "release-";
export const MAX_EXECUTION_NAME = 80;
/** The longest encoded releaseId the earlier rule's names held. */
export const MAX_ENCODED_RELEASE_ID = MAX_EXECUTION_NAME - EXECUTION_NAME_PREFIX.length;
/** Hexadecimal digits of the manifest's SHA-256 digest an execution name carries (60 bits). */
export const NAME_DIGEST_DIGITS = 15;

/** The execution name of a submission of `releaseId` whose manifest text has digest `digestHex`. */
export function submissionExecutionName(releaseId: string, digestHex: string): string {
  if (!/^[0-9a-f]+$/.test(digestHex) || digestHex.length < NAME_DIGEST_DIGITS)
    throw new RangeError("the digest must be hexadecimal, at least 15 digits");
  return `${releaseId.replace(/\./g, "_")}-${digestHex.slice(0, NAME_DIGEST_DIGITS)}`;
}

/** The ARN of execution `name` of the state machine `stateMachineArn`. */
export function executionArnOf(stateMachineArn: string, name: string): string {
  return `${stateMachineArn.replace(":stateMachine:", ":execution:")}:${name}`;
}

const PLAIN = /^[A-Za-z0-9-]$/;

/** The earlier rule's name for a releaseId (`5.16` → `release-5_d16`), undefined past 80 characters. */
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
 * The releaseId an execution name of the earlier rule encodes (`release-5_d16` → `5.16`), or
 * undefined for a name that rule never produces. Exactly inverts executionNameFor.
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
