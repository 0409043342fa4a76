/** The CLI's help texts: the top level and one per command. */
import { DEFAULT_API_URL } from "./api";

const COMMON = `
Common options:
  --api URL        the release API (default: $RELEASE_MACHINE_URL, else ${DEFAULT_API_URL}).
                   An https:// URL is API Gateway (the stack output apiUrl, e.g.
                   https://abc.execute-api.eu-west-1.amazonaws.com/v1): requests are signed with
                   SigV4 using the AWS default credential chain (env, profile, SSO, role…).
  --region REGION  the region to sign for (default: from the URL, else $AWS_REGION)
  --json           print machine-readable JSON only
  -h, --help       show this help`;

export const HELP: Record<string, string> = {
  top: `release-machine: submit releases to the Release Machine and follow them.

Usage:
  release-machine submit FILE [--bucket NAME [--aws]] [--api URL] [--json]
  release-machine status RELEASE_ID [--api URL] [--json]
  release-machine watch RELEASE_ID [--interval MS] [--timeout DURATION] [--api URL] [--json]
  release-machine COMMAND --help

Locally (\`npm start\` in another terminal):
  npx release-machine submit release-manifest.json
  npx release-machine watch 5.15

Exit codes:
  0  done: submitted; status of a release that is RUNNING or SUCCEEDED; watch saw it SUCCEED
  1  the release FAILED or was REJECTED (status and watch); the API refused the request (e.g.
     an invalid manifest, a duplicate releaseId, no such release for status) or could not be
     reached
  2  a usage error; watch gave up waiting for the release to appear (--timeout)
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
failed at (GET /releases/{releaseId}). Exits 0 if it is RUNNING or SUCCEEDED, 1 if it FAILED or
was REJECTED, or if no release has that id.
${COMMON}
`,
  watch: `Usage: release-machine watch RELEASE_ID [options]

Follows the release until it ends: on a terminal a per-pipeline view redrawn in place, otherwise
a line per change; a failed pipeline shows the stage and action it failed at, a rejected
manifest its problems. A release that does not exist yet is waited for (an S3 upload starts it a
moment later). Exits 0 if it SUCCEEDED, 1 if it FAILED or was REJECTED, 2 if it never appeared.

Options:
  --interval MS        time between polls (default 1000; 500ms, 2s also accepted)
  --timeout DURATION   how long to wait for the release to appear (default 30s; 500ms, 2m…;
                       a bare number is milliseconds)
${COMMON}
`,
};
