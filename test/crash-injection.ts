/**
 * Crash injection for the handlers on local mode (issue 18 C): a function dies at its first call
 * after its Nth DynamoDB write. From then on every call of its clients fails, as nothing more
 * leaves a dead function; calls already in flight finish, as they would on AWS. Installed on a
 * function's own clients from outside (local/release-machine.ts gives each function its own), so
 * no product code knows about it.
 */
import type { ExecutionDeps } from "../handlers/executions";

export class FunctionDied extends Error {
  override readonly name = "FunctionDied";
}

/** The DynamoDB commands that write: the low-level and the document client's names alike. */
const WRITE = /^(Put|Update|Delete|BatchWrite|TransactWrite)(Item|Items)?Command$/;

type Send = (command: unknown, ...rest: unknown[]) => Promise<unknown>;
interface Sending {
  send: Send;
}

export interface Crash {
  /** Puts the function's clients back (the next invocation, a fresh sandbox). */
  restore(): void;
  died(): boolean;
  /** The writes that reached DynamoDB. */
  writes(): number;
}

const nameOf = (command: unknown): string =>
  typeof command === "object" && command !== null ? command.constructor.name : "";

/**
 * The function whose clients `deps` holds dies at its first call after `afterWrites` writes
 * (`Infinity`: it only counts). With `hang`, the dying call never answers until restore (a
 * function stopped mid-call, as by kill -9), rather than failing.
 */
export function crashAfterWrites(
  deps: Pick<ExecutionDeps, "ddb" | "events" | "codepipeline" | "sfn">,
  afterWrites: number,
  options: { hang?: boolean; onDeath?: () => void } = {},
): Crash {
  let writes = 0;
  let dead = false;
  const hung: (() => void)[] = [];
  const clients = [deps.ddb, deps.events, deps.codepipeline, deps.sfn] as unknown as Sending[];
  const restores = clients.map((client) => {
    const original = client.send.bind(client);
    client.send = async (command, ...rest) => {
      if (!dead && writes >= afterWrites) {
        dead = true;
        options.onDeath?.();
      }
      if (dead && options.hang) {
        await new Promise<void>((resolve) => hung.push(resolve));
        throw new FunctionDied(`the function was stopped after ${writes} writes`);
      }
      if (dead) throw new FunctionDied(`the function died after ${writes} writes`);
      if (WRITE.test(nameOf(command))) writes += 1;
      return original(command, ...rest);
    };
    return () => {
      client.send = original;
    };
  });
  return {
    restore: () => {
      restores.forEach((restore) => restore());
      hung.splice(0).forEach((resolve) => resolve());
    },
    died: () => dead,
    writes: () => writes,
  };
}
