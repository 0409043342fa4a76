/**
 * The audit trail under the mocks: awsx's `cloudtrail.Trail` component (one opaque resource whose
 * inputs are its arguments), the log bucket the program protects, and the transform that adds
 * the TLS-only statement to the bucket policy awsx creates inside its plugin.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse as parseYaml } from "yaml";
import { tlsOnlyBucketPolicy, withTlsOnly } from "../infra/audit-trail";
import { readSettings } from "../infra/config";
import { awsxCloudTrailPolicy } from "./awsx-children";
import { DEV_PIPELINES, loadProgram, own, ofType } from "./pulumi-mocks";

const LOG_BUCKET_ARN = "arn:aws:s3:::audit-logs-bucket";
const TLS_GUARD = {
  Sid: "DenyInsecureTransport",
  Effect: "Deny",
  Principal: "*",
  Action: "s3:*",
  Resource: [LOG_BUCKET_ARN, `${LOG_BUCKET_ARN}/*`],
  Condition: { Bool: { "aws:SecureTransport": "false" } },
};

describe("the audit trail", function () {
  this.timeout(60000);
  before(async () => {
    await loadProgram();
  });

  it("records every write to the release bucket's objects, and nothing else, with awsx's Trail", () => {
    const trails = ofType("awsx:cloudtrail:Trail");
    assert.deepEqual(
      trails.map((t) => t.name),
      ["release-machine-audit"],
    );
    assert.deepEqual(trails[0].inputs, {
      s3Bucket: { existing: { name: "release-machine-audit-logs-bucket" } },
      cloudWatchLogsGroup: { enable: false },
      advancedEventSelectors: [
        {
          name: "Writes to the release bucket's objects",
          fieldSelectors: [
            { field: "eventCategory", equals: ["Data"] },
            { field: "resources.type", equals: ["AWS::S3::Object"] },
            { field: "readOnly", equals: ["false"] },
            { field: "resources.ARN", startsWiths: ["arn:aws:s3:::release-machine-releases-bucket/"] },
          ],
        },
      ],
      includeGlobalServiceEvents: false,
      isMultiRegionTrail: false,
      enableLogFileValidation: true,
    });
  });

  it("logs to its own private, owner-enforced, encrypted, versioned bucket", () => {
    const block = own(
      "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock",
      "audit-logs-public-access",
    ).inputs;
    assert.deepEqual(
      [
        block.bucket,
        block.blockPublicAcls,
        block.blockPublicPolicy,
        block.ignorePublicAcls,
        block.restrictPublicBuckets,
      ],
      ["release-machine-audit-logs-bucket", true, true, true, true],
    );
    assert.deepEqual(
      own("aws:s3/bucketOwnershipControls:BucketOwnershipControls", "audit-logs-ownership").inputs.rule,
      { objectOwnership: "BucketOwnerEnforced" },
    );
    assert.deepEqual(
      own(
        "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration",
        "audit-logs-encryption",
      ).inputs.rules,
      [{ applyServerSideEncryptionByDefault: { sseAlgorithm: "AES256" }, bucketKeyEnabled: true }],
    );
    assert.deepEqual(
      own("aws:s3/bucketVersioning:BucketVersioning", "audit-logs-versioning").inputs.versioningConfiguration,
      { status: "Enabled" },
    );
    assert.deepEqual(
      ofType("aws:s3/bucketPolicy:BucketPolicy").map((p) => p.name),
      ["release-machine-releases-tls-only"],
      "no policy of ours on the log bucket: awsx's would be overwritten",
    );
  });

  it("adds the TLS-only deny to awsx's CloudTrail bucket policy, given as text or as a document", () => {
    const document = awsxCloudTrailPolicy(LOG_BUCKET_ARN);
    assert.deepEqual(withTlsOnly(document), { ...document, Statement: [...document.Statement, TLS_GUARD] });
    assert.deepEqual(JSON.parse(String(withTlsOnly(JSON.stringify(document)))), {
      ...document,
      Statement: [...document.Statement, TLS_GUARD],
    });
    const once = withTlsOnly(document);
    assert.deepEqual(withTlsOnly(once), once, "applied twice, it adds the statement once");
  });

  it("transforms only bucket policies, and leaves a policy unknown at preview alone", async () => {
    const transformed = await tlsOnlyBucketPolicy({
      custom: true,
      type: "aws:s3/bucketPolicy:BucketPolicy",
      name: "audit",
      props: { bucket: "audit-logs-bucket", policy: awsxCloudTrailPolicy(LOG_BUCKET_ARN) },
      opts: {},
    });
    assert.deepEqual((transformed?.props.policy as { Statement: unknown[] }).Statement.at(-1), TLS_GUARD);
    assert.equal(
      await tlsOnlyBucketPolicy({
        custom: true,
        type: "aws:cloudtrail/trail:Trail",
        name: "audit",
        props: {},
        opts: {},
      }),
      undefined,
    );
    assert.equal(withTlsOnly(undefined), undefined);
  });

  it("is on by default, declared in Pulumi.yaml, and off with auditTrail false", () => {
    const project = parseYaml(readFileSync(path.join(__dirname, "..", "Pulumi.yaml"), "utf8")) as {
      config: Record<string, { default?: unknown; description?: string }>;
    };
    assert.equal(project.config.auditTrail.default, true);
    assert.match(String(project.config.auditTrail.description), /CloudTrail/);
    const settings = (auditTrail?: string) =>
      readSettings((key) => ({ pipelines: JSON.stringify(DEV_PIPELINES), auditTrail })[key]);
    assert.equal(settings().auditTrail, true);
    assert.equal(settings("false").auditTrail, false);
  });
});
