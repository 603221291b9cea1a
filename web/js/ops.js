// Operating pages: the live request log, settings (TLS, backup, restore), admins and the audit log.

import { api } from "./api.js";
import { action, el, field, notice, submit, table, when } from "./ui.js";

export async function logs(section) {
  const tbody = el("tbody", {});
  const filter = el("input", { type: "search", name: "correlation_id", placeholder: "filter by correlation id", "aria-label": "Correlation id filter" });
  let paused = false;
  let source = null;
  const row = (e) =>
    el("tr", { dataset: { row: e.correlation_id } },
      el("td", {}, when(e.at)), el("td", {}, el("code", {}, e.correlation_id)), el("td", {}, `${e.method} ${e.path}`),
      el("td", {}, e.feature), el("td", {}, e.model || ""), el("td", { class: e.status >= 500 ? "bad-text" : e.status >= 400 ? "warn-text" : "ok-text" }, e.status),
      el("td", {}, `${e.latency_ms} ms`), el("td", {}, `${e.tokens_in} / ${e.tokens_out}`), el("td", {}, e.message || ""));
  const connect = async () => {
    if (source) source.close();
    const q = filter.value.trim() ? `?correlation_id=${encodeURIComponent(filter.value.trim())}` : "";
    const recent = await api("GET", `/api/admin/logs${q}`);
    tbody.replaceChildren(...recent.map(row));
    source = new EventSource(`/api/admin/logs/stream${q}`);
    source.onmessage = (m) => {
      if (paused) return;
      tbody.prepend(row(JSON.parse(m.data)));
      while (tbody.children.length > 500) tbody.lastChild.remove();
    };
  };
  filter.addEventListener("change", () => connect().catch((e) => notice(e.message)));
  const pause = action("Pause", "pause", async (b) => {
    paused = !paused;
    b.textContent = paused ? "Resume" : "Pause";
  });
  const logging = await api("GET", "/api/admin/logging");
  const toggle = el("input", { type: "checkbox", name: "expanded", checked: logging.expanded, dataset: { action: "toggle-expanded" } });
  toggle.addEventListener("change", async () => {
    try {
      const r = await api("PUT", "/api/admin/logging", { expanded: toggle.checked });
      notice(`Expanded AI logging is ${r.expanded ? "on: prompts and answers go to the log" : "off"}.`, "ok");
    } catch (e) {
      toggle.checked = !toggle.checked;
      notice(e.message);
    }
  });
  section.append(
    el("div", { class: "toolbar" }, filter, pause, el("label", { class: "check" }, toggle, " Expanded AI logging (prompts and model output in the server log)")),
    el("div", { class: "table-wrap" }, el("table", { dataset: { role: "log" } },
      el("thead", {}, el("tr", {}, ["Time", "Correlation id", "Request", "Feature", "Model", "Status", "Latency", "Tokens in / out", "Message"].map((h) => el("th", { scope: "col" }, h)))),
      tbody)),
  );
  await connect();
  return () => source && source.close();
}

function readFile(input) {
  return new Promise((resolve, reject) => {
    const file = input.files[0];
    if (!file) return reject(Object.assign(new Error("Choose a file."), { fields: { [input.name]: "choose a file" } }));
    const r = new FileReader();
    r.onload = () => resolve(r.result);
    r.onerror = () => reject(r.error);
    r.readAsText(file);
  });
}

