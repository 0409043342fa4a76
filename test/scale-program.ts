/**
 * Run in its own process by test/scale.test.ts (a program registers once per process): loads the
 * program under the strict mocks with the allow-list given as argv[2] (JSON), and writes to argv[3]
 * what AWS's size limits apply to: every event pattern, every role's trust, inline and managed
 * policies, every function's environment, and the allow-list file the archives carry.
 */
import { readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import { policies } from "../policy/policies";
import { runPolicies } from "./policy-harness";
import { loadProgram, ofType, recorded } from "./pulumi-mocks";

export interface ScaleMeasurements {
  eventPatterns: { rule: string; pattern: string }[];
  roles: {
    role: string;
    trust: string;
    inline: string[];
    managed: string[];
  }[];
  environments: { fn: string; variables: Record<string, string> }[];
  allowListFiles: { fn: string; names: string[] }[];
  resourceCount: number;
  /** awsx Trail components (auditTrail is off in this stack). */
  trails: number;
  /** The policy pack's violations over the whole stack, as `policy: message`. */
  policyViolations: string[];
}

async function main(): Promise<void> {
  const [pipelines, out] = process.argv.slice(2);
  pulumi.runtime.setAllConfig(
    {
      "release-machine:pipelines": pipelines,
      "release-machine:deletionProtection": "false",
      "release-machine:auditTrail": "false",
    },
    [],
  );
  await loadProgram();
  const policyOfArn = new Map(
    ofType("aws:iam/policy:Policy").map((p) => [String(p.state.arn), String(p.inputs.policy)]),
  );
  const measurements: ScaleMeasurements = {
    eventPatterns: ofType("aws:cloudwatch/eventRule:EventRule")
      .filter((r) => r.inputs.eventPattern !== undefined)
      .map((r) => ({ rule: r.name, pattern: String(r.inputs.eventPattern) })),
    roles: ofType("aws:iam/role:Role").map((role) => ({
      role: role.name,
      trust: String(role.inputs.assumeRolePolicy),
      inline: ofType("aws:iam/rolePolicy:RolePolicy")
        .filter((p) => p.inputs.role === `${role.name}-id`)
        .map((p) => String(p.inputs.policy)),
      managed: ofType("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
        .filter((a) => a.inputs.role === role.state.name)
        .map(
          (a) =>
            policyOfArn.get(String(a.inputs.policyArn)) ?? `unknown policy ${String(a.inputs.policyArn)}`,
        ),
    })),
    environments: ofType("aws:lambda/function:Function").map((f) => ({
      fn: f.name,
      variables: (f.inputs.environment as { variables: Record<string, string> }).variables,
    })),
    allowListFiles: await Promise.all(
      ofType("aws:lambda/function:Function").map(async (f) => {
        const file = (f.inputs.environment as { variables: Record<string, string> }).variables
          .ALLOWED_PIPELINES_FILE;
        const assets = await (
          f.inputs.code as { assets: Promise<Record<string, { path: Promise<string> | string }>> }
        ).assets;
        const onDisk = path.resolve(__dirname, "..", String(await assets[file].path));
        return { fn: f.name, names: JSON.parse(readFileSync(onDisk, "utf8")) as string[] };
      }),
    ),
    resourceCount: recorded.length,
    trails: ofType("awsx:cloudtrail:Trail").length,
    policyViolations: (
      await runPolicies(
        policies,
        recorded.map((r) => {
          const props = JSON.parse(JSON.stringify(r.state)) as Record<string, unknown>;
          return {
            type: r.type,
            name: r.name,
            props: { ...props, id: typeof props.id === "string" ? props.id : `${r.name}-id` },
          };
        }),
      )
    ).violations.map((v) => `${v.policy}: ${v.message}`),
  };
  writeFileSync(out, JSON.stringify(measurements));
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    process.stderr.write(`${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(1);
  },
);
