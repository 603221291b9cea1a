// The models page: the models directory and its GGUF files, import with a progress bar, the registered models (parameters, load/unload/reload, default, remove) and "Try it".

import { get, post, put, del, postSse, seg } from "./api.js";
import { el, fill, field, familyField, loadFamilies, onSubmit, busy, confirmed, notice, showError, table, bytes, timeEl, num, auto, statusBadge } from "./ui.js";

const POLL_MS = 500;
const LOADING_POLL_MS = 2000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function shortSha(sha) {
  if (!sha) return el("span", { class: "muted" }, "not computed");
  return el("code", { title: sha, class: "sha" }, `${sha.slice(0, 12)}…`);
}

const fileName = (path) => path.split("/").pop();
const stem = (path) => fileName(path).replace(/\.gguf$/i, "");
const isLoaded = (m) => m.status === "ready" || m.status === "loading";

export async function render(body, ctx) {
  await loadFamilies();
  const page = { ctx, data: null, cards: new Map(), polling: false };

  const dirBox = el("div", { dataset: { role: "models-dir" } });
  const importCard = importForm(page);
  const summary = el("div", { dataset: { role: "models-summary" } });
  const cardsBox = el("div", { class: "model-cards", dataset: { role: "model-cards" } });
  page.dirBox = dirBox;
  page.summary = summary;
  page.cardsBox = cardsBox;
  page.importCard = importCard;

  page.refresh = async () => {
    const data = await get("/api/admin/models");
    if (ctx.alive) apply(page, data);
    return data;
  };

  body.replaceChildren(
    el("p", {}, "GGUF model files that airgate runs itself with llama.cpp. Import copies a file into the models directory, checks its SHA-256, registers it and loads it."),
    el("section", { class: "card", "aria-labelledby": "h-models-dir" }, el("h2", { id: "h-models-dir" }, "Models directory"), dirBox),
    importCard,
    el("h2", {}, "Registered models"),
    summary,
    cardsBox,
  );
  await page.refresh();
}

// -- the directory and the list -------------------------------------------------------------------

function apply(page, data) {
  const old = page.data;
  page.data = data;
  page.dirBox.replaceChildren(
    el("p", {}, el("code", { dataset: { role: "models-dir-path" } }, data.models_dir)),
    table(["File", "Size", "Registered as", ""], (data.files || []).map((f) => ({
      key: f.path,
      cells: [
        el("code", { title: f.path }, fileName(f.path)),
        bytes(f.size),
        f.registered_as ? el("strong", {}, f.registered_as) : el("span", { class: "muted" }, "not registered"),
        f.registered_as ? "" : el("button", { type: "button", class: "secondary", dataset: { action: "import-file" },
          "aria-label": `Import ${fileName(f.path)}`, onclick: () => pickFile(page, f.path) }, "Import…"),
      ],
    })), { empty: "Nothing here yet. No .gguf file is in this directory; import one from another path below.", attrs: { dataset: { role: "files" } } }),
  );

  const models = data.models || [];
  page.summary.replaceChildren(table(
    ["Name", "Status", "Default", "Size", "SHA-256", "Family", "Context", "Slots", "Threads", "GPU layers"],
    models.map((m) => ({
      key: m.name,
      cells: [
        el("strong", {}, m.name),
        el("span", { title: m.detail || "" }, statusBadge(m.status)),
        m.default ? el("span", { class: "badge default", dataset: { role: "default" } }, "default") : "",
        el("span", { class: "nowrap" }, bytes(m.size)), shortSha(m.sha256), auto(m.family, "auto"), auto(m.ctx_size, "auto"), auto(m.parallel, "auto"), auto(m.threads, "auto"), auto(m.gpu_layers, "auto"),
      ],
    })),
    { empty: "Nothing here yet. No model is registered: import a GGUF file above.", attrs: { class: "compact", dataset: { role: "models" } } },
  ));

  const sameSet = old && old.models.length === models.length && old.models.every((m, i) => m.name === models[i].name);
  if (!sameSet) {
    page.cards.clear();
    page.cardsBox.replaceChildren(...models.map((m) => {
      const card = modelCard(page, m);
      page.cards.set(m.name, card);
      return card.node;
    }));
  } else {
    for (const m of models) page.cards.get(m.name)?.update(m);
  }
  if (models.some((m) => m.status === "loading")) pollWhileLoading(page);
}

