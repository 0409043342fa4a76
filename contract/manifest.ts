/**
 * The release manifest's parser: strict JSON (never JSON.parse), the schema of
 * contract/manifest-schema.ts, and the checks a schema cannot make (repeated names, dependencies),
 * reporting every problem with its JSON Pointer and rule; the plan a valid manifest yields; and the
 * identifiers a release derives (its releaseId as written, start tokens).
 * Pulumi serializes this code into the Lambda archives: module-level values stay plain strings,
 * arrays and objects (a Set's or Map's contents are not carried); validators live in their parser.
 */
import { createHash } from "node:crypto";
import type { ErrorObject, ValidateFunction } from "ajv";
import Ajv from "ajv-draft-04";
import { type Node, type ParseError, findNodeAtLocation, parseTree, printParseErrorCode } from "jsonc-parser";
import { InvalidManifest, type ManifestProblem, problemsLeftOut } from "./errors";
import { isRecord } from "./json";
import {
  ALPHABETS,
  DEFAULT_APPROVAL_TIMEOUT_HOURS,
  FAILURE_POLICIES,
  type JsonSchema,
  type ManifestRules,
  RELEASE_ID_PATTERN,
  manifestSchema,
} from "./manifest-schema";

/** Objects and arrays may sit at most this many levels below the top; a valid manifest needs 4. */
const MAX_DEPTH = 10;
/** jsonc-parser recurses once per level, so text nested deeper than this is refused unparsed. */
const PARSER_DEPTH_GUARD = 100;
const FORBIDDEN_KEYS = ["__proto__", "constructor", "prototype"];
/** Characters of problems listed, so an InvalidManifest fits a Step Functions Cause (32,768). */
const PROBLEM_BUDGET = 16_000;

/** An approval gate as planned: the manifest's `true` gets the default timeout and no approver list. */
export interface ApprovalGate {
  timeoutHours: number;
  /** IAM ARN patterns (`*` matches any run of characters); any caller but the submitter when absent. */
  approvers?: string[];
}

/**
 * One pipeline of a validated release: what StartPipelineExecution needs besides the token (which
 * depends on the attempt, so it is derived when the pipeline starts) and what it waits for.
 * Optional fields are left out when the manifest has none: CodePipeline rejects empty lists.
 */
export interface PlannedPipeline {
  name: string;
  /** Present when a person must approve the pipeline's start (handlers/release-control.ts). */
  approval?: ApprovalGate;
  /** Pipelines of the same release that must succeed before this one starts (manifest order kept). */
  dependsOn?: string[];
  /**
   * As the manifest wrote them, name to value: the plan travels in the workflow's state, where
   * CodePipeline's list form would take about three times the manifest's bytes
   * (docs/aws-facts.md, "Step Functions"). startVariables makes the list when the pipeline is scheduled.
   */
  variables?: Record<string, string>;
  sourceRevisions?: { actionName: string; revisionType: string; revisionValue: string }[];
}

/** Pipeline variables as StartPipelineExecution takes them. */
export type StartVariables = { name: string; value: string }[];

/** A plan's variables in StartPipelineExecution's form. */
export function startVariables(variables: Record<string, string>): StartVariables {
  return Object.entries(variables).map(([name, value]) => ({ name, value }));
}

export interface ValidatedRelease {
  releaseId: string;
  pipelines: PlannedPipeline[];
  /** The manifest's own failure policy, when it chose one (else the stack's applies). */
  failurePolicy?: (typeof FAILURE_POLICIES)[number];
}

/**
 * CodePipeline's idempotency token for (release, pipeline). Tokens allow only [a-zA-Z0-9-] (at most
 * 128), so pasting the id in would map "5.15" and "5-15" to one token; a SHA-256 keeps them apart.
 */
export function clientRequestToken(releaseId: string, pipeline: string, attempt = 1): string {
  const key = attempt === 1 ? `${releaseId}\n${pipeline}` : `${releaseId}\n${pipeline}\n${attempt}`;
  return `rm-${createHash("sha256").update(key).digest("hex")}`;
}

