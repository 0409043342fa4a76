/**
 * The local server's freeze routes (issue 20): `POST /freezes`, `GET /freezes` and
 * `DELETE /freezes/{name}`, resolved as API Gateway resolves them and answered by the same
 * function the deployed API invokes (handlers/freezes.ts, through handlers/wiring.ts).
 */
import type { IncomingMessage, ServerResponse } from "node:http";
import { FREEZE_ROUTES, type FreezeRequest } from "../handlers/freezes";
import type { Handler } from "../handlers/wiring";
import { UNSUPPORTED_MEDIA_TYPE, acceptsContentType } from "../handlers/submission";
import { readBody } from "./http";

/** A freeze body is a name, a few globs and a reason: far below this. */
const MAX_FREEZE_BODY_BYTES = 16 * 1024;

/** The freeze route a request is for, with its path parameters; undefined for any other path. */
export function freezeRouteOf(method: string, pathname: string): Omit<FreezeRequest, "body"> | undefined {
  const named = /^\/freezes\/([^/]+)$/.exec(pathname);
  const override = /^\/releases\/([^/]+)\/override-freeze$/.exec(pathname);
  const [resource, pathParameters]: [string | undefined, Record<string, string> | undefined] =
    pathname === "/freezes"
      ? ["/freezes", undefined]
      : named
        ? ["/freezes/{name}", { name: decodeURIComponent(named[1]) }]
        : override
          ? ["/releases/{releaseId}/override-freeze", { releaseId: decodeURIComponent(override[1]) }]
          : [undefined, undefined];
  const known = FREEZE_ROUTES.some((route) => route.method === method && route.resource === resource);
  if (!known || resource === undefined) return undefined;
  return { resource, httpMethod: method, ...(pathParameters ? { pathParameters } : {}) };
}

/** Answers one freeze request with the freeze function, as the caller `caller`. */
export async function answerFreeze(
  handler: Handler<"freezeControl">,
  route: Omit<FreezeRequest, "body">,
  caller: string,
  request: IncomingMessage,
  response: ServerResponse,
): Promise<void> {
  const send = (status: number, body: unknown) => {
    response.writeHead(status, { "content-type": "application/json" });
    response.end(`${JSON.stringify(body)}\n`);
  };
  const body = route.httpMethod === "POST" ? await readBody(request, MAX_FREEZE_BODY_BYTES) : "";
  if (body === undefined) {
    return send(413, {
      error: "InvalidRequest",
      message: `the body is larger than ${MAX_FREEZE_BODY_BYTES} bytes`,
    });
  }
  if (route.httpMethod === "POST" && !acceptsContentType(request.headers["content-type"])) {
    return send(415, {
      ...UNSUPPORTED_MEDIA_TYPE,
      message: "send the body with Content-Type: application/json",
    });
  }
  const answer = await handler({ ...route, body, requestContext: { identity: { userArn: caller } } });
  response.writeHead(answer.statusCode, answer.headers);
  response.end(`${answer.body}\n`);
}
