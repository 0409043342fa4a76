/**
 * Each Lambda function's archive size, compressed: the Pulumi program is loaded under lenient
 * mocks of its own (every resource accepted, every output a plausible placeholder), and the code
 * of every `aws:lambda/function:Function` is sized as the deflated zip entries Lambda's
 * deployment-package limit counts: the code `pulumi up` would upload. Pulumi's mocks are global
 * to the process, so this runs last.
 */
import path from "node:path";
import * as pulumi from "@pulumi/pulumi";
import * as pulumiState from "@pulumi/pulumi/runtime/state";
import { archiveBytes } from "../infra/archive-size";

const ROOT = path.join(__dirname, "..");
const ACCOUNT = "123456789012";
const REGION = "us-east-1";
const MOCK_PIPELINES = [1, 2, 3, 4, 5].map((n) => `bench-pipeline-${n}`);

interface Archive {
  assets: Promise<Record<string, { text?: Promise<string> | string; path?: Promise<string> | string }>>;
}

/** Outputs a provider would compute, generic enough for every resource the program declares. */
function placeholders(type: string, name: string): Record<string, unknown> {
  const service = type.split(":")[1]?.split("/")[0] ?? "service";
  const arn = `arn:aws:${service}:${REGION}:${ACCOUNT}:${name}`;
  return {
    id: `${name}-id`,
    name: `${name}-name`,
    arn,
    bucket: `${name}-bucket`,
    url: `https://example.invalid/${name}`,
    invokeArn: `arn:aws:apigateway:${REGION}:lambda:path/2015-03-31/functions/${arn}/invocations`,
    invokeUrl: `https://example.invalid/${name}/stage`,
    executionArn: arn,
    rootResourceId: "root-id",
  };
}

/** The Lambda functions the program declared, with their code. */
let registered: { name: string; code: Archive }[] = [];

function mockProgram(): void {
  const functions: { name: string; code: Archive }[] = [];
  pulumi.runtime.setMocks(
    {
      newResource(args) {
        if (args.type === "aws:lambda/function:Function")
          functions.push({ name: args.name, code: args.inputs.code as Archive });
        return { id: `${args.name}-id`, state: { ...placeholders(args.type, args.name), ...args.inputs } };
      },
      call: () => ({
        accountId: ACCOUNT,
        arn: `arn:aws:iam::${ACCOUNT}:user/bench`,
        userId: "AIDBENCH",
        id: ACCOUNT,
        region: REGION,
        name: REGION,
        partition: "aws",
        dnsSuffix: "amazonaws.com",
      }),
    },
    "release-machine",
    "bench",
    false,
  );
  // The audit trail registers a transform, which the mock monitor otherwise refuses.
  (pulumiState as unknown as { getStore(): { supportsTransforms: boolean } }).getStore().supportsTransforms =
    true;
  pulumi.runtime.setAllConfig(
    {
      "release-machine:pipelines": JSON.stringify(MOCK_PIPELINES),
      "release-machine:deletionProtection": "false",
    },
    [],
  );
  registered = functions;
}

export async function lambdaArchiveBytes(): Promise<Record<string, number>> {
  mockProgram();
  const program = await import("../index");
  await new Promise((resolve) => program.curlExample.apply(resolve));
  // Resources register over several turns; wait until their count stops changing.
  let count = -1;
  while (count !== registered.length) {
    count = registered.length;
    await new Promise((resolve) => setTimeout(resolve, 300));
  }
  const sizes: Record<string, number> = {};
  // Functions are named `<component>-<handler>`; the report keys them by handler.
  for (const fn of registered)
    sizes[fn.name.replace(/^release-machine-/, "")] = await archiveBytes(fn.code, ROOT);
  return sizes;
}