/**
 * The canonical releaseId, or undefined if there is none. A number counts by its JSON text: 5.10
 * stays "5.10" (not 5.1), and 12345678901234567890 keeps every digit, so precision beyond 2^53 is
 * no problem. Without the text, JavaScript's form is used and 5.10 becomes "5.1": prefer strings.
 */
export function canonicalReleaseId(value: string | number, jsonText?: string): string | undefined {
  const id = typeof value === "string" ? value : (jsonText ?? String(value));
  return new RegExp(RELEASE_ID_PATTERN).test(id) ? id : undefined;
}

/**
 * The releaseId as manifest text that may be invalid writes it: a string, or a number as written
 * (5.10 stays "5.10"), read leniently (comments and trailing commas pass); undefined when there is
 * none or the text nests too deep to read. The local log names a submission by it.
 */
export function writtenReleaseId(text: string): string | undefined {
  if (offsetNestedDeeperThan(text, PARSER_DEPTH_GUARD) >= 0) return undefined;
  const tree = parseTree(text, [], { allowTrailingComma: true, disallowComments: false });
  const node = tree && findNodeAtLocation(tree, ["releaseId"]);
  if (node?.type === "string" && typeof node.value === "string") return node.value;
  if (node?.type === "number") return text.slice(node.offset, node.offset + node.length);
  return undefined;
}

/**
 * The written releaseId when it is a well-formed one: what a rejection is recorded under. Only the
 * parser decides whether the manifest is valid.
 */
export function readableReleaseId(text: string): string | undefined {
  const written = writtenReleaseId(text);
  return written === undefined ? undefined : canonicalReleaseId(written);
}

/** Parses raw manifest text and validates it; throws InvalidManifest listing every problem. */
export function parseManifest(text: string, rules: ManifestRules): ValidatedRelease {
  return manifestParser(rules)(text);
}

type Revision = { actionName: string; revisionType: string; revisionValue: string };
type ManifestPipelineEntry =
  | string
  | {
      name: string;
      variables?: Record<string, string>;
      sourceRevisions?: Revision[];
      dependsOn?: string[];
      approval?: boolean | { timeoutHours?: number; approvers?: string[] };
    };

/** A parser with the schema compiled once, for handlers that parse many manifests. */
export function manifestParser(rules: ManifestRules): (text: string) => ValidatedRelease {
  // Draft 4, as API Gateway validates the same schema as the request model: the local server and
  // the handler then accept and refuse exactly what the deployed API does.
  const ajv = new Ajv({ allErrors: true, strict: true, allowUnionTypes: true, verbose: true });
  const validate = ajv.compile(manifestSchema(rules));
  return (text) => {
    const { value, tree, problems } = readJson(text, rules.maxBytes);
    problems.push(...schemaProblems(value, validate));
    const manifest = isRecord(value) ? value : {};

    let releaseId: string | undefined;
    if (typeof manifest.releaseId === "string" || typeof manifest.releaseId === "number") {
      const node = findNodeAtLocation(tree, ["releaseId"]);
      const literal =
        node?.type === "number" ? text.slice(node.offset, node.offset + node.length) : undefined;
      releaseId = canonicalReleaseId(manifest.releaseId, literal);
      if (releaseId === undefined && !problems.some((p) => p.path === "/releaseId")) {
        const message = `releaseId must be ${ALPHABETS[RELEASE_ID_PATTERN]}; got the number ${literal}`;
        problems.push(problem("/releaseId", "pattern", `${message}: send it as a string`));
      }
    }

    // The schema's uniqueItems compares whole items; the same name in either form is the real repeat.
    const items = Array.isArray(manifest.pipelines) ? manifest.pipelines : [];
    const firstAt = new Map<string, number>();
    items.forEach((item: unknown, i) => {
      const name = isRecord(item) ? item.name : item;
      if (typeof name !== "string") return;
      const first = firstAt.get(name);
      if (first === undefined) return void firstAt.set(name, i);
      const message = `/pipelines/${i} repeats ${quote(name)} (first at /pipelines/${first}); list each pipeline once`;
      problems.push(problem(`/pipelines/${i}`, "uniqueItems", message));
    });

    if (problems.length === 0) problems.push(...graphProblems(items));
    if (problems.length > 0 || releaseId === undefined)
      throw new InvalidManifest(capped(allowListOnce(problems.sort(byPath))));
    const pipelines = (items as ManifestPipelineEntry[]).map(plan);
    const policy = FAILURE_POLICIES.find((p) => p === manifest.failurePolicy);
    return { releaseId, pipelines, ...(policy ? { failurePolicy: policy } : {}) };
  };
}

