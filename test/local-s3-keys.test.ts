/**
 * Local S3 keys as S3 keeps them: a manifest uploaded with the AWS SDK under a key with `+`, `%`,
 * spaces or non-ASCII characters starts its release, read from exactly that key. S3's EventBridge
 * "Object Created" event carries the key as stored (https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
 * documents no encoding, unlike the URL-encoded notification format of
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/notification-content-structure.html), so
 * LoadManifest decodes nothing, and the local S3 must hand it over undecoded too.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import type { ReleaseStatusView } from "../contract/release-view";
import { localS3ClientConfig } from "../contract/local-s3-config";
import { LOCAL_BUCKET, type LocalServer, type ReleaseEvent, startLocalServer } from "../local/server";
import { freePort } from "./child-process-helpers";

const KEYS: [kind: string, key: string][] = [
  ["a plus sign", "releases/5.16 hot+fix.json"],
  ["a percent sign", "releases/100%-done.json"],
  ["a percent sign that looks like an escape", "releases/a%20b%2B.json"],
  ["spaces", "releases/with  two spaces .json"],
  ["non-ASCII characters", "releases/déploiement-ü-漢字-🚀.json"],
];

describe("local S3 keys, kept as S3 keeps them", function () {
  this.timeout(120_000);
  let dataDir: string;
  let server: LocalServer;
  let s3: S3Client;
  // One upload at a time: the next outcome (an end, or a rejection that may name no releaseId).
  let onOutcome: ((event: ReleaseEvent) => void) | undefined;
  const nextOutcome = () => new Promise<ReleaseEvent>((resolve) => (onOutcome = resolve));

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "rm-keys-"));
    server = await startLocalServer({
      port: await freePort(),
      s3Port: await freePort(),
      dataDir,
      pipelines: [{ name: "key-svc", durationMs: 0, outcome: "Succeeded" }],
      onReleaseEvent: (event) => {
        if (event.type === "ended" || event.type === "rejected") onOutcome?.(event);
      },
    });
    s3 = new S3Client(localS3ClientConfig(server.s3Endpoint));
  });

  after(async () => {
    s3?.destroy();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  KEYS.forEach(([kind, key], i) => {
    it(`runs a release uploaded with the AWS SDK under a key with ${kind}, read from that exact key`, async () => {
      const releaseId = `key-${i}`;
      const end = nextOutcome();
      const body = JSON.stringify({ releaseId, pipelines: ["key-svc"] });
      await s3.send(new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: key, Body: body }));
      const event = await end;
      assert.equal(event.type === "ended" && event.status, "SUCCEEDED", JSON.stringify(event));
      const response = await fetch(`${server.url}/releases/${releaseId}`);
      const release = (await response.json()) as ReleaseStatusView;
      assert.equal(release.status, "SUCCEEDED");
      assert.equal(release.source, `s3://${LOCAL_BUCKET}/${key}`);
      const stored = await s3.send(new GetObjectCommand({ Bucket: LOCAL_BUCKET, Key: key }));
      assert.equal(await stored.Body?.transformToString("utf8"), body);
    });
  });
});
