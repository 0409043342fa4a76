/**
 * API Gateway's mapping-template environment for velocityjs: `$input` (body, json, path),
 * `$util` (escapeJavaScript with commons-lang 2.6 semantics, parseJson) and `$context`
 * (requestId, error, responseOverride), as the mapping template reference describes them; and the
 * non-VTL substitution gateway responses get. Values are plain JavaScript strings, as in
 * serverless-offline: a template that works here and in Velocity 1.7 must not rely on Java methods.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-mapping-template-reference.html
 */
import { render } from "velocityjs";

/**
 * commons-lang 2.6 `StringEscapeUtils.escapeJavaScript` (what API Gateway's `$util.escapeJavaScript`
 * runs): per UTF-16 unit, above 0x7f as `\uXXXX` (upper-case hex), control characters as `\b \n \t
 * \f \r` or `\u00XX`, and `'` `"` `\` `/` behind a backslash. `\'` is not valid JSON.
 */
export function escapeJavaScript(text: string): string {
  let out = "";
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const hex = code.toString(16).toUpperCase();
    if (code > 0xfff) out += `\\u${hex}`;
    else if (code > 0xff) out += `\\u0${hex}`;
    else if (code > 0x7f) out += `\\u00${hex}`;
    else if (code < 32) {
      const named: Record<number, string> = { 8: "\\b", 10: "\\n", 9: "\\t", 12: "\\f", 13: "\\r" };
      out += named[code] ?? (code > 0xf ? `\\u00${hex}` : `\\u000${hex}`);
    } else {
      const character = text[i];
      out += { "'": "\\'", '"': '\\"', "\\": "\\\\", "/": "\\/" }[character] ?? character;
    }
  }
  return out;
}

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

/** The JSONPath subset the templates use: `$` and `$.a.b`. Anything else is a test bug. */
function jsonPath(document: Json | undefined, path: string): Json | undefined {
  if (path === "$") return document;
  if (!/^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) throw new Error(`unsupported JSONPath ${path}`);
  let node: Json | undefined = document;
  for (const key of path.slice(2).split(".")) {
    node =
      node !== null && typeof node === "object" && !Array.isArray(node) && Object.hasOwn(node, key)
        ? node[key]
        : undefined;
  }
  return node;
}

/**
 * What `$input.json(path)` and `$input.path(path)` answer for a body, for engines that take the
 * answers precomputed (the Velocity 1.7 cross-check): the JSON text ("" when missing) and the
 * value when it is a string.
 */
export function pathAnswers(
  body: string,
  paths: readonly string[],
): { path: string; json: string; text?: string }[] {
  const document = parsedBody(body);
  return paths.map((path) => {
    const value = jsonPath(document, path);
    return {
      path,
      json: value === undefined ? "" : JSON.stringify(value),
      ...(typeof value === "string" ? { text: value } : {}),
    };
  });
}

export interface RenderedTemplate {
  output: string;
  /** `$context.responseOverride.status` after rendering, if the template set it. */
  statusOverride?: number;
}

export interface TemplateRequest {
  body: string;
  requestId?: string;
  error?: { message: string; validationErrorString?: string };
  /** `$context.identity.userArn`: the IAM caller API Gateway authorized (AWS_IAM). */
  userArn?: string;
}

/** The caller the templates are rendered for unless a test names another. */
export const TEMPLATE_CALLER = "arn:aws:iam::123456789012:user/alice";

function parsedBody(body: string): Json | undefined {
  try {
    return JSON.parse(body) as Json;
  } catch {
    return undefined;
  }
}

/** Renders a mapping template (request or integration response) over a body, as API Gateway does. */
export function renderMappingTemplate(template: string, request: TemplateRequest): RenderedTemplate {
  const document = parsedBody(request.body);
  const context = {
    requestId: request.requestId ?? "req-1",
    identity: { userArn: request.userArn ?? TEMPLATE_CALLER },
    responseOverride: { status: undefined as number | undefined, header: {} },
    error: {
      message: request.error?.message ?? "",
      messageString: JSON.stringify(request.error?.message ?? ""),
      validationErrorString: request.error?.validationErrorString ?? "",
    },
  };
  const output = render(
    template,
    {
      input: {
        body: request.body,
        json: (path: string) => {
          const value = jsonPath(document, path);
          return value === undefined ? "" : JSON.stringify(value);
        },
        // A missing path is Java's null in API Gateway; velocityjs renders a JavaScript null as
        // "null" even behind `$!`, so the JavaScript engines' value for "no value" (undefined, what
        // serverless-offline's JSONPath returns) stands for it.
        path: (path: string) => jsonPath(document, path),
      },
      util: {
        escapeJavaScript: (value: unknown) => escapeJavaScript(String(value)),
        parseJson: (text: string) => JSON.parse(text) as Json,
      },
      context,
    },
    {},
    { escape: false },
  );
  const status = context.responseOverride.status;
  return status === undefined ? { output } : { output, statusOverride: Number(status) };
}

/**
 * A gateway response template: not VTL; API Gateway only substitutes `$context` variables.
 * https://docs.aws.amazon.com/apigateway/latest/developerguide/api-gateway-gatewayResponse-definition.html
 */
export function substituteGatewayResponse(template: string, context: Record<string, string>): string {
  return template.replace(/\$context\.([A-Za-z.]+[A-Za-z])/g, (whole, name: string) =>
    Object.hasOwn(context, name) ? context[name] : whole,
  );
}
