// The admin UI shell: first-run setup, sign-in, the hash router and navigation, the signed-in user and sign-out.

import { get, post, setCsrf, onSessionEnded } from "./api.js";
import { el, field, notice, clearNotice, onSubmit, showError, busy } from "./ui.js";
import * as dashboard from "./dashboard.js";
import * as models from "./models.js";
import * as endpoints from "./endpoints.js";
import * as features from "./features.js";
import * as gitlab from "./gitlab.js";
import * as agent from "./agent.js";
import * as apiKeys from "./api-keys.js";
import * as logs from "./logs.js";
import * as diagnostics from "./diagnostics.js";
import * as settings from "./settings.js";
import * as users from "./users.js";

/// [route, nav label, page title, module]
const PAGES = [
  ["dashboard", "Dashboard", "Dashboard", dashboard],
  ["models", "Models", "Local models", models],
  ["endpoints", "Remote endpoints", "Remote endpoints", endpoints],
  ["features", "Features", "Feature routing", features],
  ["gitlab", "GitLab", "GitLab connection", gitlab],
  ["agent-platform", "Agent Platform", "Agent Platform", agent],
  ["api-keys", "API keys", "API keys", apiKeys],
  ["logs", "Logs", "Request log", logs],
  ["diagnostics", "Diagnostics", "Diagnostics", diagnostics],
  ["settings", "Settings", "Settings", settings],
  ["users", "Admins and audit", "Admins and audit log", users],
];

const state = { session: null, status: null, current: null };

const $ = (sel) => document.querySelector(sel);
const pageRoot = () => document.getElementById("page");

// -- page lifecycle -------------------------------------------------------------------------------

/// Ends the shown page: its timers, streams and polls stop.
function leavePage() {
  const cur = state.current;
  state.current = null;
  if (!cur) return;
  cur.alive = false;
  for (const fn of cur.cleanups) {
    try {
      fn();
    } catch (_) {
      // A page's cleanup must not block the next page.
    }
  }
}

/// A page's context: `alive()` turns false when the admin leaves it; `onLeave(fn)` registers cleanup.
function newContext(name) {
  const ctx = {
    name,
    alive: true,
    cleanups: [],
    onLeave(fn) {
      this.cleanups.push(fn);
    },
    get session() {
      return state.session;
    },
  };
  ctx.isAlive = () => ctx.alive;
  return ctx;
}

function pageSection(name, title) {
  return el("section", { dataset: { page: name }, "aria-labelledby": `h-${name}` }, el("h1", { id: `h-${name}`, tabindex: "-1" }, title));
}

// -- signed out: setup and sign-in ----------------------------------------------------------------

function showSignedOut() {
  leavePage();
  state.session = null;
  setCsrf(null);
  document.body.classList.add("signed-out");
  $("#nav").hidden = true;
  $("#nav").replaceChildren();
  $(".menu-toggle").hidden = true;
  $("[data-role=who]").replaceChildren();
}

function plainHttpWarning() {
  const local = ["localhost", "127.0.0.1", "[::1]"].includes(location.hostname);
  if (location.protocol === "https:" || local) return null;
  return el("p", { class: "notice warn static" },
    "This connection is not encrypted: the password crosses the network as plain text. After signing in, install a TLS certificate under Settings.");
}

function showSetup(message) {
  showSignedOut();
  document.title = "Set up airgate";
  const section = pageSection("setup", "Set up airgate");
  const form = el("form", { class: "card narrow", dataset: { form: "setup" } },
    el("p", {}, "No administrator exists yet. Create the first one with the setup token that airgate wrote to its log at start (",
      el("code", {}, "journalctl -u airgate | grep setup_token"), ") or that ", el("code", {}, "airgate admin setup-token"), " prints on the server."),
    field("Setup token", "setup_token", { required: true, autocomplete: "off", spellcheck: "false", autocapitalize: "off" }),
    field("User name", "username", { required: true, autocomplete: "username", maxlength: 64, pattern: "[A-Za-z0-9._\\-]+",
      "data-pattern-hint": "Use letters, digits, '.', '_' and '-' only.", hint: "1 to 64 characters: letters, digits, '.', '_' and '-'." }),
    field("Password", "password", { type: "password", required: true, minlength: 12, maxlength: 1024, autocomplete: "new-password", hint: "At least 12 characters." }),
    field("Repeat the password", "password_repeat", { type: "password", required: true, minlength: 12, autocomplete: "new-password", "data-match": "password" }),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "setup" } }, "Create administrator and sign in")));
  onSubmit(form, async () => {
    let s;
    try {
      s = await post("/api/admin/setup", {
        setup_token: form.setup_token.value.trim(),
        username: form.username.value.trim(),
        password: form.password.value,
      }, { public: true });
    } catch (e) {
      // Someone else finished the setup meanwhile.
      if (e.status === 409) return showLogin(e.message, "info");
      throw e;
    }
    signedIn(s);
  });
  section.append(...[plainHttpWarning(), form].filter(Boolean));
  pageRoot().replaceChildren(section);
  if (message) notice(message, "info");
  form.setup_token.focus();
}

