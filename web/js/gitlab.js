// The GitLab page: the GitLab instance airgate trusts (its signing keys), the settings to give GitLab, and the values for "Add self-hosted model".

import { get, put } from "./api.js";
import { el, field, onSubmit, confirmed, notice, table, timeEl, copyButton } from "./ui.js";

function snippet(title, text, action, intro) {
  const pre = el("pre", { dataset: { role: action.replace(/^copy-/, "") } }, el("code", {}, text));
  return el("section", { class: "card", "aria-label": title },
    el("div", { class: "card-head" }, el("h3", {}, title), copyButton(pre, action)),
    el("p", { class: "muted small" }, intro),
    pre);
}

export async function render(body, ctx) {
  show(body, ctx, await get("/api/admin/gitlab"));
}

function urlForm(body, ctx, g) {
  const form = el("form", { class: "inline-form", dataset: { form: "gitlab" } },
    field("GitLab URL", "gitlab_url", { type: "url", value: g.gitlab_url || "", autocomplete: "off", spellcheck: "false", optionalMark: false,
      placeholder: "https://gitlab.example.com", "data-type-hint": "Enter a full URL such as https://gitlab.example.com.",
      hint: "The instance whose users' tokens airgate accepts. Empty: trust no GitLab instance." }),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "save-gitlab" } }, "Save and fetch keys")));
  onSubmit(form, async () => {
    const url = form.gitlab_url.value.trim();
    if (!url && g.gitlab_url && !confirmed("Trust no GitLab instance? GitLab's requests are refused until a URL is set again.")) return;
    const r = await put("/api/admin/gitlab", { gitlab_url: url || null });
    if (!ctx.alive) return;
    show(body, ctx, r);
    const j = r.jwks || {};
    if (!r.gitlab_url) notice("Saved: airgate trusts no GitLab instance now.", "warn");
    else if (j.last_error) notice(`Saved, but GitLab's signing keys could not be fetched: ${j.last_error}`, "error");
    else notice(`Saved: ${j.keys || 0} signing key${j.keys === 1 ? "" : "s"} fetched from ${r.gitlab_url}.`, "ok");
  });
  return form;
}

function show(body, ctx, g) {
  const jwks = g.jwks || {};

  const trust = el("section", { class: "card", "aria-labelledby": "h-trust" }, el("h2", { id: "h-trust" }, "GitLab instance"), urlForm(body, ctx, g));
  if (!g.gitlab_url) {
    trust.append(el("p", { class: "bad-text", dataset: { role: "no-gitlab-url" } },
      "No GitLab URL is set: airgate cannot verify the tokens GitLab sends, so GitLab's requests are refused. Enter the URL above."));
  }
  if (g.auth_bypass && g.auth_bypass.active) {
    const until = g.auth_bypass.pinned ? " The configuration pins it on." : ` It turns itself off in ${Math.ceil((g.auth_bypass.expires_in_s || 0) / 60)} minutes.`;
    trust.append(el("p", { class: "notice error static", dataset: { role: "auth-bypass" } },
      "Token checks are switched off (auth.bypass): anyone who reaches airgate can use its models, with the endpoints registered here. Use this only for a test installation." + until));
  }
  if (g.gitlab_url && g.gitlab_url.toLowerCase().startsWith("http://")) {
    trust.append(el("p", { class: "notice warn static", dataset: { role: "plain-http-gitlab" } },
      "The GitLab URL is http://: GitLab's signing keys travel unprotected, so anyone on the path could swap them and forge tokens. Use https://."));
  }
  trust.append(el("dl", { class: "facts", dataset: { role: "jwks" } },
    el("dt", {}, "Signing keys cached"), el("dd", { dataset: { role: "jwks-keys" } }, jwks.keys === null || jwks.keys === undefined ? "–" : String(jwks.keys)),
    el("dt", {}, "Keys last fetched"), el("dd", { dataset: { role: "jwks-last-success" } }, timeEl(jwks.last_success, "never")),
    el("dt", {}, "Last error"), el("dd", { dataset: { role: "jwks-last-error" } },
      jwks.last_error ? el("span", { class: "bad-text" }, jwks.last_error) : el("span", { class: "muted" }, "none")),
    el("dt", {}, "This airgate's URL"), el("dd", {}, el("code", { dataset: { role: "airgate-url" } }, g.airgate_url))));

  const point = el("section", { "aria-labelledby": "h-point" },
    el("h2", { id: "h-point" }, "1. Point GitLab at airgate"),
    el("p", {}, "On GitLab 17.9 and later: Admin › GitLab Duo › ", el("em", {}, "Local AI Gateway URL"), " = ", el("code", {}, g.airgate_url),
      ". On older versions, or to pin it in the configuration, use one of these:"),
    el("div", { class: "snippets" },
      snippet("Linux package (/etc/gitlab/gitlab.rb)", g.gitlab_rb, "copy-gitlab-rb", "Add to /etc/gitlab/gitlab.rb, then run: sudo gitlab-ctl reconfigure"),
      snippet("Helm chart values", g.helm, "copy-helm", "Merge into the values of the GitLab Helm chart, then upgrade the release.")));

  const dws = el("code", { dataset: { role: "agent-platform-url" } }, g.agent_platform_url);
  const agentPlatform = el("section", { "aria-labelledby": "h-agent-platform" },
    el("h2", { id: "h-agent-platform" }, "Agent Platform (Agentic Chat, agent mode)"),
    el("p", {}, "On GitLab 18.4 and later: Admin › GitLab Duo › Change configuration › ", el("em", {}, "Local URL for the GitLab Duo Agent Platform service"),
      " = ", dws, " ", copyButton(dws, "copy-agent-platform-url"), " (host and port, no scheme)."),
    g.agent_platform_tls
      ? el("p", { class: "muted small" }, "The service uses TLS with this airgate's certificate; GitLab must trust it.")
      : el("p", { class: "muted small" }, "The service speaks plaintext gRPC, so GitLab needs ", el("code", {}, "DUO_AGENT_PLATFORM_SERVICE_SECURE=false"),
        " in gitlab_rails['env']. Live sessions are on the Agent Platform page."));

  const rows = (g.self_hosted_models || []).map((m) => ({
    key: m.deployment_name,
    cells: [el("code", {}, m.deployment_name), m.platform, el("code", {}, m.endpoint), el("code", {}, m.identifier), el("code", {}, m.family), m.api_key],
  }));
  const add = el("section", { "aria-labelledby": "h-add" },
    el("h2", { id: "h-add" }, "2. Add the models to GitLab"),
    el("p", {}, "In GitLab: Admin › GitLab Duo › Self-hosted models › ", el("em", {}, "Add self-hosted model"), ". Enter one row of this table per model:"),
    table(["Deployment name", "Platform", "Endpoint", "Model identifier", "Model family", "API key"], rows,
      { empty: "Nothing here yet. No model is loaded and no remote endpoint exists.", attrs: { class: "compact", dataset: { role: "self-hosted-models" } } }),
    el("h2", {}, "3. Map GitLab's features"),
    el("p", {}, "Still in GitLab, under ", el("em", {}, "AI-powered features"), ", choose the self-hosted model for Code Completion, Code Generation, General Chat and the others. Which model airgate then uses is set on the Features page."),
    el("h2", {}, "4. Check it"),
    el("p", {}, "On the GitLab server: ", el("code", {}, 'sudo gitlab-rake "gitlab:duo:verify_self_hosted_setup[root]"'),
      ", and the Diagnostics page here."));

  body.replaceChildren(trust, point, agentPlatform, add);
}
