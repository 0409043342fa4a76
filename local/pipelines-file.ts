/**
 * `pipelines.local.json`: the pipelines the local CodePipeline stand-in runs. Read once at start-up
 * and checked against a JSON Schema plus the rules a schema cannot say (unique names, a failure
 * naming a stage and action the pipeline has), so a mistake stops `npm start` with the file, the
 * field (a JSON Pointer) and the rule, instead of failing every release later.
 */
import { readFileSync } from "node:fs";
import Ajv, { type ErrorObject } from "ajv";
import { type ParseError, parse, printParseErrorCode } from "jsonc-parser";
import type { ManifestProblem } from "../contract/errors";
import { EXECUTION_MODES, type LocalPipelineSpec, actionName } from "./codepipeline-spec";

/** A problem at a field of the file: the same shape as a manifest's problems. */
export type FileProblem = ManifestProblem;

/** The pipelines file cannot be used; `message` lists every problem, one a line. */
export class InvalidPipelinesFile extends Error {
  override readonly name = "InvalidPipelinesFile";
  constructor(
    readonly file: string,
    readonly problems: FileProblem[],
  ) {
    super(
      `${file}: ${problems.length === 1 ? "1 problem" : `${problems.length} problems`}\n` +
        problems.map((p) => `  ${p.path || "(file)"}  ${p.rule}  ${p.message}`).join("\n"),
    );
  }
}

/** CodePipeline's pattern for pipeline, stage and action names. */
const NAME = { type: "string", pattern: "^[A-Za-z0-9.@_-]+$", minLength: 1, maxLength: 100 } as const;
const OUTCOME = { enum: ["Succeeded", "Failed"] } as const;
/** An action is its name, or { name, durationMs, manualApproval }. */
const ACTION = {
  ...NAME,
  type: ["string", "object"],
  additionalProperties: false,
  required: ["name"],
  properties: {
    name: NAME,
    durationMs: { type: "number", minimum: 0 },
    manualApproval: { type: "boolean" },
  },
} as const;

export const PIPELINES_FILE_SCHEMA = {
  $id: "https://release-machine.local/pipelines.local.schema.json",
  title: "The local CodePipeline stand-in's pipelines",
  type: "object",
  additionalProperties: false,
  required: ["pipelines"],
  properties: {
    $schema: { type: "string" },
    pipelines: {
      type: "array",
      minItems: 1,
      items: {
        type: "object",
        additionalProperties: false,
        required: ["name", "durationMs"],
        properties: {
          name: NAME,
          durationMs: { type: ["number", "null"], minimum: 0 },
          outcome: OUTCOME,
          outcomes: { type: "array", minItems: 1, items: OUTCOME },
          executionMode: { enum: EXECUTION_MODES },
          stages: {
            type: "array",
            items: {
              // A stage is its name, or { name, actions }.
              ...NAME,
              type: ["string", "object"],
              additionalProperties: false,
              required: ["name"],
              properties: { name: NAME, actions: { type: "array", minItems: 1, items: ACTION } },
            },
          },
          failure: {
            type: "object",
            additionalProperties: false,
            properties: { stage: NAME, action: NAME, code: { type: "string" }, message: { type: "string" } },
          },
        },
      },
    },
  },
} as const;

const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
const validate = ajv.compile(PIPELINES_FILE_SCHEMA);

/** One of ajv's errors as a problem at the field it is about. */
function schemaProblem(error: ErrorObject): FileProblem {
  const { instancePath, keyword, params } = error;
  if (keyword === "additionalProperties") {
    const field = String((params as { additionalProperty: string }).additionalProperty);
    return { path: `${instancePath}/${field}`, rule: keyword, message: `unknown field "${field}"` };
  }
  if (keyword === "required") {
    const field = String((params as { missingProperty: string }).missingProperty);
    return { path: `${instancePath}/${field}`, rule: keyword, message: "is required" };
  }
  if (keyword === "enum") {
    const allowed = (params as { allowedValues: unknown[] }).allowedValues;
    return {
      path: instancePath,
      rule: keyword,
      message: `must be ${allowed.map((v) => JSON.stringify(v)).join(" or ")}`,
    };
  }
  const got = keyword === "type" || keyword === "minimum" ? `, got ${JSON.stringify(error.data)}` : "";
  return { path: instancePath, rule: keyword, message: `${error.message ?? keyword}${got}` };
}

