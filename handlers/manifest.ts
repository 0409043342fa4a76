/**
 * The release manifest: its JSON Schema (the one source for the API Gateway request model, the
 * ValidateManifest handler and the local API), the parser and validator that report every
 * problem with its field and rule, and the identifiers derived from a release.
 */
import { createHash } from "node:crypto";
import Ajv, { type ErrorObject } from "ajv";
import { type Node, type ParseError, parseTree, printParseErrorCode } from "jsonc-parser";
import { InvalidManifest, type ManifestProblem } from "./errors";

export interface ManifestRules {
  /** Pipelines this machine may release; unset means any well-formed name. */
  allowedPipelines?: readonly string[];
  maxPipelines: number;
  maxBytes: number;
}

export const DEFAULT_MANIFEST_RULES = { maxPipelines: 50, maxBytes: 65536 } as const;

export const RELEASE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
export const PIPELINE_NAME_PATTERN = "^[A-Za-z0-9.@_-]{1,100}$";
const VARIABLE_NAME_PATTERN = "^[A-Za-z0-9@_-]{1,128}$";
const MAX_DEPTH = 10;

/** The JSON Schema subset shared by draft-04 (API Gateway models) and ajv's default draft-07. */
export interface JsonSchema {
  type?: string | string[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean | JsonSchema;
  items?: JsonSchema;
  anyOf?: JsonSchema[];
  enum?: (string | number)[];
  pattern?: string;
  minLength?: number;
  maxLength?: number;
  minItems?: number;
  maxItems?: number;
  minProperties?: number;
  maxProperties?: number;
  uniqueItems?: boolean;
  minimum?: number;
  title?: string;
  description?: string;
}

export function manifestSchema(rules: ManifestRules): JsonSchema {
  const name: JsonSchema = {
    type: "string",
    pattern: PIPELINE_NAME_PATTERN,
    ...(rules.allowedPipelines ? { enum: [...rules.allowedPipelines] } : {}),
  };
  return {
    title: "ReleaseManifest",
    description: "A release: the pipelines to run together under one releaseId.",
    type: "object",
    required: ["releaseId", "pipelines"],
    additionalProperties: false,
    properties: {
      releaseId: { type: ["string", "number"], pattern: RELEASE_ID_PATTERN, minimum: 0 },
      pipelines: {
        type: "array",
        minItems: 1,
        maxItems: rules.maxPipelines,
        uniqueItems: true,
        items: {
          anyOf: [
            name,
            {
              type: "object",
              required: ["name"],
              additionalProperties: false,
              properties: {
                name,
                variables: {
                  type: "object",
                  minProperties: 1,
                  maxProperties: 50,
                  additionalProperties: false,
                  patternProperties: { [VARIABLE_NAME_PATTERN]: { type: "string", maxLength: 1000 } },
                },
                sourceRevisions: {
                  type: "array",
                  minItems: 1,
                  maxItems: 50,
                  items: {
                    type: "object",
                    required: ["actionName", "revisionType", "revisionValue"],
                    additionalProperties: false,
                    properties: {
                      actionName: { type: "string", minLength: 1, maxLength: 100 },
                      revisionType: {
                        type: "string",
                        enum: ["COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"],
                      },
                      revisionValue: { type: "string", minLength: 1, maxLength: 1500 },
                    },
                  },
                },
              },
            },
          ],
        },
      },
    },
  };
}

export interface PlannedPipeline {
  name: string;
  clientRequestToken: string;
  /** StartPipelineExecution's request as Step Functions' aws-sdk integration takes it (PascalCase). */
  start: {
    Name: string;
    ClientRequestToken: string;
    Variables?: { Name: string; Value: string }[];
    SourceRevisions?: { ActionName: string; RevisionType: string; RevisionValue: string }[];
  };
}

export interface ValidatedRelease {
  releaseId: string;
  pipelines: PlannedPipeline[];
}

/**
 * Step Functions execution name for a release. Names allow 1–80 characters without whitespace,
 * brackets, wildcards or `"#%\^|~`$&,;:/`; a canonical releaseId's alphabet lies inside that, so
 * no hash is needed, and API Gateway's mapping template (which has no hash function) can derive
 * the same name.
 */
export function executionName(releaseId: string): string {
  return `release-${releaseId}`;
}

/**
 * CodePipeline's idempotency token for (release, pipeline). Tokens allow only `[a-zA-Z0-9-]`, so
 * "5.15" and "5-15" would collide if the id were pasted in; a hash keeps them apart.
 */
export function clientRequestToken(releaseId: string, pipeline: string): string {
  return `rm-${createHash("sha256").update(`${releaseId}\n${pipeline}`).digest("hex")}`;
}

// Module-level constants are plain arrays and objects: Pulumi's closure serialization does not
// carry the contents of a Set or Map.
const FORBIDDEN_KEYS = ["__proto__", "constructor", "prototype"];
const pointer = (base: string, key: string | number) =>
  `${base}/${String(key).replace(/~/g, "~0").replace(/\//g, "~1")}`;

/** Builds the value from the parse tree, reporting duplicate and forbidden keys and deep nesting. */
function buildValue(node: Node, path: string, depth: number, problems: ManifestProblem[]): unknown {
  if (depth > MAX_DEPTH && (node.type === "object" || node.type === "array")) {
    problems.push({ path, rule: "depth", message: `nesting deeper than ${MAX_DEPTH} levels is not allowed` });
    return null;
  }
  if (node.type === "array")
    return (node.children ?? []).map((child, i) => buildValue(child, pointer(path, i), depth + 1, problems));
  if (node.type !== "object") return node.value;
  const result: Record<string, unknown> = {};
  const seen = new Set<string>();
  for (const property of node.children ?? []) {
    const [keyNode, valueNode] = property.children ?? [];
    const key = String(keyNode?.value);
    const at = pointer(path, key);
    if (FORBIDDEN_KEYS.includes(key)) {
      problems.push({
        path: at,
        rule: "forbiddenKey",
        message: `the key "${key}" is not allowed anywhere in a manifest`,
      });
      continue;
    }
    if (seen.has(key)) {
      problems.push({
        path: at,
        rule: "duplicateKey",
        message: `"${key}" appears more than once; give each field once`,
      });
      continue;
    }
    seen.add(key);
    if (valueNode) result[key] = buildValue(valueNode, at, depth + 1, problems);
  }
  return result;
}

function parseJson(text: string, problems: ManifestProblem[]): { value: unknown; tree: Node } | undefined {
  if (text.trim() === "") {
    problems.push({ path: "", rule: "json", message: "the manifest is empty; send a JSON object" });
    return undefined;
  }
  const errors: ParseError[] = [];
  const tree = parseTree(text, errors, {
    disallowComments: true,
    allowTrailingComma: false,
    allowEmptyContent: false,
  });
  if (errors.length > 0 || !tree) {
    const first = errors[0];
    const offset = first?.offset ?? 0;
    const line = text.slice(0, offset).split("\n").length;
    problems.push({
      path: "",
      rule: "json",
      message: first
        ? `the manifest is not valid JSON: ${printParseErrorCode(first.error)} at line ${line}, offset ${offset}`
        : "the manifest is empty; send a JSON object",
    });
    return undefined;
  }
  return { value: buildValue(tree, "", 0, problems), tree };
}

const LABELS: [RegExp, string][] = [
  [/^\/releaseId$/, "releaseId"],
  [/^\/pipelines$/, "pipelines"],
  [/^\/pipelines\/\d+(\/name)?$/, "pipeline name"],
  [/^\/pipelines\/\d+\/variables(\/.*)?$/, "variables"],
  [/^\/pipelines\/\d+\/sourceRevisions(\/.*)?$/, "sourceRevisions"],
];
const labelOf = (path: string) =>
  LABELS.find(([re]) => re.test(path))?.[1] ?? (path === "" ? "the manifest" : path);

function describe(error: ErrorObject, rules: ManifestRules): ManifestProblem {
  const path = error.instancePath;
  const label = labelOf(path);
  const params = error.params as Record<string, unknown>;
  switch (error.keyword) {
    case "required":
      return {
        path: pointer(path, String(params.missingProperty)),
        rule: "required",
        message: `${String(params.missingProperty)} is required`,
      };
    case "additionalProperties": {
      const extra = String(params.additionalProperty);
      const allowed =
        path === ""
          ? "releaseId and pipelines"
          : /\/variables$/.test(path)
            ? `names matching ${VARIABLE_NAME_PATTERN}`
            : "the fields listed in the manifest schema";
      return {
        path: pointer(path, extra),
        rule: "additionalProperties",
        message: `unknown field "${extra}"; allowed: ${allowed}`,
      };
    }
    case "pattern":
      return {
        path,
        rule: "pattern",
        message:
          label === "releaseId"
            ? "releaseId must be 1-64 characters of only letters A-Z a-z, digits, '.', '_' and '-', starting with a letter or digit"
            : label === "pipeline name"
              ? `pipeline name ${JSON.stringify(error.data)} must be 1-100 characters of only letters, digits, '.', '@', '_' and '-'`
              : `${label} must match ${String(params.pattern)}`,
      };
    case "enum":
      if (label === "pipeline name") {
        const allowed = rules.allowedPipelines ?? [];
        const shown =
          allowed.slice(0, 10).join(", ") + (allowed.length > 10 ? `, … (${allowed.length} in all)` : "");
        return {
          path,
          rule: "allowList",
          message: `pipeline ${JSON.stringify(error.data)} is not on this machine's allow-list; allowed: ${shown}`,
        };
      }
      return {
        path,
        rule: "enum",
        message: `${label} must be one of ${(params.allowedValues as unknown[]).join(", ")}`,
      };
    case "maxItems":
      return { path, rule: "maxItems", message: `${label} may list at most ${String(params.limit)} items` };
    case "minItems":
      return {
        path,
        rule: "minItems",
        message: `${label} must list at least ${String(params.limit)} item(s)`,
      };
    case "type":
      return {
        path,
        rule: "type",
        message: `${label} must be of type ${String(params.type).replace(",", " or ")}`,
      };
    default:
      return { path, rule: error.keyword, message: `${label} ${error.message ?? "is invalid"}` };
  }
}

type SchemaValidator = ReturnType<Ajv["compile"]>;

// Compiled per parser, never cached at module level: Pulumi serializes module state into the
// Lambda archive, and a compiled validator is no thing to serialize.
function compileValidator(rules: ManifestRules): SchemaValidator {
  return new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true }).compile(
    manifestSchema(rules),
  );
}

