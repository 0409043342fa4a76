/**
 * A small HTTP server answering `GET /releases/{id}` with given views, as the release API does
 * (404 ReleaseNotFound for any other id): for CLI tests of answers the local server does not
 * produce yet (a REJECTED submission) or that need no machine behind them (the packaged CLI).
 */
import { type Server, createServer } from "node:http";
import type { ReleaseView } from "../cli/view";
import { listen } from "../local/http";

/** A release as the API answers it: its id and status, and `fields`. */
export const releaseView = (
  releaseId: string,
  status: ReleaseView["status"],
  fields: Omit<ReleaseView, "releaseId" | "status">,
): ReleaseView => ({ releaseId, status, ...fields });

/** Serves `views` while `use` runs with the server's URL, then closes it. */
export async function withReleaseApi<T>(views: ReleaseView[], use: (url: string) => Promise<T>): Promise<T> {
  const api = await serveReleases(views);
  try {
    return await use(api.url);
  } finally {
    await api.close();
  }
}

async function serveReleases(views: ReleaseView[]): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((request, response) => {
    const view = views.find((v) => request.url === `/releases/${encodeURIComponent(v.releaseId)}`);
    response.writeHead(view ? 200 : 404, { "content-type": "application/json" });
    response.end(
      JSON.stringify(view ?? { error: "ReleaseNotFound", message: "no release has that releaseId" }),
    );
  });
  const { port } = await listen(server, 0);
  return {
    url: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
