// Drives Debian's Chromium through the airgate admin UI against a running server (started by tests/it/browser.rs).
//
// Env: AIRGATE_URL, SETUP_TOKEN, MODEL_PATH, SCREENSHOTS (directory), BROWSER_MODULES (node_modules
// holding playwright-core), CHROMIUM (default /usr/bin/chromium). Exit status 0 = every step passed.

import { createRequire } from "node:module";
import { mkdirSync } from "node:fs";

const require = createRequire(`${process.env.BROWSER_MODULES}/`);
const { chromium } = require("playwright-core");

const base = process.env.AIRGATE_URL;
const shots = process.env.SCREENSHOTS;
const PASSWORD = "correct horse battery staple";
mkdirSync(shots, { recursive: true });

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const errors = [];
let step = 0;

async function shot(page, name) {
  step += 1;
  await page.screenshot({ path: `${shots}/${String(step).padStart(2, "0")}-${name}.png`, fullPage: true });
}

function check(cond, what) {
  if (!cond) throw new Error(`check failed: ${what}`);
  console.log(`ok - ${what}`);
}

const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await context.newPage();
page.on("pageerror", (e) => errors.push(`page error: ${e.message}`));
page.on("console", (m) => m.type() === "error" && !/status of 4\d\d/.test(m.text()) && errors.push(`console: ${m.text()}`));
page.on("dialog", (d) => d.accept());

