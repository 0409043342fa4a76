/**
 * The pack as `pulumi preview --policy-pack policy` runs it: started from its own folder by
 * @pulumi/pulumi's run-policy-pack (ts-node, type-checked, modules resolved from the root
 * node_modules), spoken to over the engine's Analyzer gRPC protocol. Proves what the in-process
 * harness cannot: that policy/index.ts, PulumiPolicy.yaml, package.json and tsconfig.json make a
 * pack that starts, and that the real analyzer reports violations as mandatory and preview-time
 * unknowns as advisory "can't run during preview" diagnostics, as policy-harness.ts models.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { createRequire } from "node:module";
import path from "node:path";
import * as analyzer from "@pulumi/pulumi/proto/analyzer_pb";
import * as service from "@pulumi/pulumi/proto/analyzer_grpc_pb";
import { policies } from "../policy/policies";
import { UNKNOWN, urnOf } from "./policy-harness";

// The gRPC and protobuf runtimes the generated analyzer code itself uses (dependencies of
// @pulumi/pulumi, not of this project), loaded from there so the message classes match.
const fromProto = createRequire(require.resolve("@pulumi/pulumi/proto/analyzer_pb"));
const grpc = fromProto("@grpc/grpc-js") as typeof import("@grpc/grpc-js");
const { Struct } = fromProto(
  "google-protobuf/google/protobuf/struct_pb",
) as typeof import("google-protobuf/google/protobuf/struct_pb");
const { Empty } = fromProto(
  "google-protobuf/google/protobuf/empty_pb",
) as typeof import("google-protobuf/google/protobuf/empty_pb");

const ROOT = path.resolve(__dirname, "..");
type Props = Parameters<typeof Struct.fromJavaScript>[0];

function options(): analyzer.AnalyzerResourceOptions {
  const opts = new analyzer.AnalyzerResourceOptions();
  opts.setProtect(false);
  return opts;
}

/** A resource's type, name, URN, properties and options, as the engine fills a request or a stack resource. */
function described<T extends analyzer.AnalyzeRequest | analyzer.AnalyzerResource>(
  message: T,
  type: string,
  name: string,
  props: Props,
): T {
  message.setType(type);
  message.setName(name);
  message.setUrn(urnOf(type, name));
  message.setProperties(Struct.fromJavaScript(props));
  message.setOptions(options());
  return message;
}

function analyzeRequest(type: string, name: string, props: Props): analyzer.AnalyzeRequest {
  return described(new analyzer.AnalyzeRequest(), type, name, props);
}

function stackResource(type: string, name: string, props: Props, dependsOn: Record<string, string[]> = {}) {
  const resource = described(new analyzer.AnalyzerResource(), type, name, props);
  for (const [property, urns] of Object.entries(dependsOn)) {
    const dependencies = new analyzer.AnalyzerPropertyDependencies();
    dependencies.setUrnsList(urns);
    resource.getPropertydependenciesMap().set(property, dependencies);
  }
  return resource;
}

/** Diagnostics as [policy, "mandatory" | "advisory", last line of the message]. */
function diagnostics(response: analyzer.AnalyzeResponse): [string, string, string][] {
  return response
    .getDiagnosticsList()
    .map((d) => [
      d.getPolicyname(),
      d.getEnforcementlevel() === analyzer.EnforcementLevel.MANDATORY ? "mandatory" : "advisory",
      d.getMessage().split("\n").pop() ?? "",
    ]);
}

const rolePolicy = (action: string, resource: string) =>
  JSON.stringify({
    Version: "2012-10-17",
    Statement: [{ Sid: "Grant", Effect: "Allow", Action: [action], Resource: [resource] }],
  });

