/**
 * `npm start`: runs the release machine locally until Ctrl-C. Settings by environment:
 * RELEASE_MACHINE_PORT (API, default 3000), RELEASE_MACHINE_S3_PORT (default 4569),
 * RELEASE_MACHINE_DATA_DIR (default .release-machine/), RELEASE_MACHINE_PIPELINES (default
 * pipelines.local.json).
 */
import { mkdirSync } from "node:fs";
import path from "node:path";
import { LOCAL_BUCKET, readLocalPipelines, startLocalServer } from "./server";

function port(name: string, fallback: number): number {
  const raw = process.env[name];
  const value = raw === undefined || raw === "" ? fallback : Number(raw);
  if (!Number.isInteger(value) || value < 0 || value > 65535) {
    throw new Error(`${name} must be a port number from 0 to 65535, got "${raw}"`);
  }
  return value;
}

async function main(): Promise<void> {
  const root = path.join(__dirname, "..");
  const dataDir = path.resolve(process.env.RELEASE_MACHINE_DATA_DIR || path.join(root, ".release-machine"));
  const pipelinesFile = path.resolve(
    process.env.RELEASE_MACHINE_PIPELINES || path.join(root, "pipelines.local.json"),
  );
  mkdirSync(dataDir, { recursive: true });
  const pipelines = readLocalPipelines(pipelinesFile);
  const server = await startLocalServer({
    port: port("RELEASE_MACHINE_PORT", 3000),
    s3Port: port("RELEASE_MACHINE_S3_PORT", 4569),
    dataDir,
    pipelines,
  });
  const lines = [
    "Release Machine is running locally (no AWS account involved).",
    "",
    `  API         ${server.url}  (POST /releases, GET /releases/{releaseId})`,
    `  S3          ${server.s3Endpoint}  bucket ${LOCAL_BUCKET}  (access key S3RVER / secret S3RVER)`,
    `  data        ${dataDir}`,
    `  pipelines   ${pipelines.map((p) => `${p.name}${p.outcome === "Failed" ? " (fails)" : ""}`).join(", ")}`,
    "",
    "Submit a release:",
    `  curl -X POST ${server.url}/releases -H 'content-type: application/json' -d @release-manifest.json`,
    `  AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER aws s3 cp release-manifest.json s3://${LOCAL_BUCKET}/ --endpoint-url ${server.s3Endpoint}`,
    "Follow it:",
    `  npx release-machine watch <releaseId>      or      curl ${server.url}/releases/<releaseId>`,
    "",
    "Ctrl-C stops it; finished releases stay readable after a restart.",
  ];
  if (server.recovered.length > 0) {
    lines.push(
      "",
      `Marked FAILED (they were running when the machine last stopped): ${server.recovered.join(", ")}`,
    );
  }
  process.stdout.write(`${lines.join("\n")}\n`);

  let stopping = false;
  const stop = () => {
    if (stopping) return;
    stopping = true;
    process.stdout.write("Stopping…\n");
    server.close().then(
      () => process.exit(0),
      (error: unknown) => {
        process.stderr.write(`${String(error)}\n`);
        process.exit(1);
      },
    );
  };
  process.on("SIGINT", stop);
  process.on("SIGTERM", stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`release-machine: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
