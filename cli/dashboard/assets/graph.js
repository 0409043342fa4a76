// The release's dependency graph, laid out left to right by depth (a pipeline's depth is one more
// than its deepest dependency), with the critical path: the chain of dependencies whose durations
// add up to the most (a pipeline not started counts 0, every pipeline 1 ms more so that a release
// with no times marks its longest chain). Plain DOM and SVG, no library; status shown by text and
// by the node's shape and symbol, never by colour alone.
/* global document, window */
"use strict";

(function () {
  const COLUMN = 260;
  const ROW = 92;
  const NODE_WIDTH = 220;
  const NODE_HEIGHT = 76;
  const SVG = "http://www.w3.org/2000/svg";

  /** Each status's symbol and shape class (the shape differs too: see app.css). */
  const SHAPES = {
    Succeeded: ["✔", "done"],
    Failed: ["✖", "failed"],
    Stopped: ["■", "stopped"],
    Stopping: ["◼", "running"],
    Cancelled: ["⊘", "stopped"],
    Superseded: ["↷", "stopped"],
    Skipped: ["↷", "skipped"],
    InProgress: ["▶", "running"],
    Started: ["▶", "running"],
    Starting: ["▷", "running"],
    Pending: ["◷", "pending"],
    Queued: ["◷", "pending"],
    AwaitingApproval: ["‖", "gate"],
    RUNNING: ["▶", "running"],
    CANCELLING: ["◼", "running"],
    SUCCEEDED: ["✔", "done"],
    FAILED: ["✖", "failed"],
    REJECTED: ["✖", "failed"],
    CANCELLED: ["⊘", "stopped"],
  };

  function shapeOf(status) {
    return SHAPES[status] || ["●", "other"];
  }

  function depths(pipelines) {
    const byName = new Map(pipelines.map((p) => [p.name, p]));
    const depth = new Map();
    const visiting = new Set();
    const of = (name) => {
      if (depth.has(name)) return depth.get(name);
      const p = byName.get(name);
      if (!p || visiting.has(name)) return 0;
      visiting.add(name);
      const d = Math.max(-1, ...(p.dependsOn || []).filter((n) => byName.has(n)).map(of)) + 1;
      visiting.delete(name);
      depth.set(name, d);
      return d;
    };
    pipelines.forEach((p) => of(p.name));
    return depth;
  }

  function durationMs(p, now) {
    if (!p.startedAt) return 0;
    const end = p.endedAt ? Date.parse(p.endedAt) : now;
    return Math.max(0, end - Date.parse(p.startedAt));
  }

  /** The names on the critical path, and its edges as "from→to". */
  function criticalPath(pipelines, depth, now) {
    const byName = new Map(pipelines.map((p) => [p.name, p]));
    const ordered = [...pipelines].sort((a, b) => depth.get(a.name) - depth.get(b.name));
    const total = new Map();
    const via = new Map();
    for (const p of ordered) {
      let best = 0;
      for (const d of p.dependsOn || []) {
        if (byName.has(d) && total.get(d) > best) {
          best = total.get(d);
          via.set(p.name, d);
        }
      }
      total.set(p.name, best + durationMs(p, now) + 1);
    }
    let end;
    for (const p of pipelines) if (end === undefined || total.get(p.name) > total.get(end)) end = p.name;
    const nodes = new Set();
    const edges = new Set();
    for (let at = end; at !== undefined; at = via.get(at)) {
      nodes.add(at);
      if (via.has(at)) edges.add(`${via.get(at)}→${at}`);
    }
    return { nodes, edges };
  }

  /** Each pipeline's column and row. */
  function layout(pipelines) {
    const depth = depths(pipelines);
    const rows = new Map();
    const place = new Map();
    for (const p of pipelines) {
      const column = depth.get(p.name);
      const row = rows.get(column) || 0;
      rows.set(column, row + 1);
      place.set(p.name, { x: column * COLUMN + 10, y: row * ROW + 10 });
    }
    const width = (Math.max(0, ...depth.values()) + 1) * COLUMN;
    const height = Math.max(1, ...rows.values()) * ROW + 10;
    return { depth, place, width, height };
  }

  function edgePath(from, to) {
    const [x1, y1] = [from.x + NODE_WIDTH, from.y + NODE_HEIGHT / 2];
    const [x2, y2] = [to.x, to.y + NODE_HEIGHT / 2];
    const mid = (x1 + x2) / 2;
    return `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2},${y2}`;
  }

  function edges(pipelines, place, critical, width, height) {
    const svg = document.createElementNS(SVG, "svg");
    svg.setAttribute("class", "edges");
    svg.setAttribute("width", String(width));
    svg.setAttribute("height", String(height));
    svg.setAttribute("aria-hidden", "true");
    for (const p of pipelines) {
      for (const d of p.dependsOn || []) {
        if (!place.has(d)) continue;
        const path = document.createElementNS(SVG, "path");
        path.setAttribute("d", edgePath(place.get(d), place.get(p.name)));
        path.setAttribute("class", critical.edges.has(`${d}→${p.name}`) ? "edge critical" : "edge");
        svg.appendChild(path);
      }
    }
    return svg;
  }

  /** The graph as one element; `card(p, critical)` builds each pipeline's node content. */
  function renderGraph(pipelines, card, now) {
    const { depth, place, width, height } = layout(pipelines);
    const critical = criticalPath(pipelines, depth, now);
    const graph = document.createElement("div");
    graph.className = "graph";
    graph.style.width = `${width}px`;
    graph.style.height = `${height}px`;
    graph.appendChild(edges(pipelines, place, critical, width, height));
    const fragment = document.createDocumentFragment();
    for (const p of pipelines) {
      const node = card(p, critical.nodes.has(p.name), depth.get(p.name));
      node.style.left = `${place.get(p.name).x}px`;
      node.style.top = `${place.get(p.name).y}px`;
      fragment.appendChild(node);
    }
    graph.appendChild(fragment);
    return { graph, critical };
  }

  window.ReleaseGraph = { renderGraph, shapeOf, criticalPath, depths, durationMs };
})();
