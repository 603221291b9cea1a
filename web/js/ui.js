// Shared DOM helpers: element builder, the notice area, labelled fields, form validation and field errors, busy buttons, tables, formatting, copy.

import { get } from "./api.js";

/// el("button", {class: "x", dataset: {action: "y"}, onclick: f}, "text", child, [more children])
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") node.addEventListener(k.slice(2), v);
    else if (k === "dataset") {
      for (const [dk, dv] of Object.entries(v)) if (dv !== null && dv !== undefined) node.dataset[dk] = String(dv);
    } else if (k === "value" && "value" in node) node.value = String(v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  append(node, children);
  return node;
}

/// Replaces a node's children, skipping null / undefined / false.
export function fill(node, ...children) {
  node.replaceChildren();
  append(node, children);
  return node;
}

function append(node, children) {
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
}

// -- the notice area ------------------------------------------------------------------------------

/// Shows a message in the global notice area (`kind`: error, ok, info, warn); "" hides it.
export function notice(message, kind = "error") {
  const box = document.querySelector("[data-role=notice-box]");
  const text = document.querySelector("[data-role=notice]");
  if (!box || !text) return;
  box.className = `notice ${kind}`;
  box.dataset.kind = kind;
  text.textContent = sentence(message || "");
  box.hidden = !message;
  if (message) box.scrollIntoView({ block: "nearest" });
}

export function clearNotice() {
  notice("");
}

/// "too many failed sign-ins" → "Too many failed sign-ins."
export function sentence(text) {
  const t = String(text || "").trim();
  if (!t) return t;
  const first = t[0].toLocaleUpperCase() + t.slice(1);
  return /[.!?]$/.test(first) ? first : `${first}.`;
}

function labelOf(form, input) {
  const label = input && input.id ? form.querySelector(`label[for="${CSS.escape(input.id)}"]`) : null;
  return label ? label.firstChild.textContent.trim() : null;
}

