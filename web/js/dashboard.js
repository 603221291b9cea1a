// The dashboard page: health, versions, uptime and memory, drift from an applied configuration file, loaded models, last hour's requests per feature, recent errors; refreshed every 10 s while visible.

import { get } from "./api.js";
import { el, table, bytes, duration, num, clock, timeEl, statusBadge, showError } from "./ui.js";

const REFRESH_MS = 10000;

function card(title, role, ...content) {
  return el("div", { class: "card stat", dataset: { role } }, el("h2", {}, title), ...content);
}

function view(d, titles) {
  const health = card("Health", "health",
    el("p", { class: `big ${d.ready ? "ok-text" : "bad-text"}`, dataset: { role: "ready" } }, d.ready ? "Ready" : "Not ready"),
    d.ready_detail && d.ready_detail !== "ready" ? el("p", { class: "muted", dataset: { role: "ready-detail" } }, d.ready_detail) : null);
  health.classList.add(d.ready ? "ok" : "bad");
  const cards = el("div", { class: "cards" },
    health,
    card("Version", "version", el("p", { class: "big" }, `airgate ${d.version}`),
      el("p", { class: "muted small" }, "llama.cpp ", el("span", {}, d.llama_cpp || "unknown build"))),
    card("Compute backend", "backend", el("p", { class: "small break" }, d.backend || "unknown")),
    card("Uptime and memory", "uptime", el("p", { class: "big" }, duration(d.uptime_s)),
      el("p", { class: "muted small" }, `airgate process resident memory: ${bytes(d.rss_bytes)}`)),
  );

  const models = table(["Model", "Status", "Default", "Memory (weights)"], (d.models || []).map((m) => ({
    key: m.name,
    cells: [
      el("strong", {}, m.name),
      el("span", {}, statusBadge(m.status), m.status === "failed" && m.detail ? el("span", { class: "bad-text small detail" }, m.detail) : null),
      m.default ? el("span", { class: "badge default" }, "default") : "",
      bytes(m.memory_bytes),
    ],
  })), { empty: "Nothing here yet. No model is loaded: import or load one on the Models page.", attrs: { dataset: { role: "models" } } });

  const features = table(["Feature", "Requests", "Errors", "Tokens in", "Tokens out", "p50", "p95"], (d.features || []).map((f) => ({
    key: f.feature,
    cells: [
      el("span", {}, titles[f.feature] || f.feature, titles[f.feature] ? el("code", { class: "small muted block" }, f.feature) : null),
      num(f.requests),
      el("span", { class: f.errors ? "bad-text" : "" }, num(f.errors)),
      num(f.tokens_in), num(f.tokens_out),
      f.p50_ms === null || f.p50_ms === undefined ? "–" : `${num(f.p50_ms)} ms`,
      f.p95_ms === null || f.p95_ms === undefined ? "–" : `${num(f.p95_ms)} ms`,
    ],
  })), { empty: "Nothing here yet. No request in the last hour.", attrs: { class: "numeric", dataset: { role: "features" } } });

  const errors = table(["Time", "Correlation id", "Request", "Feature", "Status", "Message"], (d.recent_errors || []).map((e, i) => ({
    key: e.correlation_id || String(i),
    cells: [timeEl(e.at), el("code", { class: "small" }, e.correlation_id), el("span", {}, el("span", { class: "method" }, e.method), " ", e.path), e.feature || "",
      el("span", { class: e.status >= 500 ? "bad-text" : "warn-text" }, e.status), e.message || ""],
  })), { empty: "Nothing here yet. No failed request is in the log.", attrs: { class: "log", dataset: { role: "recent-errors" } } });

  const warnings = (d.warnings || []).map((w) => el("p", { class: "notice error static", dataset: { role: "warning" } }, w));
  return [...warnings, cards,
    el("h2", {}, "Models in memory"), models,
    el("h2", {}, "Requests in the last hour"), features,
    el("h2", {}, "Recent errors"), errors];
}

/// Where this node stands against the configuration file last applied to it (`airgate apply`).
function fleetView(f) {
  if (!f || !f.applied) return null;
  const from = el("p", { class: "small" }, "Applied from ", el("code", {}, f.applied.source), " at ", timeEl(f.applied.at), ".");
  if (f.problem) {
    return el("section", { class: "card warn", dataset: { role: "fleet" } }, el("h2", {}, "Configuration file"), from,
      el("p", { class: "warn-text" }, `The file can no longer be checked against this node: ${f.problem}`));
  }
  if (!f.drift.length) {
    return el("section", { class: "card ok", dataset: { role: "fleet" } }, el("h2", {}, "Configuration file"), from,
      el("p", { dataset: { role: "fleet-state" } }, "This node holds exactly what the file says."));
  }
  return el("section", { class: "card warn", dataset: { role: "fleet" } }, el("h2", {}, "Configuration file"), from,
    el("p", { class: "warn-text", dataset: { role: "fleet-state" } },
      `This node differs from the file (${f.drift.length} change${f.drift.length === 1 ? "" : "s"} since, made here). Applying the file again would do this:`),
    el("ul", { dataset: { role: "fleet-drift" } }, f.drift.map((line) => el("li", {}, el("code", {}, line)))));
}

export async function render(body, ctx) {
  const titles = {};
  const [d, feats, fleet] = await Promise.all([
    get("/api/admin/dashboard"),
    get("/api/admin/features").catch(() => []),
    get("/api/admin/fleet").catch(() => null),
  ]);
  for (const f of feats || []) titles[f.feature] = f.title;
  const content = el("div", { dataset: { role: "dashboard" } });
  const updated = el("p", { class: "muted small", dataset: { role: "updated" }, "aria-live": "off" });
  const stamp = () => (updated.textContent = `Updated at ${clock()}; refreshes every 10 seconds while this page is visible.`);
  content.replaceChildren(...view(d, titles));
  stamp();
  body.replaceChildren(...[updated, fleetView(fleet), content].filter(Boolean));

  let failing = false;
  const refresh = async () => {
    if (!ctx.alive || document.hidden) return;
    try {
      const next = await get("/api/admin/dashboard");
      if (!ctx.alive) return;
      content.replaceChildren(...view(next, titles));
      stamp();
      failing = false;
    } catch (e) {
      if (!ctx.alive || e.handled) return;
      updated.textContent = `Refresh failed at ${clock()}: ${e.message}`;
      if (!failing) showError(e);
      failing = true;
    }
  };
  const timer = setInterval(refresh, REFRESH_MS);
  const onVisible = () => {
    if (!document.hidden) refresh();
  };
  document.addEventListener("visibilitychange", onVisible);
  ctx.onLeave(() => {
    clearInterval(timer);
    document.removeEventListener("visibilitychange", onVisible);
  });
}
