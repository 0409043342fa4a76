/**
 * A local machine run as a real child process (test/local-server.test.ts, test/local-kill.test.ts):
 * a free port to give it, and its output followed line by line, so a test waits on what the
 * process printed, never on time.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { createServer } from "node:http";
import path from "node:path";
import { listen } from "../local/http";

/** A loopback port nothing listens on right now. */
export async function freePort(): Promise<number> {
  const server = createServer();
  const { port } = await listen(server, 0);
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

export interface FollowedChild {
  child: ChildProcess;
  output(): string;
  /** Resolves once the output matches `pattern` (at once if it already does); rejects if the process exits first. */
  logged(pattern: RegExp): Promise<RegExpMatchArray>;
  /** The exit code (null when a signal ended it). */
  exited: Promise<number | null>;
}

/** Follows `child`'s stdout and stderr together; `label` names it in an error. */
export function followChild(child: ChildProcess, label: string): FollowedChild {
  let output = "";
  const waiters: (() => void)[] = [];
  const onData = (chunk: Buffer) => {
    output += chunk.toString();
    waiters.splice(0).forEach((wake) => wake());
  };
  child.stdout?.on("data", onData);
  child.stderr?.on("data", onData);
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const logged = async (pattern: RegExp): Promise<RegExpMatchArray> => {
    for (;;) {
      const match = output.match(pattern);
      if (match) return match;
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`${label} exited before printing ${pattern}:\n${output}`);
      await Promise.race([new Promise<void>((wake) => waiters.push(wake)), exited]);
    }
  };
  return { child, output: () => output, logged, exited };
}

const ROOT = path.join(__dirname, "..");
const TS_NODE = require.resolve("ts-node/dist/bin.js");

/** local/main.ts (what `npm start` runs) in a child process, resolved once its banner is out. */
export async function startLocalMain(env: Record<string, string>): Promise<FollowedChild> {
  const child = spawn(process.execPath, [TS_NODE, "--transpile-only", "local/main.ts"], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const followed = followChild(child, "the machine");
  await followed.logged(/^Release events:$/m);
  return followed;
}

/** SIGKILL: no handler runs, nothing is flushed or closed. */
export async function kill9(machine: FollowedChild): Promise<void> {
  if (machine.child.exitCode !== null || machine.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => machine.child.once("exit", () => resolve()));
  machine.child.kill("SIGKILL");
  await exited;
}

/** SIGINT, as Ctrl-C: the machine closes cleanly. */
export async function stopGently(machine: FollowedChild | undefined): Promise<void> {
  if (!machine || machine.child.exitCode !== null || machine.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => machine.child.once("exit", () => resolve()));
  machine.child.kill("SIGINT");
  await exited;
}
