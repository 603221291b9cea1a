// The logs page: finished requests live (EventSource), newest on top, filtered by correlation id, with pause/resume and the expanded AI logging switch.

import { get, put } from "./api.js";
import { el, field, onSubmit, busy, notice, clock, when, num } from "./ui.js";

const MAX_ROWS = 500;
const HEADERS = ["Time", "Correlation id", "Request", "Feature", "Model", "Status", "Latency", "Tokens in / out", "Message"];

function statusClass(s) {
  if (s >= 500) return "bad-text";
  if (s >= 400) return "warn-text";
  return "ok-text";
}

function entryRow(e) {
  return el("tr", { dataset: { row: e.correlation_id } },
    el("td", { class: "nowrap" }, el("time", { datetime: new Date(e.at * 1000).toISOString(), title: when(e.at) }, clock(new Date(e.at * 1000)))),
    el("td", {}, el("code", { class: "small" }, e.correlation_id)),
    el("td", {}, el("span", { class: "method" }, e.method), " ", e.path),
    el("td", {}, e.feature || ""),
    el("td", {}, e.model || ""),
    el("td", {}, el("span", { class: statusClass(e.status), dataset: { role: "status" } }, e.status)),
    el("td", { class: "num" }, `${num(e.latency_ms)} ms`),
    el("td", { class: "num nowrap" }, `${num(e.tokens_in)} / ${num(e.tokens_out)}`),
    el("td", { class: e.message ? "bad-text" : "" }, e.message || ""));
}

