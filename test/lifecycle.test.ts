/**
 * The lifecycle's declarations (contract/lifecycle.ts) checked as a graph, their rendering checked
 * against DynamoDB's expression rules, docs/architecture.md checked against their table, and the
 * source tree checked for status writes that bypass them.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";
import type { AnyChange } from "../contract/lifecycle-declaration";
import {
  PIPELINE_CHANGES,
  RELEASE_CHANGES,
  RELEASE_STATUSES,
  RELEASE_TERMINAL_STATUSES,
  SCHEDULE_STATUSES,
  SETTLED_STATUSES,
} from "../contract/lifecycle";
import {
  ABSENT,
  type LifecycleEdge,
  changeExpression,
  lifecycleEdges,
  lifecycleTable,
  updateInput,
} from "../contract/lifecycle-expression";

import { statusShardOf } from "../contract/tables";
import { RELEASE_STATE_DETAIL_FIELDS, type ReleaseStateDetail } from "../contract/release-events";
import { PLACEHOLDER_REFS, releaseWorkflow } from "../stepfunction/release-workflow";
import { ROOT, sourceFiles } from "./source-files";

/** The statuses reachable from an item's creation. */
function reachable(edges: LifecycleEdge[]): Set<string> {
  const seen = new Set([ABSENT]);
  for (let grew = true; grew;) {
    grew = false;
    for (const edge of edges) {
      if (seen.has(edge.from) && !seen.has(edge.to)) {
        seen.add(edge.to);
        grew = true;
      }
    }
  }
  seen.delete(ABSENT);
  return seen;
}

/** The moves out of the given statuses to another status, as `change: from -> to`. */
function leaving(edges: LifecycleEdge[], statuses: readonly string[]): string[] {
  return edges
    .filter((e) => statuses.includes(e.from) && e.to !== e.from)
    .map((e) => `${e.change}: ${e.from} -> ${e.to}`)
    .sort();
}

function declared(changes: Record<string, AnyChange>, key: "release" | "pipeline") {
  return Object.entries(changes).map(([name, change]) => ({ name, change, key }));
}

