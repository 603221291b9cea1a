// The features page: which model serves each GitLab Duo feature (default, a local model, a remote endpoint, or disabled), grouped as GitLab groups them.

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
  const [features, modelData, endpoints] = await Promise.all([
    get("/api/admin/features"),
    get("/api/admin/models"),
    get("/api/admin/endpoints"),
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
        el("td", {}, effective));
      rows.set(f.feature, { tr, select, effective });
      return tr;
    }));
    return el("section", { "aria-labelledby": `h-group-${gi}` },
      el("h2", { id: `h-group-${gi}` }, g.name),
      el("div", { class: "table-wrap" }, el("table", { class: "features" },
        el("thead", {}, el("tr", {}, el("th", { scope: "col" }, "Feature"), el("th", { scope: "col" }, "Route"), el("th", { scope: "col" }, "Served now by"))),
        tbody)));
  });

  fill(body,
    el("p", {}, "Choose what serves each GitLab Duo feature, then Save its row. ", el("em", {}, "Default model"),
      " follows the default model of the Models page; the General Chat sub-features follow General Chat unless routed themselves. ",
      el("em", {}, "Disabled"), " answers GitLab's requests for the feature with 403."),
    models.length || endpoints.length ? null
      : el("p", { class: "notice warn static" }, "No local model and no remote endpoint exists yet: import a model on the Models page first."),
    ...sections);
}
