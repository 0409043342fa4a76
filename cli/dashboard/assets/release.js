// One release's page (window.ReleasePage): its facts, controls, gates, graph, the selected
// pipeline's details and the release's decisions. `init` gives it the page's state and `act`.
/* global document, window */
"use strict";

(function () {
  const { el, time, duration, text, button, statusBadge, reasons } = window.Dom;
  const TERMINAL = ["SUCCEEDED", "FAILED", "CANCELLED", "REJECTED", "TIMED_OUT", "ABORTED"];
  let state;
  let act;

  // ---- one release ----

  function approverMatches(pattern, caller) {
    const expression = new RegExp(
      `^${pattern
        .split("*")
        .map((part) => part.replace(/[.+?^${}()|[\]\\]/g, "\\$&"))
        .join(".*")}$`,
    );
    return expression.test(caller);
  }

  /** Why the API would refuse this decision, or undefined if it would accept it. */
  function decisionRefused(view, gate, decision) {
    if (view.status === "CANCELLING" || view.cancelledBy) return "the release is being cancelled";
    if (view.status !== "RUNNING") return `the release is ${view.status}`;
    const me = state.me.user;
    if (me && gate.approvers && !gate.approvers.some((p) => approverMatches(p, me)))
      return `you (${me}) are not among the approvers: ${gate.approvers.join(", ")}`;
    if (decision === "approve" && me && me === view.submittedBy) return "you submitted this release";
    return undefined;
  }

  function gateControls(view, p) {
    const path = `/releases/${encodeURIComponent(view.releaseId)}/approvals/${encodeURIComponent(p.name)}`;
    const decide = (decision) => () =>
      act(
        `${decision === "approve" ? "Approve" : "Reject"} ${p.name}?`,
        decision === "approve"
          ? `${p.name} of release ${view.releaseId} starts once approved.`
          : `Release ${view.releaseId} fails (ApprovalRejected) once rejected.`,
        decision === "approve" ? "Comment (optional)" : "Comment (why)",
        decision === "reject",
        "POST",
        path,
        (comment) => ({ decision, ...(comment ? { comment } : {}) }),
      );
    return el(
      "span",
      { class: "gate-controls" },
      button("Approve", decide("approve"), decisionRefused(view, p.approval, "approve"), {
        "data-action": "approve",
        "data-pipeline": p.name,
      }),
      button("Reject", decide("reject"), decisionRefused(view, p.approval, "reject"), {
        "data-action": "reject",
        "data-pipeline": p.name,
      }),
    );
  }

  function releaseControls(view) {
    const path = `/releases/${encodeURIComponent(view.releaseId)}`;
    const controls = [];
    if (!TERMINAL.includes(view.status)) {
      const refused =
        view.status === "CANCELLING" || view.cancelledBy
          ? `already being cancelled by ${view.cancelledBy || "someone"}`
          : undefined;
      controls.push(
        button(
          "Cancel release",
          () =>
            act(
              `Cancel release ${view.releaseId}?`,
              "Nothing more starts; running pipelines are stopped.",
              "Reason",
              true,
              "POST",
              `${path}/cancel`,
              (reason) => ({ reason }),
            ),
          refused,
          { "data-action": "cancel" },
        ),
      );
    }
    if (view.status === "FAILED" || view.status === "CANCELLED") {
      controls.push(
        button(
          "Retry",
          () =>
            act(
              `Retry release ${view.releaseId}?`,
              "Only the pipelines that did not succeed run again.",
              "",
              false,
              "POST",
              `${path}/retry`,
              () => ({}),
            ),
          undefined,
          { "data-action": "retry" },
        ),
      );
    }
    return controls.length ? el("div", { class: "actions" }, controls) : null;
  }

  function card(p, critical) {
    const [symbol, shape] = window.ReleaseGraph.shapeOf(p.status);
    const took = p.startedAt ? duration(window.ReleaseGraph.durationMs(p, Date.now())) : "not started";
    const where = p.failedStage
      ? `at ${p.failedStage}${p.failedAction ? ` / ${p.failedAction}` : ""}`
      : p.stoppedBy
        ? `stopped by ${p.stoppedBy}`
        : p.approval && !p.approval.decision
          ? `gate: ${(p.approval.approvers || ["anyone but the submitter"]).join(", ")}`
          : p.approval && p.approval.decision
            ? `${p.approval.decision} by ${p.approval.decidedBy}`
            : "";
    const node = el(
      "div",
      {
        class: `node shape-${shape}${critical ? " critical" : ""}${state.selected === p.name ? " selected" : ""}`,
        "data-pipeline": p.name,
        "data-status": p.status,
        tabindex: "0",
        role: "button",
        "aria-label": `${p.name}: ${p.status}${critical ? ", on the critical path" : ""}`,
      },
      el("span", { class: "title" }, el("span", { class: "sym" }, symbol), " ", p.name),
      el("span", { class: "line" }, p.status, critical ? el("span", { class: "crit" }, " ◆ critical") : null),
      el("span", { class: "line meta" }, `attempt ${p.attempt || 1} · ${took}`),
      where ? el("span", { class: "line where" }, where) : null,
    );
    node.addEventListener("click", () => select(p.name));
    node.addEventListener("keydown", (event) => event.key === "Enter" && select(p.name));
    return node;
  }

  function select(name) {
    state.selected = name;
    document.querySelectorAll(".node.selected").forEach((n) => n.classList.remove("selected"));
    const node = [...document.querySelectorAll(".node")].find((n) => n.dataset.pipeline === name);
    if (node) node.classList.add("selected");
    renderDetails(state.view);
  }

  function renderDetails(view) {
    const aside = document.getElementById("details");
    if (!aside || !view) return;
    const p = view.pipelines.find((x) => x.name === state.selected);
    aside.replaceChildren(
      p ? pipelineDetails(view, p) : el("p", {}, "Select a pipeline to see its details."),
    );
  }

  function pipelineDetails(view, p) {
    const facts = [
      ["status", p.status],
      ["attempt", String(p.attempt || 1)],
      ["depends on", (p.dependsOn || []).join(", ") || "—"],
      ["started", time(p.startedAt)],
      ["ended", time(p.endedAt)],
      [
        "failed at",
        p.failedStage ? `${p.failedStage}${p.failedAction ? ` / ${p.failedAction}` : ""}` : undefined,
      ],
      ["stopped by", p.stoppedBy],
      ["cause", p.cause],
      ["execution", p.pipelineExecutionId],
    ].filter(([, value]) => value !== undefined);
    const gate = p.approval;
    return el(
      "div",
      {},
      el("h2", {}, p.name),
      el(
        "dl",
        {},
        facts.map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
      ),
      gate
        ? el(
            "section",
            { class: "gate" },
            el("h3", {}, "Gate"),
            el("p", {}, `Who may decide: ${(gate.approvers || ["anyone but the submitter"]).join(", ")}`),
            gate.deadlineAt ? el("p", {}, `Until ${time(gate.deadlineAt)}`) : null,
            gate.decision
              ? el(
                  "p",
                  {},
                  `${gate.decision} by ${gate.decidedBy} at ${time(gate.decidedAt)}${gate.comment ? ` ("${gate.comment}")` : ""}`,
                )
              : null,
            p.status === "AwaitingApproval" && !gate.decision ? gateControls(view, p) : null,
          )
        : null,
      reasons(p),
      p.earlierAttempts && p.earlierAttempts.length
        ? el(
            "section",
            {},
            el("h3", {}, "Earlier attempts"),
            el(
              "ol",
              {},
              p.earlierAttempts.map((a) =>
                el(
                  "li",
                  {},
                  `${text(a.status || "")} ${time(a.startedAt)} → ${time(a.endedAt)}${a.cause ? `: ${a.cause}` : ""}`,
                ),
              ),
            ),
          )
        : null,
      el(
        "section",
        {},
        el("h3", {}, "History"),
        el(
          "ol",
          {},
          (p.history || []).map((h) => el("li", {}, `${time(h.at)} ${h.state}`)),
        ),
      ),
    );
  }

  /** The release's decisions from what the API answers: who, when, why. */
  function decisions(view) {
    const entries = [];
    if (view.submittedBy || view.startedAt)
      entries.push({ at: view.startedAt, who: view.submittedBy, what: "submitted" });
    (view.earlierAttempts || []).forEach((a, i) =>
      entries.push({ at: a.endedAt, what: `attempt ${i + 1} ended ${text(a.status || "")}`, why: a.cause }),
    );
    if (view.retriedBy)
      entries.push({
        at: view.attemptStartedAt,
        who: view.retriedBy,
        what: `retried (attempt ${view.attempt})`,
      });
    for (const p of view.pipelines) {
      const gate = p.approval;
      if (gate && gate.requestedAt) entries.push({ at: gate.requestedAt, what: `gate of ${p.name} opened` });
      if (gate && gate.decision)
        entries.push({
          at: gate.decidedAt,
          who: gate.decidedBy,
          what: `${gate.decision === "approve" ? "approved" : gate.decision === "reject" ? "rejected" : gate.decision} ${p.name}`,
          why: gate.comment,
        });
    }
    if (view.cancelledBy)
      entries.push({ at: view.endedAt, who: view.cancelledBy, what: "cancelled", why: view.cancelReason });
    for (const key of ["decisions", "overrides"])
      for (const d of Array.isArray(view[key]) ? view[key] : [])
        entries.push({
          at: d.at,
          who: d.by || d.who,
          what: d.what || d.kind || key,
          why: d.reason || d.comment,
        });
    if (TERMINAL.includes(view.status) && view.endedAt)
      entries.push({ at: view.endedAt, what: `ended ${view.status}`, why: view.cause });
    return entries.sort((a, b) => (a.at || "~").localeCompare(b.at || "~"));
  }

  function renderRelease(view) {
    state.view = view;
    const started = view.attemptStartedAt || view.startedAt;
    const took = started
      ? duration((view.endedAt ? Date.parse(view.endedAt) : Date.now()) - Date.parse(started))
      : "—";
    const gates = view.pipelines.filter(
      (p) => p.status === "AwaitingApproval" && p.approval && !p.approval.decision,
    );
    const { graph } = window.ReleaseGraph.renderGraph(view.pipelines, card, Date.now());
    return el(
      "section",
      { class: "release", "data-release-id": view.releaseId, "data-status": view.status },
      el("p", {}, el("a", { href: "#/" }, "← all releases")),
      el("h1", {}, `Release ${view.releaseId} `, statusBadge(view.status)),
      el(
        "dl",
        { class: "facts" },
        [
          ["attempt", String(view.attempt || 1)],
          ["submitted by", view.submittedBy || "—"],
          ["started", time(view.startedAt)],
          ["ended", time(view.endedAt)],
          ["duration", took],
          ["pipelines", String(view.pipelines.length)],
          ...(view.cause ? [["cause", view.cause]] : []),
          ...(view.error ? [["error", view.error]] : []),
        ].map(([k, v]) => [el("dt", {}, k), el("dd", {}, v)]),
      ),
      releaseControls(view),
      reasons(view),
      gates.length
        ? el(
            "section",
            { class: "gates" },
            el("h2", {}, "Waiting for a decision"),
            el(
              "ul",
              {},
              gates.map((p) =>
                el(
                  "li",
                  { "data-gate": p.name },
                  `${p.name}: who may decide ${(p.approval.approvers || ["anyone but the submitter"]).join(", ")}`,
                  p.approval.deadlineAt ? `, until ${time(p.approval.deadlineAt)} ` : " ",
                  gateControls(view, p),
                ),
              ),
            ),
          )
        : null,
      el(
        "p",
        { class: "legend" },
        "◆ critical path (thick border and edges) · ✔ succeeded · ✖ failed · ▶ running · ‖ awaiting approval · ◷ pending · ■ stopped · ⊘ cancelled · ↷ skipped",
      ),
      el(
        "div",
        { class: "split" },
        el("div", { class: "graph-scroll" }, graph),
        el("aside", { id: "details" }),
      ),
      el(
        "section",
        { class: "history" },
        el("h2", {}, "Decisions"),
        el(
          "ol",
          {},
          decisions(view).map((d) =>
            el("li", {}, `${time(d.at)} ${d.what}${d.who ? ` by ${d.who}` : ""}${d.why ? `: ${d.why}` : ""}`),
          ),
        ),
      ),
    );
  }

  window.ReleasePage = {
    init(context) {
      ({ state, act } = context);
    },
    renderRelease,
    renderDetails,
  };
})();
