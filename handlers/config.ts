/**
 * Handler settings, read once from the Lambda environment (the Pulumi program sets these; the
 * local runtime sets the same names). A missing or malformed value is a ConfigurationError that
 * says which variable to set.
 */
import { ConfigurationError } from "./errors";
import { DEFAULT_MANIFEST_RULES, type ManifestRules, checkRuleLimits } from "./manifest";

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

export function tableNamesFromEnvironment(env: Environment = process.env): TableNames {
  return {
    releases: required(env, "RELEASES_TABLE"),
    executions: required(env, "EXECUTIONS_TABLE"),
    releasePipelines: required(env, "RELEASE_PIPELINES_TABLE"),
  };
}

/** ALLOWED_PIPELINES is a comma-separated list; unset means no allow-list (local experiments only). */
export function manifestRulesFromEnvironment(env: Environment = process.env): ManifestRules {
  const allowed = env.ALLOWED_PIPELINES?.split(",")
    .map((name) => name.trim())
    .filter((name) => name !== "");
  const rules = {
    ...(allowed && allowed.length > 0 ? { allowedPipelines: allowed } : {}),
    maxPipelines: positiveInteger(env, "MAX_PIPELINES", DEFAULT_MANIFEST_RULES.maxPipelines),
    maxBytes: positiveInteger(env, "MAX_MANIFEST_BYTES", DEFAULT_MANIFEST_RULES.maxBytes),
  };
  checkRuleLimits(rules);
  return rules;
}