function plan(item: ManifestPipelineEntry): PlannedPipeline {
  if (typeof item === "string") return { name: item };
  const { name, variables, sourceRevisions, dependsOn, approval } = item;
  const planned: PlannedPipeline = { name };
  if (dependsOn && dependsOn.length > 0) planned.dependsOn = dependsOn;
  if (approval === true) planned.approval = { timeoutHours: DEFAULT_APPROVAL_TIMEOUT_HOURS };
  if (typeof approval === "object") {
    planned.approval = {
      timeoutHours: approval.timeoutHours ?? DEFAULT_APPROVAL_TIMEOUT_HOURS,
      ...(approval.approvers ? { approvers: approval.approvers } : {}),
    };
  }
  if (variables) planned.variables = Object.fromEntries(Object.entries(variables));
  if (sourceRevisions) planned.sourceRevisions = sourceRevisions.map((r) => ({ ...r }));
  return planned;
}

/**
 * `dependsOn` across the manifest: each name must be another pipeline of this manifest, listed
 * once, and the dependencies must not form a cycle (a cycle could never start). Runs on a manifest
 * that passed the schema, so every item has a well-formed name.
 */
function graphProblems(items: unknown[]): ManifestProblem[] {
  const problems: ManifestProblem[] = [];
  const names = items.map((item) => (isRecord(item) ? String(item.name) : String(item)));
  const edges = new Map<string, string[]>();
  items.forEach((item, i) => {
    const dependsOn = isRecord(item) && Array.isArray(item.dependsOn) ? (item.dependsOn as string[]) : [];
    const seen: string[] = [];
    dependsOn.forEach((dep, j) => {
      const at = `/pipelines/${i}/dependsOn/${j}`;
      if (dep === names[i]) {
        problems.push(
          problem(at, "selfDependency", `pipeline ${quote(dep)} cannot depend on itself; remove it`),
        );
      } else if (!names.includes(dep)) {
        const message = `dependsOn names ${quote(dep)}, which is not a pipeline of this manifest; add it to pipelines or remove it`;
        problems.push(problem(at, "unknownDependency", message));
      } else if (seen.includes(dep)) {
        const message = `dependsOn repeats ${quote(dep)} (first at /pipelines/${i}/dependsOn/${seen.indexOf(dep)}); list each dependency once`;
        problems.push(problem(at, "uniqueItems", message));
      }
      seen.push(dep);
    });
    edges.set(names[i], seen);
  });
  if (problems.length > 0) return problems;
  const cycle = findCycle(names, edges);
  if (cycle) {
    const at = names.indexOf(cycle[0]);
    const message = `dependsOn forms a cycle (${cycle.map(quote).join(" -> ")}), so none of them could start; remove one of these dependencies`;
    problems.push(problem(`/pipelines/${at}/dependsOn`, "cycle", message));
  }
  return problems;
}

/** A dependency cycle as a path whose first and last names are equal, or undefined: iterative DFS. */
function findCycle(names: string[], edges: Map<string, string[]>): string[] | undefined {
  const state = new Map<string, "open" | "done">();
  for (const root of names) {
    if (state.has(root)) continue;
    const stack: { name: string; next: number }[] = [{ name: root, next: 0 }];
    state.set(root, "open");
    while (stack.length > 0) {
      const top = stack[stack.length - 1];
      const deps = edges.get(top.name) ?? [];
      if (top.next >= deps.length) {
        state.set(top.name, "done");
        stack.pop();
        continue;
      }
      const dep = deps[top.next++];
      if (state.get(dep) === "open") {
        const path = stack.map((frame) => frame.name);
        return [...path.slice(path.indexOf(dep)), dep];
      }
      if (!state.has(dep)) {
        state.set(dep, "open");
        stack.push({ name: dep, next: 0 });
      }
    }
  }
  return undefined;
}

