/**
 * The `release-machine` CLI against the real local server started in-process: commands run
 * through the injectable `main()` (one test per exit code), two run as the binary to prove it
 * starts; plus unit tests of its SigV4 signing and text rendering.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { createHash, createHmac } from "node:crypto";
import { writeFileSync } from "node:fs";
import { createServer } from "node:http";
import path from "node:path";
import { regionFromApiUrl, signRequest } from "../cli/api";
import { main } from "../cli/main";
import {
  exitCodeFor,
  formatDuration,
  pipelineLine,
  renderApiError,
  renderChanges,
  renderOutcome,
  renderStatus,
} from "../cli/render";
import type { ReleaseView } from "../cli/view";
import { listen } from "../local/http";
import type { LocalServer } from "../local/server";
import { type CliServer, type Run, runCli, startCliServer } from "./cli-harness";
import { releaseView, withReleaseApi } from "./release-api";
import { until } from "./local-helpers";

const ROOT = path.join(__dirname, "..");
const BIN = path.join(ROOT, "cli", "release-machine.js");

let testServer: CliServer;
let server: LocalServer;
let dataDir: string;

/** Runs one command line in-process, as the binary would, pointed at the test server. */
const cli = (args: string[], env: Record<string, string> = {}): Promise<Run> => runCli(server, args, env);

