// The API keys page: keys for airgate's own OpenAI-compatible /v1 API (create, shown once; revoke).

import { get, post, put, del, seg } from "./api.js";
import { el, field, onSubmit, busy, confirmed, notice, table, timeEl, copyButton } from "./ui.js";

export async function render(body, ctx) {
  const list = el("div", { dataset: { role: "api-keys" } });
  const reveal = el("div", { dataset: { role: "new-key" }, hidden: true });

  const access = el("div", { dataset: { role: "v1-access" } });
  const showAccess = (a) => {
    const state = a.open_by_config
      ? "/v1 is open: the configuration sets [auth] v1_open, so no key is asked for whatever this switch says."
      : a.enforced ? "/v1 requires an API key." : "/v1 is open: it answers every client that reaches airgate, without a key.";
    const toggle = el("button", { type: "button", class: a.required ? "danger" : "", dataset: { action: "toggle-v1-access" } },
      a.required ? "Open /v1 without a key" : "Require an API key on /v1");
    toggle.addEventListener("click", () => busy(toggle, async () => {
      if (a.required && !confirmed("Open /v1 to every client that reaches airgate, without a key?")) return;
      showAccess(await put("/api/admin/api-keys/access", { required: !a.required }));
      notice(a.required ? "/v1 answers without a key now." : "/v1 requires an API key now.", "ok");
    }));
    access.replaceChildren(el("p", { dataset: { role: "v1-access-state" } }, el("strong", {}, state)), el("div", { class: "buttons" }, toggle));
  };

  const refresh = async () => {
    const [keys, a] = await Promise.all([get("/api/admin/api-keys"), get("/api/admin/api-keys/access")]);
    if (!ctx.alive) return;
    showAccess(a);
    list.replaceChildren(table(["Name", "Key", "Created", "Created by", "Last used", ""], keys.map((k) => {
      const revoke = el("button", { type: "button", class: "danger", dataset: { action: "revoke-key" }, "aria-label": `Revoke ${k.name}` }, "Revoke");
      revoke.addEventListener("click", () => busy(revoke, async () => {
        if (!confirmed(`Revoke API key "${k.name}" (${k.prefix}…)? Clients using it are refused from now on.`)) return;
        await del(`/api/admin/api-keys/${seg(k.id)}`);
        if (reveal.dataset.id === String(k.id)) {
          reveal.hidden = true;
          reveal.replaceChildren();
        }
        await refresh();
        notice(`API key "${k.name}" is revoked.`, "ok");
      }));
      return {
        key: k.id,
        cells: [el("strong", {}, k.name), el("code", {}, `${k.prefix}…`), timeEl(k.created_at, "unknown"), k.created_by || "",
          timeEl(k.last_used_at, "never"), revoke],
      };
    }), { empty: "Nothing here yet. No API key exists." }));
  };

  const form = el("form", { class: "inline-form", dataset: { form: "create-key" } },
    field("Name", "name", { required: true, maxlength: 100, autocomplete: "off", hint: "Who or what uses the key, e.g. \"build server\" or \"GitLab\"." }),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "create-key" } }, "Create key")));
  onSubmit(form, async () => {
    const k = await post("/api/admin/api-keys", { name: form.name.value.trim() });
    const value = el("code", { class: "secret", dataset: { role: "key-value" } }, k.key);
    reveal.dataset.id = String(k.id);
    reveal.replaceChildren(el("div", { class: "notice warn static key-box" },
      el("p", {}, el("strong", {}, `The new key "${k.name}":`), " copy it now. It will not be shown again: airgate keeps only its digest."),
      el("p", { class: "key-line" }, value, copyButton(value, "copy-key"))));
    reveal.hidden = false;
    form.reset();
    await refresh();
    notice(`API key "${k.name}" is created. Copy it from the highlighted box now.`, "ok");
    reveal.querySelector("[data-action=copy-key]").focus();
  });

  body.replaceChildren(
    el("p", {}, "Clients of airgate's OpenAI-compatible API (", el("code", {}, "/v1"), ") send a key as ", el("code", {}, "Authorization: Bearer ag-…"),
      ". From the first key on, /v1 refuses requests without a valid one, and keeps refusing them when the last key is revoked, until you open it below; then also enter a key as the API key of GitLab's self-hosted models (see the GitLab page). airgate keeps only a SHA-256 digest of each key."),
    el("section", { class: "card", "aria-labelledby": "h-v1-access" }, el("h2", { id: "h-v1-access" }, "Access to /v1"), access),
    el("section", { class: "card", "aria-labelledby": "h-create-key" }, el("h2", { id: "h-create-key" }, "Create a key"), form, reveal),
    el("h2", {}, "Keys"),
    list);
  await refresh();
}
