/**
 * API Gateway mapping templates (VTL) for the release API, as pure functions so tests can render
 * them. `POST /releases` starts the workflow directly through Step Functions' StartExecution: no
 * Lambda between the API and the workflow.
 *
 * API Gateway renders these with Apache Velocity 1.7 (Java strings, commons-lang 2.6
 * `$util.escapeJavaScript`); serverless-offline and the tests render them with velocityjs (JavaScript
 * strings). Every construct below means the same in both:
 * - no `""` escape inside string literals (velocityjs cannot parse it) and no method call on a literal;
 * - no `replace`/`replaceAll` (regex in Java, literal or first-only in JavaScript); `split(sep, -1)`
 *   only with a separator that is the same as a regex and as a literal (`'`, `#`), and `split("")`;
 * - no truthiness of strings (an empty string is true in Velocity 1.7, false in velocityjs):
 *   compare with `== ''` after `"$!ref"`; no `.length()` (a property in JavaScript).
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
 */
import { ReleaseErrors } from "../contract/errors";
import { EXECUTION_NAME_PREFIX, MAX_ENCODED_RELEASE_ID } from "../contract/execution-name";

/**
 * JSON string content for a string reference, whatever it holds. `$util.escapeJavaScript` escapes
 * `'` as `\'`, which JSON forbids; so the text is split on `'`, each part escaped (`times` levels
 * deep) and the parts joined with a bare `'`, which needs no escape in JSON at any level.
 */
function jsonStringContent(reference: string, times: 1 | 2): string {
  const escaped =
    times === 1 ? "$util.escapeJavaScript($part)" : "$util.escapeJavaScript($util.escapeJavaScript($part))";
  return `#foreach($part in ${reference}.split("'", -1))${escaped}#if($foreach.hasNext)'#end#end`;
}

/**
 * The execution name derived from a string releaseId, in VTL: the rule of
 * contract/execution-name.ts (`_` → `__`, `.` → `_d`, letters, digits and `-` as they are; no name
 * when another character appears or the name would pass 80 characters). A numeric releaseId gets
 * no name: `$input.path` reads it as a double, turning 5.10 into 5.1. Exactly-once does not depend
 * on the name: the workflow's conditional write on the release item refuses a second run.
 */
const NAME_DERIVATION = [
  `#set($releaseIdJson = $input.json('$.releaseId'))`,
  `#set($releaseIdText = '')`,
  `#if($releaseIdJson.startsWith('"'))#set($releaseIdValue = $input.path('$.releaseId'))#set($releaseIdText = "$!releaseIdValue")#end`,
  `#set($plainCharacters = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-')`,
  `#set($encoded = '')`,
  `#set($encodedLength = 0)`,
  `#set($nameable = true)`,
  `#foreach($character in $releaseIdText.split(""))`,
  `#if($character == '_')#set($encoded = "\${encoded}__")#set($encodedLength = $encodedLength + 2)`,
  `#elseif($character == '.')#set($encoded = "\${encoded}_d")#set($encodedLength = $encodedLength + 2)`,
  `#elseif($plainCharacters.indexOf($character) >= 0)#set($encoded = "\${encoded}\${character}")#set($encodedLength = $encodedLength + 1)`,
  `#else#set($nameable = false)#end`,
  `#end`,
].join("\n");

/**
 * The StartExecution request. The body travels as text (`{"source":"api","body":"…"}`) so a numeric
 * releaseId keeps its JSON text; it is escaped twice: once as the `body` string inside the input
 * document, once as the `input` string of the request. `submittedBy` is the caller's IAM ARN
 * (`$context.identity.userArn`, set under AWS_IAM), recorded on the release and shown in listings.
 */
export function startExecutionTemplate(stateMachineArn: string): string {
  return [
    NAME_DERIVATION,
    `#set($callerText = "$!context.identity.userArn")`,
    "{",
    `  "stateMachineArn": "${stateMachineArn}",`,
    `  #if($nameable && $encoded != '' && $encodedLength <= ${MAX_ENCODED_RELEASE_ID})"name": "${EXECUTION_NAME_PREFIX}\${encoded}",#end`,
    `  "input": "{\\"source\\":\\"api\\",\\"submittedBy\\":\\"${jsonStringContent("$callerText", 2)}\\",\\"body\\":\\"${jsonStringContent("$input.body", 2)}\\"}"`,
    "}",
  ].join("\n");
}

/** StartExecution's answer passes through as it is: `{executionArn, startDate}`. */
export const startedResponseTemplate = "$input.json('$')";

