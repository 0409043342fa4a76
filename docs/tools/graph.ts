/**
 * Documentation tooling, not part of the program: draws a state machine definition as a diagram: `workflowToDot` turns the ASL into a Graphviz DOT
 * digraph (pure), `renderSvg` lays DOT out as SVG with Graphviz compiled to WebAssembly (no native
 * binary, no browser, works offline). `npm run graph` (docs/tools/render-graph.ts) uses both to
 * draw docs/workflow.svg from the definition the program deploys.
 *
 * How a definition is drawn:
 * - one node per state, its name in bold; the shape tells the type: Task a rounded box (with its
 *   service integration underneath), Pass a dashed rounded box, Choice a diamond, Succeed a green
 *   double ellipse, Fail a red octagon;
 * - a Map is a cluster labelled with its name that holds its iteration's states; transitions into
 *   the Map end at the cluster's border, and its own transitions leave from the cluster's bottom;
 * - Next is a solid edge, a Choice rule a solid edge labelled with its condition, Default a solid
 *   edge labelled "default", a Catch a dashed red edge labelled with the errors it catches.
 *
 * Node ids are the state names (unique across scopes: `stateMachine()` checks it); the few
 * drawing-only nodes have ids that start with "__".
 */
import { Graphviz } from "@hpcc-js/wasm-graphviz";
import {
  type Catcher,
  type ChoiceRule,
  type State,
  type StateMachineDefinition,
  allStates,
} from "../../stepfunction/asl";

export interface DotOptions {
  /** Shown in bold above the diagram. */
  title?: string;
}

// One font name Graphviz knows the widths of (it sizes nodes from its own metrics): a CSS-style
// list falls back to Times widths and bold labels overflow. The SVG says "Helvetica,sans-Serif".
const FONT = "Helvetica";
const CATCH_COLOR = "#b3261e";

const NODE_ATTRIBUTES: Record<Exclude<State["Type"], "Map">, string> = {
  Task: 'shape=box, style="rounded,filled", fillcolor="#dceaf7", color="#2f5d8a"',
  Pass: 'shape=box, style="rounded,filled,dashed", fillcolor="#f4f4f4", color="#666666"',
  Choice: 'shape=diamond, style=filled, fillcolor="#fff2c2", color="#9a7b00"',
  Succeed: 'shape=ellipse, peripheries=2, style=filled, fillcolor="#d6f0d9", color="#2e7d32"',
  Fail: 'shape=octagon, style=filled, fillcolor="#f9d7d5", color="#b3261e"',
};

/** A DOT quoted id or string; a line break becomes DOT's `\n` (a centred line). */
function quote(text: string): string {
  return `"${text.replace(/["\\]/g, "\\$&").replace(/\n/g, "\\n")}"`;
}

/** Text for inside a Graphviz HTML-like label. */
function html(text: string): string {
  return text.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");
}

function clusterId(mapName: string): string {
  return quote(`cluster_${mapName}`);
}

function exitId(mapName: string): string {
  return quote(`__exit_${mapName}__`);
}

function duration(seconds: number): string {
  if (seconds % 86_400 === 0) return `${seconds / 86_400} d`;
  if (seconds % 3_600 === 0) return `${seconds / 3_600} h`;
  if (seconds % 60 === 0) return `${seconds / 60} min`;
  return `${seconds} s`;
}

/** The second line of a node: what the state does, in a few words (none for Succeed and Choice). */
function detail(state: State): string | undefined {
  switch (state.Type) {
    case "Task": {
      const integration = state.Resource.replace(/^arn:aws:states:::/, "").replace(/^aws-sdk:/, "");
      return state.TimeoutSeconds ? `${integration}, timeout ${duration(state.TimeoutSeconds)}` : integration;
    }
    case "Pass":
      return "Pass";
    case "Fail":
      return "Error" in state ? `fails with ${state.Error}` : `fails with ${state.ErrorPath}`;
    default:
      return undefined;
  }
}

function nodeLabel(name: string, state: State): string {
  const second = detail(state);
  const lines = [`<B>${html(name)}</B>`];
  if (second) lines.push(`<FONT POINT-SIZE="9" COLOR="#4d4d4d">${html(second)}</FONT>`);
  return `<${lines.join("<BR/>")}>`;
}