const problem = (path: string, rule: string, message: string): ManifestProblem => ({ path, rule, message });

const reject = (rule: string, message: string): never => {
  throw new InvalidManifest([problem("", rule, message)]);
};

/** A JSON Pointer one step down. A key too long to be valid anywhere is cut short, to keep errors small. */
function pointer(base: string, key: string | number): string {
  const segment = String(key).replace(/~/g, "~0").replace(/\//g, "~1");
  return `${base}/${segment.length > 130 ? `${segment.slice(0, 128)}…` : segment}`;
}

/** A value for a message: JSON, cut short, non-ASCII as \uXXXX so look-alikes and invisibles show. */
function quote(value: unknown): string {
  const hex = (c: string) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`;
  const json = (JSON.stringify(value) ?? String(value)).replace(/[^\x20-\x7e]/g, hex);
  return json.length > 80 ? `${json.slice(0, 77)}…` : json;
}

/** Size, nesting and strict JSON syntax, then the value built from the parse tree. */
function readJson(
  text: string,
  maxBytes: number,
): { value: unknown; tree: Node; problems: ManifestProblem[] } {
  const bytes = Buffer.byteLength(text, "utf8");
  if (bytes > maxBytes) reject("maxBytes", `the manifest is ${bytes} bytes; the limit is ${maxBytes} bytes`);
  if (text.trim() === "")
    reject("json", "the manifest is empty; send a JSON object with releaseId and pipelines");
  const tooDeep = offsetNestedDeeperThan(text, PARSER_DEPTH_GUARD);
  if (tooDeep >= 0)
    reject("depth", `nesting deeper than ${MAX_DEPTH} levels is not allowed (${where(text, tooDeep)})`);
  const errors: ParseError[] = [];
  const strict = { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false };
  const tree = parseTree(text, errors, strict);
  if (errors.length > 0 || tree === undefined) return reject("json", syntaxMessage(text, errors[0]));
  const problems: ManifestProblem[] = [];
  return { value: build(tree, "", 0, problems), tree, problems };
}

/** Offset of the first '{' or '[' nested deeper than `limit`, or -1: a linear scan, no recursion. */
export function offsetNestedDeeperThan(text: string, limit: number): number {
  let [depth, inString] = [0, false];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (inString) {
      if (c === "\\") i++;
      else if (c === '"') inString = false;
    } else if (c === '"') inString = true;
    else if ((c === "{" || c === "[") && ++depth > limit) return i;
    else if (c === "}" || c === "]") depth--;
  }
  return -1;
}

function where(text: string, offset: number): string {
  const before = text.slice(0, offset);
  return `line ${before.split("\n").length}, offset ${offset}, column ${offset - before.lastIndexOf("\n")}`;
}

function syntaxMessage(text: string, error: ParseError | undefined): string {
  if (!error) return "the manifest is not valid JSON";
  const code = printParseErrorCode(error.error);
  const trailingComma =
    /,\s*$/.test(text.slice(0, error.offset)) && /^\s*[}\]]/.test(text.slice(error.offset));
  const hint = trailingComma
    ? "a trailing comma is not allowed"
    : code === "InvalidSymbol"
      ? "names and strings take double quotes, and a byte order mark or NaN is not JSON"
      : code.replace(/(?<=[a-z])(?=[A-Z])/g, " ").toLowerCase();
  return `the manifest is not valid JSON: ${code} at ${where(text, error.offset)}; ${hint}`;
}

/** The value of a parse tree (never JSON.parse), reporting duplicate and forbidden keys and deep nesting. */
function build(node: Node, path: string, depth: number, problems: ManifestProblem[]): unknown {
  if (node.type !== "object" && node.type !== "array") return node.value;
  if (depth > MAX_DEPTH) {
    problems.push(problem(path, "depth", `nesting deeper than ${MAX_DEPTH} levels is not allowed`));
    return null;
  }
  const children = node.children ?? [];
  if (node.type === "array")
    return children.map((child, i) => build(child, pointer(path, i), depth + 1, problems));
  const result: Record<string, unknown> = {};
  for (const [keyNode, valueNode] of children.map((property) => property.children ?? [])) {
    const key = String(keyNode?.value);
    const at = pointer(path, key);
    if (FORBIDDEN_KEYS.includes(key)) {
      problems.push(problem(at, "forbiddenKey", `the key ${quote(key)} is not allowed anywhere; remove it`));
    } else if (Object.hasOwn(result, key)) {
      problems.push(problem(at, "duplicateKey", `${quote(key)} appears more than once; give it once`));
    } else if (valueNode) result[key] = build(valueNode, at, depth + 1, problems);
  }
  return result;
}

/**
 * ajv's errors as problems, one per location. ajv reports both branches of a pipeline item's
 * anyOf: only the branch of the item's own kind ("0": a name, "1": an object) is kept, and an item
 * of neither kind gets one "type" problem from the anyOf itself.
 */
function schemaProblems(value: unknown, validate: ValidateFunction): ManifestProblem[] {
  if (validate(value)) return [];
  const best = new Map<string, ManifestProblem>();
  for (const error of validate.errors ?? []) {
    if (error.keyword === "uniqueItems") continue; // reported by name, with both positions
    const index = /^\/pipelines\/(\d+)/.exec(error.instancePath)?.[1];
    const item =
      index === undefined ? undefined : (value as { pipelines: unknown[] }).pipelines[Number(index)];
    const kind = typeof item === "string" ? "0" : isRecord(item) ? "1" : undefined;
    const branch = /\/items\/anyOf\/(\d)\//.exec(error.schemaPath)?.[1];
    if (error.keyword === "anyOf" ? kind !== undefined : branch !== undefined && branch !== kind) continue;
    const found = toProblem(error);
    const kept = best.get(found.path);
    if (!kept || rank(found) < rank(kept)) best.set(found.path, found);
  }
  return [...best.values()];
}

/** At one location a wrong type explains the rest, and the allow-list names the fix for a bad name. */
const rank = ({ rule }: ManifestProblem): number => (rule === "type" ? 0 : rule === "allowList" ? 1 : 2);

/** The field a message names: its key, or what an item is. */
function fieldOf(path: string): string {
  const [last, parent] = path.split("/").reverse();
  if (path === "") return "the manifest";
  if (/^\/pipelines\/\d+(\/name)?$/.test(path)) return "pipeline name";
  if (parent === "variables") return `variable ${quote(last.replace(/~1/g, "/").replace(/~0/g, "~"))}`;
  return /^\d+$/.test(last) ? `each item of ${parent}` : last;
}

const list = (names: readonly string[]): string =>
  names.length < 2 ? names.join("") : `${names.slice(0, -1).join(", ")} and ${names[names.length - 1]}`;

/** The fields an object schema takes, for an unknown-field message. */
function allowedFields({ properties = {}, patternProperties = {} }: JsonSchema): string {
  const patterns = Object.keys(patternProperties).map((p) => `names matching ${p} (${ALPHABETS[p]})`);
  return list([...Object.keys(properties), ...patterns]);
}

/** The allowed pipeline names, cut short when the list is long. */
function allowedNames(names: readonly string[]): string {
  const shown = names.filter((_, i) => names.slice(0, i + 1).join(", ").length <= 300);
  return shown.join(", ") + (shown.length < names.length ? `, … (${names.length} in all)` : "");
}

type Explain = (field: string, params: Record<string, unknown>, error: ErrorObject) => string;
/** One sentence per rule broken, naming the field and what to do. */
const EXPLAIN: Record<string, Explain> = {
  type: (field, p) => `${field} must be of type ${[p.type].flat().join(" or ")}`,
  anyOf: () =>
    "each pipeline must be a name (string) or an object { name, dependsOn?, variables?, sourceRevisions?, approval? }",
  required: (_, p) => `${p.missingProperty} is required; add it`,
  additionalProperties: (_, p, e) =>
    `unknown field ${quote(p.additionalProperty)}; allowed: ${allowedFields(e.parentSchema as JsonSchema)}`,
  pattern: (field, p, e) =>
    field === "releaseId"
      ? `releaseId must be ${ALPHABETS[String(p.pattern)]}; got ${quote(e.data)}`
      : `${field} ${quote(e.data)} must be ${ALPHABETS[String(p.pattern)]}`,
  enum: (field, p) => `${field} must be one of ${(p.allowedValues as string[]).join(", ")}`,
  allowList: (_, p, e) =>
    `pipeline ${quote(e.data)} is not on this machine's allow-list; allowed: ${allowedNames(p.allowedValues as string[])}`,
  minimum: (field, p) =>
    field === "releaseId"
      ? `${field} must be >= ${p.limit}; better, send it as a string such as "5.16"`
      : `${field} must be at least ${p.limit}`,
  maximum: (field, p) => `${field} must be at most ${p.limit}`,
  minItems: (field, p) => `${field} must list at least ${p.limit} item${p.limit === 1 ? "" : "s"}`,
  maxItems: (field, p) => `${field} may list at most ${p.limit} items; split the release`,
  minLength: (field) => `${field} must not be empty`,
  maxLength: (field, p) => `${field} must be at most ${p.limit} characters`,
  minProperties: (field) => `${field} must have at least one entry; leave it out if there are none`,
  maxProperties: (field, p) => `${field} may have at most ${p.limit} entries`,
};

function toProblem(error: ErrorObject): ManifestProblem {
  const params: Record<string, unknown> = error.params;
  const key = params.missingProperty ?? params.additionalProperty;
  const path = key === undefined ? error.instancePath : pointer(error.instancePath, String(key));
  const field = fieldOf(error.instancePath);
  const allowList = error.keyword === "enum" && field === "pipeline name";
  const rule = error.keyword === "anyOf" ? "type" : allowList ? "allowList" : error.keyword;
  const explain = EXPLAIN[allowList ? rule : error.keyword] ?? (() => `${field} ${error.message}`);
  return problem(path, rule, explain(field, params, error));
}

/** Path order, with item positions compared as numbers (/pipelines/2 before /pipelines/10). */
function byPath(a: ManifestProblem, b: ManifestProblem): number {
  const [x, y] = [a.path.split("/"), b.path.split("/")];
  const i = x.findIndex((segment, j) => segment !== y[j]);
  if (i < 0 || i >= y.length) return x.length - y.length;
  const numeric = /^\d+$/.test(x[i]) && /^\d+$/.test(y[i]);
  return numeric ? Number(x[i]) - Number(y[i]) : x[i] < y[i] ? -1 : 1;
}

/**
 * Problems that share a long fact state it once: the first allowList problem names the allowed
 * pipelines, each later one points to it (a 60-pipeline manifest's answer stays small).
 */
function allowListOnce(problems: ManifestProblem[]): ManifestProblem[] {
  const first = problems.find((p) => p.rule === "allowList");
  if (first === undefined) return problems;
  return problems.map((p) =>
    p.rule !== "allowList" || p === first
      ? p
      : { ...p, message: `${p.message.split("; allowed: ")[0]}; allowed: as listed at ${first.path}` },
  );
}

/** The first problems that fit PROBLEM_BUDGET, then how many more there are. */
function capped(problems: ManifestProblem[]): ManifestProblem[] {
  let room = PROBLEM_BUDGET;
  const kept = problems.filter((p) => (room -= p.path.length + p.message.length + 20) >= 0);
  return kept.length === problems.length ? kept : [...kept, problemsLeftOut(problems.length - kept.length)];
}