export async function render(body, ctx) {
  const tbody = el("tbody", {});
  const streamState = el("span", { class: "stream-state", dataset: { role: "stream-state" }, "aria-live": "polite" }, "Connecting…");
  const pendingNote = el("span", { class: "muted small", dataset: { role: "pending" }, "aria-live": "polite" });
  const seen = new Set();
  let source = null;
  let paused = false;
  let pending = [];
  let filter = "";

  const keyOf = (e) => `${e.correlation_id}|${e.at}|${e.method}|${e.path}`;
  const showEmpty = () => {
    if (!tbody.querySelector("tr[data-row]")) {
      tbody.replaceChildren(el("tr", { dataset: { role: "empty" } }, el("td", { colspan: HEADERS.length, class: "muted" },
        filter ? `Nothing here yet. No request with correlation id containing "${filter}" in the last hour.` : "Nothing here yet. Requests appear here as they finish.")));
    }
  };
  const addRow = (e) => {
    const key = keyOf(e);
    if (seen.has(key)) return;
    seen.add(key);
    tbody.querySelector("[data-role=empty]")?.remove();
    const tr = entryRow(e);
    tr.dataset.key = key;
    tbody.prepend(tr);
    while (tbody.children.length > MAX_ROWS) {
      seen.delete(tbody.lastElementChild.dataset.key);
      tbody.lastElementChild.remove();
    }
  };
  const incoming = (e) => {
    if (!paused) return addRow(e);
    pending.push(e);
    if (pending.length > MAX_ROWS) pending = pending.slice(-MAX_ROWS);
    pendingNote.textContent = `${pending.length} new ${pending.length === 1 ? "entry" : "entries"} held while paused.`;
  };

  const disconnect = () => {
    if (source) source.close();
    source = null;
  };

  const connect = async () => {
    disconnect();
    seen.clear();
    tbody.replaceChildren();
    pending = [];
    pendingNote.textContent = "";
    const q = filter ? `?correlation_id=${encodeURIComponent(filter)}` : "";
    let early = [];
    let filled = false;
    const es = new EventSource(`/api/admin/logs/stream${q}`);
    source = es;
    streamState.textContent = "Connecting…";
    streamState.className = "stream-state";
    es.onopen = () => {
      if (source !== es) return;
      streamState.textContent = paused ? "Paused" : "Live";
      streamState.className = `stream-state ${paused ? "paused" : "live"}`;
    };
    es.onmessage = (m) => {
      if (source !== es) return;
      let e;
      try {
        e = JSON.parse(m.data);
      } catch (_) {
        return;
      }
      if (filled) incoming(e);
      else early.push(e);
    };
    es.addEventListener("lagged", () => {
      if (source === es) notice("The live log skipped some entries because the browser fell behind.", "warn");
    });
    es.onerror = async () => {
      if (source !== es) return;
      if (es.readyState === EventSource.CLOSED) {
        streamState.textContent = "Disconnected";
        streamState.className = "stream-state bad";
        // A closed stream is most often an ended session: asking shows the sign-in page then.
        try {
          await get("/api/admin/session");
          if (source === es && ctx.alive) notice("The live log stopped. Use Reconnect to start it again.", "error");
        } catch (_) {
          // The session-ended handler has taken over, or the server is down (the notice says so).
        }
      } else {
        streamState.textContent = "Reconnecting…";
        streamState.className = "stream-state warn";
      }
    };
    const recent = await get(`/api/admin/logs${q}`);
    if (!ctx.alive || source !== es) return;
    // The answer is newest first; add oldest first so the newest ends on top.
    for (const e of [...recent].reverse()) addRow(e);
    filled = true;
    for (const e of early) incoming(e);
    early = [];
    showEmpty();
  };
  ctx.onLeave(disconnect);

  const filterForm = el("form", { class: "inline-form", dataset: { form: "log-filter" }, role: "search" },
    field("Correlation id", "correlation_id", { type: "search", autocomplete: "off", spellcheck: "false", placeholder: "part of an X-Request-ID", optionalMark: false }),
    el("div", { class: "buttons" },
      el("button", { type: "submit", dataset: { action: "filter-logs" } }, "Filter"),
      el("button", { type: "button", class: "secondary", dataset: { action: "clear-filter" } }, "Show all")));
  onSubmit(filterForm, async () => {
    filter = filterForm.correlation_id.value.trim();
    await connect();
  });
  filterForm.querySelector("[data-action=clear-filter]").addEventListener("click", () => {
    filterForm.correlation_id.value = "";
    filterForm.requestSubmit();
  });

  const pause = el("button", { type: "button", class: "secondary", dataset: { action: "pause" }, "aria-pressed": "false" }, "Pause");
  pause.addEventListener("click", () => {
    paused = !paused;
    pause.textContent = paused ? "Resume" : "Pause";
    pause.dataset.action = paused ? "resume" : "pause";
    pause.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      for (const e of pending) addRow(e);
      pending = [];
      pendingNote.textContent = "";
    }
    if (source && source.readyState === EventSource.OPEN) {
      streamState.textContent = paused ? "Paused" : "Live";
      streamState.className = `stream-state ${paused ? "paused" : "live"}`;
    }
  });
  const reconnect = el("button", { type: "button", class: "secondary", dataset: { action: "reconnect" } }, "Reconnect");
  reconnect.addEventListener("click", () => busy(reconnect, connect));

  const logging = await get("/api/admin/logging");
  const toggle = el("button", { type: "button", role: "switch", class: "switch", dataset: { action: "toggle-expanded" }, "aria-describedby": "expanded-hint" });
  const showToggle = (on) => {
    toggle.setAttribute("aria-checked", String(on));
    toggle.replaceChildren(el("span", { class: "switch-track", "aria-hidden": "true" }), `Expanded AI logging: ${on ? "on" : "off"}`);
  };
  showToggle(logging.expanded);
  toggle.addEventListener("click", () => busy(toggle, async () => {
    const on = toggle.getAttribute("aria-checked") !== "true";
    const r = await put("/api/admin/logging", { expanded: on });
    showToggle(r.expanded);
    notice(r.expanded
      ? "Expanded AI logging is on: prompts and model answers are written to the server log until you switch it off."
      : "Expanded AI logging is off: the server log holds request facts only, no prompts or answers.", r.expanded ? "warn" : "ok");
  }));

  body.replaceChildren(
    el("p", {}, "Every finished request to airgate, newest on top; at most 500 rows are kept on this page. The correlation id is GitLab's X-Request-ID: search for it in GitLab's logs too."),
    el("div", { class: "card" },
      el("div", { class: "toolbar" }, filterForm, el("div", { class: "buttons" }, pause, reconnect, streamState, pendingNote)),
      el("div", { class: "toolbar switch-row" }, toggle,
        el("p", { id: "expanded-hint", class: "muted small" }, "When on, prompts and model answers go to the server log (journal). They may contain source code and personal data: switch it on only while investigating a problem."))),
    el("div", { class: "table-wrap" }, el("table", { class: "log", dataset: { role: "log" } },
      el("thead", {}, el("tr", {}, HEADERS.map((h) => el("th", { scope: "col" }, h)))),
      tbody)));
  await connect();
}
