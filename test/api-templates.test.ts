/**
 * The release API's mapping templates executed by velocityjs under API Gateway's semantics
 * (test/api-gateway-vtl.ts): every output must parse as JSON and carry exactly what was sent,
 * whatever characters it holds; StartExecution's answers map to the statuses clients act on; the
 * execution name derived in VTL is the one contract/execution-name.ts derives.
 */
import assert from "node:assert/strict";
import { executionNameFor } from "../contract/execution-name";
import {
  START_RESPONSES,
  invalidBodyResponseTemplate,
  startClientErrorTemplate,
  startExecutionTemplate,
  startServerErrorTemplate,
  startedResponseTemplate,
  unsupportedMediaTypeResponseTemplate,
} from "../infra/api-templates";
import { UNSUPPORTED_MEDIA_TYPE } from "../local/server";
import {
  TEMPLATE_CALLER,
  escapeJavaScript,
  renderMappingTemplate,
  substituteGatewayResponse,
} from "./api-gateway-vtl";

const MACHINE = "arn:aws:states:ap-southeast-2:123456789012:stateMachine:workflow-machine";

interface StartExecutionRequest {
  stateMachineArn: string;
  name?: string;
  input: string;
}

function startRequest(body: string): StartExecutionRequest {
  const { output } = renderMappingTemplate(startExecutionTemplate(MACHINE), { body });
  return JSON.parse(output) as StartExecutionRequest;
}

/** What the workflow receives as its execution input. */
function executionInput(body: string): unknown {
  return JSON.parse(startRequest(body).input);
}

/** The integration response API Gateway selects for StartExecution's status, rendered. */
function answer(status: number, body: string): { status: number; json: unknown } {
  const selected =
    START_RESPONSES.find(
      (r) => r.selectionPattern && new RegExp(`^${r.selectionPattern}$`).test(String(status)),
    ) ?? START_RESPONSES.find((r) => r.selectionPattern === undefined);
  if (!selected) throw new Error("no default integration response");
  const { output, statusOverride } = renderMappingTemplate(selected.template, { body });
  if (statusOverride !== undefined)
    assert.ok(selected.overrides.includes(String(statusOverride)), `undeclared override ${statusOverride}`);
  return { status: statusOverride ?? Number(selected.status), json: JSON.parse(output) };
}

const manifest = (releaseId: unknown, extra = "") =>
  `{"releaseId": ${JSON.stringify(releaseId)}, "pipelines": ["svc-a"]${extra}}`;

/** A deterministic stream of ids over the releaseId alphabet, and some outside it. */
function sampleIds(count: number): string[] {
  let seed = 11;
  const next = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._-";
  const ids: string[] = [];
  for (let i = 0; i < count; i++) {
    const length = 1 + Math.floor(next() * 64);
    const pool = i % 10 === 9 ? `${alphabet} '"\\$#é😀` : alphabet.slice(-8) + alphabet;
    ids.push(Array.from({ length }, () => pool[Math.floor(next() * pool.length)]).join(""));
  }
  return ids;
}

