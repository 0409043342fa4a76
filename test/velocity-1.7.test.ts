/**
 * The mapping templates rendered by Apache Velocity 1.7 with commons-lang 2.6 (the engine family
 * API Gateway runs) and by velocityjs, over the same requests: both must produce the same JSON
 * and the same status override. Needs `java` and the Debian packages `velocity` and
 * `libcommons-lang-java` (/usr/share/java); without them the test is reported pending, never
 * passed. The Java side takes `$input.json`/`$input.path` answers precomputed by the same JSONPath
 * as the velocityjs side, so what is compared is the engines, `$util.escapeJavaScript` included.
 */
import assert from "node:assert/strict";
import { execFile, execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import {
  startClientErrorTemplate,
  startExecutionTemplate,
  startServerErrorTemplate,
  startedResponseTemplate,
} from "../infra/api-templates";
import { pathAnswers, renderMappingTemplate } from "./api-gateway-vtl";

const run = promisify(execFile);
const JARS = ["velocity-1.7.jar", "commons-lang-2.6.jar", "commons-collections3.jar"].map((jar) =>
  path.join("/usr/share/java", jar),
);
const PATHS = ["$", "$.releaseId", "$.__type", "$.message", "$.Message"];
const MACHINE = "arn:aws:states:ap-southeast-2:123456789012:stateMachine:workflow-machine";

function javaAvailable(): boolean {
  if (!JARS.every((jar) => existsSync(jar))) return false;
  try {
    execFileSync("java", ["-version"], { stdio: "ignore" });
    return true;
  } catch {
    return false;
  }
}

const ids = [
  "5.16",
  "5_16",
  "5-16",
  "a".repeat(72),
  `${"a".repeat(71)}.`,
  "_".repeat(36),
  "Release.2026_11-30",
  "x$y",
  "it's",
  "é",
];
const texts = [
  `it's "quoted" and 'again'`,
  "C:\\new\\table \\u0041 \\\\",
  "line\u2028separator\u2029paragraph",
  "déploiement 😀🚀 naïve",
  "tab\tnewline\ncarriage\rnul\u0000bell\u0007",
  "$input.body #set($x = 1) ${context.requestId} #foreach($a in $b)#end ## comment",
  "''",
];
const error = (type: string, message: string) => JSON.stringify({ __type: type, message });

const CASES: { template: string; body: string }[] = [
  ...ids.map((id) => ({
    template: startExecutionTemplate(MACHINE),
    body: `{"releaseId": ${JSON.stringify(id)}, "pipelines": ["a"]}`,
  })),
  ...texts.map((text) => ({
    template: startExecutionTemplate(MACHINE),
    body: `{"releaseId": "r1", "pipelines": ["a"], "note": ${JSON.stringify(text)}}`,
  })),
  { template: startExecutionTemplate(MACHINE), body: '{"releaseId": 5.10, "pipelines": ["a"]}' },
  { template: startExecutionTemplate(MACHINE), body: "not json '" },
  { template: startedResponseTemplate, body: '{"executionArn":"arn:x","startDate":1.7648E9}' },
  ...[
    "ExecutionAlreadyExists",
    "com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists",
    "InvalidName",
    "InvalidExecutionInput",
    "ValidationException",
    "ThrottlingException",
    "StateMachineDoesNotExist",
  ].flatMap((type) =>
    texts.slice(0, 3).map((text) => ({ template: startClientErrorTemplate, body: error(type, text) })),
  ),
  ...texts.map((text) => ({ template: startServerErrorTemplate, body: error("InternalFailure", text) })),
  {
    template: startServerErrorTemplate,
    body: JSON.stringify({ __type: "ServiceUnavailable", Message: "Slow down" }),
  },
  { template: startServerErrorTemplate, body: "" },
];

describe("the mapping templates in Apache Velocity 1.7 and in velocityjs", function () {
  this.timeout(60000);
  let work: string;
  const javaResults: { output: string; status: string }[] = [];

  before(async function () {
    if (!javaAvailable()) {
      this.skip();
      return;
    }
    work = mkdtempSync(path.join(tmpdir(), "rm-velocity-"));
    CASES.forEach(({ template, body }, i) => {
      writeFileSync(path.join(work, `c${i}.vtl`), template);
      writeFileSync(path.join(work, `c${i}.body`), body);
      const lines = pathAnswers(body, PATHS).map(
        (a) =>
          `${a.path}\t${Buffer.from(a.json).toString("base64")}\t${a.text === undefined ? "-" : Buffer.from(a.text).toString("base64")}`,
      );
      writeFileSync(path.join(work, `c${i}.paths`), `${lines.join("\n")}\n`);
    });
    writeFileSync(path.join(work, "cases.txt"), CASES.map((_, i) => `c${i}`).join("\n"));
    await run("java", [
      "-cp",
      JARS.join(":"),
      path.join(__dirname, "fixtures", "velocity", "VelocityRender.java"),
      work,
    ]);
    CASES.forEach((_, i) => {
      javaResults.push({
        output: readFileSync(path.join(work, `c${i}.out`), "utf8"),
        status: readFileSync(path.join(work, `c${i}.status`), "utf8"),
      });
    });
  });

  after(() => {
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it(`renders all ${CASES.length} requests to the same JSON and status in both engines`, () => {
    CASES.forEach(({ template, body }, i) => {
      const js = renderMappingTemplate(template, { body });
      const java = javaResults[i];
      const where = `case ${i}: ${body.slice(0, 80)}`;
      assert.deepEqual(JSON.parse(java.output), JSON.parse(js.output), where);
      assert.equal(java.status, js.statusOverride === undefined ? "null" : String(js.statusOverride), where);
    });
  });
});
