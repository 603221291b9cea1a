// The diagnostics page: runs airgate's self-test (GitLab's signing keys, then a short generation per feature) and shows a pass/fail table with an overall verdict.

import { post } from "./api.js";
import { el, busy, notice, table, num } from "./ui.js";

function results(r) {
  const rows = (r.results || []).map((x) => ({
    key: x.feature,
    attrs: { class: x.ok ? "" : "failed-row" },
    cells: [
      el("span", {}, x.title || (x.feature === "gitlab_keys" ? "GitLab signing keys" : x.feature), el("code", { class: "small muted block" }, x.feature)),
      el("code", { class: "break" }, x.target || ""),
      el("span", { class: x.ok ? "ok-text" : "bad-text", dataset: { role: "result" } }, x.ok ? "Pass" : "Fail"),
      x.ms === null || x.ms === undefined ? "–" : `${num(x.ms)} ms`,
      el("span", { class: "break" }, x.message || ""),
    ],
  }));
  const failed = (r.results || []).filter((x) => !x.ok).length;
  const total = (r.results || []).length;
  const verdict = el("p", { class: `verdict ${r.ok ? "ok" : "bad"}`, dataset: { role: "verdict" }, tabindex: "-1" },
    r.ok ? `All checks passed (${total}).` : `${failed} of ${total} checks failed. The failing rows say why.`);
  return [verdict, table(["Check", "Served by", "Result", "Time", "Message"], rows, { attrs: { dataset: { role: "diagnostics" } } })];
}

export async function render(body, ctx) {
  const out = el("div", { dataset: { role: "diagnostics-results" } });
  const progress = el("p", { class: "running", dataset: { role: "running" }, "aria-live": "polite", hidden: true });
  const run = el("button", { type: "button", dataset: { action: "run-diagnostics" } }, "Run self-test");
  run.addEventListener("click", () => busy(run, async () => {
    out.replaceChildren();
    const started = Date.now();
    const tick = () => {
      progress.replaceChildren(el("span", { class: "spinner", "aria-hidden": "true" }),
        `Running the self-test… ${Math.floor((Date.now() - started) / 1000)} s`);
    };
    tick();
    progress.hidden = false;
    const timer = setInterval(tick, 1000);
    ctx.onLeave(() => clearInterval(timer));
    try {
      const r = await post("/api/admin/diagnostics");
      if (!ctx.alive) return;
      out.replaceChildren(...results(r));
      const secs = ((Date.now() - started) / 1000).toFixed(1);
      notice(r.ok ? `Self-test finished in ${secs} s: all checks passed.` : `Self-test finished in ${secs} s: some checks failed.`, r.ok ? "ok" : "error");
      out.querySelector("[data-role=verdict]").focus();
    } finally {
      clearInterval(timer);
      progress.hidden = true;
    }
  }));
  body.replaceChildren(
    el("p", {}, "The self-test fetches GitLab's signing keys (when a GitLab URL is set), then sends a short prompt through the route of every feature, as GitLab would, and times the answer. It can take a minute while models answer in turn. Features switched off are listed but not checked."),
    el("div", { class: "buttons" }, run),
    progress,
    out);
}