/**
 * ajv reports both branches of the pipeline-item anyOf; keep only the branch that matches the
 * item's type, so "svc a" gives one pattern problem, not four. uniqueItems is reported below,
 * with both positions.
 */
function schemaProblems(value: unknown, rules: ManifestRules, validate: SchemaValidator): ManifestProblem[] {
  if (validate(value)) return [];
  const itemBranch = /^#\/properties\/pipelines\/items\/anyOf\/(\d)\//;
  const problems: ManifestProblem[] = [];
  for (const error of validate.errors ?? []) {
    if (error.keyword === "uniqueItems") continue;
    const branch = itemBranch.exec(error.schemaPath);
    if (error.keyword === "anyOf" || branch) {
      const item = /^\/pipelines\/\d+/.exec(error.instancePath)?.[0];
      const itemValue = item
        ? (value as { pipelines: unknown[] }).pipelines[Number(item.split("/")[2])]
        : undefined;
      const wanted =
        typeof itemValue === "string"
          ? "0"
          : itemValue !== null && typeof itemValue === "object" && !Array.isArray(itemValue)
            ? "1"
            : undefined;
      if (error.keyword === "anyOf") {
        if (wanted === undefined) {
          problems.push({
            path: error.instancePath,
            rule: "type",
            message:
              "each pipeline must be a name (string) or an object { name, variables?, sourceRevisions? }",
          });
        }
        continue;
      }
      if (branch?.[1] !== wanted) continue;
      // The branch's own "must be object/string" is implied by `wanted`; deeper type errors are real.
      if (error.keyword === "type" && error.instancePath === item) continue;
    }
    problems.push(describe(error, rules));
  }
  return problems;
}