/// While a model loads (at start, after an import), re-reads the list until none is loading.
async function pollWhileLoading(page) {
  if (page.polling) return;
  page.polling = true;
  try {
    while (page.ctx.alive) {
      await sleep(LOADING_POLL_MS);
      if (!page.ctx.alive) break;
      const data = await get("/api/admin/models");
      if (!page.ctx.alive) break;
      page.polling = false;
      apply(page, data);
      if (!data.models.some((m) => m.status === "loading")) break;
      page.polling = true;
    }
  } catch (e) {
    showError(e);
  } finally {
    page.polling = false;
  }
}

// -- import ---------------------------------------------------------------------------------------

function pickFile(page, path) {
  const form = page.importCard.querySelector("form");
  form.path.value = path;
  form.name.value = stem(path);
  form.sha256.value = "";
  page.importCard.scrollIntoView({ block: "start", behavior: "smooth" });
  form.name.focus();
  form.name.select();
}

function importForm(page) {
  const bar = el("progress", { max: 1, value: 0, dataset: { role: "import-bar" }, "aria-label": "Import progress" });
  const status = el("p", { dataset: { role: "import-status" }, "aria-live": "polite" });
  const progress = el("div", { class: "progress", dataset: { role: "import-progress" }, hidden: true }, bar, status);
  const form = el("form", { dataset: { form: "import" } },
    el("div", { class: "grid-form" },
      field("Path of the GGUF file on the airgate host", "path", { required: true, autocomplete: "off", spellcheck: "false",
        placeholder: "/media/usb/model.gguf", hint: "An absolute path. A file outside the models directory is copied into it." }),
      field("Name", "name", { autocomplete: "off", spellcheck: "false", maxlength: 128, pattern: "[A-Za-z0-9._\\-]+",
        "data-pattern-hint": "Use letters, digits, '.', '_' and '-' only.", hint: "Empty: the file name without .gguf. GitLab's model identifier becomes custom_openai/<name>." }),
      field("Expected SHA-256", "sha256", { autocomplete: "off", spellcheck: "false", pattern: "\\s*[0-9a-fA-F]{64}\\s*",
        "data-pattern-hint": "Use the 64 hexadecimal characters of the published checksum.", hint: "From the model's publisher. A mismatch stops the import and registers nothing." })),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "import" } }, "Import")),
    progress);
  onSubmit(form, async () => {
    const req = { path: form.path.value.trim() };
    if (form.name.value.trim()) req.name = form.name.value.trim();
    if (form.sha256.value.trim()) req.sha256 = form.sha256.value.trim().toLowerCase();
    const { job } = await post("/api/admin/models/import", req);
    progress.hidden = false;
    status.className = "";
    bar.removeAttribute("value");
    status.textContent = "Starting…";
    const j = await followJob(page, job, bar, status);
    if (!j) return;
    if (j.state === "failed") {
      status.className = "bad-text";
      status.textContent = `Import failed: ${j.message}`;
      notice(`The import of ${j.model || req.path} failed: ${j.message}`, "error");
      await page.refresh();
      return;
    }
    status.className = "ok-text";
    status.textContent = `Done: model ${j.model} is registered${j.message ? ` (${j.message})` : ""}.`;
    form.reset();
    await page.refresh();
    notice(`Model ${j.model} is imported${j.message ? ` (${j.message})` : ""}.`, "ok");
  });
  return el("section", { class: "card", "aria-labelledby": "h-import" }, el("h2", { id: "h-import" }, "Import a model"), form);
}

