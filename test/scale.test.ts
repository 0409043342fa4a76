/**
 * 500 pipelines of 40-character names: the program, loaded under the strict mocks in its own
 * process (test/scale-program.ts), stays within every size limit AWS documents for what grows with
 * the allow-list, and still covers every pipeline exactly.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { EVENT_PATTERN_MAX_CHARACTERS, pipelinePatternChunks } from "../infra/events";
import { HANDLER_NAMES, type PolicyDocument, pipelineArn } from "../contract/permissions";
import {
  AllowListTooLarge,
  IAM_LIMITS,
  pipelinePolicyChunks,
  policyCharacters,
} from "../infra/pipeline-policies";
import { ACCOUNT, REGION } from "./pulumi-mocks";
import type { ScaleMeasurements } from "./scale-program";

const run = promisify(execFile);

/** 500 distinct names of exactly 40 characters, CodePipeline's alphabet. */
const PIPELINES = Array.from({ length: 500 }, (_, i) =>
  `platform-team-service-${String(i).padStart(4, "0")}-release-`.padEnd(40, "x"),
);

/**
 * Lambda: "Environment variables: 4 KB, for all environment variables associated with the function, in total".
 * https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html
 */
const LAMBDA_ENVIRONMENT_BYTES = 4096;

const parse = (text: string) => JSON.parse(text) as PolicyDocument;