/**
 * The error's name and message from Step Functions' JSON error body. `__type` may carry a
 * namespace (`com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists`): the last `#` segment is
 * the name. https://docs.aws.amazon.com/step-functions/latest/apireference/CommonErrors.html
 */
const ERROR_FIELDS = [
  `#set($rawType = $input.path('$.__type'))`,
  `#set($typeText = "$!rawType")`,
  `#set($errorName = '')`,
  `#foreach($segment in $typeText.split('#', -1))#set($errorName = $segment)#end`,
  `#set($rawMessage = $input.path('$.message'))`,
  `#set($messageText = "$!rawMessage")`,
  `#if($messageText == '')#set($rawCapitalMessage = $input.path('$.Message'))#set($messageText = "$!rawCapitalMessage")#end`,
].join("\n");

const ERROR_BODY = `{"error": "${jsonStringContent("$errorName", 1)}", "message": "${jsonStringContent("$messageText", 1)}"}`;

/**
 * StartExecution's 4xx answers (HTTP 400 with `__type`), each to the status that tells the client
 * what to do: a used execution name means the releaseId was already submitted (409); throttling
 * and too many running executions mean retry later (429); a bad name or input is a bad request
 * (400); anything else (a missing state machine, denied access) is this deployment's fault (500).
 * https://docs.aws.amazon.com/step-functions/latest/apireference/API_StartExecution.html
 */
export const startClientErrorTemplate = [
  ERROR_FIELDS,
  `#if($errorName == 'ExecutionAlreadyExists')`,
  `#set($context.responseOverride.status = 409)`,
  `{"error": "${ReleaseErrors.DuplicateRelease}", "message": "this releaseId was already submitted; a releaseId runs once"}`,
  `#else`,
  `#if($errorName == 'ThrottlingException' || $errorName == 'ExecutionLimitExceeded')#set($context.responseOverride.status = 429)`,
  `#elseif($errorName == 'InvalidName' || $errorName == 'InvalidExecutionInput' || $errorName == 'ValidationException')#set($context.responseOverride.status = 400)`,
  `#else#set($context.responseOverride.status = 500)#end`,
  ERROR_BODY,
  `#end`,
].join("\n");

/**
 * StartExecution's 5xx answers (InternalFailure 500, ServiceUnavailable 503): the release did not
 * start, and retrying may succeed, so 503 with Step Functions' own error name.
 */
export const startServerErrorTemplate = [
  ERROR_FIELDS,
  `#if($errorName == '')#set($errorName = 'ServiceUnavailable')#end`,
  `#if($messageText == '')#set($messageText = 'Step Functions could not start the release; retry')#end`,
  ERROR_BODY,
].join("\n");

/** One integration response of the start methods: the status it answers and what it selects. */
export interface StartResponse {
  status: string;
  /** Regex over StartExecution's HTTP status (AWS integrations); none for the default response. */
  selectionPattern?: string;
  template: string;
  /** Every status the template may set through `$context.responseOverride.status`. */
  overrides: string[];
}

/**
 * The start methods' integration responses: 2xx pass through (the default), 4xx and 5xx are mapped.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-integration-settings-integration-response.html
 */
export const START_RESPONSES: readonly StartResponse[] = [
  { status: "200", template: startedResponseTemplate, overrides: [] },
  {
    status: "400",
    selectionPattern: "4\\d{2}",
    template: startClientErrorTemplate,
    overrides: ["400", "409", "429", "500"],
  },
  { status: "503", selectionPattern: "5\\d{2}", template: startServerErrorTemplate, overrides: [] },
];

/**
 * A body that fails the manifest model. Gateway responses are not run through VTL (only
 * `$context` variables are substituted), and `validationErrorString` holds unescaped double
 * quotes; so the body carries `$context.error.messageString`, which API Gateway quotes, and the
 * request id under which the access log records the schema problems (`validationError`).
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gatewayResponse-definition.html
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html#context-variable-reference
 */
export const invalidBodyResponseTemplate = `{"error": "${ReleaseErrors.InvalidManifest}", "message": $context.error.messageString, "requestId": "$context.requestId"}`;

/**
 * The UNSUPPORTED_MEDIA_TYPE gateway response (415): a POST whose Content-Type has no mapping
 * template (only application/json has one, and passthroughBehavior NEVER refuses the rest). The
 * same body as the local API's 415 (local/server.ts UNSUPPORTED_MEDIA_TYPE); no variable in it.
 */
export const unsupportedMediaTypeResponseTemplate = JSON.stringify({
  error: "UnsupportedMediaType",
  message: "send the manifest with the header Content-Type: application/json",
});