export async function settings(section) {
  const s = await api("GET", "/api/admin/settings");
  const tls = s.tls;
  const tlsForm = el(
    "form",
    { class: "card" },
    el("h2", {}, "TLS certificate"),
    el("p", {}, tls.enabled ? `Serving HTTPS with ${tls.subject || "a certificate"} (valid until ${when(tls.not_after)}; ${tls.source}).` : `Serving plain HTTP${tls.subject ? `; an uploaded certificate (${tls.subject}) is used from the next start` : ""}.`),
    field("Certificate chain (PEM)", "cert_pem", { type: "file", accept: ".pem,.crt,.cer", required: true }),
    field("Private key (PEM)", "key_pem", { type: "file", accept: ".pem,.key", required: true }),
    el("button", { type: "submit", dataset: { action: "upload-tls" } }, "Upload and use"),
  );
  tlsForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(tlsForm, async () => {
      const [cert_pem, key_pem] = await Promise.all([readFile(tlsForm.cert_pem), readFile(tlsForm.key_pem)]);
      const r = await api("PUT", "/api/admin/settings/tls", { cert_pem, key_pem });
      notice(`Certificate ${r.subject}: ${r.message}.`, "ok");
    });
  });
  const restoreInput = el("input", { type: "file", name: "file", accept: ".redb" });
  const restoreForm = el("form", { class: "card" }, el("h2", {}, "Backup and restore"),
    el("p", {}, "A backup holds every setting: admins (password hashes), API keys (hashes), endpoints with their keys, routes, the audit log. Keep it safe."),
    action("Download a backup", "backup", async () => {
      const resp = await api("GET", "/api/admin/backup", undefined, { raw: true });
      const url = URL.createObjectURL(await resp.blob());
      const a = el("a", { href: url, download: `airgate-backup-${new Date().toISOString().slice(0, 10).replaceAll("-", "")}.redb` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 1000);
    }),
    el("div", { class: "field" }, el("label", {}, "Restore from a backup file ", restoreInput), el("div", { class: "field-error", dataset: { fieldError: "file" } })),
    el("button", { type: "submit", dataset: { action: "restore" } }, "Restore"));
  restoreForm.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(restoreForm, async () => {
      const file = restoreInput.files[0];
      if (!file) throw Object.assign(new Error("Choose a backup file."), { fields: { file: "choose a file" } });
      if (!confirm("Replace every setting with the backup's? Everyone is signed out.")) return;
      const r = await api("POST", "/api/admin/restore", await file.arrayBuffer());
      alert(r.message);
      location.reload();
    });
  });
  section.append(
    el("dl", { class: "facts" }, el("dt", {}, "Listening on"), el("dd", {}, s.listen), el("dt", {}, "Data directory"), el("dd", {}, s.data_dir), el("dt", {}, "Models directory"), el("dd", {}, s.models_dir)),
    tlsForm,
    restoreForm,
  );
}

export async function users(section) {
  const list = el("div", {});
  const audit = el("div", {});
  const refresh = async () => {
    const [all, entries] = await Promise.all([api("GET", "/api/admin/users"), api("GET", "/api/admin/audit?limit=200")]);
    list.replaceChildren(table(["Admin", "Created", "Last sign-in", "", ""], all.map((u) => [u.username, when(u.created_at), when(u.last_login_at), passwordForm(u.username), action("Delete", "delete-user", async () => {
      if (!confirm(`Delete admin ${u.username}?`)) return;
      await api("DELETE", `/api/admin/users/${encodeURIComponent(u.username)}`);
      await refresh();
    })]), (i) => all[i].username));
    audit.replaceChildren(table(["Time", "Who", "From", "Action", "Target", "Detail"], entries.map((e) => [when(e.at), e.actor, e.ip || "", e.action, e.target, e.detail])));
  };
  const form = el("form", { class: "card grid-form" }, el("h2", {}, "Add an admin"),
    field("User name", "username", { required: true, pattern: "[A-Za-z0-9._\\-]{1,64}", autocomplete: "off" }),
    field("Password (at least 12 characters)", "password", { type: "password", required: true, minlength: 12, autocomplete: "new-password" }),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "create-user" } }, "Add admin")));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      await api("POST", "/api/admin/users", { username: form.username.value.trim(), password: form.password.value });
      form.reset();
      notice("Admin added.", "ok");
      await refresh();
    });
  });
  section.append(form, el("h2", {}, "Admins"), list, el("h2", {}, "Audit log"), audit);
  await refresh();
}

function passwordForm(username) {
  const form = el("form", { class: "inline" }, field(`New password for ${username}`, "password", { type: "password", minlength: 12, required: true, autocomplete: "new-password" }), el("button", { type: "submit", dataset: { action: "change-password" } }, "Change password"));
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      await api("PUT", `/api/admin/users/${encodeURIComponent(username)}/password`, { password: form.password.value });
      form.reset();
      notice(`Password of ${username} changed; their other sessions ended.`, "ok");
    });
  });
  return form;
}