/** Runs the real binary (cli/release-machine.js) in a child process. */
function binary(args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [BIN, ...args],
      { cwd: ROOT, env: { ...process.env, RELEASE_MACHINE_URL: server.url } },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === "number" ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

function manifestFile(name: string, manifest: unknown): string {
  const file = path.join(dataDir, `${name}.json`);
  writeFileSync(file, JSON.stringify(manifest, null, 2));
  return file;
}

/** A port on loopback that nothing listens on. */
async function closedPort(): Promise<number> {
  const probe = createServer();
  const { port } = await listen(probe, 0);
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

describe("release-machine CLI", function () {
  this.timeout(30_000);

  before(async () => {
    testServer = await startCliServer("cli", [
      { name: "svc-a", durationMs: 100, outcome: "Succeeded" },
      { name: "svc-b", durationMs: 150, outcome: "Succeeded" },
      { name: "svc-bad", durationMs: 100, outcome: "Failed" },
      { name: "svc-manual", durationMs: null, outcome: "Succeeded" },
    ]);
    ({ server, dataDir } = testServer);
  });

  after(async () => {
    await testServer?.close();
  });

  /** The execution of `pipeline` once the stand-in has started it. */
  const executionOf = async (pipeline: string): Promise<string> =>
    (
      await until(`${pipeline} to be started`, () =>
        server.machine.codepipeline.executions(pipeline).find((e) => !e.endTime),
      )
    ).pipelineExecutionId;

  describe("the binary", () => {
    it("starts and prints the top-level usage for --help", async () => {
      const top = await binary(["--help"]);
      assert.equal(top.code, 0, top.stderr);
      assert.match(top.stdout, /^ {2}release-machine submit FILE /m);
      assert.match(top.stdout, /^ {2}release-machine watch RELEASE_ID /m);
    });

    it("submits a release over HTTP and sets its exit code from the answer", async () => {
      const file = manifestFile("bin", { releaseId: "cli-bin", pipelines: ["svc-a"] });
      const [submitted, refused] = [await binary(["submit", file]), await binary(["submit", file])];
      assert.equal(submitted.code, 0, submitted.stderr);
      assert.match(submitted.stdout, /^Release cli-bin submitted/);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /^DuplicateRelease \(HTTP 409\)/);
    });
  });

  it("prints each command's usage for --help and -h", async () => {
    const [submit, status, watch] = [
      await cli(["submit", "--help"]),
      await cli(["status", "--help"]),
      await cli(["watch", "-h"]),
    ];
    for (const run of [submit, status, watch]) assert.equal(run.code, 0, run.stderr);
    assert.match(submit.stdout, /^Usage: release-machine submit FILE \[options\]$/m);
    assert.match(submit.stdout, /^ {2}--bucket NAME /m);
    assert.match(status.stdout, /^Usage: release-machine status RELEASE_ID \[options\]$/m);
    assert.match(watch.stdout, /^Usage: release-machine watch RELEASE_ID \[options\]$/m);
    assert.match(watch.stdout, /^ {2}--timeout DURATION /m);
  });

  describe("exit code 0", () => {
    it("submits a release, and watch exits 0 once every pipeline succeeded", async () => {
      const file = manifestFile("ok", { releaseId: "cli-ok", pipelines: ["svc-a", "svc-b"] });
      const submitted = await cli(["submit", file]);
      assert.equal(submitted.code, 0, submitted.stderr);
      assert.match(submitted.stdout, /^Release cli-ok submitted/);
      assert.match(submitted.stdout, /npx release-machine watch cli-ok/);

      const watched = await cli(["watch", "cli-ok", "--interval", "20"]);
      assert.equal(watched.code, 0, watched.stderr);
      const lines = watched.stdout.trimEnd().split("\n");
      assert.match(lines[lines.length - 1], /^Release cli-ok SUCCEEDED after \d+\.\ds$/);
      assert.ok(lines.some((line) => /svc-a\s+Succeeded \(SUCCEEDED\)$/.test(line)));
      assert.ok(lines.some((line) => /svc-b\s+Succeeded \(SUCCEEDED\)$/.test(line)));
    });

    it("names a numeric releaseId as the manifest writes it in submit's watch command", async () => {
      const file = path.join(dataDir, "numeric.json");
      writeFileSync(file, '{ "releaseId": 7.10, "pipelines": ["svc-a"] }');

      const submitted = await cli(["submit", file]);

      assert.equal(submitted.code, 0, submitted.stderr);
      assert.match(submitted.stdout, /^Release 7\.10 submitted/);
      assert.match(submitted.stdout, /^Follow it: {3}npx release-machine watch 7\.10$/m);
    });

    for (const releaseId of ["5.16", "hot_fix.2"]) {
      it(`prints the releaseId ${releaseId} as written, not its execution name, and watch finds it by that id`, async () => {
        const file = manifestFile(`dotted-${releaseId}`, { releaseId, pipelines: ["svc-a"] });

        const submitted = await cli(["submit", file]);

        assert.equal(submitted.code, 0, submitted.stderr);
        const printed = /^Release (\S+) submitted/.exec(submitted.stdout)?.[1];
        assert.equal(printed, releaseId);
        const follow = /^Follow it: {3}npx release-machine watch (\S+)$/m.exec(submitted.stdout)?.[1];
        assert.equal(follow, releaseId);
        const watched = await cli(["watch", follow, "--interval", "20"]);
        assert.equal(watched.code, 0, watched.stderr);
        const lines = watched.stdout.trimEnd().split("\n");
        assert.equal(lines[lines.length - 1].replace(/ after .*/, ""), `Release ${releaseId} SUCCEEDED`);
      });
    }

    it("status exits 0 for a release that is still RUNNING", async () => {
      const file = manifestFile("running", { releaseId: "cli-running", pipelines: ["svc-manual"] });
      assert.equal((await cli(["submit", file])).code, 0);
      const execution = await executionOf("svc-manual");

      const status = await cli(["status", "cli-running"]);
      server.machine.codepipeline.finish(execution, "Succeeded");

      assert.equal(status.code, 0, status.stderr);
      assert.match(status.stdout, /^Release cli-running: RUNNING$/m);
    });

    it("prints only parseable JSON with --json for submit, watch and status", async () => {
      const file = manifestFile("json", { releaseId: "cli-json", pipelines: ["svc-a"] });
      const submitted = await cli(["submit", file, "--json"]);
      assert.equal(submitted.code, 0, submitted.stderr);
      const answer = JSON.parse(submitted.stdout) as {
        executionArn: string;
        releaseId: string;
        status: string;
      };
      assert.match(answer.executionArn, /:execution:[^:]+:cli-json-[0-9a-f]{15}$/);
      assert.deepEqual([answer.releaseId, answer.status], ["cli-json", "SUBMITTED"]);

      const watched = await cli(["watch", "cli-json", "--json", "--interval", "20"]);
      assert.equal(watched.code, 0, watched.stderr);
      const final = JSON.parse(watched.stdout) as ReleaseView;
      assert.equal(final.releaseId, "cli-json");
      assert.equal(final.status, "SUCCEEDED");
      assert.deepEqual(
        final.pipelines?.map((p) => [p.name, p.status]),
        [["svc-a", "Succeeded"]],
      );

      const status = await cli(["status", "cli-json", "--json"]);
      assert.equal(status.code, 0, status.stderr);
      const view = JSON.parse(status.stdout) as ReleaseView;
      assert.equal(view.status, "SUCCEEDED");
      assert.equal(view.executionArn, answer.executionArn);
      assert.deepEqual(
        view.pipelines?.[0].history?.map((h) => h.state),
        ["STARTED", "SUCCEEDED"],
      );
      assert.ok(view.startedAt && view.endedAt, "status has both times");
    });

    it("uploads with --bucket to the local S3, and watch waits for the release and sees it succeed", async () => {
      const file = manifestFile("upload", { releaseId: "cli-upload", pipelines: ["svc-a", "svc-b"] });
      const uploaded = await cli(["submit", file, "--bucket", "release-manifests", "--json"]);
      assert.equal(uploaded.code, 0, uploaded.stderr);
      const where = JSON.parse(uploaded.stdout) as { releaseId: string; location: string; endpoint: string };
      assert.equal(where.releaseId, "cli-upload");
      assert.equal(where.location, "s3://release-manifests/cli-upload.json");
      assert.equal(where.endpoint, server.s3Endpoint);

      const watched = await cli(["watch", "cli-upload", "--interval", "20"]);
      assert.equal(watched.code, 0, watched.stderr);
      assert.match(watched.stdout, /^Release cli-upload SUCCEEDED after /m);

      const status = JSON.parse((await cli(["status", "cli-upload", "--json"])).stdout) as ReleaseView;
      assert.equal(status.source, "s3://release-manifests/cli-upload.json");
    });
  });

  describe("exit code 1", () => {
    it("watch and status exit 1 for a FAILED release and name the failing pipeline, its stage and action", async () => {
      const file = manifestFile("bad", { releaseId: "cli-bad", pipelines: ["svc-a", "svc-bad"] });
      assert.equal((await cli(["submit", file])).code, 0);

      const watched = await cli(["watch", "cli-bad", "--interval", "20"]);
      const status = await cli(["status", "cli-bad"]);

      assert.equal(watched.code, 1);
      assert.match(watched.stdout, /^Release cli-bad FAILED after /m);
      assert.match(watched.stdout, /^ {2}failed pipelines: svc-bad at stage Deploy, action Deploy$/m);
      assert.match(
        watched.stdout,
        /^\d{2}:\d{2}:\d{2}Z svc-bad +Failed \(FAILED\) at stage Deploy, action Deploy$/m,
      );
      assert.match(watched.stdout, /^ {2}cause: Pipeline svc-bad did not succeed/m);
      assert.equal(status.code, 1, status.stderr);
      const lines = status.stdout.trimEnd().split("\n");
      assert.equal(lines[0], "Release cli-bad: FAILED");
      assert.match(status.stdout, /^ {2}started {2}\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$/m);
      assert.match(status.stdout, /^ {2}ended {4}\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z \(\d+\.\ds\)$/m);
      assert.match(status.stdout, /^ {2}error {4}PipelineFailed$/m);
      assert.match(
        status.stdout,
        /^ {2}!! svc-bad\s+Failed\s+FAILED at \d{2}:\d{2}:\d{2}Z \(\d+\.\ds\) at stage Deploy, action Deploy$/m,
      );
      assert.equal(lines.filter((line) => /^ {2}(ok|!!|--|>>) svc-/.test(line)).length, 2);
    });

    it("watch and status exit 1 for a REJECTED release and list its problems", async () => {
      // The answer the API gives a rejected submission: GET /releases/{id} with status REJECTED.
      const rejected = releaseView("cli-rejected", "REJECTED", {
        error: "InvalidManifest",
        cause: "the manifest has 1 problem",
        problems: [{ path: "/pipelines/0", rule: "allowList", message: 'pipeline "svc-x" is not allowed' }],
        source: "s3://release-manifests/cli-rejected.json",
      });
      const [watched, status] = await withReleaseApi([rejected], async (url) => [
        await cli(["watch", "cli-rejected", "--interval", "20"], { RELEASE_MACHINE_URL: url }),
        await cli(["status", "cli-rejected"], { RELEASE_MACHINE_URL: url }),
      ]);

      assert.equal(watched.code, 1);
      assert.match(
        watched.stdout,
        /^ {2}problems \(1\):\n {4}\/pipelines\/0 {2}allowList {2}pipeline "svc-x" is not allowed$/m,
      );
      assert.equal(status.code, 1);
      assert.deepEqual(status.stdout.trimEnd().split("\n"), [
        "Release cli-rejected: REJECTED",
        "  started  -",
        "  source   s3://release-manifests/cli-rejected.json",
        "  error    InvalidManifest",
        "  cause    the manifest has 1 problem",
        "Problems (1):",
        '  /pipelines/0  allowList  pipeline "svc-x" is not allowed',
      ]);
    });

    it("exits 1 and lists each problem of a manifest the API rejects", async () => {
      const file = manifestFile("invalid", {
        releaseId: "cli-invalid",
        pipelines: ["svc-nope"],
        owner: "me",
      });
      const submitted = await cli(["submit", file]);
      assert.equal(submitted.code, 1);
      const lines = submitted.stderr.trimEnd().split("\n");
      assert.equal(lines[0], "InvalidManifest (HTTP 400): the manifest has 2 problems");
      assert.match(lines[1], /^ {2}\/owner\s+additionalProperties\s+unknown field "owner"/);
      assert.match(
        lines[2],
        /^ {2}\/pipelines\/0\s+allowList\s+pipeline "svc-nope" is not on this machine's allow-list/,
      );

      const json = await cli(["submit", file, "--json"]);
      assert.equal(json.code, 1);
      const body = JSON.parse(json.stdout) as { error: string; problems: { path: string; rule: string }[] };
      assert.equal(body.error, "InvalidManifest");
      assert.deepEqual(
        body.problems.map((p) => [p.path, p.rule]),
        [
          ["/owner", "additionalProperties"],
          ["/pipelines/0", "allowList"],
        ],
      );
    });

    it("refuses to upload a manifest that breaks the manifest rules", async () => {
      const file = manifestFile("upload-bad", { releaseId: "-leading-dash", pipelines: ["svc-a"] });
      const uploaded = await cli(["submit", file, "--bucket", "release-manifests"]);
      assert.equal(uploaded.code, 1);
      assert.match(uploaded.stderr, /^ {2}\/releaseId\s+pattern\s+/m);
      assert.match(uploaded.stderr, /^Nothing was uploaded\.$/m);
    });

    it("status exits 1 for a release that does not exist", async () => {
      const status = await cli(["status", "cli-ghost"]);
      assert.equal(status.code, 1);
      assert.equal(status.stderr.trim(), "ReleaseNotFound (HTTP 404): no release has releaseId cli-ghost");
    });

    it("asks whether `npm start` is running when the local API refuses the connection", async () => {
      const port = await closedPort();
      const run = await cli(["status", "cli-ok"], { RELEASE_MACHINE_URL: `http://127.0.0.1:${port}` });
      assert.equal(run.code, 1);
      assert.equal(
        run.stderr,
        `release-machine: cannot reach the release API at http://127.0.0.1:${port} (ECONNREFUSED); ` +
          "is `npm start` running? (or set RELEASE_MACHINE_URL / pass --api)\n",
      );
    });
  });

  describe("exit code 2", () => {
    it("exits 2 for a usage error and points to the command's help", async () => {
      const [missing, unknown] = [await cli(["watch"]), await cli(["status", "x", "--frobnicate"])];
      assert.equal(missing.code, 2);
      assert.equal(
        missing.stderr,
        'release-machine: watch needs RELEASE_ID\nRun "release-machine watch --help" for usage.\n',
      );
      assert.equal(unknown.code, 2);
      assert.match(unknown.stderr, /Unknown option '--frobnicate'/);
    });

    it("watch exits 2 when the release never appears before --timeout", async () => {
      const watched = await cli(["watch", "cli-ghost", "--interval", "20", "--timeout", "100ms"]);
      assert.equal(watched.code, 2);
      assert.match(
        watched.stderr,
        /^release-machine: no release has releaseId cli-ghost \(waited \d+\.\ds\)$/m,
      );
    });
  });

  it("redraws the view in place when stdout is a terminal", async () => {
    const file = manifestFile("tty", { releaseId: "cli-tty", pipelines: ["svc-manual"] });
    assert.equal((await cli(["submit", file])).code, 0);
    const execution = await executionOf("svc-manual");
    const frames: string[] = [];
    let firstRunningFrame!: () => void;
    const drawnRunning = new Promise<void>((resolve) => (firstRunningFrame = resolve));

    const watching = main(["watch", "cli-tty", "--interval", "20"], {
      stdout: {
        write: (text: string) => {
          frames.push(text);
          if (/svc-manual\s+InProgress/.test(text)) firstRunningFrame();
        },
      },
      stderr: { write: () => true },
      env: { RELEASE_MACHINE_URL: server.url },
      isTTY: true,
      columns: () => 80,
    });
    await drawnRunning;
    server.machine.codepipeline.finish(execution, "Succeeded");

    assert.equal(await watching, 0);
    const running = frames.findIndex((f) => /svc-manual\s+InProgress/.test(f));
    const done = frames.findIndex((f) => f.startsWith("\x1b[2A\r\x1b[JRelease cli-tty  SUCCEEDED "));
    assert.ok(running >= 0 && done > running, JSON.stringify(frames));
    // Every frame after the first moves up over the previous two lines and clears them.
    assert.match(frames[done], / {2}ok svc-manual\s+Succeeded\s+SUCCEEDED at /);
  });
});

describe("release-machine CLI: SigV4 signing", () => {
  const credentials = { accessKeyId: "AKID", secretAccessKey: "SECRET" };
  const date = new Date("2026-11-27T10:20:30Z");
  const url = new URL("https://abc123.execute-api.ap-southeast-2.amazonaws.com/v1/releases");
  const body = '{"releaseId":"5.16","pipelines":["svc-a"]}';

  it("signs for execute-api in the URL's region with the credential scope of the date", async () => {
    const headers = await signRequest(
      { method: "POST", url, headers: { "content-type": "application/json" }, body },
      { region: regionFromApiUrl(url.href) ?? "", credentials, date },
    );
    assert.match(
      headers.authorization,
      /^AWS4-HMAC-SHA256 Credential=AKID\/20261127\/ap-southeast-2\/execute-api\/aws4_request, SignedHeaders=[a-z0-9;-]+, Signature=[0-9a-f]{64}$/,
    );
    assert.equal(headers["x-amz-date"], "20261127T102030Z");
    assert.equal(headers.host, "abc123.execute-api.ap-southeast-2.amazonaws.com");
  });

  it("produces the signature SigV4 defines, recomputed independently", async () => {
    const headers = await signRequest(
      { method: "POST", url, headers: { "content-type": "application/json" }, body },
      { region: "ap-southeast-2", credentials, date },
    );
    const [, signedList, signature] =
      /SignedHeaders=([^,]+), Signature=([0-9a-f]+)$/.exec(headers.authorization) ?? [];
    const names = signedList.split(";");
    assert.deepEqual(names, ["content-type", "host", "x-amz-content-sha256", "x-amz-date"]);
    const hash = (text: string) => createHash("sha256").update(text).digest("hex");
    const hmac = (key: string | Buffer, text: string) => createHmac("sha256", key).update(text).digest();
    const canonical = [
      "POST",
      "/v1/releases",
      "",
      ...names.map((name) => `${name}:${headers[name]}`),
      "",
      signedList,
      hash(body),
    ].join("\n");
    const scope = "20261127/ap-southeast-2/execute-api/aws4_request";
    const toSign = ["AWS4-HMAC-SHA256", "20261127T102030Z", scope, hash(canonical)].join("\n");
    let key = hmac("AWS4SECRET", "20261127");
    for (const part of ["ap-southeast-2", "execute-api", "aws4_request"]) key = hmac(key, part);
    assert.equal(signature, createHmac("sha256", key).update(toSign).digest("hex"));
  });

  it("sends and signs the session token of temporary credentials", async () => {
    const headers = await signRequest(
      {
        method: "GET",
        url: new URL("https://abc123.execute-api.eu-west-1.amazonaws.com/v1/releases/5.16"),
        headers: {},
      },
      { region: "eu-west-1", credentials: { ...credentials, sessionToken: "TOKEN" }, date },
    );
    assert.equal(headers["x-amz-security-token"], "TOKEN");
    assert.match(headers.authorization, /SignedHeaders=[^,]*x-amz-security-token/);
  });

  it("reads the region from an execute-api URL and from no other host", () => {
    assert.equal(regionFromApiUrl("https://abc.execute-api.eu-central-1.amazonaws.com/v1"), "eu-central-1");
    assert.equal(
      regionFromApiUrl("https://abc-vpce-1.execute-api.us-west-2.vpce.amazonaws.com/v1"),
      "us-west-2",
    );
    assert.equal(regionFromApiUrl("https://releases.example.com/v1"), undefined);
    assert.equal(regionFromApiUrl("not a url"), undefined);
  });
});

describe("release-machine CLI: rendering", () => {
  const pipeline = (name: string, status: string, states: string[]) => ({
    name,
    status,
    history: states.map((state, i) => ({ state, at: `2026-11-27T10:00:0${i + 1}.000Z` })),
  });

  it("prints a line per change only, the release's end after its pipelines", () => {
    const before: ReleaseView = {
      releaseId: "r1",
      status: "RUNNING",
      startedAt: "2026-11-27T10:00:00.000Z",
      pipelines: [pipeline("svc-a", "InProgress", ["STARTED"]), pipeline("svc-b", "InProgress", ["STARTED"])],
    };
    const after: ReleaseView = {
      ...before,
      status: "SUCCEEDED",
      endedAt: "2026-11-27T10:00:03.000Z",
      pipelines: [
        pipeline("svc-a", "InProgress", ["STARTED"]),
        pipeline("svc-b", "Succeeded", ["STARTED", "SUCCEEDED"]),
      ],
    };
    assert.deepEqual(renderChanges(before, after), [
      "10:00:02Z svc-b     Succeeded (SUCCEEDED)",
      "10:00:03Z release r1 SUCCEEDED",
    ]);
    assert.deepEqual(renderChanges(after, after), []);
  });

  it("dates a pipeline skipped without events by its own end, not the release's start", () => {
    const before: ReleaseView = {
      releaseId: "r1",
      status: "RUNNING",
      startedAt: "2026-11-27T10:00:00.000Z",
      pipelines: [{ name: "svc-b", status: "Pending", history: [] }],
    };
    const after: ReleaseView = {
      ...before,
      pipelines: [{ name: "svc-b", status: "Skipped", endedAt: "2026-11-27T10:00:05.000Z", history: [] }],
    };
    assert.deepEqual(renderChanges(before, after), ["10:00:05Z svc-b     Skipped"]);
  });

  it("lists an API error's problems as path, rule and message", () => {
    assert.deepEqual(
      renderApiError(400, {
        error: "InvalidManifest",
        message: "…",
        problems: [
          { path: "", rule: "json", message: "not JSON" },
          { path: "/pipelines/0", rule: "allowList", message: "not allowed" },
        ],
      }),
      [
        "InvalidManifest (HTTP 400): the manifest has 2 problems",
        "  (manifest)    json       not JSON",
        "  /pipelines/0  allowList  not allowed",
      ],
    );
    assert.deepEqual(renderApiError(403, { message: "Forbidden" }), ["HTTP 403: Forbidden"]);
  });

  it("names the stage and action a failed pipeline failed at, in status, watch's lines and the outcome", () => {
    const failed = {
      ...pipeline("svc-a", "Failed", ["STARTED", "FAILED"]),
      failedStage: "Deploy",
      failedAction: "DeployApp",
    };
    const view: ReleaseView = {
      releaseId: "r2",
      status: "FAILED",
      startedAt: "2026-11-27T10:00:00.000Z",
      endedAt: "2026-11-27T10:00:02.000Z",
      pipelines: [failed, pipeline("svc-b", "Stopped", ["STARTED", "STOPPED"])],
    };

    assert.equal(
      pipelineLine(failed, 8),
      "!! svc-a     Failed      FAILED at 10:00:02Z at stage Deploy, action DeployApp",
    );
    assert.ok(renderStatus(view, new Date()).includes(`  ${pipelineLine(failed, 8)}`));
    assert.deepEqual(renderChanges(undefined, view).slice(1, 2), [
      "10:00:02Z svc-a     Failed (FAILED) at stage Deploy, action DeployApp",
    ]);
    assert.deepEqual(renderOutcome(view, new Date()).slice(0, 2), [
      "Release r2 FAILED after 2.0s",
      "  failed pipelines: svc-a at stage Deploy, action DeployApp",
    ]);
  });

  it("exits 0 for a RUNNING or SUCCEEDED release and 1 for FAILED, REJECTED and CANCELLED", () => {
    const codes = (["RUNNING", "SUCCEEDED", "FAILED", "REJECTED", "CANCELLED"] as const).map((status) =>
      exitCodeFor({ releaseId: "r", status }),
    );
    assert.deepEqual(codes, [0, 0, 1, 1, 1]);
  });

  it("formats durations from tenths of seconds to hours", () => {
    assert.deepEqual([420, 59_949, 65_000, 3_725_000].map(formatDuration), [
      "0.4s",
      "59.9s",
      "1m05s",
      "1h02m05s",
    ]);
  });
});
