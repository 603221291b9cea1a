// The admins page: administrators (create, change password, delete) and the audit log of admin actions.

import { get, post, put, del, seg, endSession } from "./api.js";
import { el, field, onSubmit, busy, confirmed, notice, table, timeEl, clearFieldErrors } from "./ui.js";

const USERNAME = { required: true, maxlength: 64, pattern: "[A-Za-z0-9._\\-]+", autocomplete: "off", autocapitalize: "off", spellcheck: "false",
  "data-pattern-hint": "Use letters, digits, '.', '_' and '-' only.", hint: "1 to 64 characters: letters, digits, '.', '_' and '-'." };

function passwordFields(hint) {
  return [
    field("Password", "password", { type: "password", required: true, minlength: 12, maxlength: 1024, autocomplete: "new-password", hint }),
    field("Repeat the password", "password_repeat", { type: "password", required: true, minlength: 12, maxlength: 1024, autocomplete: "new-password", "data-match": "password" }),
  ];
}

export async function render(body, ctx) {
  const me = ctx.session.user;
  const list = el("div", { dataset: { role: "users" } });
  const audit = el("div", { dataset: { role: "audit" } });
  const userSelect = el("select", { id: "pw-username", name: "username", "aria-describedby": "pw-username-err" });

  const refreshUsers = async () => {
    const users = await get("/api/admin/users");
    if (!ctx.alive) return;
    list.replaceChildren(table(["User name", "Created", "Last sign-in", ""], users.map((u) => {
      const remove = el("button", { type: "button", class: "danger", dataset: { action: "delete-user" }, "aria-label": `Delete ${u.username}` }, "Delete");
      remove.addEventListener("click", () => busy(remove, async () => {
        const self = u.username === me;
        const q = self
          ? `Delete your own account ${u.username}? You are signed out at once.`
          : `Delete administrator ${u.username}? Their sessions end at once.`;
        if (!confirmed(q)) return;
        await del(`/api/admin/users/${seg(u.username)}`);
        if (self) return endSession(`Your account ${u.username} is deleted; you are signed out.`, "ok");
        notice(`Administrator ${u.username} is deleted.`, "ok");
        await Promise.all([refreshUsers(), refreshAudit()]);
      }));
      return {
        key: u.username,
        cells: [el("span", {}, el("strong", {}, u.username), u.username === me ? el("span", { class: "badge" }, "you") : null),
          timeEl(u.created_at, "unknown"), timeEl(u.last_login_at, "never"), remove],
      };
    }), { empty: "Nothing here yet." }));
    const chosen = userSelect.value || me;
    userSelect.replaceChildren(...users.map((u) => el("option", { value: u.username, selected: u.username === chosen }, u.username === me ? `${u.username} (you)` : u.username)));
  };

  const refreshAudit = async () => {
    const entries = await get("/api/admin/audit?limit=200");
    if (!ctx.alive) return;
    audit.replaceChildren(table(["Time", "Actor", "IP address", "Action", "Target", "Detail"], entries.map((a, i) => ({
      key: `${a.at}-${i}`,
      cells: [timeEl(a.at), a.actor || "", el("code", { class: "small" }, a.ip || ""), el("code", {}, a.action), a.target || "", el("span", { class: "break" }, a.detail || "")],
    })), { empty: "Nothing here yet.", attrs: { class: "audit", dataset: { role: "audit-log" } } }));
  };

  const create = el("form", { dataset: { form: "create-user" } },
    el("div", { class: "grid-form" }, field("User name", "username", USERNAME), ...passwordFields("At least 12 characters. Give it to the new administrator over a trusted channel.")),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "create-user" } }, "Create administrator")));
  onSubmit(create, async () => {
    const u = await post("/api/admin/users", { username: create.username.value.trim(), password: create.password.value });
    create.reset();
    clearFieldErrors(create);
    notice(`Administrator ${u.username} is created and can sign in now.`, "ok");
    await Promise.all([refreshUsers(), refreshAudit()]);
  });

  const change = el("form", { dataset: { form: "change-password" } },
    el("div", { class: "grid-form" },
      el("div", { class: "field" }, el("label", { for: "pw-username" }, "Administrator"), userSelect,
        el("p", { class: "field-error", id: "pw-username-err", dataset: { fieldError: "username" } })),
      ...passwordFields("At least 12 characters. Their other sessions end."),
      field("Your own password", "current_password", { type: "password", required: true, maxlength: 1024, autocomplete: "current-password", hint: "To confirm that it is you who changes it." })),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "change-password" } }, "Change password")));
  onSubmit(change, async () => {
    const user = userSelect.value;
    await put(`/api/admin/users/${seg(user)}/password`, { password: change.password.value, current_password: change.current_password.value });
    change.password.value = "";
    change.password_repeat.value = "";
    change.current_password.value = "";
    notice(user === me
      ? "Your password is changed. Your other sessions have ended; this one stays signed in."
      : `The password of ${user} is changed and their sessions have ended.`, "ok");
    await refreshAudit();
  });

  const reloadAudit = el("button", { type: "button", class: "secondary", dataset: { action: "refresh-audit" } }, "Refresh");
  reloadAudit.addEventListener("click", () => busy(reloadAudit, refreshAudit));

  body.replaceChildren(
    el("h2", {}, "Administrators"),
    el("p", {}, "Every administrator can change everything here. The last administrator cannot be deleted. A forgotten password is reset on the server with ",
      el("code", {}, "airgate admin reset-password <user>"), "."),
    list,
    el("div", { class: "two-col" },
      el("section", { class: "card", "aria-labelledby": "h-create-user" }, el("h3", { id: "h-create-user" }, "Create an administrator"), create),
      el("section", { class: "card", "aria-labelledby": "h-change-password" }, el("h3", { id: "h-change-password" }, "Change a password"), change)),
    el("div", { class: "card-head" }, el("h2", {}, "Audit log"), reloadAudit),
    el("p", { class: "muted" }, "The newest 200 admin actions, newest first: sign-ins, changes, imports, backups and restores."),
    audit);
  await Promise.all([refreshUsers(), refreshAudit()]);
}
