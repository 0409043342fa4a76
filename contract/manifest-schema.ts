/**
 * The release manifest's rules and its one JSON Schema (API Gateway's request model, the
 * ValidateManifest handler and the local API all use it): the configurable limits and the largest
 * any configuration may choose, the identifier alphabets, and the approval gate's bounds. The
 * parser that applies them is contract/manifest.ts.
 * Pulumi serializes this code into the Lambda archives: module-level values stay plain strings,
 * arrays and objects (a Set's or Map's contents are not carried).
 */
import { ConfigurationError } from "./errors";
import { MAX_CONFIGURED_TIMEOUT_HOURS } from "./execution-limits";

export interface ManifestRules {
  /** Pipelines this machine may release; unset means any well-formed name. */
  allowedPipelines?: readonly string[];
  maxPipelines: number;
  /** Largest manifest in UTF-8 bytes. */
  maxBytes: number;
}

export const DEFAULT_MANIFEST_RULES = { maxPipelines: 50, maxBytes: 65536 } as const;

/**
 * The largest settings any configuration may choose, so that no accepted manifest can take the
 * workflow past a Step Functions quota (docs/aws-facts.md, "Step Functions"): state data is at
 * most 256 KiB, and a manifest's text is carried as a JSON string, in which valid JSON text at
 * most doubles (each '"' and '\\' gains a backslash). 100 KiB doubled leaves 56 KiB for the rest:
 * RecordRejected carries the whole execution input beside the refusal's Cause, whose message
 * contract/rejection.ts keeps within 28,000 characters (test/quotas.test.ts runs the largest).
 */
export const MANIFEST_RULE_LIMITS = { maxPipelines: 500, maxBytes: 100 * 1024 } as const;

/** State data the manifest text may take as a JSON string (256 KiB less room for the rest). */
export const STATE_TEXT_BUDGET = 256 * 1024 - 16 * 1024;

/**
 * State data ValidateManifest's result (the plan, its source and submitter) may take as JSON: 256
 * KiB less room for what RegisterRelease's parameters and a caught error add. The plan keeps the
 * manifest's own compact form, so a manifest within MANIFEST_RULE_LIMITS stays far below it;
 * anything larger is refused as InvalidManifest (rule `stateSize`) before anything starts.
 */
export const STATE_PLAN_BUDGET = 256 * 1024 - 16 * 1024;

/** A canonical releaseId; its alphabet lies inside Step Functions' execution-name alphabet. */
export const RELEASE_ID_PATTERN = "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$";
/** CodePipeline's pipeline (and action) name. */
export const PIPELINE_NAME_PATTERN = "^[A-Za-z0-9.@_-]{1,100}$";

/**
 * What a failed pipeline means for the rest of its release: `stopRemaining` starts nothing more and
 * stops the running pipelines, `letFinish` starts nothing that depends on the failure and lets the
 * others run. A manifest may choose one (`failurePolicy`); otherwise the stack's setting applies.
 */
export const FAILURE_POLICIES = ["stopRemaining", "letFinish"] as const;

/** How long a gate waits for a decision unless the manifest says otherwise. */
export const DEFAULT_APPROVAL_TIMEOUT_HOURS = 72;
/** A gate waits less than a STANDARD execution lives, so the release's backstop fires first (contract/execution-limits.ts). */
export const MAX_APPROVAL_TIMEOUT_HOURS = MAX_CONFIGURED_TIMEOUT_HOURS;
/** An approver: an IAM ARN or ARN pattern (or a local user name), no spaces. */
export const APPROVER_PATTERN = "^[A-Za-z0-9:/_+=,.@*-]{1,2048}$";
export const VARIABLE_NAME_PATTERN = "^[A-Za-z0-9@_-]{1,128}$"; // CodePipeline's pipeline-variable name
/** Each identifier pattern in words, for the messages that name it. */
export const ALPHABETS: Record<string, string> = {
  [RELEASE_ID_PATTERN]:
    "1-64 characters of only letters A-Z a-z, digits, '.', '_' and '-', starting with a letter or digit",
  [PIPELINE_NAME_PATTERN]: "1-100 characters of only letters A-Z a-z, digits, '.', '@', '_' and '-'",
  [VARIABLE_NAME_PATTERN]: "1-128 characters of only letters A-Z a-z, digits, '@', '_' and '-'",
  [APPROVER_PATTERN]: "an IAM ARN or ARN pattern: 1-2048 characters, no spaces, '*' as wildcard",
};

type JsonType = "object" | "array" | "string" | "number" | "integer" | "boolean" | "null";
type Limit =
  "maximum" | "minLength" | "maxLength" | "minItems" | "maxItems" | "minProperties" | "maxProperties";