/// Polls an import job every 500 ms, showing bytes done of total; resolves to the finished job.
async function followJob(page, id, bar, status) {
  for (;;) {
    if (!page.ctx.alive) return null;
    const j = await get(`/api/admin/jobs/${seg(id)}`);
    const total = j.bytes_total || 0;
    if (total) {
      bar.max = total;
      bar.value = Math.min(j.bytes_done, total);
    }
    const pct = total ? Math.floor((100 * j.bytes_done) / total) : 0;
    const what = j.message === "loading" ? "Copied and checked; loading the model…" : j.message || "";
    status.textContent = `${bytes(j.bytes_done)} of ${bytes(total)} (${pct} %)${what ? ` — ${what}` : ""}`;
    if (j.state !== "running") return j;
    await sleep(POLL_MS);
  }
}

// -- one model ------------------------------------------------------------------------------------

function numberField(label, name, value, min, max, hint) {
  return field(label, name, { type: "number", inputmode: "numeric", min, max, step: 1, placeholder: "automatic", optionalMark: false,
    value: value === null || value === undefined ? "" : value, hint });
}

const numOrNull = (input) => (input.value.trim() === "" ? null : Number(input.value));

/// A switch whose empty choice is the boot config's: on, off or as configured.
function switchField(label, name, current, hint) {
  const value = current === true ? "on" : current === false ? "off" : "";
  const opt = (v, text) => el("option", { value: v, selected: v === value }, text);
  return field(label, name, { tag: "select", optionalMark: false,
    options: [opt("", "as configured"), opt("on", "yes"), opt("off", "no")], hint });
}

const switchValue = (select) => (select.value === "" ? null : select.value === "on");

function speculationField(current) {
  const opt = (v, label) => el("option", { value: v, selected: v === (current || "") }, label);
  return field("Speculative decoding", "speculation", { tag: "select", optionalMark: false,
    options: [opt("", "as configured"), opt("off", "off"), opt("exact", "exact (same answers)"), opt("fast", "fast (answers may differ slightly)")],
    hint: "Code completions and generations draft tokens from their own prompt and verify several in one step. Exact keeps every greedy answer byte for byte; fast verifies more at once. As configured: the config's model table, else off." });
}

function poolingField(current) {
  const opt = (v, label) => el("option", { value: v, selected: v === (current || "") }, label);
  return field("Embeddings pooling", "pooling", { tag: "select", optionalMark: false,
    options: [opt("", "automatic"), opt("mean", "mean"), opt("cls", "first token (cls)"), opt("last", "last token")],
    hint: "Automatic: the model's own, else mean." });
}

