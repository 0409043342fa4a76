/**
 * s3rver's PutObject made durable: s3rver answers once its write stream was handed the bytes, not
 * once they are on disk, so an upload answered just before a `kill -9` could be lost or cut short.
 * S3 answers a PutObject only once the object is stored durably
 * and never adds a partial object
 * (https://docs.aws.amazon.com/AmazonS3/latest/API/API_PutObject.html); here the object,
 * its MD5 and its metadata are written and fsync'd (and their folder) before the store returns, so
 * before the upload is answered and before its event is journaled (local/s3.ts).
 */
import { createHash } from "node:crypto";
import { closeSync, fsyncSync, mkdirSync, openSync, writeFileSync } from "node:fs";
import path from "node:path";
import type { Readable } from "node:stream";

/** The parts of s3rver's FilesystemStore this replaces and uses. */
export interface DurableStore {
  putObject(object: S3rverObject): Promise<{ md5: string; size: number }>;
  getResourcePath(bucket: string, key: string, resource: string): string;
  putMetadata(bucket: string, key: string, metadata: unknown, md5: string): Promise<void>;
}

interface S3rverObject {
  bucket: string;
  key: string;
  content: Buffer | Readable;
  metadata: unknown;
}

async function bytesOf(content: Buffer | Readable): Promise<Buffer> {
  if (Buffer.isBuffer(content)) return content;
  const chunks: Buffer[] = [];
  for await (const chunk of content)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as string));
  return Buffer.concat(chunks);
}

function fsyncPath(file: string): void {
  const fd = openSync(file, "r");
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

/** Replaces the store's putObject with one that returns only once the object is on disk. */
export function writeDurably(store: DurableStore): void {
  store.putObject = async (object) => {
    const content = await bytesOf(object.content);
    const md5 = createHash("md5").update(content).digest("hex");
    const file = store.getResourcePath(object.bucket, object.key, "object");
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileSync(file, content);
    await store.putMetadata(object.bucket, object.key, object.metadata, md5);
    for (const resource of ["object", "object.md5", "metadata.json"]) {
      fsyncPath(store.getResourcePath(object.bucket, object.key, resource));
    }
    fsyncPath(path.dirname(file));
    return { md5, size: content.length };
  };
}
