/**
 * Local S3: s3rver (the real S3 HTTP API) on 127.0.0.1 with the release bucket, persisted under a
 * folder. Its object-created notifications are mapped to EventBridge's "Object Created" shape,
 * so an upload reaches the workflow through the same rule pattern as on AWS.
 */
import { randomUUID } from "node:crypto";
import type { AddressInfo } from "node:net";
import { GetObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { EventEnvelope } from "./event-router";
import { type DurableStore, writeDurably } from "./s3-durable";
import { openJournal } from "./journal";
import { assertPortFree } from "./http";
import { S3RVER_CREDENTIALS, localS3ClientConfig } from "../contract/local-s3-config";

export { S3RVER_CREDENTIALS };

// s3rver ships no type declarations.
// eslint-disable-next-line @typescript-eslint/no-require-imports
const S3rver = require("s3rver") as new (options: Record<string, unknown>) => {
  store: DurableStore;
  run(): Promise<AddressInfo>;
  close(): Promise<void>;
  on(event: "event", listener: (event: S3Notification) => void): void;
};

interface S3Notification {
  Records: {
    eventName: string;
    eventTime: string;
    awsRegion?: string;
    s3: {
      bucket: { name: string };
      object: { key: string; size?: number; eTag?: string; versionId?: string; sequencer?: string };
    };
  }[];
}

export interface LocalS3 {
  endpoint: string;
  /** Every "Object Created" event the journal kept (with `eventsJournal`), oldest first: replayed at start-up. */
  accepted: EventEnvelope[];
  /** A client for this S3; checksums only where required (s3rver corrupts streamed uploads otherwise). */
  client(): S3Client;
  /** An object's body as text. */
  getText(bucket: string, key: string): Promise<string>;
  close(): Promise<void>;
}

export async function startS3(options: {
  directory: string;
  buckets: string[];
  port?: number;
  region: string;
  accountId: string;
  onObjectCreated?: (event: EventEnvelope) => void;
  /**
   * Keep each "Object Created" event here (local/journal.ts) before the upload is answered, and
   * write objects durably: S3 stores an object durably before it answers, and delivers its events
   * to EventBridge durably (docs/aws-facts.md, "S3 and EventBridge").
   */
  eventsJournal?: string;
}): Promise<LocalS3> {
  const server = new S3rver({
    address: "127.0.0.1",
    port: options.port ?? 0,
    silent: true,
    directory: options.directory,
    configureBuckets: options.buckets.map((name) => ({ name })),
  });
  const journal = options.eventsJournal ? openJournal<EventEnvelope>(options.eventsJournal) : undefined;
  if (journal) writeDurably(server.store);
  // s3rver emits the event inside the request, before it answers: journaled, it is acknowledged.
  server.on("event", (notification) => {
    if (!journal && !options.onObjectCreated) return; // nobody listens: nothing to build
    for (const record of notification.Records ?? []) {
      if (!record.eventName.startsWith("ObjectCreated")) continue;
      const { bucket, object } = record.s3;
      const event: EventEnvelope = {
        version: "0",
        id: randomUUID(),
        "detail-type": "Object Created",
        source: "aws.s3",
        account: options.accountId,
        time: new Date(record.eventTime).toISOString(),
        region: options.region,
        resources: [`arn:aws:s3:::${bucket.name}`],
        detail: {
          version: "0",
          bucket: { name: bucket.name },
          object: {
            // s3rver's notification holds the key as stored (its router decodes the request path
            // once), and S3's EventBridge event carries it so too: ev-events.html documents no
            // encoding for `detail.object.key`, unlike the URL-encoded notification format
            // (notification-content-structure.html). Decoding it again would turn `+` into a space
            // and fail on `%` (docs/aws-facts.md, "S3, SQS, CloudTrail").
            key: object.key,
            size: object.size,
            etag: object.eTag,
            ...(object.versionId ? { "version-id": object.versionId } : {}),
            sequencer: object.sequencer,
          },
          reason: "PutObject",
          // As on AWS, the requesting account (the release's submittedBy for an upload).
          requester: options.accountId,
        },
      };
      journal?.append(event);
      options.onObjectCreated?.(event);
    }
  });
  await assertPortFree(options.port ?? 0);
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  const reader = new S3Client(localS3ClientConfig(endpoint, options.region));
  return {
    endpoint,
    accepted: journal?.entries ?? [],
    client: () => new S3Client(localS3ClientConfig(endpoint, options.region)),
    async getText(bucket, key) {
      const { Body } = await reader.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      return (await Body?.transformToString("utf8")) ?? "";
    },
    async close() {
      reader.destroy();
      await server.close();
      journal?.close();
    },
  };
}