describe("the policy pack served as the Pulumi CLI runs it", function () {
  this.timeout(40000);
  let pack: ChildProcess;
  let client: service.AnalyzerClient;

  const call = <Req, Res>(
    method: (req: Req, callback: (e: Error | null, res: Res) => void) => unknown,
    req: Req,
  ) =>
    new Promise<Res>((resolve, reject) =>
      method.call(client, req, (error: Error | null, response: Res) =>
        error ? reject(error) : resolve(response),
      ),
    );
  const analyze = (request: analyzer.AnalyzeRequest) =>
    call<analyzer.AnalyzeRequest, analyzer.AnalyzeResponse>(client.analyze, request);
  const analyzeStack = (resources: analyzer.AnalyzerResource[]) => {
    const request = new analyzer.AnalyzeStackRequest();
    request.setResourcesList(resources);
    return call<analyzer.AnalyzeStackRequest, analyzer.AnalyzeResponse>(client.analyzeStack, request);
  };

  before(async () => {
    // The engine address is only used for logging; the pack prints the port it serves on.
    pack = spawn(
      process.execPath,
      [path.join(ROOT, "node_modules/@pulumi/pulumi/cmd/run-policy-pack/index.js"), "127.0.0.1:1", "."],
      { cwd: path.join(ROOT, "policy"), stdio: ["ignore", "pipe", "pipe"] },
    );
    let errors = "";
    pack.stderr?.on("data", (chunk) => (errors += String(chunk)));
    const port = await new Promise<string>((resolve, reject) => {
      let out = "";
      pack.stdout?.on("data", (chunk) => {
        out += String(chunk);
        const port = /^(\d+)$/m.exec(out);
        if (port) resolve(port[1]);
      });
      pack.once("exit", (code) =>
        reject(new Error(`the policy pack exited (${code}) before serving:\n${errors}`)),
      );
    });
    client = new service.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });

  after(() => {
    client?.close();
    pack?.kill();
  });

  it("serves every policy of policies.ts under the pack's name, each mandatory", async () => {
    const info = await call<InstanceType<typeof Empty>, analyzer.AnalyzerInfo>(
      client.getAnalyzerInfo,
      new Empty(),
    );
    assert.equal(info.getName(), "release-machine-security");
    assert.deepEqual(
      info
        .getPoliciesList()
        .map((p) => [p.getName(), p.getEnforcementlevel() === analyzer.EnforcementLevel.MANDATORY]),
      policies.map((p) => [p.name, true]),
    );
  });

  it("passes a least-privilege role policy and rejects a wildcard one as mandatory", async () => {
    const good = await analyze(
      analyzeRequest("aws:iam/rolePolicy:RolePolicy", "fn-policy", {
        role: "r",
        policy: rolePolicy("states:SendTaskSuccess", "*"),
      }),
    );
    assert.deepEqual(diagnostics(good), []);
    const bad = await analyze(
      analyzeRequest("aws:iam/rolePolicy:RolePolicy", "fn-policy", {
        role: "r",
        policy: rolePolicy("s3:*", "arn:aws:s3:::b/*"),
      }),
    );
    assert.deepEqual(diagnostics(bad), [
      [
        "iam-no-wildcard-actions",
        "mandatory",
        'role policy "fn-policy" (policy), statement "Grant" allows "s3:*", every action of s3 (IAM.21). List the exact s3 actions this principal calls.',
      ],
    ]);
  });

  it("reports a document unknown at preview as advisory 'can't run during preview', never as a pass", async () => {
    const response = await analyze(
      analyzeRequest("aws:iam/rolePolicy:RolePolicy", "fn-policy", { role: "r", policy: UNKNOWN }),
    );
    const found = diagnostics(response);
    assert.deepEqual(
      found.map(([policy, level]) => [policy, level]),
      policies
        .filter((p) => p.name.startsWith("iam-") && !/managed|trust/.test(p.name))
        .map((p) => [p.name, "advisory"]),
    );
    assert.match(
      found[0][2],
      /can't run policy 'iam-no-wildcard-actions' .* during preview: string value at \.policy/,
    );
  });

  it("joins a bucket and its public access block by property dependency at preview", async () => {
    const bucket = "aws:s3/bucket:Bucket";
    const block = "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock";
    const response = await analyzeStack([
      stackResource(bucket, "releases", { bucket: UNKNOWN, arn: UNKNOWN }),
      stackResource(
        block,
        "releases-public-access",
        {
          bucket: UNKNOWN,
          blockPublicAcls: true,
          blockPublicPolicy: false,
          ignorePublicAcls: true,
          restrictPublicBuckets: true,
        },
        { bucket: [urnOf(bucket, "releases")] },
      ),
    ]);
    const publicAccess = diagnostics(response).filter(
      ([policy]) => policy === "s3-bucket-public-access-blocked",
    );
    assert.deepEqual(
      publicAccess.map(([, level, message]) => [level, message.split(".")[0]]),
      [
        [
          "mandatory",
          'bucket public access block "releases-public-access" leaves blockPublicPolicy not true',
        ],
      ],
    );
  });
});
