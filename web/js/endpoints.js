// The remote endpoints page: OpenAI-compatible upstreams (create, edit with a write-only API key, test, delete).

import { get, post, put, del, seg } from "./api.js";
import { el, field, familyField, loadFamilies, onSubmit, busy, confirmed, notice, table, timeEl, clearFieldErrors } from "./ui.js";

export async function render(body, ctx) {
  await loadFamilies();
  const list = el("div", { dataset: { role: "endpoints" } });
  const formBox = el("section", { class: "card", "aria-labelledby": "h-endpoint-form" });
  const results = new Map();
  let editing = null;

  const refresh = async () => {
    const all = await get("/api/admin/endpoints");
    if (!ctx.alive) return;
    list.replaceChildren(table(["Name", "URL", "Model identifier", "Family", "API key", "Created", "Test result", ""], all.map((e) => ({
      key: e.name,
      cells: [
        el("strong", {}, e.name),
        el("code", {}, e.url),
        el("code", {}, e.model),
        e.family || el("span", { class: "muted" }, "automatic"),
        e.has_api_key ? "stored" : el("span", { class: "muted" }, "none"),
        timeEl(e.created_at, "unknown"),
        results.get(e.name) || el("span", { class: "muted", dataset: { role: "test-result" } }, "not tested"),
        rowActions(e),
      ],
    })), { empty: "Nothing here yet. No remote endpoint is configured; add one below.", attrs: { class: "compact" } }));
  };

  function rowActions(e) {
    const buttons = [];
    const test = el("button", { type: "button", class: "secondary", dataset: { action: "test-endpoint" }, "aria-label": `Test ${e.name}` }, "Test");
    const edit = el("button", { type: "button", class: "secondary", dataset: { action: "edit-endpoint" }, "aria-label": `Edit ${e.name}` }, "Edit");
    const remove = el("button", { type: "button", class: "danger", dataset: { action: "delete-endpoint" }, "aria-label": `Delete ${e.name}` }, "Delete");
    buttons.push(test, edit, remove);
    test.addEventListener("click", () => busy(buttons, async () => {
      const cell = test.closest("tr").querySelector("[data-role=test-result]");
      cell.className = "muted";
      cell.textContent = "Testing…";
      try {
        const r = await post(`/api/admin/endpoints/${seg(e.name)}/test`);
        const out = el("span", { class: r.ok ? "ok-text" : "bad-text", dataset: { role: "test-result" } },
          `${r.ok ? "OK" : "Failed"}, ${r.latency_ms} ms: `, el("span", { class: "plain" }, r.message));
        results.set(e.name, out);
        cell.replaceWith(out);
        notice(`Endpoint ${e.name}: ${r.ok ? "OK" : "failed"} in ${r.latency_ms} ms; ${r.message}`, r.ok ? "ok" : "error");
      } catch (err) {
        cell.textContent = "not tested";
        throw err;
      }
    }));
    edit.addEventListener("click", () => {
      editing = e;
      showForm();
      formBox.scrollIntoView({ block: "start", behavior: "smooth" });
      formBox.querySelector("[name=url]").focus();
    });
    remove.addEventListener("click", () => busy(buttons, async () => {
      if (!confirmed(`Delete endpoint ${e.name}? Features routed to it must be routed elsewhere first.`)) return;
      await del(`/api/admin/endpoints/${seg(e.name)}`);
      results.delete(e.name);
      if (editing && editing.name === e.name) {
        editing = null;
        showForm();
      }
      await refresh();
      notice(`Endpoint ${e.name} is deleted.`, "ok");
    }));
    return el("div", { class: "buttons nowrap" }, buttons);
  }

  function showForm() {
    const e = editing;
    const keyHint = e
      ? e.has_api_key ? "Write-only: a key is stored. Leave empty to keep it, or type a new one to replace it." : "No key is stored. Leave empty if the upstream needs none."
      : "Sent as Authorization: Bearer. Write-only: airgate never shows it again.";
    const form = el("form", { dataset: { form: "endpoint" } },
      el("div", { class: "grid-form" },
        e ? el("div", { class: "field" }, el("span", { class: "label" }, "Name"), el("strong", { dataset: { role: "editing" } }, e.name))
          : field("Name", "name", { required: true, maxlength: 64, pattern: "[A-Za-z0-9._\\-]+", autocomplete: "off", spellcheck: "false",
            "data-pattern-hint": "Use letters, digits, '.', '_' and '-' only.", hint: "1 to 64 characters: letters, digits, '.', '_' and '-'." }),
        field("URL", "url", { type: "url", required: true, value: e ? e.url : "", autocomplete: "off", spellcheck: "false",
          placeholder: "http://10.0.0.5:8000/v1", hint: "The OpenAI-compatible base URL, usually ending in /v1." }),
        field("Model identifier", "model", { required: true, maxlength: 256, value: e ? e.model : "", autocomplete: "off", spellcheck: "false",
          hint: "The model name the upstream serves (its GET /v1/models lists it)." }),
        familyField("GitLab model family", e ? e.family : null, "Chooses the prompts GitLab's features use with it."),
        field("API key", "api_key", { type: "password", autocomplete: "new-password", spellcheck: "false",
          placeholder: e && e.has_api_key ? "unchanged" : "", hint: keyHint }),
        e && e.has_api_key ? el("div", { class: "field" }, el("label", { class: "check" },
          el("input", { type: "checkbox", name: "remove_api_key" }), " Remove the stored API key")) : null),
      el("div", { class: "buttons" },
        el("button", { type: "submit", dataset: { action: e ? "save-endpoint" : "create-endpoint" } }, e ? "Save endpoint" : "Add endpoint"),
        e ? el("button", { type: "button", class: "secondary", dataset: { action: "cancel-edit" }, onclick: () => {
          editing = null;
          showForm();
        } }, "Cancel") : null));
    const removeKey = form.querySelector("[name=remove_api_key]");
    if (removeKey) {
      removeKey.addEventListener("change", () => {
        form.api_key.disabled = removeKey.checked;
        if (removeKey.checked) form.api_key.value = "";
      });
    }
    onSubmit(form, async () => {
      const req = { url: form.url.value.trim(), model: form.model.value.trim(), family: form.family.value || null };
      if (removeKey && removeKey.checked) req.api_key = "";
      else if (form.api_key.value) req.api_key = form.api_key.value;
      if (e) {
        await put(`/api/admin/endpoints/${seg(e.name)}`, req);
        results.delete(e.name);
        editing = null;
        showForm();
        await refresh();
        notice(`Endpoint ${e.name} is saved${"api_key" in req ? (req.api_key ? "; its API key is replaced" : "; its API key is removed") : ""}.`, "ok");
      } else {
        const name = form.name.value.trim();
        await post("/api/admin/endpoints", { name, ...req });
        form.reset();
        clearFieldErrors(form);
        await refresh();
        notice(`Endpoint ${name} is added. Use Test to check that airgate reaches it, then route features to it.`, "ok");
      }
    });
    formBox.replaceChildren(el("h2", { id: "h-endpoint-form" }, e ? `Edit endpoint ${e.name}` : "Add an endpoint"), form);
  }

  showForm();
  body.replaceChildren(
    el("p", {}, "Model servers that speak the OpenAI API (vLLM, llama-server, another airgate) on this network. Features can be routed to them on the Features page. API keys are write-only: no page or answer ever shows them again."),
    list,
    formBox,
  );
  await refresh();
}
