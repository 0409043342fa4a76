/**
 * A local server (the API and the bucket, as `npm start` serves them) for one mocha suite: started
 * before its tests in a data folder of its own, closed after them, with an S3 client of the local
 * bucket and a POST of a raw body to `/releases`. Shared by the end-to-end suites that drive both
 * doors.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { S3RVER_CREDENTIALS } from "../local/s3";
import { type LocalServer, startLocalServer } from "../local/server";
import type { localPipelines } from "./local-helpers";

export type Answer = { status: number; body: Record<string, unknown> };

/** An S3 client of the local bucket (path style; checksums only where S3 requires them). */
export function localS3Client(endpoint: string): S3Client {
  return new S3Client({
    endpoint,
    region: "us-east-1",
    credentials: S3RVER_CREDENTIALS,
    forcePathStyle: true,
    requestChecksumCalculation: "WHEN_REQUIRED",
    responseChecksumValidation: "WHEN_REQUIRED",
  });
}

export interface LocalServerFixture {
  readonly server: LocalServer;
  readonly s3: S3Client;
  /** The server's data folder, where a test may also write its manifest files. */
  readonly dataDir: string;
  /** POST `body` (sent as written) to `/releases` as JSON. */
  post(body: string): Promise<Answer>;
}

/** Registers the suite's before/after hooks; the fixture's fields are set once `before` ran. */
export function localServerFixture(
  label: string,
  pipelines: ReturnType<typeof localPipelines>,
): LocalServerFixture {
  let server: LocalServer | undefined;
  let s3: S3Client | undefined;
  let dataDir: string | undefined;
  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), `rm-${label}-`));
    server = await startLocalServer({
      port: 0,
      s3Port: 0,
      dataDir,
      pipelines,
      retryPauseMs: 5,
      reconcileEveryMs: 3_600_000,
    });
    s3 = localS3Client(server.s3Endpoint);
  });
  after(async () => {
    s3?.destroy();
    await server?.close();
    if (dataDir) rmSync(dataDir, { recursive: true, force: true });
  });
  const started = <T>(value: T | undefined): T => {
    if (value === undefined) throw new Error("the local server fixture is used before its suite started it");
    return value;
  };
  return {
    get server() {
      return started(server);
    },
    get s3() {
      return started(s3);
    },
    get dataDir() {
      return started(dataDir);
    },
    async post(body: string): Promise<Answer> {
      const response = await fetch(`${started(server).url}/releases`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body,
      });
      return { status: response.status, body: (await response.json()) as Record<string, unknown> };
    },
  };
}
