/**
 * Execution names both ways (contract/execution-name.ts): every releaseId the encoder names
 * decodes back to itself, and no other name decodes to anything.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import {
  MAX_ENCODED_RELEASE_ID,
  MAX_EXECUTION_NAME,
  executionArnOf,
  executionNameFor,
  releaseIdFromExecutionName,
  submissionExecutionName,
} from "../contract/execution-name";
import { RELEASE_ID_PATTERN } from "../contract/manifest-schema";

const UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const LOWER = "abcdefghijklmnopqrstuvwxyz";
const DIGITS = "0123456789";

/** Ids from a seeded generator: each draws from one pool, so every class and mix is covered. */
function generatedIds(count: number): string[] {
  let seed = 29;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const pools = [UPPER, LOWER, DIGITS, "._", "._d", "_d.", `${UPPER}${LOWER}${DIGITS}._-`, "d_.-5", "_"];
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const pool = pools[i % pools.length];
    const length = 1 + Math.floor(next() * 64);
    ids.push(Array.from({ length }, () => pool[Math.floor(next() * pool.length)]).join(""));
  }
  return ids;
}

const HANDWRITTEN = [
  "5.16",
  "5_16",
  "5__16",
  "5_d16",
  "5._16",
  "5_.16",
  "hot_fix.2",
  "_d",
  "__dd",
  "d",
  "._._",
  "...",
  "___",
  "a-b-c",
  "-",
  "Z9",
  "a".repeat(MAX_ENCODED_RELEASE_ID),
  `${"a".repeat(MAX_ENCODED_RELEASE_ID - 2)}.`,
  "_".repeat(MAX_ENCODED_RELEASE_ID / 2),
];

describe("execution names (contract/execution-name.ts)", () => {
  it("decodes the README's example: release-5_d16 is release 5.16, release-5__16 is 5_16", () => {
    assert.equal(executionNameFor("5.16"), "release-5_d16");
    assert.equal(releaseIdFromExecutionName("release-5_d16"), "5.16");
    assert.equal(releaseIdFromExecutionName("release-5__16"), "5_16");
    assert.equal(releaseIdFromExecutionName("release-hot__fix_d2"), "hot_fix.2");
  });

  it("decodes every name it encodes back to its releaseId, over 2,000 generated and handwritten ids", () => {
    const ids = [...new Set([...HANDWRITTEN, ...generatedIds(2000)])];
    let named = 0;
    for (const id of ids) {
      const name = executionNameFor(id);
      if (name === undefined) continue;
      named++;
      assert.ok(name.length <= MAX_EXECUTION_NAME, name);
      assert.equal(releaseIdFromExecutionName(name), id, `${JSON.stringify(id)} → ${name}`);
    }
    assert.ok(named > 1500, `only ${named} of ${ids.length} ids were named`);
  });

  it("names the longest ids that fit and none longer, and decodes exactly the ones it names", () => {
    const longest = "a".repeat(MAX_ENCODED_RELEASE_ID);
    assert.equal(releaseIdFromExecutionName(`release-${longest}`), longest);
    assert.equal(executionNameFor(`${longest}b`), undefined);
    assert.equal(releaseIdFromExecutionName(`release-${longest}b`), undefined);
    const dots = ".".repeat(MAX_ENCODED_RELEASE_ID / 2);
    assert.equal(releaseIdFromExecutionName(`release-${"_d".repeat(MAX_ENCODED_RELEASE_ID / 2)}`), dots);
    assert.equal(executionNameFor(`${dots}.`), undefined);
  });

  it("gives ids with characters outside the alphabet, and the empty id, no name", () => {
    for (const id of ["", "5 16", "5/16", "é", "5.16😀", "a+b", "a:b", "release 1"]) {
      assert.equal(executionNameFor(id), undefined, JSON.stringify(id));
    }
  });

  it("decodes no name the encoder never produces", () => {
    for (const name of [
      "release-",
      "release-5_",
      "release-5_x16",
      "release-5_D16",
      "release-_",
      "release-5.16",
      "release-5 16",
      "releases-516",
      "Release-516",
      "5_d16",
      "3f0c2a4e-7b1d-4c55-9a8e-0d6f1b2c3d4e",
      `release-${"a".repeat(MAX_ENCODED_RELEASE_ID + 1)}`,
    ]) {
      assert.equal(releaseIdFromExecutionName(name), undefined, name);
    }
  });

  it("never decodes two names to the same releaseId", () => {
    const decoded = new Map<string, string>();
    for (const id of generatedIds(2000)) {
      const name = executionNameFor(id);
      if (name === undefined) continue;
      const back = releaseIdFromExecutionName(name);
      assert.ok(back !== undefined);
      const earlier = decoded.get(back);
      assert.ok(earlier === undefined || earlier === name, `${earlier} and ${name} both decode to ${back}`);
      decoded.set(back, name);
    }
  });
});

describe("submission execution names (releaseId and manifest digest)", () => {
  const digest = (text: string) => createHash("sha256").update(text).digest("hex");

  it("names every valid releaseId, the longest with '.' and '_' included, within 80 logging-safe characters", () => {
    const ids = [
      ...generatedIds(600),
      `${"a".repeat(60)}.v_1`,
      ".".repeat(0) + "9".repeat(64),
      `a${"._-".repeat(21)}`,
    ];
    for (const id of ids.filter((i) => new RegExp(RELEASE_ID_PATTERN).test(i))) {
      const name = submissionExecutionName(id, digest(id));
      assert.ok(name.length <= MAX_EXECUTION_NAME, `${id} → ${name}`);
      assert.match(name, /^[0-9A-Za-z_-]+$/);
    }
    assert.equal(submissionExecutionName(`${"a".repeat(60)}.v_1`, digest("x")).length, 80);
  });

  it("names two manifests of one releaseId apart, and the same manifest alike", () => {
    const one = submissionExecutionName("5.16", digest('{"releaseId":"5.16","pipelines":["a"]}'));
    const other = submissionExecutionName("5.16", digest('{"releaseId":"5.16","pipelines":["b"]}'));
    assert.notEqual(one, other);
    assert.equal(one, submissionExecutionName("5.16", digest('{"releaseId":"5.16","pipelines":["a"]}')));
    assert.match(one, /^5_16-[0-9a-f]{15}$/);
    assert.equal(
      executionArnOf("arn:aws:states:eu-west-1:1:stateMachine:rm", one),
      `arn:aws:states:eu-west-1:1:execution:rm:${one}`,
    );
  });

  it("refuses a digest that is not hexadecimal or too short", () => {
    assert.throws(() => submissionExecutionName("5.16", "abc"), RangeError);
    assert.throws(() => submissionExecutionName("5.16", "Z".repeat(64)), RangeError);
  });
});