function showLogin(message, kind = "info") {
  showSignedOut();
  document.title = "Sign in — airgate admin";
  const section = pageSection("login", "Sign in to airgate");
  const form = el("form", { class: "card narrow", dataset: { form: "login" } },
    field("User name", "username", { required: true, autocomplete: "username", autocapitalize: "off", spellcheck: "false" }),
    field("Password", "password", { type: "password", required: true, autocomplete: "current-password" }),
    el("div", { class: "buttons" }, el("button", { type: "submit", dataset: { action: "login" } }, "Sign in")),
    el("p", { class: "muted small" }, "Five failed attempts for one user name within 15 minutes lock it for 15 minutes. A forgotten password can be reset on the server with ",
      el("code", {}, "airgate admin reset-password <user>"), "."));
  onSubmit(form, async () => {
    const s = await post("/api/admin/login", { username: form.username.value.trim(), password: form.password.value }, { public: true });
    signedIn(s);
  });
  section.append(...[plainHttpWarning(), form].filter(Boolean));
  pageRoot().replaceChildren(section);
  if (message) notice(message, kind);
  (form.username.value ? form.password : form.username).focus();
}

// -- signed in ------------------------------------------------------------------------------------

function signedIn(session) {
  state.session = session;
  setCsrf(session.csrf);
  clearNotice();
  document.body.classList.remove("signed-out");
  const signOut = el("button", { type: "button", class: "secondary", dataset: { action: "logout" } }, "Sign out");
  signOut.addEventListener("click", () => busy(signOut, logout));
  $("[data-role=who]").replaceChildren(
    el("span", { class: "who-name" }, el("span", { class: "who-label" }, "Signed in as "), el("strong", { dataset: { role: "user" } }, session.user)),
    signOut,
  );
  const nav = $("#nav");
  nav.replaceChildren(el("ul", {}, PAGES.map(([id, label]) => el("li", {}, el("a", { href: `#/${id}`, dataset: { nav: id } }, label)))));
  nav.hidden = false;
  $(".menu-toggle").hidden = false;
  route();
}

async function logout() {
  try {
    await post("/api/admin/logout");
  } catch (e) {
    if (e.status !== 401) throw e;
  }
  history.replaceState(null, "", "#/dashboard");
  showLogin("You are signed out.", "ok");
}

function sessionEnded(_err, message, kind) {
  if (!state.session) return;
  showLogin(message || "Your session ended; sign in again.", kind || "error");
}

function currentRoute() {
  const name = location.hash.replace(/^#\/?/, "").split(/[/?]/)[0];
  return PAGES.find(([id]) => id === name) || null;
}

async function route() {
  if (!state.session) return;
  const found = currentRoute();
  if (!found) {
    history.replaceState(null, "", "#/dashboard");
    return route();
  }
  const [id, , title, module] = found;
  closeMenu();
  leavePage();
  clearNotice();
  for (const a of document.querySelectorAll("#nav a")) {
    if (a.dataset.nav === id) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  document.title = `${title} — airgate admin`;
  const ctx = newContext(id);
  state.current = ctx;
  const section = pageSection(id, title);
  const body = el("div", { class: "page-body" }, el("p", { class: "muted", dataset: { role: "loading" } }, "Loading…"));
  section.append(body);
  pageRoot().replaceChildren(section);
  section.querySelector("h1").focus({ preventScroll: true });
  window.scrollTo(0, 0);
  try {
    await module.render(body, ctx);
    body.querySelector(":scope > [data-role=loading]")?.remove();
  } catch (e) {
    if (!ctx.alive || e.handled) return;
    body.replaceChildren(el("p", { class: "bad-text", dataset: { role: "load-error" } }, `This page could not be loaded: ${e.message}`),
      el("button", { type: "button", class: "secondary", dataset: { action: "retry" }, onclick: () => route() }, "Try again"));
    showError(e);
  }
}

// -- narrow windows: the nav is a menu ------------------------------------------------------------

function closeMenu() {
  $("#nav").classList.remove("open");
  $(".menu-toggle").setAttribute("aria-expanded", "false");
}

function wireShell() {
  $(".menu-toggle").addEventListener("click", () => {
    const open = !$("#nav").classList.contains("open");
    $("#nav").classList.toggle("open", open);
    $(".menu-toggle").setAttribute("aria-expanded", String(open));
    if (open) $("#nav a")?.focus();
  });
  $("#nav").addEventListener("click", (ev) => {
    const a = ev.target.closest("a[data-nav]");
    if (!a) return;
    closeMenu();
    // A click on the current page's link reloads it.
    if (location.hash === a.getAttribute("href")) {
      ev.preventDefault();
      route();
    }
  });
  document.addEventListener("keydown", (ev) => {
    if (ev.key === "Escape" && $("#nav").classList.contains("open")) {
      closeMenu();
      $(".menu-toggle").focus();
    }
  });
  $("[data-action=dismiss-notice]").addEventListener("click", () => clearNotice());
  $(".skip").addEventListener("click", (ev) => {
    ev.preventDefault();
    (pageRoot().querySelector("h1") || pageRoot()).focus();
  });
  window.addEventListener("hashchange", () => route());
  onSessionEnded(sessionEnded);
}

// -- start ----------------------------------------------------------------------------------------

async function start() {
  wireShell();
  try {
    state.status = await get("/api/admin/status", { public: true });
  } catch (e) {
    pageRoot().replaceChildren(el("section", { dataset: { page: "unavailable" } }, el("h1", {}, "airgate is not answering"),
      el("p", {}, `The admin API could not be reached: ${e.message}`),
      el("button", { type: "button", dataset: { action: "retry" }, onclick: () => location.reload() }, "Try again")));
    return;
  }
  if (state.status.setup_required) return showSetup();
  try {
    signedIn(await get("/api/admin/session", { public: true }));
  } catch (e) {
    if (e.status === 401) return showLogin();
    showLogin(e.message, "error");
  }
}

start();