describe("500 pipelines of 40 characters (auditTrail off)", function () {
  this.timeout(120000);
  let measured: ScaleMeasurements;

  before(async () => {
    assert.ok(PIPELINES.every((p) => p.length === 40));
    const work = mkdtempSync(path.join(tmpdir(), "rm-scale-"));
    try {
      const out = path.join(work, "measurements.json");
      await run(
        process.execPath,
        [
          "-r",
          "ts-node/register/transpile-only",
          "-r",
          "./test/setup.ts",
          "test/scale-program.ts",
          JSON.stringify(PIPELINES),
          out,
        ],
        { cwd: path.join(__dirname, ".."), maxBuffer: 16 * 1024 * 1024 },
      );
      measured = JSON.parse(readFileSync(out, "utf8")) as ScaleMeasurements;
    } finally {
      rmSync(work, { recursive: true, force: true });
    }
  });

  it("keeps every EventBridge event pattern within 2,048 characters, and together they match every pipeline once", () => {
    // https://docs.aws.amazon.com/eventbridge/latest/userguide/eb-quota.html
    const pipelineRules = measured.eventPatterns.filter((r) =>
      r.rule.startsWith("release-machine-pipeline-state-changed"),
    );
    assert.ok(pipelineRules.length > 1, "the allow-list needs several rules");
    for (const { rule, pattern } of measured.eventPatterns) {
      assert.ok(pattern.length <= EVENT_PATTERN_MAX_CHARACTERS, `${rule}: ${pattern.length} characters`);
    }
    const matched = pipelineRules.flatMap(
      (r) => (JSON.parse(r.pattern) as { detail: { pipeline: string[] } }).detail.pipeline,
    );
    assert.deepEqual(matched, PIPELINES);
  });

  it("keeps every role within IAM's limits: 2,048 trust, 10,240 inline in all, 10 managed policies of 6,144", () => {
    // https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
    const measuredRoles = measured.roles.map((r) => r.role);
    for (const role of [...HANDLER_NAMES, "workflow"].map((base) => `release-machine-${base}-role`)) {
      assert.ok(measuredRoles.includes(role), `${role} was not measured`);
    }
    for (const { role, trust, inline, managed } of measured.roles) {
      assert.ok(policyCharacters(parse(trust)) <= IAM_LIMITS.trustPolicy, `${role} trust`);
      const inlineTotal = inline.reduce((sum, p) => sum + policyCharacters(parse(p)), 0);
      assert.ok(inlineTotal <= IAM_LIMITS.inlinePoliciesPerRole, `${role}: ${inlineTotal} inline characters`);
      assert.ok(
        managed.length <= IAM_LIMITS.managedPoliciesPerRole,
        `${role}: ${managed.length} managed policies`,
      );
      for (const policy of managed) {
        assert.ok(
          policyCharacters(parse(policy)) <= IAM_LIMITS.managedPolicy,
          `${role}: ${policyCharacters(parse(policy))}`,
        );
      }
    }
  });

  it("still grants each pipeline action on exactly the 500 pipelines, nothing broader", () => {
    const everyArn = PIPELINES.map((p) => pipelineArn("aws", REGION, ACCOUNT, p));
    const grantedOnPipelines = (role: string) => {
      const documents = measured.roles.find((r) => r.role === role);
      assert.ok(documents, role);
      const statements = [...documents.inline, ...documents.managed].flatMap((p) => parse(p).Statement);
      const byAction = new Map<string, string[]>();
      for (const s of statements.filter((s) => s.Action.some((a) => a.startsWith("codepipeline:")))) {
        for (const action of s.Action) byAction.set(action, [...(byAction.get(action) ?? []), ...s.Resource]);
      }
      return Object.fromEntries([...byAction].map(([action, arns]) => [action, [...arns].sort()]));
    };
    const all = [...everyArn].sort();
    const startAndStop = {
      "codepipeline:StartPipelineExecution": all,
      "codepipeline:StopPipelineExecution": all,
      "codepipeline:ListActionExecutions": all,
      "codepipeline:GetPipelineState": all,
    };
    assert.deepEqual(
      grantedOnPipelines("release-machine-workflow-role"),
      {},
      "pipelines start in the scheduler's functions",
    );
    assert.deepEqual(grantedOnPipelines("release-machine-registerRelease-role"), startAndStop);
    assert.deepEqual(grantedOnPipelines("release-machine-pipelineEvent-role"), startAndStop);
    assert.deepEqual(grantedOnPipelines("release-machine-stopRelease-role"), {
      "codepipeline:StopPipelineExecution": all,
    });
    assert.deepEqual(grantedOnPipelines("release-machine-reconciler-role"), {
      ...startAndStop,
      "codepipeline:GetPipelineExecution": all,
    });
  });

  it("keeps every function's environment within Lambda's 4 KB, carrying the 500 names in the archive instead", () => {
    const everyFunction = HANDLER_NAMES.map((handler) => `release-machine-${handler}`).sort();
    assert.deepEqual(measured.environments.map((e) => e.fn).sort(), everyFunction);
    assert.deepEqual(measured.allowListFiles.map((f) => f.fn).sort(), everyFunction);
    for (const { fn, variables } of measured.environments) {
      const bytes = Object.entries(variables).reduce(
        (sum, [key, value]) => sum + Buffer.byteLength(key) + Buffer.byteLength(value),
        0,
      );
      assert.ok(bytes <= LAMBDA_ENVIRONMENT_BYTES, `${fn}: ${bytes} bytes`);
    }
    for (const { fn, names } of measured.allowListFiles) assert.deepEqual(names, PIPELINES, fn);
  });

  it("builds no audit trail when auditTrail is false (this stack's setting)", () => {
    assert.equal(measured.trails, 0);
  });

  it("passes the policy pack with zero violations", () => {
    assert.deepEqual(measured.policyViolations, []);
  });
});

describe("sizing the allow-list's policies and rules", () => {
  it("keeps a short allow-list inline and cuts a long one into managed-policy ranges covering it in order", () => {
    assert.equal(pipelinePolicyChunks(PIPELINES.slice(0, 5)), undefined);
    const chunks = pipelinePolicyChunks(PIPELINES);
    assert.ok(chunks);
    assert.equal(chunks[0][0], 0);
    assert.equal(chunks.at(-1)?.[1], 500);
    chunks.slice(1).forEach(([start], i) => assert.equal(start, chunks[i][1]));
  });

  it("refuses, naming IAM's quota, an allow-list that ten managed policies cannot hold", () => {
    const huge = Array.from({ length: 2000 }, (_, i) => `pipeline-${i}-${"y".repeat(60)}`);
    assert.throws(
      () => pipelinePolicyChunks(huge),
      (e: Error) => e instanceof AllowListTooLarge && /Managed policies per role/.test(e.message),
    );
  });

  it("cuts event patterns at the limit given, in order, without losing a name", () => {
    const chunks = pipelinePatternChunks(PIPELINES, 600);
    assert.deepEqual(chunks.flat(), PIPELINES);
    assert.ok(chunks.length > 20);
  });
});
