/**
 * Four eyes by person, not session (contract/identity.ts), end to end on local mode: the local
 * API's `x-release-machine-user` header carries the caller as API Gateway's
 * `requestContext.identity.userArn` does, and an S3 upload's uploader arrives as CloudTrail's
 * record of it (the tests play CloudTrail's part: local mode has none). Gates here wait for a
 * decision; every step waits on the answer or the router's deliveries, never on time.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { type Person, describePerson, personOf, samePerson } from "../contract/identity";
import { localS3ClientConfig } from "../contract/local-s3-config";
import type { ReleaseStatusView } from "../contract/release-view";
import { uploadOf } from "../handlers/release/uploader";
import { LOCAL_BUCKET, type LocalServer, startLocalServer } from "../local/server";
import { freePort } from "./child-process-helpers";
import { cloudTrailUpload } from "./cloudtrail-events";
import { callControl, controlDepsOf } from "./control-helpers";
import { until } from "./local-helpers";

const ACCOUNT = "123456789012";
const session = (role: string, name: string) => `arn:aws:sts::${ACCOUNT}:assumed-role/${role}/${name}`;
const SSO_ROLE = "AWSReservedSSO_Release_0123456789abcdef";
const user = (name: string) => `arn:aws:iam::${ACCOUNT}:user/${name}`;

describe("four eyes: who is the same person", () => {
  const same = (a: Person, b: Person) => samePerson(a, b) && samePerson(b, a);

  it("knows a role session by its role alone: another session name of the role is the same person", () => {
    assert.ok(same(personOf(session("Deployer", "alice")), personOf(session("Deployer", "anything"))));
    assert.ok(!same(personOf(session("Deployer", "alice")), personOf(session("Approver", "alice"))));
  });

  it("knows an Identity Center session by its user: two users of one permission set are two people", () => {
    assert.ok(
      same(
        personOf(session(SSO_ROLE, "alice@example.com")),
        personOf(session(SSO_ROLE, "alice@example.com")),
      ),
    );
    assert.ok(
      !same(personOf(session(SSO_ROLE, "alice@example.com")), personOf(session(SSO_ROLE, "bob@example.com"))),
    );
  });

  it("knows a session with a source identity by role and source identity, and a role without one as possibly anyone of it", () => {
    const alice = personOf(session("Deployer", "s1"), "alice");
    assert.ok(same(alice, personOf(session("Deployer", "s2"), "alice")));
    assert.ok(!same(alice, personOf(session("Deployer", "s3"), "bob")));
    // API Gateway shows no source identity: the role alone may be alice.
    assert.ok(same(alice, personOf(session("Deployer", "s4"))));
  });

  it("knows an IAM user by the user, and a federated user only by its account's federation", () => {
    assert.ok(same(personOf(user("alice")), personOf(user("alice"))));
    assert.ok(!same(personOf(user("alice")), personOf(user("bob"))));
    const federated = (name: string) => personOf(`arn:aws:sts::${ACCOUNT}:federated-user/${name}`);
    assert.ok(same(federated("alice"), federated("bob")));
    assert.ok(!same(personOf(user("alice")), personOf(session("alice", "alice"))));
    assert.ok(same(personOf("local-user"), personOf("local-user")));
  });

  it("describes a role session as its role, for the refusal", () => {
    assert.equal(
      describePerson(personOf(session("Deployer", "x"))),
      `role arn:aws:iam::${ACCOUNT}:role/Deployer (any session: a role session is known by its role)`,
    );
  });
});

describe("four eyes end to end on local mode", function () {
  this.timeout(120_000);
  let dataDir: string;
  let server: LocalServer;
  let s3: S3Client;
  let counter = 0;

  const gated = (releaseId: string, approvers?: string[]) => ({
    releaseId,
    pipelines: [{ name: "eyes-prod", approval: approvers ? { approvers } : true }],
  });
  const post = async (route: string, body: object, caller: string) => {
    const response = await fetch(`${server.url}${route}`, {
      method: "POST",
      headers: { "content-type": "application/json", "x-release-machine-user": caller },
      body: JSON.stringify(body),
    });
    return { status: response.status, json: (await response.json()) as Record<string, unknown> };
  };
  const get = async (releaseId: string) =>
    (await (await fetch(`${server.url}/releases/${releaseId}`)).json()) as ReleaseStatusView;
  const awaiting = (releaseId: string) =>
    until(`${releaseId}'s gate to await approval`, async () =>
      (await get(releaseId)).pipelines?.[0]?.status === "AwaitingApproval" ? true : undefined,
    );
  const approve = (releaseId: string, caller: string) =>
    post(`/releases/${releaseId}/approvals/eyes-prod`, { decision: "approve" }, caller);
  const submitted = async (manifest: object, caller: string) => {
    const answer = await post("/releases", manifest, caller);
    assert.equal(answer.status, 202, JSON.stringify(answer.json));
    await awaiting((manifest as { releaseId: string }).releaseId);
  };
  const uploaded = async (manifest: { releaseId: string }) => {
    const key = `releases/${manifest.releaseId}.json`;
    await s3.send(new PutObjectCommand({ Bucket: LOCAL_BUCKET, Key: key, Body: JSON.stringify(manifest) }));
    return key;
  };
  /** CloudTrail's record of that upload, delivered to the machine's rules (as EventBridge would). */
  const recorded = async (key: string, arn: string, sourceIdentity?: string) => {
    const record = cloudTrailUpload({
      bucket: LOCAL_BUCKET,
      key,
      arn,
      ...(sourceIdentity ? { sourceIdentity } : {}),
    });
    server.machine.router.publish(record);
    await server.machine.router.idle();
  };
  const nextId = (label: string) => `eyes-${label}-${(counter += 1)}`;

  before(async () => {
    dataDir = mkdtempSync(path.join(tmpdir(), "rm-eyes-"));
    server = await startLocalServer({
      port: await freePort(),
      s3Port: await freePort(),
      dataDir,
      pipelines: [{ name: "eyes-prod", durationMs: 0, outcome: "Succeeded" }],
    });
    s3 = new S3Client(localS3ClientConfig(server.s3Endpoint));
  });

  after(async () => {
    s3?.destroy();
    await server?.close();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it("refuses an approval by a second session of the submitter's role (403), and takes another role's", async () => {
    const releaseId = nextId("role");
    await submitted(gated(releaseId), session("Deployer", "alice"));
    const own = await approve(releaseId, session("Deployer", "not-alice"));
    assert.equal(own.status, 403);
    assert.equal(own.json.error, "SelfApprovalNotAllowed");
    assert.match(
      String(own.json.message),
      /^arn:aws:sts::123456789012:assumed-role\/Deployer\/not-alice submitted release eyes-role-\d+ \(as arn:aws:sts::123456789012:assumed-role\/Deployer\/alice; both are role arn:aws:iam::123456789012:role\/Deployer \(any session/,
    );
    const other = await approve(releaseId, session("Approver", "bob"));
    assert.equal(other.status, 200, JSON.stringify(other.json));
  });

  it("lets two people of one Identity Center permission set approve each other, but not themselves", async () => {
    const releaseId = nextId("sso");
    await submitted(gated(releaseId), session(SSO_ROLE, "alice@example.com"));
    assert.equal((await approve(releaseId, session(SSO_ROLE, "alice@example.com"))).status, 403);
    const bob = await approve(releaseId, session(SSO_ROLE, "bob@example.com"));
    assert.equal(bob.status, 200, JSON.stringify(bob.json));
  });

  it("knows an IAM user by the user", async () => {
    const releaseId = nextId("user");
    await submitted(gated(releaseId), user("alice"));
    assert.equal((await approve(releaseId, user("alice"))).status, 403);
    assert.equal((await approve(releaseId, user("bob"))).status, 200);
  });

  it("refuses an S3 upload's approval while its uploader is unknown, then its uploader's once CloudTrail's record names them (403), and takes someone else's", async () => {
    const releaseId = nextId("s3");
    const key = await uploaded(gated(releaseId));
    await awaiting(releaseId);
    const early = await approve(releaseId, session("Approver", "bob"));
    assert.equal(early.status, 403);
    assert.equal(early.json.error, "UploaderNotKnown");
    assert.match(
      String(early.json.message),
      /only a principal named in the approvers of eyes-prod may decide it, and its gate names none/,
    );

    await recorded(key, session("Deployer", "alice"));
    const release = await get(releaseId);
    assert.equal(release.submittedBy, session("Deployer", "alice"));
    const own = await approve(releaseId, session("Deployer", "second-session"));
    assert.deepEqual([own.status, own.json.error], [403, "SelfApprovalNotAllowed"]);
    const other = await approve(releaseId, session("Approver", "bob"));
    assert.equal(other.status, 200, JSON.stringify(other.json));
  });

  it("lets only a listed approver decide an S3 upload's gate before its uploader is known", async () => {
    const releaseId = nextId("s3-listed");
    await uploaded(gated(releaseId, [`arn:aws:sts::${ACCOUNT}:assumed-role/Approver/*`]));
    await awaiting(releaseId);
    const outsider = await approve(releaseId, session("Deployer", "mallory"));
    assert.deepEqual([outsider.status, outsider.json.error], [403, "NotAnApprover"]);
    const listed = await approve(releaseId, session("Approver", "carol"));
    assert.equal(listed.status, 200, JSON.stringify(listed.json));
  });

  it("applies CloudTrail's record that arrived before the release was registered, once it is", async () => {
    const releaseId = nextId("s3-early");
    const key = `releases/${releaseId}.json`;
    // CloudTrail's record first: the object cannot be read yet, so the uploader is kept apart.
    await recorded(key, session("Deployer", "alice"));
    await uploaded(gated(releaseId));
    await awaiting(releaseId);
    assert.equal((await get(releaseId)).submittedBy, session("Deployer", "alice"));
    assert.deepEqual(
      [
        (await approve(releaseId, session("Deployer", "x"))).status,
        (await approve(releaseId, session("Approver", "y"))).status,
      ],
      [403, 200],
    );
  });

  it("tells a source identity's session apart only from a session with another source identity", async () => {
    const releaseId = nextId("s3-source");
    const key = await uploaded(gated(releaseId));
    await awaiting(releaseId);
    await recorded(key, session("Deployer", "ci-run-7"), "alice");
    // The API shows no source identity: a session of the uploader's role may be alice.
    assert.equal((await approve(releaseId, session("Deployer", "bob"))).status, 403);
    assert.equal((await approve(releaseId, session("Approver", "bob"))).status, 200);
  });

  it("keeps allowSelfApproval's meaning: on a stack that allows it, the uploader approves their own upload, known or not", async () => {
    const releaseId = nextId("allowed");
    const key = await uploaded(gated(releaseId));
    await awaiting(releaseId);
    await recorded(key, session("Deployer", "alice"));
    const allowing = { ...controlDepsOf(server.machine), allowSelfApproval: true };
    const own = await callControl(
      allowing,
      "/releases/{releaseId}/approvals/{pipeline}",
      { releaseId, pipeline: "eyes-prod" },
      { decision: "approve" },
      session("Deployer", "alice"),
    );
    assert.equal(own.status, 200, JSON.stringify(own.json));
  });
});

describe("four eyes: CloudTrail's record of an upload", () => {
  const record = (overrides: Partial<Parameters<typeof cloudTrailUpload>[0]> = {}) =>
    cloudTrailUpload({
      bucket: "b",
      key: "releases/5.16 hot+fix.json",
      arn: session("Deployer", "a"),
      ...overrides,
    });

  it("reads the object version, the principal and its source identity from the record", () => {
    assert.deepEqual(uploadOf(record({ versionId: "v7", sourceIdentity: "alice" })), {
      location: "s3://b/releases/5.16 hot+fix.json?versionId=v7",
      bucket: "b",
      key: "releases/5.16 hot+fix.json",
      versionId: "v7",
      uploadedBy: session("Deployer", "a"),
      sourceIdentity: "alice",
    });
  });

  it("ignores a call that stored nothing (no responseElements) and calls that are not uploads", () => {
    const failed = record();
    failed.detail.responseElements = null;
    assert.equal(uploadOf(failed), undefined);
    assert.equal(uploadOf(record({ eventName: "DeleteObject" })), undefined);
    assert.equal(
      uploadOf(record({ eventName: "CompleteMultipartUpload" }))?.location,
      "s3://b/releases/5.16 hot+fix.json",
    );
  });
});
