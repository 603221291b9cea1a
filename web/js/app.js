// The admin UI shell: first-run setup, sign-in, navigation between pages by URL hash, sign-out.

import { api, setCsrf } from "./api.js";
import { el, field, notice, submit } from "./ui.js";
import * as overview from "./overview.js";
import * as models from "./models.js";
import * as routing from "./routing.js";
import * as ops from "./ops.js";

const PAGES = [
  ["dashboard", "Dashboard", overview.dashboard],
  ["models", "Models", models.page],
  ["endpoints", "Remote endpoints", routing.endpoints],
  ["features", "Features", routing.features],
  ["gitlab", "GitLab connection", overview.gitlab],
  ["api-keys", "API keys", routing.apiKeys],
  ["logs", "Logs", ops.logs],
  ["diagnostics", "Diagnostics", overview.diagnostics],
  ["settings", "Settings", ops.settings],
  ["users", "Admins and audit", ops.users],
];

let session = null;
let cleanup = null;

function page(name, title, ...content) {
  return el("section", { dataset: { page: name } }, el("h1", {}, title), ...content);
}

function show(node) {
  if (cleanup) cleanup();
  cleanup = null;
  document.getElementById("page").replaceChildren(node);
}

function signedIn(s) {
  session = s;
  setCsrf(s.csrf);
  document.querySelector("[data-role=who]").replaceChildren(
    el("span", {}, `Signed in as ${s.user}`),
    el("button", { type: "button", dataset: { action: "logout" }, onclick: logout }, "Sign out"),
  );
  const nav = document.getElementById("nav");
  nav.replaceChildren(el("ul", {}, PAGES.map(([id, title]) => el("li", {}, el("a", { href: `#/${id}`, dataset: { nav: id } }, title)))));
  nav.hidden = false;
  document.querySelector(".menu-toggle").hidden = false;
  route();
}

async function logout() {
  try {
    await api("POST", "/api/admin/logout");
  } catch (_) {
    /* the session may be gone already */
  }
  signedOut("You signed out.", "info");
}

function signedOut(message, kind = "error") {
  session = null;
  setCsrf(null);
  document.getElementById("nav").hidden = true;
  document.querySelector(".menu-toggle").hidden = true;
  document.querySelector("[data-role=who]").replaceChildren();
  loginPage();
  if (message) notice(message, kind);
}

function loginPage() {
  const form = el(
    "form",
    { class: "card narrow" },
    field("User name", "username", { required: true, autocomplete: "username" }),
    field("Password", "password", { type: "password", required: true, autocomplete: "current-password" }),
    el("button", { type: "submit", dataset: { action: "login" } }, "Sign in"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      const s = await api("POST", "/api/admin/login", { username: form.username.value, password: form.password.value });
      signedIn(s);
    });
  });
  show(page("login", "Sign in to airgate", form));
}

function setupPage() {
  const form = el(
    "form",
    { class: "card narrow" },
    el("p", {}, "No administrator exists yet. Enter the one-time setup token from airgate's log (or from ", el("code", {}, "airgate admin setup-token"), ") and choose the first administrator's name and password."),
    field("Setup token", "setup_token", { required: true, autocomplete: "off" }),
    field("User name", "username", { required: true, autocomplete: "username", pattern: "[A-Za-z0-9._\\-]{1,64}" }),
    field("Password (at least 12 characters)", "password", { type: "password", required: true, minlength: 12, autocomplete: "new-password" }),
    field("Repeat the password", "password_repeat", { type: "password", required: true, minlength: 12, autocomplete: "new-password" }),
    el("button", { type: "submit", dataset: { action: "setup" } }, "Create administrator"),
  );
  form.addEventListener("submit", (ev) => {
    ev.preventDefault();
    submit(form, async () => {
      if (form.password.value !== form.password_repeat.value) {
        const err = new Error("The two passwords differ.");
        err.fields = { password_repeat: "does not match the password" };
        throw err;
      }
      const s = await api("POST", "/api/admin/setup", {
        setup_token: form.setup_token.value.trim(),
        username: form.username.value,
        password: form.password.value,
      });
      signedIn(s);
    });
  });
  show(page("setup", "Set up airgate", form));
}

function route() {
  if (!session) return;
  const id = (location.hash.replace(/^#\//, "") || "dashboard").split("?")[0];
  const found = PAGES.find(([p]) => p === id) || PAGES[0];
  document.querySelectorAll("[data-nav]").forEach((a) => a.setAttribute("aria-current", a.dataset.nav === found[0] ? "page" : "false"));
  document.getElementById("nav").classList.remove("open");
  notice("");
  const section = page(found[0], found[1]);
  show(section);
  Promise.resolve(found[2](section)).then((stop) => {
    if (typeof stop === "function") cleanup = stop;
  }).catch((e) => notice(e.message || String(e)));
}

async function start() {
  const toggle = document.querySelector(".menu-toggle");
  toggle.addEventListener("click", () => {
    const nav = document.getElementById("nav");
    nav.classList.toggle("open");
    toggle.setAttribute("aria-expanded", String(nav.classList.contains("open")));
  });
  window.addEventListener("hashchange", route);
  window.addEventListener("airgate:signed-out", () => {
    if (session) signedOut("Your session ended; sign in again.");
  });
  try {
    const status = await api("GET", "/api/admin/status");
    if (status.setup_required) return setupPage();
    signedIn(await api("GET", "/api/admin/session"));
  } catch (e) {
    if (e.status === 401) loginPage();
    else show(el("p", { class: "notice error" }, e.message));
  }
}

start();
