/**
 * EventBridge's PutEvents over its real protocol (JSON 1.1, `X-Amz-Target: AWSEvents.PutEvents`),
 * so handlers publish release events with the unmodified `@aws-sdk/client-eventbridge`, pointed
 * here by `AWS_ENDPOINT_URL_EVENTBRIDGE` or a client's `endpoint`. Entries go to a callback: the
 * local event router. Loopback only; signatures are not checked.
 * https://docs.aws.amazon.com/eventbridge/latest/APIReference/API_PutEvents.html
 */
import { randomUUID } from "node:crypto";
import { type IncomingMessage, type ServerResponse, createServer } from "node:http";
import type { PutEventsResultEntry } from "@aws-sdk/client-eventbridge";
import type { PutEventsEntry } from "./event-router";
import { isRecord } from "../contract/json";
import { listen, readBody } from "./http";

export interface EventsService {
  endpoint: string;
  close(): Promise<void>;
}

type PutEvents = (entries: PutEventsEntry[]) => { FailedEntryCount: number; Entries: PutEventsResultEntry[] };

async function answer(putEvents: PutEvents, request: IncomingMessage): Promise<[number, object]> {
  const target = String(request.headers["x-amz-target"] ?? "");
  if (target !== "AWSEvents.PutEvents")
    return [
      400,
      { __type: "UnknownOperationException", message: `${target || "(none)"} is not supported here` },
    ];
  let body: unknown;
  try {
    body = JSON.parse((await readBody(request)) ?? "");
  } catch {
    return [400, { __type: "SerializationException", message: "The request body is not valid JSON" }];
  }
  const entries = isRecord(body) ? body.Entries : undefined;
  if (!Array.isArray(entries) || entries.length < 1 || entries.length > 10)
    return [400, { __type: "ValidationException", message: "Entries must list 1 to 10 entries" }];
  return [200, putEvents(entries as PutEventsEntry[])];
}

export async function startEventsService(options: { putEvents: PutEvents }): Promise<EventsService> {
  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    void answer(options.putEvents, request).then(([status, payload]) => {
      const headers = { "content-type": "application/x-amz-json-1.1", "x-amzn-requestid": randomUUID() };
      response.writeHead(status, headers).end(JSON.stringify(payload));
    });
  });
  const { port } = await listen(server, 0, "127.0.0.1");
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.closeAllConnections();
        server.close((error) => (error ? reject(error) : resolve()));
      }),
  };
}