describe("the StartExecution request template, rendered by velocityjs", () => {
  it("passes the body through as text, so a numeric releaseId keeps its JSON text (5.10 stays 5.10)", () => {
    for (const body of [
      '{"releaseId": 5.10, "pipelines": ["svc-a"]}',
      '{"releaseId": 5.15, "pipelines": ["svc-a"]}',
    ]) {
      assert.deepEqual(executionInput(body), { source: "api", submittedBy: TEMPLATE_CALLER, body });
    }
  });

  it("names no execution for a numeric releaseId, which VTL would read as a double", () => {
    const request = startRequest('{"releaseId": 5.10, "pipelines": ["svc-a"]}');
    assert.deepEqual(Object.keys(request).sort(), ["input", "stateMachineArn"]);
    assert.equal(request.stateMachineArn, MACHINE);
  });

  it("names a string releaseId's execution within 0-9 A-Z a-z - _, keeping 5.16 and 5_16 apart", () => {
    assert.equal(startRequest(manifest("5.16")).name, "release-5_d16");
    assert.equal(startRequest(manifest("5_16")).name, "release-5__16");
    assert.equal(startRequest(manifest("5-16")).name, "release-5-16");
    assert.equal(startRequest(manifest("5._16")).name, "release-5_d__16");
    assert.equal(startRequest(manifest("5__d16")).name, "release-5____d16");
  });

  it("sends no name when the encoded releaseId would pass 80 characters", () => {
    const fits = "a.".repeat(18); // 36 characters, encoded 54: "release-" + 54 = 62
    assert.equal(startRequest(manifest(fits)).name, `release-${"a_d".repeat(18)}`);
    const exactly = "a".repeat(72);
    assert.equal(startRequest(manifest(exactly)).name, `release-${exactly}`);
    assert.equal(startRequest(manifest(`${"a".repeat(71)}.`)).name, undefined);
    assert.equal(startRequest(manifest("_".repeat(37))).name, undefined);
  });

  it("derives the same name as executionNameFor for 600 ids, and never the same name for two ids", () => {
    const ids = [...new Set(sampleIds(600))];
    const names = new Map<string, string>();
    for (const id of ids) {
      const fromTemplate = startRequest(manifest(id)).name;
      assert.equal(fromTemplate, executionNameFor(id), JSON.stringify(id));
      if (fromTemplate === undefined) continue;
      assert.match(fromTemplate, /^[0-9A-Za-z_-]{1,80}$/);
      assert.equal(
        names.get(fromTemplate),
        undefined,
        `${id} and ${names.get(fromTemplate)} share ${fromTemplate}`,
      );
      names.set(fromTemplate, id);
    }
    assert.ok(names.size > 400, `only ${names.size} of ${ids.length} ids were named`);
  });

  for (const [what, text] of [
    ["single and double quotes", `it's "quoted" and 'again'`],
    ["backslashes", "C:\\new\\table \\u0041 \\\\"],
    ["U+2028 and U+2029", "line\u2028separator\u2029paragraph"],
    ["emoji and accents", "déploiement 😀🚀 naïve"],
    ["control characters", "tab\tnewline\ncarriage\rnul\u0000bell\u0007"],
    [
      "Velocity-looking text",
      "$input.body #set($x = 1) ${context.requestId} #foreach($a in $b)#end ## comment",
    ],
    ["JSON-looking text", '"}], "input": "{}", "x": "'],
  ] as const) {
    it(`carries ${what} in the body to the workflow unchanged`, () => {
      const body = `{"releaseId": "r1", "pipelines": ["svc-a"], "note": ${JSON.stringify(text)}, "raw": "${[...text].filter((c) => c !== "\\" && c !== '"' && c >= " ").join("")}"}`;
      assert.deepEqual(executionInput(body), { source: "api", submittedBy: TEMPLATE_CALLER, body });
      assert.equal(startRequest(body).name, "release-r1");
    });
  }

  it("carries a body that is not JSON unchanged (the workflow reports it)", () => {
    for (const body of ["", "'", "''", "not json '", '{"releaseId": "r1"\'']) {
      assert.deepEqual(
        executionInput(body),
        { source: "api", submittedBy: TEMPLATE_CALLER, body },
        JSON.stringify(body),
      );
    }
  });

  it("carries a body at the 64 KiB manifest limit within Step Functions' 256 KiB input", () => {
    const pipelines = Array.from(
      { length: 50 },
      (_, i) => `pipeline-${String(i).padStart(2, "0")}-${"x".repeat(30)}`,
    );
    let body = `{"releaseId": "5.16", "pipelines": ${JSON.stringify(pipelines)}, "note": "`;
    body += 'it\'s a "release" \\ '.repeat(Math.floor((65536 - body.length - 2) / 20));
    body += "x".repeat(65536 - Buffer.byteLength(body) - 2) + '"}';
    assert.equal(Buffer.byteLength(body), 65536);
    const request = startRequest(body);
    assert.deepEqual(JSON.parse(request.input), { source: "api", submittedBy: TEMPLATE_CALLER, body });
    // Step Functions' input quota, counted in UTF-8 bytes of the input string.
    // https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html
    assert.ok(Buffer.byteLength(request.input) <= 256 * 1024, `${Buffer.byteLength(request.input)} bytes`);
  });
});

