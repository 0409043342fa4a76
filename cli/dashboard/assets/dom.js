// Small DOM helpers the dashboard's scripts share (window.Dom): elements built from text only,
// never from HTML, and the symbols, times and reasons every view shows.
/* global document, window */
"use strict";

(function () {
  /** Fields the API may add for queues and freezes: shown whenever present. */
  const REASON_KEYS = [
    "queueReason",
    "queuedReason",
    "queuedBehind",
    "queuePosition",
    "freeze",
    "freezeReason",
    "frozenBy",
    "frozenUntil",
    "heldReason",
    "heldBy",
    "override",
    "overriddenBy",
  ];
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key === "onclick") node.addEventListener("click", value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : String(value));
    }
    for (const child of children.flat(Infinity)) {
      if (child === undefined || child === null || child === false) continue;
      node.appendChild(typeof child === "string" ? document.createTextNode(child) : child);
    }
    return node;
  }

  const time = (iso) => (iso ? iso.replace("T", " ").replace(/\.\d+Z$|Z$/, " UTC") : "—");
  function duration(ms) {
    const s = Math.round(ms / 1000);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }
  const text = (value) => (typeof value === "string" ? value : JSON.stringify(value));

  function button(label, action, disabledReason, extra) {
    return el(
      "span",
      { class: "control" },
      el(
        "button",
        {
          type: "button",
          onclick: disabledReason ? undefined : action,
          disabled: Boolean(disabledReason),
          ...extra,
        },
        label,
      ),
      disabledReason ? el("span", { class: "why" }, ` ${disabledReason}`) : null,
    );
  }

  function statusBadge(status) {
    const [symbol, shape] = window.ReleaseGraph.shapeOf(status);
    return el("span", { class: `status shape-${shape}`, "data-status": status }, `${symbol} ${status}`);
  }

  function reasons(record) {
    const found = REASON_KEYS.filter((key) => record[key] !== undefined && record[key] !== null);
    if (found.length === 0) return null;
    return el(
      "dl",
      { class: "reasons" },
      found.map((key) => [el("dt", {}, key), el("dd", {}, text(record[key]))]),
    );
  }

  window.Dom = { el, time, duration, text, button, statusBadge, reasons };
})();
