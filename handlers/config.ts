/**
 * Handler settings, read once from the Lambda environment (the Pulumi program sets these; the
 * local runtime sets the same names). A missing or malformed value is a ConfigurationError that
 * says which variable to set.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { ConfigurationError } from "../contract/errors";
import { DEFAULT_MANIFEST_RULES, type ManifestRules, checkRuleLimits } from "../contract/manifest-schema";

export type Environment = Record<string, string | undefined>;

export interface TableNames {
  releases: string;
  executions: string;
  releasePipelines: string;
}

function required(env: Environment, name: string): string {
  const value = env[name];
  if (value === undefined || value.trim() === "") {
    throw new ConfigurationError(`environment variable ${name} is not set`);
  }
  return value.trim();
}

function positiveInteger(env: Environment, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw.trim() === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new ConfigurationError(`environment variable ${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}

/** How long a stop-and-wait may stay pending before the reconciler abandons it (the stack's stopGraceMinutes). */
export function stopGraceMinutesFromEnvironment(env: Environment = process.env): number {
  return positiveInteger(env, "STOP_GRACE_MINUTES", 15);
}

export function tableNamesFromEnvironment(env: Environment = process.env): TableNames {
  return {
    releases: required(env, "RELEASES_TABLE"),
    executions: required(env, "EXECUTIONS_TABLE"),
    releasePipelines: required(env, "RELEASE_PIPELINES_TABLE"),
  };
}

/**
 * The pipeline allow-list: on Lambda a JSON array in a file of the function's own code
 * (ALLOWED_PIPELINES_FILE, relative to LAMBDA_TASK_ROOT), because Lambda's 4 KB environment cannot
 * hold hundreds of names; locally ALLOWED_PIPELINES, a comma-separated list. Neither set means no
 * allow-list (local experiments only).
 * https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime
 */
function allowedPipelines(env: Environment): string[] | undefined {
  const file = env.ALLOWED_PIPELINES_FILE?.trim();
  if (file) {
    const where = path.resolve(env.LAMBDA_TASK_ROOT ?? process.cwd(), file);
    let parsed: unknown;
    try {
      parsed = JSON.parse(readFileSync(where, "utf8"));
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new ConfigurationError(`ALLOWED_PIPELINES_FILE ${where} cannot be read as JSON: ${reason}`);
    }
    if (!Array.isArray(parsed) || !parsed.every((name) => typeof name === "string" && name !== "")) {
      throw new ConfigurationError(
        `ALLOWED_PIPELINES_FILE ${where} must hold a JSON array of pipeline names`,
      );
    }
    return parsed;
  }
  return env.ALLOWED_PIPELINES?.split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
}

export function manifestRulesFromEnvironment(env: Environment = process.env): ManifestRules {
  const allowed = allowedPipelines(env);
  const rules = {
    ...(allowed && allowed.length > 0 ? { allowedPipelines: allowed } : {}),
    maxPipelines: positiveInteger(env, "MAX_PIPELINES", DEFAULT_MANIFEST_RULES.maxPipelines),
    maxBytes: positiveInteger(env, "MAX_MANIFEST_BYTES", DEFAULT_MANIFEST_RULES.maxBytes),
  };
  checkRuleLimits(rules);
  return rules;
}

/**
 * The control function's settings: the workflow a retry starts (STATE_MACHINE_ARN) and whether a
 * submitter may approve their own release (ALLOW_SELF_APPROVAL, "true" or "false").
 */
export function controlSettingsFromEnvironment(env: Environment = process.env): {
  stateMachineArn: string;
  allowSelfApproval: boolean;
} {
  const flag = (env.ALLOW_SELF_APPROVAL ?? "false").trim();
  if (flag !== "true" && flag !== "false") {
    throw new ConfigurationError(
      `environment variable ALLOW_SELF_APPROVAL must be "true" or "false", got "${flag}"`,
    );
  }
  return { stateMachineArn: required(env, "STATE_MACHINE_ARN"), allowSelfApproval: flag === "true" };
}
