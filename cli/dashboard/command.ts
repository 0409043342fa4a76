/**
 * The `dashboard` command's run: starts the dashboard's server, prints its one line, opens the
 * browser unless told not to, and serves until SIGINT or SIGTERM.
 */
import { spawn } from "node:child_process";
import type { ApiTarget } from "../api";
import { EXIT } from "../exit-codes";
import { startDashboard } from "./server";

/** Opens `url` in the desktop's browser, best effort: a machine without one just shows the line. */
function openBrowser(url: string): void {
  const [command, args] =
    process.platform === "darwin"
      ? ["open", [url]]
      : process.platform === "win32"
        ? ["cmd", ["/c", "start", '""', url]]
        : ["xdg-open", [url]];
  try {
    const child = spawn(command, args, { stdio: "ignore", detached: true });
    child.on("error", () => undefined);
    child.unref();
  } catch {
    // No opener: the printed line is enough.
  }
}

export async function runDashboard(
  target: ApiTarget,
  options: { port: number; open: boolean },
  stdout: { write(text: string): unknown },
): Promise<number> {
  const dashboard = await startDashboard({ target, port: options.port });
  stdout.write(`Dashboard: ${dashboard.url}\n`);
  if (options.open) openBrowser(dashboard.url);
  await new Promise<void>((resolve) => {
    const stop = () => {
      process.off("SIGINT", stop);
      process.off("SIGTERM", stop);
      resolve();
    };
    process.on("SIGINT", stop);
    process.on("SIGTERM", stop);
  });
  await dashboard.close();
  return EXIT.ok;
}