/** Draft-04 keywords only: API Gateway reads models as draft 4, and the handlers validate with a draft-4 engine. */
export interface JsonSchema
  extends
    Partial<Record<"title" | "description" | "pattern", string>>,
    Partial<Record<Limit | "minimum", number>> {
  type?: JsonType | JsonType[];
  properties?: Record<string, JsonSchema>;
  patternProperties?: Record<string, JsonSchema>;
  required?: string[];
  additionalProperties?: boolean;
  items?: JsonSchema;
  uniqueItems?: boolean;
  anyOf?: JsonSchema[];
  enum?: string[];
}

/**
 * The manifest schema. A pipeline item is anyOf [name, object]: the parser's schemaProblems
 * (contract/manifest.ts) relies on that order.
 */
export function manifestSchema(rules: ManifestRules): JsonSchema {
  if (rules.allowedPipelines?.length === 0) {
    throw new ConfigurationError(
      "the pipeline allow-list is empty: list at least one pipeline, or leave it unset",
    );
  }
  const allowList = rules.allowedPipelines && { enum: [...new Set(rules.allowedPipelines)] };
  const name: JsonSchema = { type: "string", pattern: PIPELINE_NAME_PATTERN, ...allowList };
  const text = (maxLength: number): JsonSchema => ({ type: "string", minLength: 1, maxLength });
  const object = (properties: Record<string, JsonSchema>, required: string[]): JsonSchema => {
    return { type: "object", required, additionalProperties: false, properties };
  };
  const revision = object(
    {
      actionName: { type: "string", pattern: PIPELINE_NAME_PATTERN },
      revisionType: {
        type: "string",
        enum: ["COMMIT_ID", "IMAGE_DIGEST", "S3_OBJECT_VERSION_ID", "S3_OBJECT_KEY"],
      },
      revisionValue: text(1500),
    },
    ["actionName", "revisionType", "revisionValue"],
  );
  const pipeline = object(
    {
      name,
      variables: {
        type: "object",
        minProperties: 1,
        maxProperties: 50,
        additionalProperties: false,
        patternProperties: { [VARIABLE_NAME_PATTERN]: text(1000) },
      },
      sourceRevisions: { type: "array", minItems: 1, maxItems: 50, items: revision },
      // Names of other pipelines of this manifest; which ones exist, repeats and cycles are
      // checked in code (graphProblems), since JSON Schema cannot refer to sibling values.
      dependsOn: {
        type: "array",
        maxItems: rules.maxPipelines,
        items: { type: "string", pattern: PIPELINE_NAME_PATTERN },
      },
      // An approval gate: `true`, or the gate's own timeout and (on AWS) who may decide.
      approval: {
        type: ["boolean", "object"],
        additionalProperties: false,
        properties: {
          timeoutHours: { type: "integer", minimum: 1, maximum: MAX_APPROVAL_TIMEOUT_HOURS },
          approvers: {
            type: "array",
            minItems: 1,
            maxItems: 20,
            items: { type: "string", pattern: APPROVER_PATTERN },
          },
        },
      },
    },
    ["name"],
  );
  const manifest = object(
    {
      // pattern applies to a string releaseId, minimum to a number (whose JSON text is checked in code).
      releaseId: { type: ["string", "number"], pattern: RELEASE_ID_PATTERN, minimum: 0 },
      pipelines: {
        type: "array",
        minItems: 1,
        maxItems: rules.maxPipelines,
        uniqueItems: true,
        items: { anyOf: [name, pipeline] },
      },
      // This release's failure policy; left out, the stack's setting (failurePolicy) applies.
      failurePolicy: { type: "string", enum: [...FAILURE_POLICIES] },
    },
    ["releaseId", "pipelines"],
  );
  return {
    title: "ReleaseManifest",
    description: "The pipelines to run together as one release.",
    ...manifest,
  };
}

/** Settings beyond MANIFEST_RULE_LIMITS are a configuration error that says what to set. */
export function checkRuleLimits(rules: Pick<ManifestRules, "maxPipelines" | "maxBytes">): void {
  for (const key of ["maxPipelines", "maxBytes"] as const) {
    const value = rules[key];
    if (!Number.isInteger(value) || value < 1 || value > MANIFEST_RULE_LIMITS[key]) {
      throw new ConfigurationError(
        `${key} must be an integer from 1 to ${MANIFEST_RULE_LIMITS[key]} (Step Functions' state quotas), got ${value}`,
      );
    }
  }
}

/**
 * API operations whose body the function behind them checks with the manifest schema and rules:
 * the submission function (`POST /releases`, `POST /`). API Gateway's request validator would
 * refuse a bad body with its own 400, without the problems and without recording the rejection,
 * and the two doors would disagree again; so these methods name no model, and the policy pack's
 * request-validation rule admits exactly these operation names (policy/apigateway-request-validation.ts).
 */
// AddFreeze and OverrideFreeze: `POST /freezes` and `POST /releases/{releaseId}/override-freeze`, whose function checks the body itself (an RRULE, a time zone and
// the window's order are past a JSON schema) and names every problem (handlers/freezes.ts).
export const SELF_VALIDATED_OPERATIONS: readonly string[] = ["SubmitRelease", "AddFreeze", "OverrideFreeze"];
