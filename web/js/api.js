// The admin API client: JSON in and out, X-CSRF-Token on changes, errors as ApiError (message, fields, status), SSE over POST.

let csrf = null;
let sessionEnded = null;

/// Remembers the session's CSRF token (from login, setup or GET /api/admin/session); null forgets it.
export function setCsrf(token) {
  csrf = token || null;
}

/// Registers what to do when a signed-in request answers 401 (the session ended).
export function onSessionEnded(handler) {
  sessionEnded = handler;
}

/// Ends the signed-in view on purpose (e.g. after a restore), showing `message` on the sign-in page.
export function endSession(message, kind) {
  if (sessionEnded) sessionEnded(null, message, kind);
}

/// A failed request: `message` in words, `fields` maps form field names to their problem.
export class ApiError extends Error {
  constructor(status, message, fields, retryAfter) {
    super(message);
    this.name = "ApiError";
    this.status = status;
    this.fields = fields || {};
    this.retryAfter = retryAfter || null;
    // True once the session-ended handler has dealt with it: the page shows nothing more.
    this.handled = false;
  }
}

const CHANGES = new Set(["POST", "PUT", "PATCH", "DELETE"]);

function headersFor(method, body, accept) {
  const headers = { Accept: accept };
  if (CHANGES.has(method) && csrf) headers["X-CSRF-Token"] = csrf;
  if (body instanceof Blob || body instanceof ArrayBuffer) headers["Content-Type"] = "application/octet-stream";
  else if (body !== undefined) headers["Content-Type"] = "application/json";
  return headers;
}

function payload(body) {
  if (body === undefined || body instanceof Blob || body instanceof ArrayBuffer) return body;
  return JSON.stringify(body);
}

async function send(method, path, body, opts, accept) {
  let resp;
  try {
    resp = await fetch(path, {
      method,
      headers: headersFor(method, body, accept),
      body: payload(body),
      credentials: "same-origin",
      cache: "no-store",
      signal: opts.signal,
    });
  } catch (e) {
    if (e && e.name === "AbortError") throw e;
    throw new ApiError(0, "airgate did not answer (network error). Check that the server is running and reachable, then try again.");
  }
  if (!resp.ok) throw await toError(resp, opts);
  return resp;
}

/// Sends a request. Resolves to the parsed JSON answer (null for 204), or to the Response with
/// `opts.raw`. Rejects with ApiError. `opts.public`: a 401 is an answer of its own (sign-in, status),
/// not the end of a session.
export async function api(method, path, body, opts = {}) {
  const resp = await send(method, path, body, opts, opts.raw ? "*/*" : "application/json");
  if (opts.raw) return resp;
  if (resp.status === 204) return null;
  const text = await resp.text();
  if (!text) return null;
  try {
    return JSON.parse(text);
  } catch (_) {
    throw new ApiError(resp.status, `airgate sent an answer that is not JSON (${path}).`);
  }
}

export const get = (path, opts) => api("GET", path, undefined, opts);
export const post = (path, body, opts) => api("POST", path, body, opts);
export const put = (path, body, opts) => api("PUT", path, body, opts);
export const del = (path, opts) => api("DELETE", path, undefined, opts);

/// `encodeURIComponent` for one path segment.
export const seg = (s) => encodeURIComponent(String(s));

async function toError(resp, opts) {
  let message = `airgate answered ${resp.status} ${resp.statusText || ""}`.trim() + ".";
  let fields = {};
  try {
    const v = JSON.parse(await resp.text());
    if (v && v.error && typeof v.error === "object") {
      if (v.error.message) message = v.error.message;
      if (v.error.fields && typeof v.error.fields === "object") fields = v.error.fields;
    } else if (v && typeof v.error === "string") {
      message = v.error;
    }
  } catch (_) {
    // Not JSON (a proxy's error page): keep the status line.
  }
  const retry = Number(resp.headers.get("Retry-After")) || null;
  const err = new ApiError(resp.status, message, fields, retry);
  if (resp.status === 401 && !opts.public && sessionEnded) {
    err.handled = true;
    sessionEnded(err);
  }
  return err;
}

/// POSTs `body` and reads the `text/event-stream` answer, calling `onData` with each `data:` value
/// parsed as JSON, as it arrives. Resolves when the stream ends.
export async function postSse(path, body, onData, opts = {}) {
  const resp = await send("POST", path, body, opts, "text/event-stream");
  if (!resp.body) throw new ApiError(resp.status, "The browser cannot read a streamed answer.");
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  const frame = (text) => {
    const data = text
      .split(/\r?\n/)
      .filter((l) => l.startsWith("data:"))
      .map((l) => l.slice(5).replace(/^ /, ""))
      .join("\n");
    if (data) onData(JSON.parse(data));
  };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
      const end = buf.slice(cut).match(/^\r?\n\r?\n/)[0].length;
      frame(buf.slice(0, cut));
      buf = buf.slice(cut + end);
    }
  }
  buf += decoder.decode();
  if (buf.trim()) frame(buf);
}
