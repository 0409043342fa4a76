/**
 * API Gateway mapping templates (VTL) for the release API, as pure functions so tests can read
 * and render them. `POST /releases` starts the workflow directly through Step Functions'
 * StartExecution: no Lambda between the API and the workflow.
 */

/**
 * The request body travels as text (`{"source":"api","body":"…"}`) so a numeric releaseId keeps its
 * JSON text. escapeJavaScript escapes `'` as `\'`, which JSON forbids; the replaceAll undoes that,
 * once for each level of escaping.
 */
export function startExecutionTemplate(stateMachineArn: string): string {
  return [
    `#set($body = $util.escapeJavaScript($input.body).replaceAll("\\\\'", "'"))`,
    `#set($execInput = "{""source"":""api"",""body"":""$body""}")`,
    `#set($releaseIdJson = $input.json('$.releaseId'))`,
    "{",
    `  "stateMachineArn": "${stateMachineArn}",`,
    // Only a string releaseId names the execution: VTL reads a number as a double, which would
    // turn 5.10 into "5.1". A numeric id's duplicate is still refused by the workflow.
    `  #if($releaseIdJson.startsWith('"'))"name": "release-$util.escapeJavaScript($input.path('$.releaseId'))",#end`,
    `  "input": "$util.escapeJavaScript($execInput).replaceAll("\\\\'", "'")"`,
    "}",
  ].join("\n");
}

/** StartExecution's answer passes through as the original's `{executionArn, startDate}`. */
export const startedResponseTemplate = "$input.json('$')";

/**
 * StartExecution errors arrive as HTTP 400 with `__type`; a used execution name means the
 * releaseId was already submitted (409), anything else is a bad request (400).
 */
export const startErrorResponseTemplate = [
  `#set($type = $input.path('$.__type'))`,
  `#if($type.endsWith("ExecutionAlreadyExists"))`,
  `#set($context.responseOverride.status = 409)`,
  `{"error": "DuplicateRelease", "message": "this releaseId was already submitted; a releaseId runs once"}`,
  `#else`,
  `{"error": "$util.escapeJavaScript($type)", "message": "$util.escapeJavaScript($input.path('$.message'))"}`,
  `#end`,
].join("\n");

/** A body that fails the manifest model: 400 with API Gateway's list of schema violations. */
export const invalidBodyResponseTemplate = `{"error": "InvalidManifest", "message": "$context.error.validationErrorString"}`;