/** Parses raw manifest text and validates it; throws InvalidManifest listing every problem. */
export function parseManifest(text: string, rules: ManifestRules): ValidatedRelease {
  return manifestParser(rules)(text);
}

/** A parser with the schema compiled once, for handlers that parse many manifests. */
export function manifestParser(rules: ManifestRules): (text: string) => ValidatedRelease {
  const validate = compileValidator(rules);
  return (text) => parseWith(text, rules, validate);
}

function parseWith(text: string, rules: ManifestRules, validate: SchemaValidator): ValidatedRelease {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > rules.maxBytes) {
    throw new InvalidManifest([
      {
        path: "",
        rule: "maxBytes",
        message: `the manifest is ${bytes} bytes; the limit is ${rules.maxBytes} bytes`,
      },
    ]);
  }
  const problems: ManifestProblem[] = [];
  const parsed = parseJson(text, problems);
  if (!parsed) throw new InvalidManifest(problems);
  problems.push(...schemaProblems(parsed.value, rules, validate));

  const isObject = typeof parsed.value === "object" && parsed.value !== null && !Array.isArray(parsed.value);
  const manifest = (isObject ? parsed.value : {}) as { releaseId?: unknown; pipelines?: unknown };
  let releaseId = typeof manifest.releaseId === "string" ? manifest.releaseId : undefined;
  if (typeof manifest.releaseId === "number") {
    // A number keeps its JSON text, so 5.10 stays "5.10" and does not collide with 5.1.
    releaseId = sourceText(text, parsed.tree, "releaseId");
    if (
      releaseId !== undefined &&
      !new RegExp(RELEASE_ID_PATTERN).test(releaseId) &&
      !problems.some((p) => p.path === "/releaseId")
    ) {
      problems.push({
        path: "/releaseId",
        rule: "pattern",
        message: `releaseId ${releaseId} is not a valid id; send it as a string of letters, digits, '.', '_' and '-'`,
      });
    }
  }

  const names: string[] = [];
  const first = new Map<string, number>();
  (Array.isArray(manifest.pipelines) ? manifest.pipelines : []).forEach((item: unknown, i) => {
    const name = typeof item === "string" ? item : (item as { name?: unknown } | null)?.name;
    if (typeof name !== "string") return;
    const earlier = first.get(name);
    if (earlier !== undefined) {
      problems.push({
        path: `/pipelines/${i}`,
        rule: "uniqueItems",
        message: `repeats "${name}" (first at /pipelines/${earlier}); list each pipeline once`,
      });
    } else first.set(name, i);
    names.push(name);
  });

  if (problems.length > 0) {
    throw new InvalidManifest(
      [...problems].sort((a, b) => a.path.localeCompare(b.path, "en", { numeric: true })),
    );
  }
  const id = releaseId as string;
  const items = manifest.pipelines as (
    | string
    | {
        name: string;
        variables?: Record<string, string>;
        sourceRevisions?: { actionName: string; revisionType: string; revisionValue: string }[];
      }
  )[];
  return {
    releaseId: id,
    pipelines: items.map((item) => {
      const spec = typeof item === "string" ? { name: item } : item;
      const token = clientRequestToken(id, spec.name);
      return {
        name: spec.name,
        clientRequestToken: token,
        start: {
          Name: spec.name,
          ClientRequestToken: token,
          ...(spec.variables
            ? { Variables: Object.entries(spec.variables).map(([Name, Value]) => ({ Name, Value })) }
            : {}),
          ...(spec.sourceRevisions
            ? {
                SourceRevisions: spec.sourceRevisions.map((r) => ({
                  ActionName: r.actionName,
                  RevisionType: r.revisionType,
                  RevisionValue: r.revisionValue,
                })),
              }
            : {}),
        },
      };
    }),
  };
}

function sourceText(text: string, tree: Node, key: string): string | undefined {
  const property =
    tree.type === "object" ? tree.children?.find((p) => p.children?.[0]?.value === key) : undefined;
  const valueNode = property?.children?.[1];
  return valueNode?.type === "number"
    ? text.slice(valueNode.offset, valueNode.offset + valueNode.length)
    : undefined;
}