function modelCard(page, initial) {
  let m = initial;
  const name = m.name;
  const path = `/api/admin/models/${seg(name)}`;
  const head = el("div", { class: "card-head" });
  const facts = el("dl", { class: "facts" });
  const actions = el("div", { class: "buttons", dataset: { role: "actions" } });

  const params = el("form", { class: "grid-form", dataset: { form: "model-params" } },
    familyField("GitLab model family", m.family, "Empty (automatic): airgate guesses from the file."),
    numberField("Context size (tokens)", "ctx_size", m.ctx_size, 256, 1048576, "Per slot. Empty: from the model."),
    numberField("Slots (parallel requests)", "parallel", m.parallel, 1, 64, "Empty: automatic."),
    numberField("CPU threads", "threads", m.threads, 1, 1024, "Empty: automatic."),
    numberField("GPU layers", "gpu_layers", m.gpu_layers, 0, 1000, "Empty: automatic; 0: CPU only."),
    switchField("Serve embeddings", "embeddings", m.embeddings,
      "/v1/embeddings from a generation model too (off unless the config's model table says so); an embeddings model always serves them."),
    poolingField(m.pooling),
    speculationField(m.speculation),
    el("div", { class: "buttons span" }, el("button", { type: "submit", dataset: { action: "save-model" }, "aria-label": `Save settings of ${name}` }, "Save settings")));
  onSubmit(params, async () => {
    const wasLoaded = isLoaded(m) || m.status === "failed";
    // A loaded model reloads with the new settings before the answer comes: show it loading meanwhile.
    actions.querySelectorAll("button").forEach((b) => (b.disabled = true));
    if (wasLoaded) setStatus("loading");
    let saved;
    try {
      saved = await put(path, {
        family: params.family.value || null,
        ctx_size: numOrNull(params.ctx_size),
        parallel: numOrNull(params.parallel),
        threads: numOrNull(params.threads),
        gpu_layers: numOrNull(params.gpu_layers),
        embeddings: switchValue(params.embeddings),
        pooling: params.pooling.value || null,
        speculation: params.speculation.value || null,
      });
    } catch (e) {
      update(m);
      throw e;
    }
    update(saved);
    await page.refresh().catch(() => {});
    if (saved.status === "failed") notice(`Model ${name} was saved, but it failed to load with these settings: ${saved.detail || "see the server log"}.`, "error");
    else if (wasLoaded) notice(`Model ${name} saved and reloaded with the new settings.`, "ok");
    else notice(`Model ${name} saved; the settings apply when it is loaded.`, "ok");
  });

  const node = el("article", { class: "card model", dataset: { row: name }, "aria-labelledby": `h-model-${name}` },
    head, facts, actions,
    el("div", { class: "model-panels" },
      el("section", { class: "panel", "aria-label": `Settings of ${name}` }, el("h4", {}, "Settings"), params),
      tryBox(name, path)));

  function act(label, action, work) {
    const b = el("button", { type: "button", class: action === "remove-model" || action === "unload" ? "danger" : "secondary", dataset: { action }, "aria-label": `${label} ${name}` }, label);
    b.addEventListener("click", () => busy([...actions.querySelectorAll("button"), ...params.querySelectorAll("button")], work));
    return b;
  }

  async function lifecycle(verb, done) {
    if (verb !== "unload") setStatus("loading");
    const r = await post(`${path}/${verb}`).catch((e) => {
      update(m);
      throw e;
    });
    update(r);
    await page.refresh().catch(() => {});
    if (r.status === "failed") notice(`Model ${name} failed to load: ${r.detail || "see the server log"}.`, "error");
    else notice(`Model ${name} ${done}.`, "ok");
  }

  function setStatus(status) {
    head.querySelector("[data-role=status]").replaceWith(statusBadge(status));
  }

  function update(next) {
    m = next;
    fill(head, 
      el("h3", { id: `h-model-${name}` }, name),
      statusBadge(m.status),
      m.default ? el("span", { class: "badge default", dataset: { role: "default" } }, "default model") : null,
      m.status === "failed" && m.detail ? el("p", { class: "bad-text small", dataset: { role: "detail" } }, m.detail) : null);
    facts.replaceChildren(
      el("dt", {}, "File"), el("dd", {}, el("code", {}, m.path)),
      el("dt", {}, "Size"), el("dd", {}, bytes(m.size)),
      el("dt", {}, "SHA-256"), el("dd", {}, m.sha256 ? el("code", { class: "sha-full", title: m.sha256 }, m.sha256) : el("span", { class: "muted" }, "not computed")),
      el("dt", {}, "In memory"), el("dd", {}, m.memory_bytes ? bytes(m.memory_bytes) : el("span", { class: "muted" }, "not loaded")),
      el("dt", {}, "Loads at start"), el("dd", {}, m.autoload ? "yes" : "no"),
      el("dt", {}, "Embeddings"), el("dd", { dataset: { role: "embeddings" } }, m.embedding
        ? `${m.embedding.dimensions} dimensions, ${m.embedding.pooling} pooling, up to ${num(m.embedding.max_input_tokens)} tokens per input`
        : el("span", { class: "muted" }, isLoaded(m) ? "not served" : "not loaded")),
      el("dt", {}, "Added"), el("dd", {}, timeEl(m.added_at, "unknown")));
    const loaded = isLoaded(m);
    fill(actions, 
      m.status === "unloaded" ? act("Load", "load", () => lifecycle("load", "is loaded")) : null,
      loaded || m.status === "failed" ? act(m.status === "failed" ? "Load again" : "Reload", "reload", () => lifecycle("reload", "is reloaded")) : null,
      loaded || m.status === "failed" ? act("Unload", "unload", async () => {
        if (m.status === "ready" && !confirmed(`Unload model ${name}? Features it serves fail until it is loaded again.`)) return;
        await lifecycle("unload", "is unloaded; it stays registered and no longer loads at start");
      }) : null,
      m.default ? null : act("Make default", "make-default", async () => {
        const r = await post(`${path}/default`);
        update(r);
        await page.refresh().catch(() => {});
        notice(`Model ${name} is now the default model: features set to "Default model" use it.`, "ok");
      }),
      act("Remove", "remove-model", async () => {
        if (!confirmed(`Remove model ${name} from airgate? It is unloaded and unregistered; the file stays at ${m.path}.`)) return;
        await del(path);
        await page.refresh();
        notice(`Model ${name} is removed; its file stays at ${m.path}.`, "ok");
      }));
  }

  update(m);
  return { node, update };
}

