// The dashboard's page: the release list and one release's page, polled from the dashboard's
// server (which calls the release API as the CLI does). Every text from the API is set as text,
// never as HTML. Actions are confirmed in a dialog, sent with the custom header the server
// requires, and an API error is shown as the API words it.
"use strict";
/* global document, window, location, fetch, setTimeout, clearTimeout */

(function () {
  const { el, time, statusBadge } = window.Dom;
  const POLL_MS = 1500;
  const HEADER = { "x-release-machine-dashboard": "1", "content-type": "application/json" };
  const state = { me: null, timer: 0, shown: "", selected: null, filter: "", generation: 0 };

  function showError(status, body) {
    const box = document.getElementById("error");
    if (status === undefined) {
      box.hidden = true;
      box.textContent = "";
      return;
    }
    const name = body && body.error ? `${body.error} (HTTP ${status})` : `HTTP ${status}`;
    box.textContent = `${name}: ${(body && body.message) || "no message"}`;
    box.hidden = false;
  }

  async function api(method, path, body) {
    const response = await fetch(`/api${path}`, {
      method,
      credentials: "same-origin",
      headers: method === "POST" ? HEADER : { accept: "application/json" },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const raw = await response.text();
    let parsed;
    try {
      parsed = raw ? JSON.parse(raw) : {};
    } catch {
      parsed = { message: raw };
    }
    return { status: response.status, body: parsed, raw };
  }

  /** Asks before an action; resolves the comment/reason, or null if the user went back. */
  function confirmAction(title, question, label, required) {
    const dialog = document.getElementById("confirm");
    const input = document.getElementById("confirm-input");
    document.getElementById("confirm-title").textContent = title;
    document.getElementById("confirm-text").textContent = question;
    document.getElementById("confirm-label").textContent = label;
    document.getElementById("confirm-no").setAttribute("formnovalidate", "");
    input.value = "";
    input.required = required;
    return new Promise((resolve) => {
      dialog.addEventListener(
        "close",
        () => resolve(dialog.returnValue === "ok" ? input.value.trim() : null),
        { once: true },
      );
      dialog.returnValue = "";
      dialog.showModal();
    });
  }

  async function act(title, question, label, required, method, path, bodyOf) {
    const answer = await confirmAction(title, question, label, required);
    if (answer === null) return;
    const result = await api(method, path, bodyOf(answer));
    if (result.status >= 300) showError(result.status, result.body);
    else {
      showError(undefined);
      state.shown = "";
      refresh();
    }
  }

  // ---- the release list ----

  function renderList(page) {
    const rows = [...page.releases].sort((a, b) => (b.startedAt || "").localeCompare(a.startedAt || ""));
    const select = el(
      "select",
      { id: "status-filter", "aria-label": "Filter by status" },
      el("option", { value: "" }, "all statuses"),
      state.me.statuses.map((s) => el("option", { value: s, selected: s === state.filter }, s)),
    );
    select.addEventListener("change", () => {
      state.filter = select.value;
      state.shown = "";
      refresh();
    });
    return el(
      "section",
      { class: "list" },
      el("h1", {}, "Releases"),
      el("p", {}, el("label", {}, "Status ", select), " newest first, updated live"),
      rows.length === 0
        ? el("p", { class: "empty" }, `No releases${state.filter ? ` ${state.filter}` : ""}.`)
        : el(
            "table",
            {},
            el(
              "thead",
              {},
              el(
                "tr",
                {},
                ["Release", "Status", "Started", "Ended", "Submitted by"].map((h) => el("th", {}, h)),
              ),
            ),
            el(
              "tbody",
              {},
              rows.map((r) =>
                el(
                  "tr",
                  { "data-release-id": r.releaseId },
                  el(
                    "td",
                    {},
                    el("a", { href: `#/releases/${encodeURIComponent(r.releaseId)}` }, r.releaseId),
                  ),
                  el("td", {}, statusBadge(r.status)),
                  el("td", {}, time(r.startedAt)),
                  el("td", {}, time(r.endedAt)),
                  el("td", {}, r.submittedBy || "—"),
                ),
              ),
            ),
          ),
      page.nextToken ? el("p", {}, "More releases exist: narrow with the status filter.") : null,
    );
  }

  const { renderRelease, renderDetails } = window.ReleasePage;

  // ---- routing and polling ----

  function route() {
    const match = /^#\/releases\/(.+)$/.exec(location.hash);
    return match ? { releaseId: decodeURIComponent(match[1]) } : {};
  }

  async function refresh() {
    clearTimeout(state.timer);
    const generation = ++state.generation;
    const { releaseId } = route();
    const path = releaseId
      ? `/releases/${encodeURIComponent(releaseId)}`
      : `/releases${state.filter ? `?status=${encodeURIComponent(state.filter)}` : ""}`;
    try {
      const result = await api("GET", path);
      if (generation !== state.generation) return;
      if (result.status !== 200) {
        showError(result.status, result.body);
        if (state.shown === "")
          document
            .getElementById("main")
            .replaceChildren(el("p", {}, el("a", { href: "#/" }, "← all releases")));
      } else if (result.raw !== state.shown) draw(releaseId, result);
    } finally {
      if (generation === state.generation) state.timer = setTimeout(refresh, POLL_MS);
    }
  }

  function draw(releaseId, result) {
    const main = document.getElementById("main");
    const scroll = main.querySelector(".graph-scroll");
    const at = scroll ? [scroll.scrollLeft, scroll.scrollTop] : [0, 0];
    state.shown = result.raw;
    main.replaceChildren(releaseId ? renderRelease(result.body) : renderList(result.body));
    const again = main.querySelector(".graph-scroll");
    if (again) [again.scrollLeft, again.scrollTop] = at;
    if (releaseId) renderDetails(result.body);
    document.body.dataset.shown = releaseId || "list";
  }

  async function start() {
    window.ReleasePage.init({ state, act });
    const me = await api("GET", "/me");
    if (me.status !== 200) return showError(me.status, me.body);
    state.me = me.body;
    document.getElementById("me").textContent = state.me.signed
      ? `acting as your AWS identity, signed for ${state.me.api}`
      : `acting as ${state.me.user} on ${state.me.api}`;
    window.addEventListener("hashchange", () => {
      state.shown = "";
      state.selected = null;
      showError(undefined);
      refresh();
    });
    refresh();
  }

  start();
})();