/**
 * An error name as short as it stays clear: `States.ALL` is "any error", other names lose their
 * service prefix and an "Exception" suffix (`DynamoDB.ConditionalCheckFailedException` is
 * "ConditionalCheckFailed").
 */
export function shortErrorName(error: string): string {
  if (error === "States.ALL") return "any error";
  const bare = error.slice(error.lastIndexOf(".") + 1);
  return bare.endsWith("Exception") && bare !== "Exception" ? bare.slice(0, -"Exception".length) : bare;
}

/** A Catch edge's label: the errors caught, one a line (two when short), at most four names. */
export function catchLabel(catcher: Catcher): string {
  const names = catcher.ErrorEquals.map(shortErrorName);
  const shown = names.length > 4 ? [...names.slice(0, 3), `and ${names.length - 3} more`] : names;
  const lines: string[] = [];
  for (const name of shown) {
    const last = lines.length - 1;
    if (last >= 0 && lines[last].length + name.length < 24) lines[last] += `, ${name}`;
    else lines.push(name);
  }
  return lines.join("\n");
}

/** A Choice rule's condition, e.g. `$.outcome.item.firstFailure is present`. */
export function ruleLabel(rule: ChoiceRule): string {
  const { Variable: variable, Next: _next, ...comparison } = rule;
  const [operator, value] = Object.entries(comparison)[0] as [string, unknown];
  if (operator === "IsPresent") return `${variable} ${value ? "is present" : "is absent"}`;
  if (operator === "BooleanEquals") return `${variable} is ${String(value)}`;
  if (operator === "StringEquals") return `${variable} = ${JSON.stringify(value)}`;
  return `${variable} ${operator} ${JSON.stringify(value)}`;
}

function edge(tail: string, head: string, attributes: string[]): string {
  return `${tail} -> ${head}${attributes.length > 0 ? ` [${attributes.join(", ")}]` : ""};`;
}

interface Scope {
  StartAt: string;
  States: Record<string, State>;
}

/** Where an edge to `name` ends: the state's node, or for a Map its iteration's first state, clipped at the cluster. */
function headOf(scope: Scope, name: string): { id: string; attributes: string[] } {
  const state = scope.States[name];
  if (state?.Type === "Map") {
    return {
      id: headOf(state.ItemProcessor, state.ItemProcessor.StartAt).id,
      attributes: [`lhead=${clusterId(name)}`],
    };
  }
  return { id: quote(name), attributes: [] };
}

/** Where an edge from `name` starts: the state's node, or for a Map the bottom of its cluster. */
function tailOf(name: string, state: State): { id: string; attributes: string[] } {
  return state.Type === "Map"
    ? { id: exitId(name), attributes: [`ltail=${clusterId(name)}`] }
    : { id: quote(name), attributes: [] };
}

function isTerminal(state: State): boolean {
  return state.Type === "Succeed" || state.Type === "Fail" || ("End" in state && state.End === true);
}

