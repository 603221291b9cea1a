// Pages that look at the whole server: the dashboard, the GitLab connection, diagnostics.

import { api } from "./api.js";
import { action, bytes, copyButton, duration, el, field, notice, submit, table, when } from "./ui.js";

export async function dashboard(section) {
  const body = el("div", {}, el("p", { class: "muted" }, "Loading…"));
  section.append(body);
  const load = async () => {
    const d = await api("GET", "/api/admin/dashboard");
    body.replaceChildren(
      el(
        "div",
        { class: "cards" },
        el("div", { class: `card stat ${d.ready ? "ok" : "bad"}` }, el("h2", {}, "Health"), el("p", {}, d.ready ? "Ready" : "Not ready"), el("p", { class: "muted" }, d.ready_detail)),
        el("div", { class: "card stat" }, el("h2", {}, "Version"), el("p", {}, `airgate ${d.version}`), el("p", { class: "muted" }, d.llama_cpp)),
        el("div", { class: "card stat" }, el("h2", {}, "Backend"), el("p", { class: "small" }, d.backend || "–")),
        el("div", { class: "card stat" }, el("h2", {}, "Uptime and memory"), el("p", {}, duration(d.uptime_s)), el("p", { class: "muted" }, `resident ${bytes(d.rss_bytes)}`)),
      ),
      el("h2", {}, "Loaded models"),
      table(["Model", "Status", "Default", "Weights in memory"], d.models.map((m) => [m.name, m.detail ? `${m.status}: ${m.detail}` : m.status, m.default ? "yes" : "", bytes(m.memory_bytes)]), (i) => d.models[i].name),
      el("h2", {}, "Requests in the last hour"),
      table(
        ["Feature", "Requests", "Errors", "Tokens in", "Tokens out", "p50", "p95"],
        d.features.map((f) => [f.feature, f.requests, f.errors, f.tokens_in, f.tokens_out, `${f.p50_ms} ms`, `${f.p95_ms} ms`]),
        (i) => d.features[i].feature,
      ),
      el("h2", {}, "Recent errors"),
      table(["Time", "Correlation id", "Request", "Status", "Message"], d.recent_errors.map((e) => [when(e.at), el("code", {}, e.correlation_id), `${e.method} ${e.path}`, e.status, e.message || ""])),
    );
  };
  await load();
  const timer = setInterval(() => {
    if (!document.hidden) load().catch((e) => notice(e.message));
  }, 10000);
  return () => clearInterval(timer);
}

export async function gitlab(section) {
  const g = await api("GET", "/api/admin/gitlab");
  const form = el(
    "form",
    { class: "card" },
    field("GitLab URL (the instance whose users' tokens airgate accepts)", "gitlab_url", { value: g.gitlab_url || "", placeholder: "https://gitlab.example.com" }),
    el("button", { type: "submit", dataset: { action: "save-gitlab" } }, "Save and fetch keys"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const r = await api("PUT", "/api/admin/gitlab", { gitlab_url: form.gitlab_url.value.trim() || null });
      notice(r.jwks.last_error ? `Saved, but GitLab's keys could not be fetched: ${r.jwks.last_error}` : `Saved; ${r.jwks.keys} signing keys fetched from GitLab.`, r.jwks.last_error ? "error" : "ok");
      section.replaceChildren(section.firstChild);
      await gitlab(section);
    });
  });
  const jwks = g.jwks;
  const status = !g.gitlab_url
    ? el("p", { class: "notice error" }, "No GitLab URL is set: airgate accepts only its own tokens, so GitLab's requests are refused. Enter the URL above.")
    : el(
        "dl",
        { class: "facts" },
        el("dt", {}, "GitLab URL"), el("dd", {}, g.gitlab_url),
        el("dt", {}, "Signing keys"), el("dd", {}, `${jwks.keys} cached`),
        el("dt", {}, "Last fetched"), el("dd", {}, when(jwks.last_success)),
        el("dt", {}, "Last error"), el("dd", { class: jwks.last_error ? "bad-text" : "" }, jwks.last_error || "none"),
      );
  const snippet = (title, text) => el("div", { class: "card" }, el("h3", {}, title), el("pre", {}, text), copyButton(() => text));
  section.append(
    el("h2", {}, "Trust"),
    form,
    status,
    g.auth_bypass ? el("p", { class: "notice error" }, "Authentication bypass is on: every request is accepted without a token. Use it only for troubleshooting.") : null,
    el("h2", {}, "Point GitLab at airgate"),
    el("p", {}, "In GitLab 17.9 and later: Admin → GitLab Duo → Local AI Gateway URL = ", el("code", {}, g.airgate_url), ". To pin it in configuration:"),
    el("div", { class: "cards" }, snippet("Linux package: /etc/gitlab/gitlab.rb (then gitlab-ctl reconfigure)", g.gitlab_rb), snippet("Helm chart values", g.helm)),
    el("h2", {}, "Add self-hosted model: the form's values"),
    table(
      ["Deployment name", "Platform", "Model family", "Endpoint", "Model identifier", "API key"],
      g.self_hosted_models.map((m) => [m.deployment_name, m.platform, m.family, el("code", {}, m.endpoint), el("code", {}, m.identifier), m.api_key]),
      (i) => g.self_hosted_models[i].deployment_name,
    ),
  );
}

export function diagnostics(section) {
  const out = el("div", {});
  const run = action("Run self-test", "run-diagnostics", async (b) => {
    const started = Date.now();
    const tick = setInterval(() => (b.textContent = `Running… ${Math.round((Date.now() - started) / 1000)} s`), 500);
    try {
      const r = await api("POST", "/api/admin/diagnostics");
      out.replaceChildren(
        el("p", { class: `notice ${r.ok ? "ok" : "error"}`, dataset: { role: "verdict" } }, r.ok ? "All checks passed." : "Some checks failed: see below."),
        table(
          ["Feature", "Served by", "Result", "Time", "Detail"],
          r.results.map((x) => [x.title || x.feature, x.target || "–", el("span", { class: x.ok ? "ok-text" : "bad-text" }, x.ok ? "pass" : "fail"), `${x.ms} ms`, x.message]),
          (i) => r.results[i].feature,
        ),
      );
    } finally {
      clearInterval(tick);
      b.textContent = "Run self-test";
    }
  });
  section.append(el("p", {}, "Sends one short request to the model behind every GitLab Duo feature, as GitLab would, and checks GitLab's signing keys."), run, out);
}
