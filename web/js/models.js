// The models page: GGUF files in the models directory, import with a progress bar, parameters, load / unload / reload, "try it".

import { api, readSse } from "./api.js";
import { action, bytes, el, familySelect, field, notice, showError, submit, table, when } from "./ui.js";

export async function page(section) {
  const body = el("div", {});
  section.append(body);
  const refresh = async () => {
    const data = await api("GET", "/api/admin/models");
    body.replaceChildren(importCard(data, refresh), el("h2", {}, "Registered models"), ...data.models.map((m) => modelCard(m, refresh)));
    if (!data.models.length) body.append(el("p", { class: "muted" }, "No model is registered yet: import a GGUF file above."));
  };
  await refresh();
}

function importCard(data, refresh) {
  const progress = el("progress", { max: 1, value: 0, hidden: true });
  const status = el("p", { class: "muted", dataset: { role: "import-status" } });
  const form = el(
    "form",
    { class: "card" },
    el("h2", {}, "Import a model"),
    el("p", { class: "muted" }, `Copies a GGUF file (for example from a USB stick) into ${data.models_dir}, checking its SHA-256 on the way, then loads it.`),
    field("Path on the airgate host", "path", { required: true, placeholder: "/media/usb/model.gguf" }),
    field("Name (optional: the file name without .gguf)", "name"),
    field("Expected SHA-256 (optional)", "sha256", { pattern: "[0-9a-fA-F]{64}", autocomplete: "off" }),
    el("button", { type: "submit", dataset: { action: "import" } }, "Import"),
    progress,
    status,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const body = { path: form.path.value.trim() };
      if (form.name.value.trim()) body.name = form.name.value.trim();
      if (form.sha256.value.trim()) body.sha256 = form.sha256.value.trim();
      const { job } = await api("POST", "/api/admin/models/import", body);
      progress.hidden = false;
      for (;;) {
        const j = await api("GET", `/api/admin/jobs/${job}`);
        progress.max = j.bytes_total || 1;
        progress.value = j.bytes_done;
        status.textContent = `${bytes(j.bytes_done)} of ${bytes(j.bytes_total)} — ${j.message}`;
        if (j.state === "failed") throw new Error(`Import failed: ${j.message}`);
        if (j.state === "done") break;
        await new Promise((r) => setTimeout(r, 500));
      }
      notice(`Model ${body.name || "imported"}: ${status.textContent}`, "ok");
      await refresh();
    });
  });
  const files = data.files.filter((f) => !f.registered_as);
  const list = files.length
    ? table(["Unregistered GGUF file", "Size", ""], files.map((f) => [el("code", {}, f.path), bytes(f.size), el("button", { type: "button", dataset: { action: "pick-file" }, onclick: () => { form.path.value = f.path; form.path.focus(); } }, "Import this")]))
    : null;
  return el("div", {}, form, list);
}

function num(v) {
  return v === "" ? null : Number(v);
}

function modelCard(m, refresh) {
  const form = el(
    "form",
    { class: "grid-form" },
    familySelect("GitLab family (prompts)", "family", m.family),
    field("Context per request (tokens)", "ctx_size", { type: "number", min: 256, value: m.ctx_size ?? "", placeholder: "automatic" }),
    field("Slots (parallel requests)", "parallel", { type: "number", min: 1, max: 64, value: m.parallel ?? "", placeholder: "automatic" }),
    field("Threads", "threads", { type: "number", min: 1, value: m.threads ?? "", placeholder: "automatic" }),
    field("GPU layers", "gpu_layers", { type: "number", min: 0, value: m.gpu_layers ?? "", placeholder: "0" }),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "save-model" } }, m.status === "ready" ? "Save and reload" : "Save")),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      await api("PUT", `/api/admin/models/${encodeURIComponent(m.name)}`, {
        family: form.family.value || null,
        ctx_size: num(form.ctx_size.value),
        parallel: num(form.parallel.value),
        threads: num(form.threads.value),
        gpu_layers: num(form.gpu_layers.value),
      });
      notice(`Model ${m.name} saved${m.status === "ready" ? " and reloaded" : ""}.`, "ok");
      await refresh();
    });
  });
  const post = (what, label) =>
    action(label, what, async () => {
      const r = await api("POST", `/api/admin/models/${encodeURIComponent(m.name)}/${what}`);
      if (r && r.status === "failed") notice(`Model ${m.name} failed to load: ${r.detail}`);
      await refresh();
    });
  const remove = action("Remove", "remove-model", async () => {
    if (!confirm(`Unregister model ${m.name}? The file stays on disk.`)) return;
    await api("DELETE", `/api/admin/models/${encodeURIComponent(m.name)}`);
    await refresh();
  });
  const buttons = el(
    "div",
    { class: "buttons" },
    m.status === "unloaded" || m.status === "failed" ? post("load", "Load") : [post("reload", "Reload"), post("unload", "Unload")],
    m.default || m.status !== "ready" ? null : post("default", "Make default"),
    remove,
  );
  return el(
    "article",
    { class: "card", dataset: { row: m.name } },
    el("h3", {}, m.name, " ", el("span", { class: `badge ${m.status}`, dataset: { role: "status" } }, m.status), m.default ? el("span", { class: "badge" }, "default") : null),
    m.detail ? el("p", { class: "bad-text" }, m.detail) : null,
    el(
      "dl",
      { class: "facts" },
      el("dt", {}, "File"), el("dd", {}, el("code", {}, m.path)),
      el("dt", {}, "Size"), el("dd", {}, bytes(m.size)),
      el("dt", {}, "SHA-256"), el("dd", { title: m.sha256 || "" }, m.sha256 ? `${m.sha256.slice(0, 16)}…` : "not computed"),
      el("dt", {}, "Added"), el("dd", {}, when(m.added_at)),
    ),
    form,
    buttons,
    m.status === "ready" ? tryBox(m) : null,
  );
}

function tryBox(m) {
  const output = el("pre", { class: "try-output", dataset: { role: "try-output" }, "aria-live": "polite" });
  const stats = el("p", { class: "muted", dataset: { role: "try-stats" } });
  const form = el(
    "form",
    { class: "try" },
    field("Try it: a message to the model", "prompt", { tag: "textarea", rows: 2, required: true }),
    el("button", { type: "submit", dataset: { action: "try" } }, "Send"),
    output,
    stats,
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      output.textContent = "";
      stats.textContent = "";
      const resp = await api("POST", `/api/admin/models/${encodeURIComponent(m.name)}/try`, { prompt: form.prompt.value }, { raw: true });
      await readSse(resp, (d) => {
        if (d.text) output.textContent += d.text;
        if (d.error) showError(new Error(d.error));
        if (d.done) stats.textContent = `${d.usage.prompt_tokens} prompt tokens, ${d.usage.completion_tokens} generated, ${d.ms} ms`;
      });
    });
  });
  return form;
}