// -- try it ---------------------------------------------------------------------------------------

function tryBox(name, path) {
  const form = el("form", { dataset: { form: "try" } },
    field("Prompt", "prompt", { tag: "textarea", rows: 3, required: true, maxlength: 100000, placeholder: "Write a Python function that checks whether a number is prime." }),
    el("div", { class: "inline-fields" },
      field("Maximum answer tokens", "max_tokens", { type: "number", inputmode: "numeric", min: 1, max: 4096, step: 1, placeholder: "256" })),
    el("div", { class: "buttons" },
      el("button", { type: "submit", dataset: { action: "try" }, "aria-label": `Try ${name}` }, "Try it"),
      el("button", { type: "button", class: "secondary", dataset: { action: "stop-try" }, hidden: true }, "Stop")));
  const stop = form.querySelector("[data-action=stop-try]");
  let output = null;
  let stats = null;
  let controller = null;
  stop.addEventListener("click", () => controller && controller.abort());

  onSubmit(form, async () => {
    // The output area appears on the first try, so one page holds only the outputs actually used.
    if (!output) {
      output = el("pre", { class: "try-output", dataset: { role: "try-output" }, "aria-live": "polite", "aria-label": `Answer of ${name}` });
      stats = el("p", { class: "muted small", dataset: { role: "try-stats" } });
      form.after(output, stats);
    }
    output.textContent = "";
    output.classList.remove("bad-text");
    stats.textContent = "";
    const req = { prompt: form.prompt.value };
    if (form.max_tokens.value.trim()) req.max_tokens = Number(form.max_tokens.value);
    controller = new AbortController();
    stop.hidden = false;
    stop.disabled = false;
    delete stop.dataset.running;
    let failure = null;
    let done = null;
    try {
      await postSse(`${path}/try`, req, (d) => {
        if (typeof d.text === "string") output.append(d.text);
        if (d.error) failure = d.error;
        if (d.done) done = d;
      }, { signal: controller.signal });
    } catch (e) {
      if (e.name === "AbortError") {
        stats.textContent = "Stopped.";
        return;
      }
      throw e;
    } finally {
      stop.hidden = true;
      controller = null;
    }
    if (failure) {
      output.append(output.textContent ? "\n" : "", `Error: ${failure}`);
      output.classList.add("bad-text");
      notice(`Model ${name} could not answer: ${failure}`, "error");
      return;
    }
    if (!done) {
      notice(`The answer of ${name} ended early, without its final summary.`, "error");
      return;
    }
    const u = done.usage || {};
    const out = u.completion_tokens ?? 0;
    const rate = done.ms ? ` (${((out * 1000) / done.ms).toFixed(1)} tokens/s)` : "";
    stats.textContent = `${num(u.prompt_tokens)} prompt tokens, ${num(out)} answer tokens in ${num(done.ms)} ms${rate}.`;
  });
  return el("section", { class: "panel", "aria-label": `Try ${name}` }, el("h4", {}, "Try it"), form);
}
