/**
 * What every local HTTP server here shares: reading a request body, and listening on loopback
 * with an error that names the port when it is taken.
 */
import { type IncomingMessage, type Server, createServer } from "node:http";
import type { AddressInfo } from "node:net";

/**
 * The body as text, or undefined when it is over `limit` bytes. An oversized body is still read to
 * its end, and dropped: leaving the loop early would destroy the socket, so the client would get a
 * reset connection (and a keep-alive client a reset on its next request) instead of an answer.
 */
export async function readBody(request: IncomingMessage, limit = Infinity): Promise<string | undefined> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of request) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  return size > limit ? undefined : Buffer.concat(chunks).toString("utf8");
}

/** The port a server wanted is taken by another process. */
export class PortInUse extends Error {
  override readonly name = "PortInUse";
  constructor(
    readonly host: string,
    readonly port: number,
  ) {
    super(`port ${port} on ${host} is already in use`);
  }
}

/** Listens on `host:port` (0: any free port); a taken port rejects with PortInUse. */
export async function listen(server: Server, port: number, host = "127.0.0.1"): Promise<AddressInfo> {
  await new Promise<void>((resolve, reject) => {
    const failed = (error: NodeJS.ErrnoException) =>
      reject(error.code === "EADDRINUSE" ? new PortInUse(host, port) : error);
    server.once("error", failed);
    server.listen(port, host, () => {
      server.off("error", failed);
      resolve();
    });
  });
  return server.address() as AddressInfo;
}

/**
 * Throws PortInUse when `port` is taken. For servers that cannot report it themselves (s3rver's
 * listen leaves EADDRINUSE as an unhandled 'error' event, which would crash the process).
 */
export async function assertPortFree(port: number, host = "127.0.0.1"): Promise<void> {
  if (port === 0) return;
  const probe = createServer();
  await listen(probe, port, host);
  await new Promise<void>((resolve) => probe.close(() => resolve()));
}
