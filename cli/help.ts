/**
 * The CLI's help texts: the top level and one per command. Each ends with every release and
 * pipeline status and every exit code, rendered from their one source (cli/exit-codes.ts).
 */
import { DEFAULT_API_URL } from "./api";
import { statusesAndExitCodes } from "./exit-codes";
import { RELEASE_STATUSES } from "../contract/lifecycle";

const COMMON = `
Common options:
  --api URL        the release API (default: $RELEASE_MACHINE_URL, else ${DEFAULT_API_URL}).
                   An https:// URL is API Gateway (the stack output apiUrl, e.g.
                   https://abc.execute-api.eu-west-1.amazonaws.com/v1): requests are signed with
                   SigV4 using the AWS default credential chain (env, profile, SSO, role…).
  --region REGION  the region to sign for (default: from the URL, else $AWS_REGION)
  --user NAME      locally: who you are to the local API (default: $RELEASE_MACHINE_USER, else
                   local-user; sent as x-release-machine-user). On AWS your IAM identity is used.
  --json           print machine-readable JSON only
  -h, --help       show this help

${statusesAndExitCodes()}`;

export const HELP: Record<string, string> = {
  top: `release-machine: submit releases to the Release Machine and follow them.

Usage:
  release-machine submit FILE [--bucket NAME [--aws]] [--api URL] [--json]
  release-machine status RELEASE_ID [--api URL] [--json]
  release-machine watch RELEASE_ID [--interval MS] [--timeout DURATION] [--api URL] [--json]
  release-machine list [--status STATUS] [--limit N] [--next-token TOKEN] [--json]
  release-machine cancel RELEASE_ID [--reason TEXT] [--force] [--json]
  release-machine retry RELEASE_ID [--json]
  release-machine approve RELEASE_ID PIPELINE [--comment TEXT] [--json]
  release-machine reject RELEASE_ID PIPELINE [--comment TEXT] [--json]
  release-machine dashboard [--port N] [--no-open] [--api URL]
  release-machine freeze add NAME --pipelines GLOBS --reason TEXT [window] [--json]
  release-machine freeze list|remove NAME [--json]
  release-machine freeze override RELEASE_ID --reason TEXT [--json]
  release-machine COMMAND --help

Locally (\`npm start\` in another terminal):
  npx release-machine submit release-manifest.json
  npx release-machine watch 5.15

${COMMON}
`,
  submit: `Usage: release-machine submit FILE [options]

Sends the manifest FILE to the release API (POST /releases) exactly as written, and prints the
execution started. The API checks the manifest; each problem is printed as "path  rule  message".

Options:
  --bucket NAME    upload FILE to the release bucket instead; its upload event starts the release.
                   Locally the S3 is $RELEASE_MACHINE_S3_URL, else http://127.0.0.1:4569 (s3rver).
  --key KEY        the object key (default: <releaseId>.json; it must end in .json)
  --aws            with --bucket: the real S3 bucket, credentials and region from the AWS default
                   chain (--region to override)
${COMMON}
`,
  status: `Usage: release-machine status RELEASE_ID [options]

Prints the release's status, times, error and cause, a rejected manifest's problems, and one
line per pipeline with its status, last state and, for a failed one, the stage and action it
failed at (GET /releases/{releaseId}). Exits with the code its status gives (below), or 1 if no
release has that id.
${COMMON}
`,
  watch: `Usage: release-machine watch RELEASE_ID [options]

Follows the release until it ends: on a terminal a per-pipeline view redrawn in place, otherwise
a line per change; a failed pipeline shows the stage and action it failed at, a rejected
manifest its problems. A release that does not exist yet is waited for (an S3 upload starts it a
moment later). Each pipeline shows what it waits for ("after a, b"), its approval gate ("awaits
approval until …", "approved by …", "rejected by …", "approval expired") and its attempt after a
retry. Exits once it ended, with the code its status gives (below), or 2 if it never appeared.

Options:
  --interval MS        time between polls (default 1000; 500ms, 2s also accepted)
  --timeout DURATION   how long to wait for the release to appear (default 30s; 500ms, 2m…;
                       a bare number is milliseconds)
${COMMON}
`,
  cancel: `Usage: release-machine cancel RELEASE_ID [options]

Cancels a running release (POST /releases/{releaseId}/cancel): nothing more starts, pipelines not
started are skipped, running ones are stopped, and the release ends CANCELLED, recording who
cancelled it and why. Exits 0 when the API accepted the cancel (CANCELLING), 1 when it refused it:
404 no such release, 409 the release already ended. Running pipelines are stopped and waited for
(in-flight actions end cleanly; past the stack's stopGraceMinutes the stop is abandoned); --force
abandons them at once, also for a release already cancelling.

Options:
  --reason TEXT    why (at most 1000 characters), recorded and published with the cancel
  --force          abandon running pipelines at once (StopPipelineExecution with abandon)
${COMMON}
`,
  retry: `Usage: release-machine retry RELEASE_ID [options]

Retries a FAILED or CANCELLED release (POST /releases/{releaseId}/retry): a new attempt runs only
the pipelines that did not succeed (and those depending on them); succeeded pipelines keep their
execution. Exits 0 when attempt n+1 started, 1 when the API refused: 404 no such release, 409 the
release is running, succeeded, or this attempt was already started.
${COMMON}
`,
  approve: `Usage: release-machine approve RELEASE_ID PIPELINE [options]

Approves the pipeline's gate (POST /releases/{releaseId}/approvals/{pipeline}): the pipeline starts.
Exits 0 when recorded, 1 when refused: 403 you are not among its approvers or you submitted the
release (unless the stack allows it), 404 no such release or pipeline, 409 the gate is not
waiting (already decided, expired, or the release no longer runs).

Options:
  --comment TEXT   recorded with the decision (at most 1000 characters)
${COMMON}
`,
  reject: `Usage: release-machine reject RELEASE_ID PIPELINE [options]

Rejects the pipeline's gate (POST /releases/{releaseId}/approvals/{pipeline}): the pipeline is
skipped, nothing more starts, and the release fails with ApprovalRejected. Exit codes as approve.

Options:
  --comment TEXT   why, recorded with the decision (at most 1000 characters)
${COMMON}
`,
  list: `Usage: release-machine list [options]

Lists releases newest first (GET /releases): id, status, start, end and who submitted it. Exits
0, or 1 when the API refused the request (e.g. an unknown status or an invalid --next-token).

Options:
  --status STATUS      only releases of this status: ${RELEASE_STATUSES.join(", ")}
  --limit N            releases per page, 1 to 100 (default 20)
  --next-token TOKEN   the next page, as the previous page printed it
${COMMON}
`,
  dashboard: `Usage: release-machine dashboard [options]

Serves a web page on 127.0.0.1 showing the releases (newest first, by status), each release's
dependency graph with its critical path, gates, times and decisions, updated live; it approves
and rejects gates, cancels and retries releases, each confirmed first. It prints one line,
"Dashboard: http://127.0.0.1:<port>/?token=<token>", and runs until interrupted (Ctrl-C). The
page talks only to this process, which calls the same API as the other commands: locally as
--user, on AWS signed with your own credentials (the browser never holds them). The token works
once: it is exchanged for a session cookie. Exits 0 when interrupted, 1 if it cannot listen.

Options:
  --port N         the port to listen on (default: any free port)
  --no-open        do not open a browser; only print the URL
${COMMON}
`,
  // Freezes (issue 20, items 3-4).
  freeze: `Usage: release-machine freeze add NAME --pipelines GLOBS --reason TEXT [window] [options]
       release-machine freeze list [options]
       release-machine freeze remove NAME [options]
       release-machine freeze override RELEASE_ID --reason TEXT [options]

Freeze windows (POST /freezes, GET /freezes, DELETE /freezes/{name}): while a window covers a
pipeline whose turn has come, nothing starts it; pipelines already running finish. Without
--start/--end/--rrule the freeze holds from now until it is removed: an emergency stop, e.g.
  release-machine freeze add stop-the-line --pipelines '*' --reason "incident 123"
Globs that match no pipeline the stack may release are accepted with a warning. Exits 0, or 1
when the API refused the request (400 with each field and rule, 404 an unknown NAME, 409 a
NAME that exists). \`override\` lets one release's frozen pipelines start past the freezes
holding them (POST /releases/{releaseId}/override-freeze), recording who, when and why on the
release and in a "Release Freeze Overridden" event (409 when nothing of it is frozen).

Options:
  --pipelines GLOBS   comma-separated pipeline names or globs ('*' any run, '?' one character)
  --reason TEXT       why (required for add, at most 1000 characters)
  --start ISO --end ISO
                      a fixed window, e.g. --end 2027-01-02T00:00:00Z
  --rrule RULE --duration MINUTES --timezone ZONE [--starts-on YYYY-MM-DD]
                      a recurring window: an RFC 5545 RRULE value read in an IANA time zone,
                      e.g. --rrule 'FREQ=WEEKLY;BYDAY=FR;BYHOUR=16' --duration 3840
                      --timezone Europe/Berlin (Friday 16:00 to Monday 08:00, local time)
${COMMON}
`,
};
