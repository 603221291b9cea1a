// The features page: which model serves each GitLab Duo feature (default, a local model, a remote endpoint, or disabled), grouped as GitLab groups them; each feature's output cap and the repetition guard.

import { get, put, seg } from "./api.js";
import { el, fill, busy, notice } from "./ui.js";

/// The option value of a route: its JSON with the keys in a fixed order.
export function routeValue(r) {
  switch (r && r.kind) {
    case "local":
      return JSON.stringify({ kind: "local", model: r.model });
    case "remote":
      return JSON.stringify({ kind: "remote", endpoint: r.endpoint });
    case "disabled":
      return JSON.stringify({ kind: "disabled" });
    default:
      return JSON.stringify({ kind: "default" });
  }
}

/// The cap cell: the cap in force as a number input (empty: GitLab's), and its Save button.
function capCell(f, onSaved) {
  if (f.cap_default === null || f.cap_default === undefined) return el("span", { class: "muted" }, "no text generated");
  const custom = f.cap !== f.cap_default;
  const input = el("input", { type: "number", name: "cap", min: 1, max: 131072, step: 1, inputmode: "numeric", class: "cap-input",
    value: custom ? f.cap : "", placeholder: String(f.cap_default), "aria-label": `Output cap of ${f.title} in tokens (empty: GitLab's ${f.cap_default})` });
  const save = el("button", { type: "button", class: "secondary", dataset: { action: "save-cap" }, "aria-label": `Save the output cap of ${f.title}` }, "Set");
  save.addEventListener("click", () => busy([save, input], async () => {
    const tokens = input.value.trim() === "" ? null : Number(input.value);
    const out = await put(`/api/admin/features/${seg(f.feature)}/cap`, { tokens });
    input.value = out.cap !== out.cap_default ? out.cap : "";
    notice(`${f.title}: answers stop after ${out.cap} tokens${out.cap === out.cap_default ? " (GitLab's cap)" : ""}.`, "ok");
    onSaved(out);
  }));
  return el("div", { class: "route-cell", dataset: { role: "cap" } }, input, save);
}

/// The repetition guard switch for every GitLab feature.
async function guardSection() {
  const { on } = await get("/api/admin/repetition-guard");
  const box = el("input", { type: "checkbox", id: "repetition-guard", name: "repetition_guard", checked: on });
  const save = el("button", { type: "button", class: "secondary", dataset: { action: "save-guard" } }, "Save");
  save.addEventListener("click", () => busy([save, box], async () => {
    const out = await put("/api/admin/repetition-guard", { on: box.checked });
    box.checked = out.on;
    notice(out.on ? "The repetition guard stops GitLab answers that repeat themselves." : "The repetition guard is off for GitLab features.", "ok");
  }));
  return el("section", { "aria-labelledby": "h-runaway" },
    el("h2", { id: "h-runaway" }, "Runaway answers"),
    el("p", {}, "A model that never ends its answer holds a slot until the answer's cap. ",
      el("em", {}, "Output cap"), " bounds each feature's answers (empty: GitLab's own budget for the feature). The ",
      el("em", {}, "repetition guard"), " stops an answer that repeats the same text over and over (finish reason ",
      el("code", {}, "repetition"), "; counted in ", el("code", {}, "/metrics"), ")."),
    el("div", { class: "route-cell" }, box, el("label", { for: "repetition-guard" }, "Repetition guard on GitLab features"), save));
}