describe("StartExecution's answers, through the integration responses", () => {
  const error = (type: string, message: string) => JSON.stringify({ __type: type, message });

  it("passes a started execution through with 200", () => {
    const started = {
      executionArn: `${MACHINE.replace("stateMachine", "execution")}:release-5_d16`,
      startDate: 1.7648e9,
    };
    assert.deepEqual(answer(200, JSON.stringify(started)), { status: 200, json: started });
  });

  it("answers 409 DuplicateRelease when the execution name was used, namespaced or not", () => {
    for (const type of [
      "ExecutionAlreadyExists",
      "com.amazonaws.swf.service.v2.model#ExecutionAlreadyExists",
    ]) {
      assert.deepEqual(
        answer(400, error(type, "Execution Already Exists: 'arn:aws:states:…:release-5_d16'")),
        {
          status: 409,
          json: {
            error: "DuplicateRelease",
            message: "this releaseId was already submitted; a releaseId runs once",
          },
        },
      );
    }
  });

  it("answers 400 with the message intact for a bad name, bad input or a ValidationException quoting values", () => {
    const validation =
      "1 validation error detected: Value 'rel\"ease\\'s' at 'name' failed to satisfy constraint: Member must have length less than or equal to 80";
    for (const [type, message] of [
      ["InvalidName", "Invalid Name: 'release-5.16'"],
      ["InvalidExecutionInput", "Invalid Execution Input: 'input' exceeds 262144 bytes"],
      ["com.amazon.coral.validate#ValidationException", validation],
    ]) {
      assert.deepEqual(answer(400, error(type, message)), {
        status: 400,
        json: { error: type.split("#").pop(), message },
      });
    }
  });

  it("answers 429 for throttling and too many running executions, so the client retries later", () => {
    assert.deepEqual(answer(400, error("ThrottlingException", "Rate exceeded")), {
      status: 429,
      json: { error: "ThrottlingException", message: "Rate exceeded" },
    });
    assert.deepEqual(answer(400, error("ExecutionLimitExceeded", "too many")).status, 429);
  });

  it("answers 500 when the fault is the deployment's: a missing state machine or denied access", () => {
    assert.deepEqual(answer(400, error("StateMachineDoesNotExist", "State Machine Does Not Exist: 'arn'")), {
      status: 500,
      json: { error: "StateMachineDoesNotExist", message: "State Machine Does Not Exist: 'arn'" },
    });
    assert.equal(answer(403, error("AccessDeniedException", "not authorized")).status, 500);
  });

  it("answers 503, never 200, for InternalFailure (500) and ServiceUnavailable (503)", () => {
    assert.deepEqual(answer(500, error("InternalFailure", "Internal error")), {
      status: 503,
      json: { error: "InternalFailure", message: "Internal error" },
    });
    assert.deepEqual(answer(503, JSON.stringify({ __type: "ServiceUnavailable", Message: "Slow down" })), {
      status: 503,
      json: { error: "ServiceUnavailable", message: "Slow down" },
    });
    assert.deepEqual(answer(503, ""), {
      status: 503,
      json: { error: "ServiceUnavailable", message: "Step Functions could not start the release; retry" },
    });
  });

  it("keeps any character of an error message: quotes, backslashes, U+2028, emoji, Velocity-looking text", () => {
    const message = `it's "x" \\ \u2028 😀 $input.body #if(true)no#end /path`;
    assert.deepEqual(answer(400, error("ValidationException", message)).json, {
      error: "ValidationException",
      message,
    });
    assert.deepEqual(answer(500, error("InternalFailure", message)).json, {
      error: "InternalFailure",
      message,
    });
  });

  it("maps every 4xx and 5xx status to a template, and 2xx to the pass-through", () => {
    for (let status = 200; status < 600; status++) {
      const matched = START_RESPONSES.filter(
        (r) => r.selectionPattern && new RegExp(`^${r.selectionPattern}$`).test(String(status)),
      );
      const expected = status >= 400 && status < 500 ? "400" : status >= 500 ? "503" : undefined;
      assert.deepEqual(
        matched.map((r) => r.status),
        expected ? [expected] : [],
        String(status),
      );
    }
  });
});

