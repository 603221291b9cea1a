// Where GitLab's requests go: remote endpoints, the feature → model routes, and the API keys of the /v1 API.

import { api } from "./api.js";
import { action, el, familySelect, field, notice, submit, table, when } from "./ui.js";

export async function endpoints(section) {
  const list = el("div", {});
  const refresh = async () => {
    const all = await api("GET", "/api/admin/endpoints");
    list.replaceChildren(
      table(
        ["Name", "URL", "Model", "Family", "API key", ""],
        all.map((e) => [e.name, el("code", {}, e.url), e.model, e.family || "automatic", e.has_api_key ? "set" : "none", endpointActions(e, refresh)]),
        (i) => all[i].name,
      ),
    );
  };
  section.append(
    el("p", {}, "OpenAI-compatible model servers (vLLM, llama-server, another airgate) that features can be routed to. API keys are write-only: airgate never shows them again."),
    endpointForm(null, refresh),
    el("h2", {}, "Endpoints"),
    list,
  );
  await refresh();
}

function endpointForm(e, refresh) {
  const form = el(
    "form",
    { class: "card grid-form" },
    el("h2", {}, e ? `Edit ${e.name}` : "Add an endpoint"),
    e ? null : field("Name", "name", { required: true, pattern: "[A-Za-z0-9._\\-]{1,64}" }),
    field("URL", "url", { required: true, placeholder: "http://10.0.0.5:8000/v1", value: e ? e.url : "" }),
    field("Model identifier", "model", { required: true, value: e ? e.model : "" }),
    familySelect("GitLab family", "family", e ? e.family : null),
    field("API key", "api_key", { type: "password", autocomplete: "new-password", placeholder: e && e.has_api_key ? "unchanged" : "none" }),
    e && e.has_api_key ? el("label", { class: "check" }, el("input", { type: "checkbox", name: "remove_key" }), " Remove the stored key") : null,
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: e ? "save-endpoint" : "create-endpoint" } }, e ? "Save" : "Add endpoint")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const body = { url: form.url.value.trim(), model: form.model.value.trim(), family: form.family.value || null };
      if (form.api_key.value) body.api_key = form.api_key.value;
      if (form.remove_key && form.remove_key.checked) body.api_key = "";
      if (e) await api("PUT", `/api/admin/endpoints/${encodeURIComponent(e.name)}`, body);
      else await api("POST", "/api/admin/endpoints", { name: form.name.value.trim(), ...body });
      form.api_key.value = "";
      if (!e) form.reset();
      notice(e ? `Endpoint ${e.name} saved.` : "Endpoint added.", "ok");
      await refresh();
    });
  });
  return form;
}

function endpointActions(e, refresh) {
  const result = el("span", { class: "small", dataset: { role: "test-result" } });
  const editor = el("div", {});
  return el(
    "div",
    { class: "buttons" },
    action("Test", "test-endpoint", async () => {
      result.textContent = "testing…";
      const r = await api("POST", `/api/admin/endpoints/${encodeURIComponent(e.name)}/test`);
      result.className = r.ok ? "ok-text small" : "bad-text small";
      result.textContent = `${r.ok ? "ok" : "failed"} (${r.latency_ms} ms): ${r.message}`;
    }),
    action("Edit", "edit-endpoint", async () => editor.replaceChildren(endpointForm(e, refresh))),
    action("Delete", "delete-endpoint", async () => {
      if (!confirm(`Delete endpoint ${e.name}?`)) return;
      await api("DELETE", `/api/admin/endpoints/${encodeURIComponent(e.name)}`);
      await refresh();
    }),
    result,
    editor,
  );
}

export async function features(section) {
  const [list, models, eps] = await Promise.all([api("GET", "/api/admin/features"), api("GET", "/api/admin/models"), api("GET", "/api/admin/endpoints")]);
  const options = (route) => {
    const value = JSON.stringify(route.kind === "local" ? { kind: "local", model: route.model } : route.kind === "remote" ? { kind: "remote", endpoint: route.endpoint } : { kind: route.kind });
    const opts = [
      ["Default model", { kind: "default" }],
      ...models.models.map((m) => [`Local model: ${m.name}`, { kind: "local", model: m.name }]),
      ...eps.map((e) => [`Remote endpoint: ${e.name}`, { kind: "remote", endpoint: e.name }]),
      ["Disabled", { kind: "disabled" }],
    ];
    return opts.map(([label, v]) => el("option", { value: JSON.stringify(v), selected: JSON.stringify(v) === value }, label));
  };
  const groups = [...new Set(list.map((f) => f.group))];
  section.append(el("p", {}, "The model that serves each GitLab Duo feature when a GitLab request names none. Chat sub-features left on the default follow General Chat."));
  for (const group of groups) {
    const rows = list.filter((f) => f.group === group).map((f) => {
      const select = el("select", { name: "route", "aria-label": `Route for ${f.title}` }, options(f.route));
      const effective = el("span", { class: "muted", dataset: { role: "effective" } }, f.effective);
      const save = action("Save", "save-route", async () => {
        const r = await api("PUT", `/api/admin/features/${f.feature}`, JSON.parse(select.value));
        effective.textContent = r.effective;
        notice(`${f.title}: ${r.effective}.`, "ok");
      });
      return [f.title, el("code", {}, f.feature), select, save, effective];
    });
    section.append(el("h2", {}, group), table(["Feature", "Key", "Route", "", "Served by now"], rows, (i) => list.filter((f) => f.group === group)[i].feature));
  }
}

export async function apiKeys(section) {
  const list = el("div", {});
  const shown = el("div", { dataset: { role: "new-key" } });
  const refresh = async () => {
    const keys = await api("GET", "/api/admin/api-keys");
    list.replaceChildren(
      table(
        ["Name", "Key starts with", "Created", "By", "Last used", ""],
        keys.map((k) => [
          k.name, el("code", {}, `${k.prefix}…`), when(k.created_at), k.created_by, when(k.last_used_at),
          action("Revoke", "revoke-key", async () => {
            if (!confirm(`Revoke API key ${k.name}? Clients using it stop working at once.`)) return;
            await api("DELETE", `/api/admin/api-keys/${k.id}`);
            await refresh();
          }),
        ]),
        (i) => keys[i].id,
      ),
    );
  };
  const form = el("form", { class: "card" }, el("h2", {}, "Create a key"), field("Name (who or what uses it)", "name", { required: true, maxlength: 100 }), el("button", { type: "submit", dataset: { action: "create-key" } }, "Create key"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const k = await api("POST", "/api/admin/api-keys", { name: form.name.value.trim() });
      form.reset();
      const code = el("code", { dataset: { role: "key-value" } }, k.key);
      shown.replaceChildren(el("div", { class: "notice warn" }, el("p", {}, `API key "${k.name}" — copy it now: it will not be shown again.`), code));
      await refresh();
    });
  });
  section.append(el("p", {}, "With at least one key, the OpenAI-compatible /v1 API requires Authorization: Bearer <key>. Enter a key in GitLab's self-hosted model form as its API key."), form, shown, el("h2", {}, "Keys"), list);
  await refresh();
}
