import assert from "node:assert/strict";
import { InvalidManifest, type ManifestProblem, problemsLeftOut } from "../contract/errors";
import { manifestParser, readableReleaseId, writtenReleaseId } from "../contract/manifest";
import {
  REJECTION_MESSAGE_BUDGET,
  cappedRejection,
  readRejection,
  rejectionError,
} from "../contract/rejection";
import { validateManifest } from "../handlers/load-manifest";

/** What the Lambda Node.js runtime reports for a thrown error, as Step Functions' Cause holds it. */
const causeOf = (error: Error): string =>
  JSON.stringify({ errorType: error.name, errorMessage: error.message, trace: error.stack?.split("\n") });

/** The error ValidateManifest throws for `text`. */
function refusal(text: string, allowedPipelines: string[] = ["svc-a"]): InvalidManifest {
  const parse = manifestParser({ allowedPipelines, maxPipelines: 500, maxBytes: 100 * 1024 });
  try {
    validateManifest(parse, { text });
  } catch (error) {
    if (error instanceof InvalidManifest) return error;
    throw error;
  }
  assert.fail("the manifest was accepted");
}

describe("rejections carry their problems in the error's message (contract/rejection.ts)", () => {
  it("keeps the readable message first, and reads back the problems and releaseId exactly", () => {
    const problems: ManifestProblem[] = [
      { path: "/pipelines/1", rule: "allowList", message: 'pipeline "svc-nope" is not allowed; see "x"\n' },
      { path: "", rule: "json", message: "unicode \u00e9 and a backslash \\" },
    ];
    const error = rejectionError(new InvalidManifest(problems), { releaseId: "5.16", problems });

    const readable = '/pipelines/1: pipeline "svc-nope" is not allowed; see "x"\n [allowList]';
    assert.ok(error.message.startsWith(readable), error.message);
    assert.ok(error instanceof InvalidManifest);
    assert.equal(error.name, "InvalidManifest");
    const read = readRejection(error.message);
    assert.deepEqual(read.rejection, { releaseId: "5.16", problems });
    assert.equal(read.summary, new InvalidManifest(problems).message);
  });

  it("reads a message that carries no rejection as its summary alone", () => {
    assert.deepEqual(readRejection("manifest s3://b/k does not exist"), {
      summary: "manifest s3://b/k does not exist",
    });
    assert.deepEqual(readRejection('half\n{"rejection":{"problems":[{"path":1}]}}').rejection, undefined);
  });

  it("caps a long problem list to the message budget and counts the problems left out", () => {
    const problems = Array.from({ length: 2000 }, (_, i) => ({
      path: `/pipelines/${i}`,
      rule: "allowList",
      message: `pipeline "p-${i}" is not on this machine's allow-list; ${"x".repeat(40)}`,
    }));
    const summary = "many problems";
    const error = rejectionError(new Error(summary), cappedRejection(summary, { problems }));

    assert.ok(JSON.stringify(error.message).length <= REJECTION_MESSAGE_BUDGET);
    const read = readRejection(error.message).rejection?.problems ?? [];
    const kept = read.length - 1;
    assert.ok(kept > 100, `${kept} problems kept`);
    assert.deepEqual(read.slice(0, kept), problems.slice(0, kept));
    assert.deepEqual(read[kept], {
      path: "",
      rule: "tooManyProblems",
      message: `${2000 - kept} more problems are not listed`,
    });
  });

  it("counts the problems the parser already left out together with those it leaves out itself", () => {
    const problems = Array.from({ length: 1000 }, (_, i) => ({
      path: `/pipelines/${i}`,
      rule: "allowList",
      message: "x".repeat(100),
    }));
    const capped = cappedRejection("s", { problems: [...problems, problemsLeftOut(500)] });
    const read = readRejection(rejectionError(new Error("s"), capped).message).rejection?.problems ?? [];
    const kept = read.length - 1;
    assert.ok(kept > 0 && kept < 1000, `${kept} kept`);
    assert.deepEqual(read[kept], problemsLeftOut(1000 - kept + 500));
    // A list that fits keeps the parser's own closing problem as it is.
    const few = [problems[0], problemsLeftOut(7)];
    assert.deepEqual(cappedRejection("s", { problems: few }), { problems: few });
  });

  it("ValidateManifest's refusal names the releaseId to record it under, unless the releaseId is a problem", () => {
    const offList = refusal('{"releaseId":"5.16","pipelines":["svc-nope"]}');
    assert.equal(readRejection(offList.message).rejection?.releaseId, "5.16");
    assert.deepEqual(
      readRejection(offList.message).rejection?.problems.map(({ path, rule }) => [path, rule]),
      [["/pipelines/0", "allowList"]],
    );
    const badId = refusal('{"releaseId":"bad id","pipelines":["svc-a"]}');
    assert.equal(readRejection(badId.message).rejection?.releaseId, undefined);
    assert.deepEqual(
      readRejection(badId.message).rejection?.problems.map(({ path }) => path),
      ["/releaseId"],
    );
  });

  it("keeps the largest refusal's Cause within Step Functions' 32,768 characters", () => {
    const names = Array.from({ length: 500 }, (_, i) => `"pipeline-off-the-list-${"q".repeat(60)}-${i}"`);
    const error = refusal(`{"releaseId":"big","pipelines":[${names.join(",")}]}`, ["only-one"]);
    const problems = readRejection(error.message).rejection?.problems ?? [];
    assert.ok(problems.length > 50, `${problems.length} problems`);
    assert.ok(causeOf(error).length <= 32_768, `${causeOf(error).length} characters`);
  });
});

describe("reading a releaseId from manifest text (contract/manifest.ts)", () => {
  it("reads it as written, and as a well-formed releaseId only when it is one", () => {
    const texts = [
      '{"releaseId":"5.16"}',
      '{"releaseId": 5.10, // a comment\n "pipelines": [],}',
      '{"releaseId":"bad id"}',
      '{"releaseId":true}',
      "not json",
    ];
    assert.deepEqual(texts.map(writtenReleaseId), ["5.16", "5.10", "bad id", undefined, undefined]);
    assert.deepEqual(texts.map(readableReleaseId), ["5.16", "5.10", undefined, undefined, undefined]);
  });
});
