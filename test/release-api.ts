/**
 * A small HTTP server answering `GET /releases/{id}` with given views, as the release API does
 * (404 ReleaseNotFound for any other id): for CLI tests of answers the local server does not
 * produce yet (a REJECTED submission) or that need no machine behind them (the packaged CLI).
 */
import { type Server, createServer } from "node:http";
import type { ReleaseView } from "../cli/view";
import { listen } from "../local/http";

export interface ReleaseApi {
  url: string;
  close(): Promise<void>;
}

export async function serveReleases(views: ReleaseView[]): Promise<ReleaseApi> {
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
