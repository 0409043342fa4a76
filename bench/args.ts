/** The command line of `npm run bench` (bench/run.ts). */
import path from "node:path";

/** Where the report goes without `--out`: an ignored folder, so a run leaves the tracked tree unchanged. */
export const DEFAULT_OUT = path.join(__dirname, "out", "RESULTS.md");

export interface BenchArgs {
  json: boolean;
  out: string;
}

export function parseArgs(argv: string[]): BenchArgs {
  const args: BenchArgs = { json: false, out: DEFAULT_OUT };
  for (let i = 0; i < argv.length; i += 1) {
    const arg = argv[i];
    if (arg === "--json") args.json = true;
    else if (arg === "--out" || arg.startsWith("--out=")) {
      const value = arg === "--out" ? argv[(i += 1)] : arg.slice("--out=".length);
      if (!value) throw new Error("bench: --out needs a path");
      args.out = path.resolve(value);
    } else
      throw new Error(`bench: unknown argument ${arg} (usage: npm run bench -- [--json] [--out <path>])`);
  }
  return args;
}