function routeSelect(f, models, endpoints, id) {
  const current = routeValue(f.route);
  const inherits = f.group === "GitLab Duo Chat" && f.feature !== "duo_chat";
  const opt = (value, label) => el("option", { value, selected: value === current }, label);
  const local = models.map((m) => opt(routeValue({ kind: "local", model: m.name }), `Local model: ${m.name}${m.status === "ready" ? "" : ` (${m.status})`}`));
  const remote = endpoints.map((e) => opt(routeValue({ kind: "remote", endpoint: e.name }), `Remote endpoint: ${e.name}`));
  const known = [routeValue({ kind: "default" }), routeValue({ kind: "disabled" }), ...local.map((o) => o.value), ...remote.map((o) => o.value)];
  // A route to something that no longer exists stays visible instead of silently showing another choice.
  const orphan = known.includes(current) ? null
    : opt(current, f.route.kind === "local" ? `Local model: ${f.route.model} (not registered)` : `Remote endpoint: ${f.route.endpoint} (not configured)`);
  return el("select", { id, name: "route", "aria-describedby": `${id}-effective` },
    opt(routeValue({ kind: "default" }), inherits ? "Default (same as General Chat)" : "Default model"),
    local.length ? el("optgroup", { label: "Local models" }, local) : null,
    remote.length ? el("optgroup", { label: "Remote endpoints" }, remote) : null,
    orphan,
    opt(routeValue({ kind: "disabled" }), "Disabled (GitLab gets 403)"));
}

export async function render(body, ctx) {
  const [features, modelData, endpoints, guard] = await Promise.all([
    get("/api/admin/features"),
    get("/api/admin/models"),
    get("/api/admin/endpoints"),
    guardSection(),
  ]);
  const models = modelData.models || [];
  const rows = new Map();

  const refreshEffective = async () => {
    const fresh = await get("/api/admin/features");
    if (!ctx.alive) return;
    for (const f of fresh) {
      const r = rows.get(f.feature);
      if (r) r.effective.textContent = f.effective;
    }
  };

  const groups = [];
  for (const f of features) {
    let g = groups.find((x) => x.name === f.group);
    if (!g) groups.push((g = { name: f.group, items: [] }));
    g.items.push(f);
  }

  const sections = groups.map((g, gi) => {
    const tbody = el("tbody", {}, g.items.map((f) => {
      const id = `route-${f.feature}`;
      const select = routeSelect(f, models, endpoints, id);
      const effective = el("span", { id: `${id}-effective`, dataset: { role: "effective" } }, f.effective);
      const unsaved = el("span", { class: "warn-text small", dataset: { role: "unsaved" }, hidden: true }, "not saved");
      let saved = select.value;
      const save = el("button", { type: "button", class: "secondary", dataset: { action: "save-route" }, "aria-label": `Save ${f.title}` }, "Save");
      select.addEventListener("change", () => (unsaved.hidden = select.value === saved));
      save.addEventListener("click", () => busy([save, select], async () => {
        const out = await put(`/api/admin/features/${seg(f.feature)}`, JSON.parse(select.value));
        saved = select.value;
        unsaved.hidden = true;
        effective.textContent = out.effective;
        notice(`${f.title}: ${out.effective}.`, "ok");
        // Chat sub-features follow General Chat: their effective routes may have changed too.
        await refreshEffective().catch(() => {});
      }));
      const tr = el("tr", { dataset: { row: f.feature } },
        el("th", { scope: "row" }, el("label", { for: id }, f.title), el("code", { class: "small muted block" }, f.feature)),
        el("td", {}, el("div", { class: "route-cell" }, select, save, unsaved)),
        el("td", {}, effective),
        el("td", {}, capCell(f, () => {})));
      rows.set(f.feature, { tr, select, effective });
      return tr;
    }));
    return el("section", { "aria-labelledby": `h-group-${gi}` },
      el("h2", { id: `h-group-${gi}` }, g.name),
      el("div", { class: "table-wrap" }, el("table", { class: "features" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Feature"), el("th", { scope: "col" }, "Route"), el("th", { scope: "col" }, "Served now by"),
          el("th", { scope: "col", title: "The most tokens one answer may have" }, "Output cap"))),
        tbody)));
  });

  fill(body,
    el("p", {}, "Choose what serves each GitLab Duo feature, then Save its row. ", el("em", {}, "Default model"),
      " follows the default model of the Models page; the General Chat sub-features follow General Chat unless routed themselves. ",
      el("em", {}, "Disabled"), " answers GitLab's requests for the feature with 403."),
    models.length || endpoints.length ? null
      : el("p", { class: "notice warn static" }, "No local model and no remote endpoint exists yet: import a model on the Models page first."),
    ...sections,
    guard);
}
