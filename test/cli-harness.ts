/**
 * Runs the CLI's `main()` in-process against a local server started for the test file, as the
 * binary would run it, capturing what it writes: shared by the CLI test files.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { main } from "../cli/main";
import type { LocalPipelineSpec } from "../local/codepipeline-service";
import { type LocalServer, type LocalServerOptions, startLocalServer } from "../local/server";

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs one command line in-process with exactly `env` as its environment. */
export async function runMain(args: string[], env: Record<string, string>): Promise<Run> {
  let [stdout, stderr] = ["", ""];
  const code = await main(args, {
    stdout: { write: (text: string) => (stdout += text) },
    stderr: { write: (text: string) => (stderr += text) },
    env,
    isTTY: false,
  });
  return { code, stdout, stderr };
}

/** Runs one command line in-process, pointed at `server`, with `env` added. */
export function runCli(server: LocalServer, args: string[], env: Record<string, string> = {}): Promise<Run> {
  return runMain(args, {
    RELEASE_MACHINE_URL: server.url,
    RELEASE_MACHINE_S3_URL: server.s3Endpoint,
    ...env,
  });
}

export interface CliServer {
  server: LocalServer;
  /** A temporary folder for the server's data and the tests' manifest files. */
  dataDir: string;
  close(): Promise<void>;
}

/** Starts a local server on free ports with `pipelines`, its data in a fresh temporary folder. */
export async function startCliServer(
  label: string,
  pipelines: LocalPipelineSpec[],
  options: Partial<LocalServerOptions> = {},
): Promise<CliServer> {
  const dataDir = mkdtempSync(path.join(tmpdir(), `release-machine-${label}-`));
  const server = await startLocalServer({
    port: 0,
    s3Port: 0,
    dataDir,
    pipelines,
    retryPauseMs: 5,
    ...options,
  });
  return {
    server,
    dataDir,
    close: async () => {
      await server.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