const stageName = (stage: string | { name: string }) => (typeof stage === "string" ? stage : stage.name);

/** `where/i/name` for every name repeated in `names` after its first use. */
function repeats(names: string[], where: (i: number) => string, what: string): FileProblem[] {
  return names.flatMap((name, i) =>
    names.indexOf(name) < i
      ? [
          {
            path: where(i),
            rule: "uniqueName",
            message: `${what} "${name}" is already used at index ${names.indexOf(name)}`,
          },
        ]
      : [],
  );
}

/** The rules a schema cannot say, on pipelines the schema accepted. */
function crossFieldProblems(pipelines: LocalPipelineSpec[]): FileProblem[] {
  const problems = repeats(
    pipelines.map((p) => p.name),
    (i) => `/pipelines/${i}/name`,
    "pipeline",
  );
  pipelines.forEach((pipeline, i) => {
    const at = `/pipelines/${i}`;
    const stages = pipeline.stages ?? ["Source", "Build", "Deploy"];
    problems.push(...repeats(stages.map(stageName), (j) => `${at}/stages/${j}`, "stage"));
    stages.forEach((stage, j) => {
      if (typeof stage === "string" || !stage.actions) return;
      const where = (k: number) => `${at}/stages/${j}/actions/${k}`;
      problems.push(...repeats(stage.actions.map(actionName), where, "action"));
    });
    if ((pipeline.outcome === undefined) === (pipeline.outcomes === undefined)) {
      problems.push({
        path: `${at}/outcome`,
        rule: "outcomeOrOutcomes",
        message: 'give either "outcome" or "outcomes" (one per attempt), not both or neither',
      });
    }
    const { failure } = pipeline;
    if (!failure) return;
    if (pipeline.outcome !== "Failed" && !pipeline.outcomes?.includes("Failed")) {
      problems.push({
        path: `${at}/failure`,
        rule: "failureNeedsFailed",
        message: 'only a pipeline whose outcome is "Failed" has a failure',
      });
      return;
    }
    const stage = stages.find(
      (s) => stageName(s) === (failure.stage ?? stageName(stages[stages.length - 1])),
    );
    if (failure.stage !== undefined && !stage) {
      problems.push({
        path: `${at}/failure/stage`,
        rule: "knownStage",
        message: `"${failure.stage}" is not one of the pipeline's stages`,
      });
    }
    const actions =
      stage === undefined
        ? []
        : typeof stage === "string"
          ? [stage]
          : (stage.actions?.map(actionName) ?? [stage.name]);
    if (failure.action !== undefined && stage && !actions.includes(failure.action)) {
      problems.push({
        path: `${at}/failure/action`,
        rule: "knownAction",
        message: `"${failure.action}" is not an action of stage ${stageName(stage)}`,
      });
    }
  });
  return problems;
}

/** Parses the text, naming line and column of a syntax error. */
function parseJson(file: string, text: string): unknown {
  const errors: ParseError[] = [];
  const value: unknown = parse(text, errors, { disallowComments: true, allowTrailingComma: false });
  if (errors.length === 0) return value;
  const [{ error, offset }] = errors;
  const before = text.slice(0, offset).split("\n");
  const [line, column] = [before.length, before[before.length - 1].length + 1];
  throw new InvalidPipelinesFile(file, [
    { path: "", rule: "json", message: `${printParseErrorCode(error)} at line ${line}, column ${column}` },
  ]);
}

/** Checks a parsed pipelines file; throws InvalidPipelinesFile listing every problem. */
export function checkLocalPipelines(file: string, value: unknown): LocalPipelineSpec[] {
  if (!validate(value)) throw new InvalidPipelinesFile(file, (validate.errors ?? []).map(schemaProblem));
  const pipelines = (value as { pipelines: LocalPipelineSpec[] }).pipelines;
  const problems = crossFieldProblems(pipelines);
  if (problems.length > 0) throw new InvalidPipelinesFile(file, problems);
  return pipelines;
}

/** Reads and checks `pipelines.local.json` (or the file RELEASE_MACHINE_PIPELINES names). */
export function readLocalPipelines(file: string): LocalPipelineSpec[] {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? String(error);
    throw new InvalidPipelinesFile(file, [
      { path: "", rule: "readable", message: `cannot be read (${code})` },
    ]);
  }
  return checkLocalPipelines(file, parseJson(file, text));
}