/** The nodes of a scope, its Maps as clusters, then the scope's edges; `indent` for nesting. */
function drawScope(scope: Scope, indent: string): { nodes: string[]; edges: string[] } {
  const nodes: string[] = [];
  const edges: string[] = [];
  for (const [name, state] of Object.entries(scope.States)) {
    if (state.Type === "Map") {
      const inner = drawScope(state.ItemProcessor, `${indent}  `);
      const each = `for each item of ${state.ItemsPath}${state.MaxConcurrency ? `, at most ${state.MaxConcurrency} at once` : ""}`;
      nodes.push(
        `${indent}subgraph ${clusterId(name)} {`,
        `${indent}  label=<<B>${html(name)}</B><BR/><FONT POINT-SIZE="9" COLOR="#4d4d4d">Map: ${html(each)}</FONT>>;`,
        `${indent}  style="rounded,filled"; fillcolor="#f7f9fc"; color="#2f5d8a"; margin=14;`,
        ...inner.nodes,
        // The Map's own transitions leave from here, below every way an iteration can end.
        `${indent}  ${exitId(name)} [shape=point, style=invis, width=0, height=0];`,
        `${indent}}`,
      );
      edges.push(...inner.edges);
      for (const [innerName, innerState] of Object.entries(state.ItemProcessor.States)) {
        if (isTerminal(innerState)) edges.push(edge(quote(innerName), exitId(name), ["style=invis"]));
      }
    } else {
      nodes.push(
        `${indent}${quote(name)} [label=${nodeLabel(name, state)}, ${NODE_ATTRIBUTES[state.Type]}];`,
      );
    }

    const tail = tailOf(name, state);
    const to = (next: string, attributes: string[]) => {
      const head = headOf(scope, next);
      edges.push(edge(tail.id, head.id, [...tail.attributes, ...head.attributes, ...attributes]));
    };
    // Heavier edges are kept shorter and straighter: the happy path runs down the middle.
    if ("Next" in state && typeof state.Next === "string") to(state.Next, ["weight=4"]);
    if (state.Type === "Choice") {
      for (const rule of state.Choices) to(rule.Next, [`label=${quote(ruleLabel(rule))}`, "weight=2"]);
      if (state.Default) to(state.Default, ['label="default"', "weight=2"]);
    }
    if ((state.Type === "Task" || state.Type === "Map") && state.Catch) {
      for (const catcher of state.Catch) {
        to(catcher.Next, [
          "style=dashed",
          `color="${CATCH_COLOR}"`,
          `fontcolor="${CATCH_COLOR}"`,
          `label=${quote(catchLabel(catcher))}`,
        ]);
      }
    }
  }
  return { nodes, edges };
}

/** How to read the drawing: only what this definition uses. */
function legendFor(definition: StateMachineDefinition): string[] {
  const states = allStates(definition).map(([, state]) => state);
  const has = (test: (state: State) => boolean) => states.some(test);
  return [
    "solid: next state",
    ...(has((s) => s.Type === "Choice") ? ["labelled solid: Choice rule"] : []),
    ...(has((s) => (s.Type === "Task" || s.Type === "Map") && (s.Catch ?? []).length > 0)
      ? ["dashed red: on error (Catch)"]
      : []),
    ...(has((s) => s.Type === "Fail") ? ["red octagon: Fail"] : []),
    ...(has((s) => s.Type === "Succeed") ? ["green double ellipse: Succeed"] : []),
  ];
}

/**
 * The definition as a Graphviz DOT digraph, top to bottom: a start dot, one node per state, a
 * cluster per Map, and an edge per transition (Next, Choice rule, Default, Catch). Deterministic:
 * the same definition gives the same text.
 */
export function workflowToDot(definition: StateMachineDefinition, options: DotOptions = {}): string {
  const { nodes, edges } = drawScope(definition, "  ");
  const start = headOf(definition, definition.StartAt);
  const legend = legendFor(definition).join(" · ");
  const title = options.title ? `<B>${html(options.title)}</B><BR/>` : "";
  return [
    "digraph workflow {",
    `  graph [rankdir=TB, compound=true, newrank=true, nodesep=0.4, ranksep=0.45, fontname=${quote(FONT)}, fontsize=13, labelloc=t,`,
    `         label=<${title}<FONT POINT-SIZE="10" COLOR="#4d4d4d">${html(legend)}</FONT><BR/> >];`,
    `  node [fontname=${quote(FONT)}, fontsize=11, margin="0.16,0.06", penwidth=1.2];`,
    `  edge [fontname=${quote(FONT)}, fontsize=9, color="#333333", arrowsize=0.7, penwidth=1.1];`,
    '  "__start__" [shape=circle, label="", width=0.18, style=filled, fillcolor="#333333", color="#333333"];',
    ...nodes,
    `  ${edge('"__start__"', start.id, start.attributes)}`,
    ...edges.map((line) => `  ${line}`),
    "}",
    "",
  ].join("\n");
}

let graphviz: Promise<Graphviz> | undefined;

/** Lays DOT out with Graphviz's `dot` engine and returns the SVG text. Loads the WebAssembly once. */
export async function renderSvg(dot: string): Promise<string> {
  graphviz ??= Graphviz.load().catch((error: unknown) => {
    graphviz = undefined;
    throw error;
  });
  return (await graphviz).dot(dot, "svg");
}
