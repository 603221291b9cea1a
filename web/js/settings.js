// The settings page: listen address and directories, the TLS certificate (status and upload), backup and restore of the settings database.

import { get, put, post, api, endSession } from "./api.js";
import { el, field, onSubmit, busy, confirmed, notice, timeEl, showError, clearFieldErrors } from "./ui.js";

const DAY = 86400;

function readText(file) {
  return new Promise((resolve, reject) => {
    const r = new FileReader();
    r.onload = () => resolve(String(r.result));
    r.onerror = () => reject(new Error(`The browser could not read ${file.name}.`));
    r.readAsText(file);
  });
}

function expiry(notAfter) {
  if (!notAfter) return el("span", { class: "muted" }, "–");
  const left = Math.floor((notAfter - Date.now() / 1000) / DAY);
  const cls = left < 0 ? "bad-text" : left < 30 ? "warn-text" : "";
  const words = left < 0 ? `expired ${-left} days ago` : left === 0 ? "expires today" : `${left} days left`;
  return el("span", {}, timeEl(notAfter), " ", el("span", { class: cls, dataset: { role: "tls-days" } }, `(${words})`));
}

function tlsFacts(tls) {
  return el("dl", { class: "facts", dataset: { role: "tls" } },
    el("dt", {}, "TLS"), el("dd", { dataset: { role: "tls-enabled" } },
      tls.enabled ? el("span", { class: "ok-text" }, "on: airgate serves HTTPS") : el("span", { class: "warn-text" }, "off: airgate serves plain HTTP")),
    el("dt", {}, "Certificate subject"), el("dd", {}, tls.subject ? el("code", {}, tls.subject) : el("span", { class: "muted" }, "no certificate")),
    el("dt", {}, "Valid until"), el("dd", {}, expiry(tls.not_after)),
    el("dt", {}, "Source"), el("dd", {}, tls.source || "none"));
}

function stamp(d = new Date()) {
  return `${d.getFullYear()}${String(d.getMonth() + 1).padStart(2, "0")}${String(d.getDate()).padStart(2, "0")}`;
}

export async function render(body) {
  const s = await get("/api/admin/settings");
  const tlsBox = el("div", {}, tlsFacts(s.tls));

  const tlsForm = el("form", { dataset: { form: "tls" } },
    el("div", { class: "grid-form" },
      field("Certificate chain (PEM)", "cert_pem", { type: "file", required: true, accept: ".pem,.crt,.cer,application/x-pem-file", hint: "The server certificate first, then the intermediate certificates." }),
      field("Private key (PEM)", "key_pem", { type: "file", required: true, accept: ".pem,.key,application/x-pem-file", hint: "Unencrypted. It is stored in airgate's data directory, readable only by airgate." })),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "upload-tls" } }, "Install certificate")));
  onSubmit(tlsForm, async () => {
    const [cert_pem, key_pem] = await Promise.all([readText(tlsForm.cert_pem.files[0]), readText(tlsForm.key_pem.files[0])]);
    const r = await put("/api/admin/settings/tls", { cert_pem, key_pem });
    tlsBox.replaceChildren(tlsFacts(r));
    tlsForm.reset();
    notice(`Certificate for ${r.subject || "this server"} installed: ${r.message}.`, "ok");
  });

  const backup = el("button", { type: "button", dataset: { action: "backup" } }, "Download backup");
  backup.addEventListener("click", () => busy(backup, async () => {
    const resp = await api("GET", "/api/admin/backup", undefined, { raw: true });
    const blob = await resp.blob();
    const url = URL.createObjectURL(blob);
    const name = `airgate-backup-${stamp()}.redb`;
    const a = el("a", { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    notice(`Backup downloaded as ${name} (${blob.size.toLocaleString("en-US")} bytes). It holds the admins' password hashes, API key digests and endpoint API keys: store it like a secret.`, "ok");
  }));

  const restoreForm = el("form", { dataset: { form: "restore" } },
    field("Backup file", "file", { type: "file", required: true, accept: ".redb,application/octet-stream", hint: "A file made by Download backup." }),
    el("div", { class: "buttons" }, el("button", { type: "submit", class: "danger", dataset: { action: "restore" } }, "Restore")));
  onSubmit(restoreForm, async () => {
    const file = restoreForm.file.files[0];
    if (!confirmed(`Restore ${file.name}? The settings, admins, API keys, endpoints, feature routes and audit log are replaced by the backup's, and every session ends (you sign in again).`)) return;
    let r;
    try {
      r = await post("/api/admin/restore", file);
    } catch (e) {
      // The file's problem belongs next to the file input.
      showError(e, restoreForm);
      return;
    }
    clearFieldErrors(restoreForm);
    // Every session ended on the server, this one too: back to the sign-in page with the server's words.
    endSession(r.message || "Settings restored; every session ended, sign in again.", "ok");
  });

  body.replaceChildren(
    el("section", { class: "card", "aria-labelledby": "h-server" }, el("h2", { id: "h-server" }, "Server"),
      el("dl", { class: "facts", dataset: { role: "server" } },
        el("dt", {}, "Listen address"), el("dd", {}, el("code", {}, s.listen)),
        el("dt", {}, "Data directory"), el("dd", {}, el("code", {}, s.data_dir)),
        el("dt", {}, "Models directory"), el("dd", {}, el("code", {}, s.models_dir))),
      el("p", { class: "muted small" }, "These come from /etc/airgate/airgate.toml and the command line; change them there and restart airgate.")),
    el("section", { class: "card", "aria-labelledby": "h-tls" }, el("h2", { id: "h-tls" }, "TLS certificate"), tlsBox,
      el("p", {}, "Install a certificate issued by your organisation's CA. When airgate already serves HTTPS, new connections use it at once; on plain HTTP, airgate serves HTTPS from its next start (then use https:// in GitLab's AI gateway URL)."),
      tlsForm),
    el("section", { class: "card", "aria-labelledby": "h-backup" }, el("h2", { id: "h-backup" }, "Backup"),
      el("p", {}, "A consistent copy of the settings database: settings, admins, API keys, remote endpoints, feature routes, model registrations and the audit log. Model files are not included; keep copies of them separately."),
      el("div", { class: "buttons" }, backup)),
    el("section", { class: "card", "aria-labelledby": "h-restore" }, el("h2", { id: "h-restore" }, "Restore"),
      el("p", {}, "Replaces the current settings with a backup's. Every session ends, including this one. Models registered in the backup load at the next start, or from the Models page."),
      restoreForm));
}
