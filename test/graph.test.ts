import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { type State, type StateMachineDefinition, allStates, stateMachine } from "../stepfunction/asl";
import { oneStateMap } from "./asl-fixtures";
import { catchLabel, renderSvg, shortErrorName, workflowToDot } from "../docs/tools/graph";
import { WORKFLOW_SVG_PATH, workflowSvg } from "../docs/tools/render-graph";
import {
  DEFAULT_WORKFLOW_OPTIONS,
  type FailurePolicy,
  PLACEHOLDER_REFS,
  releaseWorkflow,
} from "../stepfunction/release-workflow";

const POLICIES: FailurePolicy[] = ["stopRemaining", "letFinish"];

const render = (failurePolicy: FailurePolicy) =>
  releaseWorkflow(PLACEHOLDER_REFS, { ...DEFAULT_WORKFLOW_OPTIONS, failurePolicy });

const ID = String.raw`"((?:[^"\\]|\\.)*)"`;

interface DrawnEdge {
  tail: string;
  head: string;
  attributes: string;
}

function drawnNodes(dot: string): string[] {
  return [...dot.matchAll(new RegExp(String.raw`^\s*${ID} \[label=`, "gm"))].map((m) => m[1]);
}

function drawnEdges(dot: string): DrawnEdge[] {
  return [...dot.matchAll(new RegExp(String.raw`^\s*${ID} -> ${ID}(?: \[(.*)\])?;$`, "gm"))].map((m) => ({
    tail: m[1],
    head: m[2],
    attributes: m[3] ?? "",
  }));
}

/** Every transition of a definition, as the test reads the ASL. */
function transitions(definition: StateMachineDefinition) {
  const found: {
    from: string;
    to: string;
    kind: "next" | "rule" | "default" | "catch";
    errors?: string[];
  }[] = [];
  for (const [from, state] of allStates(definition)) {
    if ("Next" in state && typeof state.Next === "string") found.push({ from, to: state.Next, kind: "next" });
    if (state.Type === "Choice") {
      for (const rule of state.Choices) found.push({ from, to: rule.Next, kind: "rule" });
      if (state.Default) found.push({ from, to: state.Default, kind: "default" });
    }
    if (state.Type === "Task" || state.Type === "Map") {
      for (const c of state.Catch ?? [])
        found.push({ from, to: c.Next, kind: "catch", errors: c.ErrorEquals });
    }
  }
  return found;
}

/** A Map's transitions start at its cluster and transitions into a Map end at it. */
function connects(edge: DrawnEdge, from: string, to: string): boolean {
  const fromOk = edge.tail === from || edge.attributes.includes(`ltail="cluster_${from}"`);
  const toOk = edge.head === to || edge.attributes.includes(`lhead="cluster_${to}"`);
  return fromOk && toOk;
}

describe("the workflow diagram", () => {
  for (const policy of POLICIES) {
    it(`draws a node for every state of the ${policy} workflow and a labelled cluster for its Map`, () => {
      const definition = render(policy);
      const dot = workflowToDot(definition);
      const nodes = drawnNodes(dot);
      for (const [name, state] of allStates(definition)) {
        if (state.Type === "Map") {
          assert.match(dot, new RegExp(`subgraph "cluster_${name}" \\{\\n\\s*label=<<B>${name}</B>`));
        } else {
          assert.ok(nodes.includes(name), `node for ${name}`);
        }
      }
      assert.equal(new Set(nodes).size, nodes.length, "each state drawn once");
    });

    it(`draws an edge for every Next, Choice rule, Default and Catch of the ${policy} workflow`, () => {
      const definition = render(policy);
      const edges = drawnEdges(workflowToDot(definition)).filter(
        (e) => !e.attributes.includes("style=invis") && e.tail !== "__start__",
      );
      const expected = transitions(definition);
      for (const t of expected) {
        const matching = edges.filter((e) => connects(e, t.from, t.to));
        const found = matching.find((e) =>
          t.kind === "catch"
            ? e.attributes.includes("style=dashed") &&
              (t.errors ?? []).every((error) => e.attributes.includes(shortErrorName(error)))
            : !e.attributes.includes("style=dashed") &&
              (t.kind === "default" ? e.attributes.includes('label="default"') : true),
        );
        assert.ok(found, `${t.kind} edge ${t.from} -> ${t.to}`);
      }
      assert.equal(edges.length, expected.length, "no edge that is not a transition");
    });
  }

  it("starts at the definition's StartAt and ends a Map's transitions at its cluster", () => {
    const dot = workflowToDot(render("stopRemaining"));
    assert.ok(drawnEdges(dot).some((e) => e.tail === "__start__" && e.head === "Submission"));
    const map = oneStateMap("Inner", "Done");
    const withMap = stateMachine({
      StartAt: "Before",
      States: { Before: { Type: "Pass", Next: "Each" }, Each: map, Done: { Type: "Succeed" } },
    });
    const intoMap = drawnEdges(workflowToDot(withMap)).find((e) => e.tail === "Before" && e.head === "Inner");
    assert.ok(intoMap?.attributes.includes('lhead="cluster_Each"'), JSON.stringify(intoMap));
  });

  it("labels Catch edges with short error names and Choice edges with their condition", () => {
    assert.equal(shortErrorName("States.ALL"), "any error");
    assert.equal(shortErrorName("DynamoDB.ConditionalCheckFailedException"), "ConditionalCheckFailed");
    assert.equal(shortErrorName("InvalidManifest"), "InvalidManifest");
    assert.equal(
      catchLabel({ ErrorEquals: ["InvalidManifest", "ManifestNotFound"], Next: "X" }),
      "InvalidManifest\nManifestNotFound",
    );
    assert.equal(catchLabel({ ErrorEquals: ["A", "B", "C", "D", "E"], Next: "X" }), "A, B, C, and 2 more");

    const small = stateMachine({
      StartAt: "Pick",
      States: {
        Pick: {
          Type: "Choice",
          Choices: [
            { Variable: "$.kind", StringEquals: "fast", Next: "Done" },
            { Variable: "$.skip", BooleanEquals: true, Next: "Done" },
          ],
          Default: "Stop",
        },
        Done: { Type: "Succeed" },
        Stop: { Type: "Fail", Error: "Stopped", Cause: "chose to stop" },
      } satisfies Record<string, State>,
    });
    const dot = workflowToDot(small);
    assert.match(dot, /"Pick" -> "Done" \[label="\$\.kind = \\"fast\\"", weight=2\];/);
    assert.match(dot, /"Pick" -> "Done" \[label="\$\.skip is true", weight=2\];/);
    assert.match(dot, /"Pick" -> "Stop" \[label="default", weight=2\];/);
    assert.match(dot, /"Stop" \[label=.*shape=octagon/);
    assert.match(dot, /"Done" \[label=.*shape=ellipse, peripheries=2/);
  });

  it("renders an SVG that names every state", async () => {
    const definition = render("letFinish");
    const svg = await renderSvg(workflowToDot(definition, { title: "letFinish" }));
    assert.match(svg, /^<\?xml[\s\S]*<svg[\s\S]*<\/svg>\s*$/);
    for (const [name] of allStates(definition))
      assert.ok(svg.includes(`>${name}</text>`), `SVG names ${name}`);
  });

  it("keeps docs/workflow.svg equal to a fresh render (regenerate with npm run graph)", async () => {
    const committed = readFileSync(WORKFLOW_SVG_PATH, "utf8");
    assert.ok(committed === (await workflowSvg()), "docs/workflow.svg is stale: run npm run graph");
  });
});
