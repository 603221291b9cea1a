// Small DOM helpers shared by the pages: element builder, tables, forms with field errors, notices, formatting.

/// el("button", {class: "x", onclick: f}, "text", child…)
export function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === null || v === undefined || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "dataset") Object.assign(node.dataset, v);
    else if (v === true) node.setAttribute(k, "");
    else node.setAttribute(k, String(v));
  }
  for (const c of children.flat()) {
    if (c === null || c === undefined || c === false) continue;
    node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return node;
}

export function notice(message, kind = "error") {
  const box = document.querySelector("[data-role=notice]");
  box.textContent = message;
  box.className = `notice ${kind}`;
  box.hidden = !message;
  if (message) box.scrollIntoView({ block: "nearest" });
}

export function table(headers, rows, rowKey) {
  return el(
    "div",
    { class: "table-wrap" },
    el(
      "table",
      {},
      el("thead", {}, el("tr", {}, headers.map((h) => el("th", { scope: "col" }, h)))),
      el(
        "tbody",
        {},
        rows.length
          ? rows.map((r, i) => el("tr", { dataset: { row: rowKey ? rowKey(i) : String(i) } }, r.map((c) => el("td", {}, c))))
          : el("tr", {}, el("td", { colspan: headers.length, class: "muted" }, "Nothing here yet.")),
      ),
    ),
  );
}

/// A labelled input; `name` equals the API field name.
export function field(label, name, attrs = {}) {
  const { tag = "input", options = [], ...rest } = attrs;
  const id = `f-${name}-${Math.random().toString(36).slice(2, 8)}`;
  const input =
    tag === "select" ? el("select", { id, name, ...rest }, options)
    : tag === "textarea" ? el("textarea", { id, name, ...rest })
    : el("input", { id, name, type: "text", ...rest });
  return el("div", { class: "field" }, el("label", { for: id }, label), input, el("div", { class: "field-error", dataset: { fieldError: name } }));
}

/// Runs `work` for a form: disables its buttons, clears and shows field errors, reports failures.
export async function submit(form, work) {
  const buttons = [...form.querySelectorAll("button")];
  buttons.forEach((b) => (b.disabled = true));
  form.querySelectorAll("[data-field-error]").forEach((e) => (e.textContent = ""));
  form.querySelectorAll("[aria-invalid]").forEach((e) => e.removeAttribute("aria-invalid"));
  notice("");
  try {
    return await work();
  } catch (e) {
    showError(e, form);
    return undefined;
  } finally {
    buttons.forEach((b) => (b.disabled = false));
  }
}

export function showError(e, form) {
  const fields = (e && e.fields) || {};
  let placed = false;
  if (form) {
    for (const [name, problem] of Object.entries(fields)) {
      const slot = form.querySelector(`[data-field-error="${name}"]`);
      const input = form.querySelector(`[name="${name}"]`);
      if (slot) {
        slot.textContent = problem;
        placed = true;
      }
      if (input) input.setAttribute("aria-invalid", "true");
    }
  }
  notice(e && e.message ? e.message : String(e));
  return placed;
}

/// A button that runs `work` with itself disabled; errors become a notice.
export function action(label, name, work, attrs = {}) {
  const b = el("button", { type: "button", dataset: { action: name }, ...attrs }, label);
  b.addEventListener("click", async () => {
    b.disabled = true;
    notice("");
    try {
      await work(b);
    } catch (e) {
      showError(e);
    } finally {
      b.disabled = false;
    }
  });
  return b;
}

export function bytes(n) {
  if (n === null || n === undefined) return "–";
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return `${n.toFixed(i ? 1 : 0)} ${units[i]}`;
}

export function when(secs) {
  return secs ? new Date(secs * 1000).toLocaleString() : "–";
}

export function duration(secs) {
  const d = Math.floor(secs / 86400), h = Math.floor((secs % 86400) / 3600), m = Math.floor((secs % 3600) / 60);
  return d ? `${d} d ${h} h` : h ? `${h} h ${m} min` : `${m} min`;
}

export function copyButton(text) {
  return action("Copy", "copy", async (b) => {
    try {
      await navigator.clipboard.writeText(text());
      b.textContent = "Copied";
    } catch (_) {
      const area = el("textarea", {}, text());
      document.body.append(area);
      area.select();
      document.execCommand("copy");
      area.remove();
      b.textContent = "Copied";
    }
    setTimeout(() => (b.textContent = "Copy"), 1500);
  });
}

export const FAMILIES = ["general", "codegemma", "codellama", "codestral", "deepseekcoder", "gpt", "granite", "llama3", "mistral", "mixtral", "claude_3"];

export function familySelect(label, name, current) {
  const options = [el("option", { value: "" }, "automatic"), ...FAMILIES.map((f) => el("option", { value: f, selected: f === current }, f))];
  return field(label, name, { tag: "select", options });
}