try {
  // First-run setup: a wrong token is refused with the reason next to the field.
  await page.goto(`${base}/admin/`);
  await page.waitForSelector("[data-page=setup]");
  await shot(page, "setup");
  await page.fill("[name=setup_token]", "not-the-token");
  await page.fill("[name=username]", "root");
  await page.fill("[name=password]", PASSWORD);
  await page.fill("[name=password_repeat]", PASSWORD);
  await page.click("[data-action=setup]");
  await page.waitForSelector("[data-field-error=setup_token]:not(:empty)");
  check(true, "a wrong setup token is refused, next to its field");
  await page.fill("[name=setup_token]", process.env.SETUP_TOKEN);
  await page.click("[data-action=setup]");
  await page.waitForSelector("[data-page=dashboard]");
  check(true, "setup creates the first admin and signs in");
  await shot(page, "dashboard-empty");

  // CSRF: a state-changing request from this page's session but without the token is refused.
  const csrf = await page.evaluate(async () => {
    const r = await fetch("/api/admin/api-keys", { method: "POST", headers: { "Content-Type": "application/json" }, body: '{"name":"x"}' });
    return [r.status, (await r.json()).error.message];
  });
  check(csrf[0] === 403 && /CSRF/.test(csrf[1]), `a request without the CSRF token is refused (${csrf[0]})`);

  // Sign out, wrong password, lockout, sign in.
  await page.click("[data-action=logout]");
  await page.waitForSelector("[data-page=login]");
  await page.fill("[name=username]", "root");
  await page.fill("[name=password]", "this is not it at all");
  await page.click("[data-action=login]");
  await page.waitForSelector("[data-role=notice]:has-text('wrong user name or password')");
  check(true, "a wrong password is refused in words");
  for (let i = 0; i < 5; i++) {
    await page.fill("[name=username]", "intruder");
    await page.fill("[name=password]", `guess number ${i} here`);
    await page.click("[data-action=login]");
    await page.waitForFunction(() => !document.querySelector("[data-action=login]").disabled);
  }
  await page.fill("[name=password]", "one more guess here");
  await page.click("[data-action=login]");
  await page.waitForSelector("[data-role=notice]:has-text('too many failed sign-ins')");
  check(true, "repeated failures lock the user name out");
  await shot(page, "lockout");
  await page.fill("[name=username]", "root");
  await page.fill("[name=password]", PASSWORD);
  await page.click("[data-action=login]");
  await page.waitForSelector("[data-page=dashboard]");
  check(true, "the admin signs in");

  // Import the default model from a path; the progress bar reaches the end.
  await page.click("[data-nav=models]");
  await page.waitForSelector("[data-page=models] [data-action=import]");
  await page.fill("[name=path]", "/no/such/file.gguf");
  await page.click("[data-action=import]");
  await page.waitForSelector("[data-field-error=path]:not(:empty)");
  check(true, "a missing file is refused next to the path field");
  await page.fill("[name=path]", process.env.MODEL_PATH);
  await page.fill("[name=name]", "gemma");
  await page.click("[data-action=import]");
  await page.waitForSelector("[data-row=gemma] [data-role=status]:has-text('ready')", { timeout: 120000 });
  check(true, "the model is imported and loaded");
  await shot(page, "models-imported");

  // Change its slots and reload.
  const card = page.locator("article[data-row=gemma]");
  await card.locator("[name=parallel]").fill("3");
  await card.locator("[data-action=save-model]").click();
  await page.waitForSelector("[data-role=notice]:has-text('saved and reloaded')", { timeout: 120000 });
  check((await page.locator("article[data-row=gemma] [name=parallel]").inputValue()) === "3", "slots changed and the model reloaded");

  // Try it streams a reply. It samples (temperature 0.7, a fresh seed), and a sample may end at
  // once: up to three tries for one with text (each click clears the output and the stats).
  await page.locator("article[data-row=gemma] [name=prompt]").fill("Say hello.");
  let answer = "";
  for (let attempt = 0; attempt < 3 && answer.length === 0; attempt += 1) {
    await page.locator("article[data-row=gemma] [data-action=try]").click();
    await page.waitForSelector("[data-role=try-stats]:not(:empty)", { timeout: 60000 });
    answer = await page.locator("[data-role=try-output]").textContent();
  }
  check(answer.length > 0, "try it streams an answer");
  await shot(page, "models-try");

  // Map a feature to it.
  await page.click("[data-nav=features]");
  const row = page.locator("[data-page=features] tr[data-row=duo_chat]");
  await row.locator("select").selectOption(JSON.stringify({ kind: "local", model: "gemma" }));
  await row.locator("[data-action=save-route]").click();
  await page.waitForSelector("tr[data-row=duo_chat] [data-role=effective]:has-text('local model gemma')");
  check(true, "General Chat is mapped to the model");
  // Its output cap, and the repetition guard switch.
  await row.locator("[data-role=cap] input").fill("512");
  await row.locator("[data-action=save-cap]").click();
  await page.waitForSelector("[data-role=notice]:has-text('answers stop after 512 tokens')");
  check(await page.locator("[data-page=features] #repetition-guard").isChecked(), "the repetition guard is on by default");
  await shot(page, "features");

  // Diagnostics.
  await page.click("[data-nav=diagnostics]");
  await page.click("[data-action=run-diagnostics]");
  await page.waitForSelector("[data-role=verdict]", { timeout: 180000 });
  check(/All checks passed/.test(await page.locator("[data-role=verdict]").textContent()), "diagnostics pass");
  await shot(page, "diagnostics");

  // Create an API key (shown once) and revoke it.
  await page.click("[data-nav=api-keys]");
  await page.fill("[data-page=api-keys] [name=name]", "browser test");
  await page.click("[data-action=create-key]");
  const key = (await page.locator("[data-role=key-value]").textContent()).trim();
  check(key.startsWith("ag-"), "a new API key is shown once");
  await shot(page, "api-key-created");
  const withKey = await page.evaluate(async (k) => (await fetch("/v1/models", { headers: { Authorization: `Bearer ${k}` } })).status, key);
  const withoutKey = await page.evaluate(async () => (await fetch("/v1/models")).status);
  check(withKey === 200 && withoutKey === 401, `the key guards /v1 (${withKey} with, ${withoutKey} without)`);
  await page.click("[data-action=revoke-key]");
  await page.waitForSelector("[data-page=api-keys] td.muted:has-text('Nothing here yet')");
  check(true, "the key is revoked");
  // The last key went, yet /v1 still asks for one; only the admin's switch opens it.
  const afterRevoke = await page.evaluate(async () => (await fetch("/v1/models")).status);
  check(afterRevoke === 401, `/v1 stays closed after the last key is revoked (${afterRevoke})`);
  await page.click("[data-action=toggle-v1-access]");
  await page.waitForSelector("[data-role=v1-access-state]:has-text('/v1 is open')");
  const opened = await page.evaluate(async () => (await fetch("/v1/models")).status);
  check(opened === 200, `the switch opens /v1 (${opened})`);

  // A request appears in the live log.
  await page.click("[data-nav=logs]");
  await page.waitForSelector("[data-role=log]");
  await page.waitForTimeout(500);
  const status = await page.evaluate(async () => {
    const r = await fetch("/v1/chat/completions", {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Request-ID": "browser-live-1" },
      body: JSON.stringify({ model: "gemma", messages: [{ role: "user", content: "Hi" }], max_tokens: 4 }),
    });
    await r.text();
    return r.status;
  });
  check(status === 200, "a chat request succeeds");
  await page.waitForSelector("[data-role=log] tr[data-row=browser-live-1]", { timeout: 15000 });
  check(true, "the request appears in the live log");
  await shot(page, "logs");

  // The GitLab page refuses a URL that is not one, in words next to the field.
  await page.click("[data-nav=gitlab]");
  await page.fill("[name=gitlab_url]", "gitlab.example.com");
  await page.click("[data-action=save-gitlab]");
  await page.waitForSelector("[data-field-error=gitlab_url]:not(:empty)");
  check(true, "a GitLab URL without a scheme is refused next to its field");

  // The other pages render without errors, wide and narrow.
  for (const p of ["dashboard", "models", "features", "gitlab", "agent-platform", "endpoints", "api-keys", "logs", "settings", "users"]) {
    await page.click(`[data-nav=${p}]`);
    await page.waitForSelector(`[data-page=${p}] h1`);
    await page.waitForTimeout(300);
    await shot(page, p);
    const text = await page.locator("main").innerText();
    check(!/\b(null|undefined|NaN)\b|\[object /.test(text), `the ${p} page shows no null, undefined or [object …]`);
  }
  // The Agent Platform page shows GitLab's setting value and an empty session list.
  await page.click("[data-nav=agent-platform]");
  await page.waitForSelector("[data-role=agent-sessions]");
  const setting = await page.locator("[data-page=agent-platform] [data-role=agent-platform-url]").innerText();
  check(/:\d+$/.test(setting), `the Agent Platform page names host:port for GitLab (${setting})`);
  await page.setViewportSize({ width: 420, height: 900 });
  await page.click(".menu-toggle");
  await page.click("[data-nav=models]");
  await page.waitForSelector("[data-page=models] article");
  await shot(page, "narrow-models");
  check(!(await page.evaluate(() => document.documentElement.scrollWidth > window.innerWidth + 1)), "no sideways scrolling at 420 px");

  check(errors.length === 0, `no script errors (${errors.join("; ")})`);
} catch (e) {
  console.error(`FAILED: ${e.message}`);
  for (const err of errors) console.error(err);
  await shot(page, "failure").catch(() => {});
  await browser.close();
  process.exit(1);
}
await browser.close();