describe("the release lifecycle's declarations", () => {
  const releaseEdges = lifecycleEdges(RELEASE_CHANGES);
  const pipelineEdges = lifecycleEdges(PIPELINE_CHANGES);

  it("reach every release status from a new release", () => {
    assert.deepEqual([...reachable(releaseEdges)].sort(), [...RELEASE_STATUSES].sort());
  });

  it("reach every pipeline status from a new schedule item", () => {
    assert.deepEqual([...reachable(pipelineEdges)].sort(), [...SCHEDULE_STATUSES].sort());
  });

  it("leave a terminal release status only by a retry (FAILED, CANCELLED), its failure (to FAILED) or a new submission (after a rejection or a registration that failed for good)", () => {
    assert.deepEqual(leaving(releaseEdges, RELEASE_TERMINAL_STATUSES), [
      "failRetry: CANCELLED -> FAILED",
      "register: REJECTED -> RUNNING",
      "reregister: FAILED -> RUNNING",
      "retry: CANCELLED -> RUNNING",
      "retry: FAILED -> RUNNING",
    ]);
  });

  it("leave a settled pipeline status only by the retry's reset or a resumed execution, and never a Succeeded one", () => {
    const unsucceeded = SETTLED_STATUSES.filter((s) => s !== "Succeeded");
    assert.deepEqual(
      leaving(pipelineEdges, SETTLED_STATUSES),
      [
        ...unsucceeded.map((s) => `resetForRetry: ${s} -> Pending`),
        "resume: Failed -> Started",
        "resume: Stopped -> Started",
      ].sort(),
    );
  });

  it("start a release RUNNING or REJECTED, and a pipeline Pending", () => {
    const starts = (edges: LifecycleEdge[]) =>
      [...new Set(edges.filter((e) => e.from === ABSENT).map((e) => e.to))].sort();
    assert.deepEqual(starts(releaseEdges), ["REJECTED", "RUNNING"]);
    assert.deepEqual(starts(pipelineEdges), ["Pending"]);
  });

  it("name every attribute and value their expressions use, whatever fields a call leaves out", () => {
    const all = [...declared(RELEASE_CHANGES, "release"), ...declared(PIPELINE_CHANGES, "pipeline")];
    for (const { name, change, key } of all) {
      for (const fields of [Object.keys(change.fields ?? {}), []]) {
        const to = change.to?.[0];
        const rendered = changeExpression(change, key, { fields, ...(to ? { to } : {}) });
        const text = `${rendered.UpdateExpression ?? ""} ${rendered.ConditionExpression ?? ""}`;
        for (const [, attribute] of text.matchAll(/#(\w+)/g))
          assert.equal(
            rendered.ExpressionAttributeNames?.[`#${attribute}`],
            attribute,
            `${name}: #${attribute}`,
          );
        for (const [placeholder] of text.matchAll(/:\w+/g))
          assert.ok(rendered.placeholders[placeholder], `${name}: ${placeholder} has a source`);
        for (const placeholder of Object.keys(rendered.placeholders))
          assert.ok(text.includes(placeholder), `${name}: ${placeholder} is used`);
      }
    }
  });

  it("renders a claim's record as the claimant's conditional write", () => {
    assert.deepEqual(
      updateInput(PIPELINE_CHANGES.recordStart, "pipeline", {
        fields: { pipelineExecutionId: "e-1", startedAt: "2026-01-01T00:00:00.000Z", attempt: 2 },
        where: { claim: "c-1" },
      }),
      {
        UpdateExpression:
          "SET #status = :to, #pipelineExecutionId = :pipelineExecutionId, #startedAt = :startedAt, #attempt = :attempt REMOVE #startingSince",
        ConditionExpression: "#status = :from AND #claimedBy = :claim",
        ExpressionAttributeNames: {
          "#status": "status",
          "#startingSince": "startingSince",
          "#pipelineExecutionId": "pipelineExecutionId",
          "#startedAt": "startedAt",
          "#attempt": "attempt",
          "#claimedBy": "claimedBy",
        },
        ExpressionAttributeValues: {
          ":to": "Started",
          ":pipelineExecutionId": "e-1",
          ":startedAt": "2026-01-01T00:00:00.000Z",
          ":attempt": 2,
          ":from": "Starting",
          ":claim": "c-1",
        },
      },
    );
  });

  it("renders a registration that admits a new releaseId, a rejected one, or the same execution again while its schedule is pending", () => {
    const input = updateInput(
      RELEASE_CHANGES.register,
      "release",
      {
        fields: {
          executionArn: "arn:x",
          startedAt: "t",
          source: "api",
          attempt: 1,
          failurePolicy: "letFinish",
          pipelineCount: 2,
          pipelineTimeoutSeconds: 60,
          submittedBy: "me",
          listed: "release",
          schedulePending: "arn:x",
        },
      },
      "r-1",
    );
    assert.equal(
      input.ConditionExpression,
      "(attribute_not_exists(#releaseId) OR #status = :from) OR (#executionArn = :executionArn AND attribute_exists(#schedulePending))",
    );
    assert.equal(input.ExpressionAttributeValues?.[":from"], "REJECTED");
    assert.equal(input.ExpressionAttributeValues?.[":to"], "RUNNING");
    // The status is written with its byStatus partition, the releaseId's shard.
    assert.equal(input.ExpressionAttributeValues?.[":statusShard"], statusShardOf("r-1", "RUNNING"));
    assert.match(input.UpdateExpression, /#status = :to, #statusShard = :statusShard/);
    assert.match(input.UpdateExpression, / REMOVE #errorName, #cause, #problems, #endedAt$/);
  });

  it("renders a registration again only over a FAILED release whose schedule is pending, from the execution read, resetting its counts and failure", () => {
    const input = updateInput(
      RELEASE_CHANGES.reregister,
      "release",
      {
        fields: {
          executionArn: "arn:new",
          startedAt: "t",
          source: "api",
          attempt: 1,
          failurePolicy: "letFinish",
          pipelineCount: 2,
          pipelineTimeoutSeconds: 60,
          submittedBy: "me",
          listed: "release",
          schedulePending: "arn:new",
          settledCount: 0,
          replaces: "arn:failed",
        },
      },
      "r-1",
    );
    assert.equal(
      input.ConditionExpression,
      "#status = :from AND attribute_exists(#schedulePending) AND #executionArn = :replaces",
    );
    assert.equal(input.ExpressionAttributeValues?.[":from"], "FAILED");
    assert.equal(input.ExpressionAttributeValues?.[":replaces"], "arn:failed");
    assert.equal(input.ExpressionAttributeValues?.[":settledCount"], 0);
    assert.match(input.UpdateExpression, /#settledCount = :settledCount/);
    for (const removed of ["outcome", "firstFailure", "halted", "uploadedBy", "earlierAttempts", "cause"])
      assert.match(input.UpdateExpression, new RegExp(`REMOVE .*#${removed}\\b`));
  });

  it("removes an optional set-or-remove field the call leaves out, and narrows the condition to the status read", () => {
    const input = updateInput(PIPELINE_CHANGES.resetForRetry, "pipeline", {
      fields: { resetForAttempt: 3, earlierAttempts: [] },
    });
    assert.match(input.UpdateExpression, /REMOVE .*#depsSucceeded$/);
    assert.match(input.ConditionExpression ?? "", /^#status IN \(:from0, .*\) AND \(attribute_not_exists/);
    const skip = updateInput(PIPELINE_CHANGES.skip, "pipeline", {
      fields: { endedAt: "t" },
      from: "AwaitingApproval",
    });
    assert.equal(skip.ConditionExpression, "#status = :from");
    assert.equal(skip.ExpressionAttributeValues?.[":from"], "AwaitingApproval");
    // The call's type requires the end for recordEnd; the renderer refuses to guess one too.
    assert.throws(
      () => changeExpression(PIPELINE_CHANGES.recordEnd, "pipeline", { fields: ["endedAt"] }),
      /needs one of Succeeded, Failed/,
    );
    assert.throws(
      () => changeExpression(PIPELINE_CHANGES.skip, "pipeline", { fields: ["endedAt"], from: "Started" }),
      /Started is not a status it leaves/,
    );
  });
});

describe("docs/architecture.md", () => {
  it("shows the lifecycle exactly as the declarations render it", () => {
    const doc = readFileSync(path.join(ROOT, "docs", "architecture.md"), "utf8");
    assert.ok(
      doc.includes(`\n${lifecycleTable()}\n`),
      "the Lifecycle table is stale: paste lifecycleTable()",
    );
  });
});

/** The lifecycle module: the only writers of a release's or a pipeline's status. */
const LIFECYCLE = [
  "contract/lifecycle.ts",
  "contract/lifecycle-expression.ts",
  "handlers/lifecycle-store.ts",
];
/** The Executions table's status is CodePipeline's, recorded per event, not the release lifecycle's. */
const EXECUTIONS = "handlers/executions.ts";
/** The benchmark's polling baseline is another machine, with its own tables, measured for comparison. */
const BASELINE = ["bench/baseline-handlers.ts", "bench/baseline-workflow.ts"];

const READ_EXPRESSIONS = ["ConditionExpression", "FilterExpression", "KeyConditionExpression"];

/** The name of the property a node is the value of (directly, or inside a template), if any. */
function propertyOf(node: ts.Node): string | undefined {
  let at: ts.Node = node;
  while (
    ts.isTemplateSpan(at.parent) ||
    ts.isTemplateExpression(at.parent) ||
    ts.isParenthesizedExpression(at.parent)
  )
    at = at.parent;
  return ts.isPropertyAssignment(at.parent) && at.parent.initializer === at
    ? at.parent.name.getText()
    : undefined;
}

/**
 * Where a source writes a `status` attribute: an update expression assigning it (`status = `,
 * `#status = `, or any alias the same command names "status"), a string that assigns it outside a
 * condition, or an `Item` whose literal has a status.
 */
export function statusWrites(file: string, text: string): string[] {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
  const found: string[] = [];
  const where = (node: ts.Node) =>
    `${file}:${source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1}`;
  const visit = (node: ts.Node): void => {
    if (ts.isStringLiteralLike(node) || ts.isTemplateExpression(node)) {
      const literal = node.getText(source);
      const property = propertyOf(node);
      if (
        !READ_EXPRESSIONS.includes(property ?? "") &&
        /(^|[\s,`"'(])#?status\s*=\s*(:|if_not_exists)/.test(literal)
      )
        found.push(`${where(node)} assigns status`);
    }
    if (ts.isObjectLiteralExpression(node)) {
      const props = new Map(
        node.properties.filter(ts.isPropertyAssignment).map((p) => [p.name.getText(source), p.initializer]),
      );
      const names = props.get("ExpressionAttributeNames");
      const update = props.get("UpdateExpression")?.getText(source);
      if (update && names && ts.isObjectLiteralExpression(names)) {
        for (const p of names.properties.filter(ts.isPropertyAssignment)) {
          const alias = p.name.getText(source).replace(/^["']|["']$/g, "");
          const assigned = new RegExp(`${alias}\\s*=`).test(update);
          if (ts.isStringLiteralLike(p.initializer) && p.initializer.text === "status" && assigned)
            found.push(`${where(p)} updates status through ${alias}`);
        }
      }
      const item = props.get("Item");
      if (item && ts.isObjectLiteralExpression(item)) {
        if (item.properties.some((p) => p.name?.getText(source).replace(/["']/g, "") === "status"))
          found.push(`${where(item)} puts an item with a status`);
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe("status writes", () => {
  it("come only from the lifecycle module: no other source writes a status attribute", () => {
    const files = sourceFiles();
    assert.ok(files.length > 60, `only ${files.length} source files found: the walk is broken`);
    const writes = files
      .filter((file) => !LIFECYCLE.includes(file) && file !== EXECUTIONS && !BASELINE.includes(file))
      .flatMap((file) => statusWrites(file, readFileSync(path.join(ROOT, file), "utf8")));
    assert.deepEqual(writes, []);
  });

  it("of the Executions table's own status stay on that table", () => {
    const text = readFileSync(path.join(ROOT, EXECUTIONS), "utf8");
    assert.ok(statusWrites(EXECUTIONS, text).length > 0, "the scan no longer sees the executions' writes");
    assert.doesNotMatch(text, /tables\.(releases|releasePipelines)\b/);
  });

  it("are found in a planted example, however spelled, and conditions and reads are not", () => {
    const planted = `
      send(new UpdateCommand({ UpdateExpression: "SET #status = :done", ExpressionAttributeNames: { "#status": "status" } }));
      send(new UpdateCommand({ UpdateExpression: \`SET endedAt = :now, #s = :x\`, ExpressionAttributeNames: { "#s": "status" } }));
      const fragment = \`\${head}, status = if_not_exists(status, :s)\`;
      send(new PutCommand({ TableName: t, Item: { releaseId, "status": "RUNNING" } }));
      send(new UpdateCommand({ UpdateExpression: "SET a = :a", ConditionExpression: "#status = :running", ExpressionAttributeNames: { "#status": "status" } }));
      send(new ScanCommand({ FilterExpression: "#status = :running" }));
      const outcome = { status: "SUCCEEDED", causedBy };
    `;
    assert.deepEqual(
      statusWrites("planted.ts", planted).map((w) => w.replace(/^planted\.ts:\d+ /, "")),
      [
        "updates status through #status",
        "assigns status",
        "updates status through #s",
        "assigns status",
        "puts an item with a status",
      ],
    );
  });
});

/** Fails to compile when the detail type gains a field its list of fields does not name. */
type UnlistedField = Exclude<keyof ReleaseStateDetail, (typeof RELEASE_STATE_DETAIL_FIELDS)[number]>;
const everyFieldListed: [UnlistedField] extends [never] ? true : never = true;

interface PublishedEntry {
  DetailType: string;
  Detail: Record<string, unknown>;
}

function isEntry(value: unknown): value is PublishedEntry {
  if (typeof value !== "object" || value === null) return false;
  const detail: unknown = Reflect.get(value, "Detail");
  return (
    typeof Reflect.get(value, "DetailType") === "string" && typeof detail === "object" && detail !== null
  );
}

describe("the Release State Change detail", () => {
  it("is the one detail type the workflow's Publish states render: its fields only, failures in the outcome's spelling", () => {
    assert.equal(everyFieldListed, true);
    const { States } = releaseWorkflow(PLACEHOLDER_REFS);
    const details = Object.entries(States).flatMap(([name, state]) => {
      if (!name.startsWith("Publish") || state.Type !== "Task") return [];
      const entries = state.Parameters?.Entries;
      if (!Array.isArray(entries)) return [];
      const published: unknown[] = entries;
      return published.flatMap((entry) =>
        isEntry(entry)
          ? [
              {
                name,
                type: entry.DetailType,
                fields: Object.keys(entry.Detail).map((key) => key.replace(/\.\$$/, "")),
                detail: entry.Detail,
              },
            ]
          : [],
      );
    });
    assert.deepEqual(
      details.map((d) => d.name),
      ["PublishSucceeded", "PublishCancelled", "PublishFailed"],
    );
    for (const { name, type, fields } of details) {
      assert.equal(type, "Release State Change", name);
      const allowed: readonly string[] = RELEASE_STATE_DETAIL_FIELDS;
      assert.deepEqual(
        fields.filter((f) => !allowed.includes(f)),
        [],
        `${name} publishes fields outside ReleaseStateDetail`,
      );
      for (const required of ["releaseId", "status", "causedBy"])
        assert.ok(fields.includes(required), `${name}: ${required}`);
    }
    const failed = details.find((d) => d.name === "PublishFailed")?.detail;
    assert.deepEqual(failed, {
      "releaseId.$": "$.releaseId",
      status: "FAILED",
      kind: "release.failed",
      "summary.$": "States.Format('Release {} failed.', $.releaseId)",
      "command.$": "States.Format('release-machine retry {}', $.releaseId)",
      "causedBy.$": "$.failure.causedBy",
      "executionArn.$": "$$.Execution.Id",
      "error.$": "$.failure.error",
      "cause.$": "$.failure.cause",
    });
  });

  it("spells a failure as the outcome does in every state that reads one", () => {
    const text = JSON.stringify(releaseWorkflow(PLACEHOLDER_REFS));
    assert.doesNotMatch(text, /\$\.(failure|outcome)\.(Error|Cause|CausedBy)\b/);
    assert.doesNotMatch(text, /"(Error|Cause|CausedBy)\.\$"/);
  });
});