/// Shows an error in words: the message in the notice area, each field problem next to its input.
export function showError(err, form) {
  if (!err || err.handled) return;
  if (err.name === "AbortError") return;
  const fields = err.fields || {};
  let message = err.message || String(err);
  if (err.status === 429 && err.retryAfter && !/try again/i.test(message)) {
    message += `; try again in ${Math.ceil(err.retryAfter / 60)} minute${err.retryAfter > 60 ? "s" : ""}`;
  }
  let first = null;
  for (const [name, problem] of Object.entries(fields)) {
    const input = form ? form.querySelector(`[name="${CSS.escape(name)}"]`) : null;
    const slot = form ? form.querySelector(`[data-field-error="${CSS.escape(name)}"]`) : null;
    const label = form ? labelOf(form, input) : null;
    // The server names fields by their API names; the page by their labels.
    // Its messages read "field: problem" or "field problem; field2 problem2".
    const verbal = /^(must|is|are|cannot|can't|has|have|does|do|was|were|holds)\b/i.test(problem);
    if (label) message = message.replace(new RegExp(`(^|;\\s*)${name}:?(?=\\s)`, "g"), `$1${label}${verbal ? "" : ":"}`);
    if (slot) slot.textContent = sentence(label && verbal ? `${label} ${problem}` : problem);
    if (input) {
      input.setAttribute("aria-invalid", "true");
      first = first || input;
    }
  }
  notice(message, "error");
  if (first) first.focus();
}

// -- fields and forms -----------------------------------------------------------------------------

let fieldSeq = 0;

/// A labelled input whose `name` is the API field name, with its error slot `data-field-error`.
/// opts: type, tag ("input" | "select" | "textarea"), options (for select), hint, and any attribute.
export function field(label, name, opts = {}) {
  const { tag = "input", options = [], hint = null, type = "text", optionalMark = true, ...attrs } = opts;
  fieldSeq += 1;
  const id = `f${fieldSeq}-${name}`;
  const describedBy = [`${id}-err`, hint ? `${id}-hint` : null].filter(Boolean).join(" ");
  const common = { id, name, "aria-describedby": describedBy, ...attrs };
  const input =
    tag === "select" ? el("select", common, options)
    : tag === "textarea" ? el("textarea", common)
    : el("input", { type, ...common });
  if (tag === "textarea" && attrs.value !== undefined) input.value = attrs.value;
  return el(
    "div",
    { class: "field" },
    el("label", { for: id }, label, attrs.required || !optionalMark ? null : el("span", { class: "optional" }, " (optional)")),
    input,
    hint ? el("p", { class: "hint", id: `${id}-hint` }, hint) : null,
    el("p", { class: "field-error", id: `${id}-err`, dataset: { fieldError: name } }),
  );
}

/// Removes every field error and aria-invalid mark of a form.
export function clearFieldErrors(form) {
  form.querySelectorAll("[data-field-error]").forEach((e) => (e.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
}

function problemOf(input, form) {
  if (input.disabled || input.type === "hidden") return null;
  const v = input.type === "file" ? input.files.length : input.value;
  const text = typeof v === "string" ? v : "";
  if (input.required && (input.type === "file" ? !v : !text.trim())) {
    return input.type === "file" ? "Choose a file." : "This field is required.";
  }
  if (!text) return null;
  const match = input.dataset.match;
  if (match && form.elements[match] && text !== form.elements[match].value) return "The two passwords differ.";
  const min = Number(input.getAttribute("minlength"));
  if (min && text.length < min) return `Use at least ${min} characters (this has ${text.length}).`;
  const max = Number(input.getAttribute("maxlength"));
  if (max && text.length > max) return `Use at most ${max} characters.`;
  if (input.validity.patternMismatch) return input.dataset.patternHint || "This value has the wrong form.";
  if (input.validity.typeMismatch) return input.dataset.typeHint || (input.type === "url" ? "Enter a full URL, starting with http:// or https://." : "This value has the wrong form.");
  if (input.validity.badInput || input.validity.stepMismatch) return "Enter a whole number, or leave it empty.";
  if (input.validity.rangeUnderflow) return `Use ${input.min} or more, or leave it empty.`;
  if (input.validity.rangeOverflow) return `Use ${input.max} or less, or leave it empty.`;
  return null;
}

/// Checks a form in the browser (required, lengths, patterns, repeated passwords); marks problems. True when fine.
export function validate(form) {
  let first = null;
  for (const input of form.querySelectorAll("input, select, textarea")) {
    if (!input.name) continue;
    const problem = problemOf(input, form);
    if (!problem) continue;
    const slot = form.querySelector(`[data-field-error="${CSS.escape(input.name)}"]`);
    if (slot) slot.textContent = problem;
    input.setAttribute("aria-invalid", "true");
    first = first || input;
  }
  if (first) {
    notice("Some fields need attention; see the messages next to them.", "error");
    first.focus();
  }
  return !first;
}

/// Wires a form's submit: checks it, disables its buttons while `work` runs, shows the errors.
/// `work(form)` may return a promise. Returns the form.
export function onSubmit(form, work) {
  form.noValidate = true;
  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const buttons = [...form.querySelectorAll("button")];
    if (buttons.some((b) => b.dataset.running)) return;
    clearFieldErrors(form);
    clearNotice();
    if (!validate(form)) return;
    buttons.forEach((b) => {
      b.dataset.running = "1";
      b.disabled = true;
    });
    form.setAttribute("aria-busy", "true");
    try {
      await work(form);
    } catch (e) {
      showError(e, form);
    } finally {
      form.removeAttribute("aria-busy");
      buttons.forEach((b) => {
        delete b.dataset.running;
        b.disabled = false;
      });
    }
  });
  return form;
}

/// A `<button>` that runs `work(button)` with itself (and `also`) disabled; errors go to the notice area.
export function button(label, action, work, attrs = {}) {
  const b = el("button", { type: "button", dataset: { action }, ...attrs }, label);
  b.addEventListener("click", () => busy(b, () => work(b)));
  return b;
}

/// Runs `work` with the buttons disabled; shows its error. Resolves to work's value (undefined on error).
export async function busy(buttons, work) {
  const list = Array.isArray(buttons) ? buttons : [buttons];
  if (list.some((b) => b.disabled)) return undefined;
  list.forEach((b) => {
    b.disabled = true;
    b.setAttribute("aria-busy", "true");
  });
  try {
    return await work();
  } catch (e) {
    showError(e);
    return undefined;
  } finally {
    list.forEach((b) => {
      b.disabled = false;
      b.removeAttribute("aria-busy");
    });
  }
}

/// Asks before something that cannot be undone.
export function confirmed(question) {
  return window.confirm(question);
}

// -- tables ---------------------------------------------------------------------------------------

/// A table in a scrolling wrapper. rows: [{key, cells: [node or text], attrs}]; `empty` is shown
/// in a single muted cell when there are no rows.
export function table(headers, rows, { empty = "Nothing here yet.", caption = null, attrs = {} } = {}) {
  return el("div", { class: "table-wrap" }, el("table", attrs, caption ? el("caption", {}, caption) : null,
    el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
    tbody(headers.length, rows, empty)));
}

export function tbody(columns, rows, empty = "Nothing here yet.") {
  return el("tbody", {}, rows.length
    ? rows.map((r) => el("tr", { ...(r.attrs || {}), dataset: { row: r.key, ...((r.attrs && r.attrs.dataset) || {}) } }, r.cells.map((c) => el("td", {}, c))))
    : el("tr", {}, el("td", { colspan: columns, class: "muted" }, empty)));
}

// -- formatting -----------------------------------------------------------------------------------

export function bytes(n) {
  if (n === null || n === undefined || Number.isNaN(Number(n))) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let v = Number(n);
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i ? v.toFixed(v < 10 ? 2 : 1) : v} ${units[i]}`;
}

const pad = (n) => String(n).padStart(2, "0");

/// Unix seconds as local "YYYY-MM-DD HH:MM:SS"; `never` for null.
export function when(secs, never = "never") {
  if (!secs) return never;
  const d = new Date(secs * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/// A `<time>` element showing the local date and time.
export function timeEl(secs, never = "never") {
  if (!secs) return el("span", { class: "muted" }, never);
  return el("time", { datetime: new Date(secs * 1000).toISOString(), title: new Date(secs * 1000).toString() }, when(secs));
}

export function clock(date = new Date()) {
  return `${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}`;
}

export function duration(secs) {
  secs = Math.max(0, Math.floor(secs || 0));
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  if (d) return `${d} d ${h} h`;
  if (h) return `${h} h ${m} min`;
  if (m) return `${m} min ${secs % 60} s`;
  return `${secs} s`;
}

export const num = (n) => (n === null || n === undefined ? "–" : Number(n).toLocaleString("en-US"));

/// A value or "automatic" for null parameters.
export const auto = (v, word = "automatic") => (v === null || v === undefined ? el("span", { class: "muted", title: "automatic" }, word) : String(v));

// -- model families -------------------------------------------------------------------------------

/// GitLab's model families as the server knows them (GET /api/admin/families); loaded once.
let families = null;

export async function loadFamilies() {
  if (!families) families = await get("/api/admin/families");
  return families;
}

/// The family `<select>`: "automatic" (null) or one of GitLab's families (call `loadFamilies` first).
export function familyField(label, current, hint) {
  const known = families || [];
  const options = [el("option", { value: "", selected: !current }, "automatic"),
    ...known.map((f) => el("option", { value: f, selected: f === current }, f))];
  if (current && !known.includes(current)) options.push(el("option", { value: current, selected: true }, current));
  return field(label, "family", { tag: "select", options, hint, optionalMark: false });
}

// -- copying --------------------------------------------------------------------------------------

function selectText(node) {
  const range = document.createRange();
  range.selectNodeContents(node);
  const sel = window.getSelection();
  sel.removeAllRanges();
  sel.addRange(range);
}

/// A Copy button for the text of `source` (an element). Without the clipboard API (plain HTTP), the
/// text is selected and copied the old way, or left selected for Ctrl+C.
export function copyButton(source, action, label = "Copy") {
  const b = el("button", { type: "button", class: "secondary", dataset: { action } }, label);
  b.addEventListener("click", async () => {
    const text = source.textContent;
    let done = false;
    try {
      if (navigator.clipboard && window.isSecureContext) {
        await navigator.clipboard.writeText(text);
        done = true;
      }
    } catch (_) {
      done = false;
    }
    if (!done) {
      selectText(source);
      try {
        done = document.execCommand("copy");
      } catch (_) {
        done = false;
      }
    }
    b.textContent = done ? "Copied" : "Selected: press Ctrl+C";
    setTimeout(() => (b.textContent = label), 2500);
  });
  return b;
}

/// "Ready" and friends as a coloured badge carrying `data-role=status`.
export function statusBadge(status) {
  const words = { ready: "ready", loading: "loading", failed: "failed", unloaded: "unloaded" };
  return el("span", { class: `badge ${status}`, dataset: { role: "status" } }, words[status] || String(status));
}
