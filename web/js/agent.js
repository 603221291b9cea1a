// The Agent Platform page: the gRPC service GitLab's Agentic Chat and agent mode talk to (address, TLS, limits) and its live sessions, each with a stop button.

import { get, post, seg } from "./api.js";
import { el, button, table, clock, duration, num, showError, notice, confirmed, copyButton } from "./ui.js";

const REFRESH_MS = 2000;

const STATUS_CLASS = {
  RUNNING: "ok-text",
  CREATED: "muted",
  INPUT_REQUIRED: "muted",
  TOOL_CALL_APPROVAL_REQUIRED: "warn-text",
  FAILED: "bad-text",
  STOPPED: "warn-text",
};

function sessionRows(a, refresh) {
  return (a.sessions || []).map((s) => ({
    key: String(s.id),
    cells: [
      el("code", { dataset: { role: "workflow-id" } }, s.workflow_id),
      el("span", { dataset: { role: "user" } }, s.user || "–"),
      s.flow,
      el("span", { class: STATUS_CLASS[s.status] || "", dataset: { role: "status" } }, s.stopping ? `${s.status} (stopping)` : s.status),
      el("span", { dataset: { role: "model" } }, s.model || "–"),
      el("span", { class: "num", dataset: { role: "tool-calls" } }, num(s.tool_calls)),
      el("span", { title: new Date(s.started_at * 1000).toString() }, duration(s.duration_secs)),
      button("Stop", "stop-session", async () => {
        if (!confirmed(`Stop session ${s.workflow_id}? GitLab shows it as stopped; the user can go on with a new message.`)) return;
        await post(`/api/admin/agent/sessions/${seg(s.id)}/stop`, {});
        notice(`Asked session ${s.workflow_id} to stop.`, "ok");
        await refresh();
      }, { class: "secondary small", disabled: s.stopping }),
    ],
  }));
}

function view(a, refresh) {
  const value = el("code", { dataset: { role: "agent-platform-url" } }, a.gitlab_setting);
  const service = el("section", { class: "card", "aria-labelledby": "h-agent-service" },
    el("h2", { id: "h-agent-service" }, "Service"),
    el("dl", { class: "facts", dataset: { role: "agent-service" } },
      el("dt", {}, "Listening on"), el("dd", {}, el("code", { dataset: { role: "agent-listen" } }, a.listen)),
      el("dt", {}, "Transport"), el("dd", { dataset: { role: "agent-tls" } }, a.tls ? "TLS (the HTTP listener's certificate)" : "plaintext gRPC (h2c)"),
      el("dt", {}, "Sessions"), el("dd", { dataset: { role: "agent-active" } }, `${num(a.active)} running, at most ${num(a.max_sessions)}`),
      el("dt", {}, "Chat scope"), el("dd", {}, el("code", {}, a.chat_scope))),
    el("p", {}, "In GitLab: Admin › GitLab Duo › Change configuration › ", el("em", {}, "Local URL for the GitLab Duo Agent Platform service"), " = ", value, " ",
      copyButton(value, "copy-agent-platform-url")),
    a.tls ? null : el("p", { class: "muted small" }, "The service speaks plaintext gRPC: GitLab needs ", el("code", {}, "DUO_AGENT_PLATFORM_SERVICE_SECURE=false"),
      " in its environment (gitlab_rails['env'] in gitlab.rb)."));
  const sessions = el("section", { "aria-labelledby": "h-agent-sessions" },
    el("h2", { id: "h-agent-sessions" }, "Live sessions"),
    table(["Workflow", "User", "Flow", "Status", "Model", "Tool calls", "Running for", ""], sessionRows(a, refresh),
      { empty: "No session is running. Sessions appear here while Agentic Chat or agent mode works on a message.", attrs: { class: "compact", dataset: { role: "agent-sessions" } } }));
  return [service, sessions];
}

export async function render(body, ctx) {
  const content = el("div", { dataset: { role: "agent-platform" } });
  const updated = el("p", { class: "muted small", dataset: { role: "updated" }, "aria-live": "off" });
  let failing = false;
  const refresh = async () => {
    if (!ctx.alive || document.hidden) return;
    try {
      const next = await get("/api/admin/agent");
      if (!ctx.alive) return;
      content.replaceChildren(...view(next, refresh));
      updated.textContent = `Updated at ${clock()}; refreshes every 2 seconds while this page is visible.`;
      failing = false;
    } catch (e) {
      if (!ctx.alive || e.handled) return;
      updated.textContent = `Refresh failed at ${clock()}: ${e.message}`;
      if (!failing) showError(e);
      failing = true;
    }
  };
  const first = await get("/api/admin/agent");
  content.replaceChildren(...view(first, refresh));
  updated.textContent = `Updated at ${clock()}; refreshes every 2 seconds while this page is visible.`;
  body.replaceChildren(updated, content);
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