describe("the invalid-body gateway response", () => {
  it("is valid JSON carrying API Gateway's quoted message and the request id", () => {
    const context = {
      "error.messageString": JSON.stringify("Invalid request body"),
      "error.validationErrorString": '[instance value ("x") not found in enum (possible values: ["a"])]',
      requestId: "c0ffee-1",
    };
    const substituted = substituteGatewayResponse(invalidBodyResponseTemplate, context);
    assert.deepEqual(JSON.parse(substituted), {
      error: "InvalidManifest",
      message: "Invalid request body",
      requestId: "c0ffee-1",
    });
  });

  it("renders the same through velocityjs, since it uses no directive", () => {
    const { output } = renderMappingTemplate(invalidBodyResponseTemplate, {
      body: "",
      requestId: "c0ffee-1",
      error: { message: "Invalid request body" },
    });
    assert.deepEqual(JSON.parse(output), {
      error: "InvalidManifest",
      message: "Invalid request body",
      requestId: "c0ffee-1",
    });
  });
});

describe("the unsupported-media-type gateway response", () => {
  it("answers exactly what the local API answers for a Content-Type other than JSON", () => {
    const substituted = substituteGatewayResponse(unsupportedMediaTypeResponseTemplate, {
      requestId: "c0ffee-1",
      "error.messageString": JSON.stringify("Unsupported Media Type"),
    });
    assert.deepEqual(JSON.parse(substituted), { ...UNSUPPORTED_MEDIA_TYPE });
  });

  it("renders the same through velocityjs, naming the header to send", () => {
    const { output } = renderMappingTemplate(unsupportedMediaTypeResponseTemplate, {
      body: "",
      requestId: "c0ffee-1",
      error: { message: "Unsupported Media Type" },
    });
    assert.deepEqual(JSON.parse(output), {
      error: "UnsupportedMediaType",
      message: "send the manifest with the header Content-Type: application/json",
    });
  });
});

describe("the templates' portability between Velocity 1.7 and velocityjs", () => {
  const templates = {
    startExecution: startExecutionTemplate(MACHINE),
    started: startedResponseTemplate,
    clientError: startClientErrorTemplate,
    serverError: startServerErrorTemplate,
    invalidBody: invalidBodyResponseTemplate,
    unsupportedMediaType: unsupportedMediaTypeResponseTemplate,
  };

  it("uses no construct whose meaning differs between the two engines", () => {
    for (const [name, template] of Object.entries(templates)) {
      assert.doesNotMatch(template, /[A-Za-z0-9{:]""/, `${name}: Velocity-1.7-only "" escape`);
      assert.doesNotMatch(
        template,
        /\.replace(All)?\(/,
        `${name}: replace is regex in Java, literal in JavaScript`,
      );
      assert.doesNotMatch(template, /\.length\(\)/, `${name}: length() is a property in JavaScript`);
      assert.doesNotMatch(template, /#if\(!?\$[A-Za-z]+\)/, `${name}: string truthiness differs`);
    }
  });

  it("escapes as commons-lang 2.6 does, including the \\' that JSON refuses", () => {
    assert.equal(
      escapeJavaScript(`a'b"c\\d/e\n\u2028é😀\u0001`),
      "a\\'b\\\"c\\\\d\\/e\\n\\u2028\\u00E9\\uD83D\\uDE00\\u0001",
    );
  });
});
