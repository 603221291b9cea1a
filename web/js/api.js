// The admin API client: JSON in and out, the CSRF header on changes, errors as ApiError with the server's words.

let csrf = null;

export function setCsrf(token) {
  csrf = token;
}

export class ApiError extends Error {
  constructor(status, message, fields) {
    super(message);
    this.status = status;
    this.fields = fields || {};
  }
}

/// Sends a request; resolves to the parsed JSON (null for 204), rejects with ApiError.
export async function api(method, path, body, opts = {}) {
  const headers = {};
  if (method !== "GET" && csrf) headers["X-CSRF-Token"] = csrf;
  let payload;
  if (body instanceof Blob || body instanceof ArrayBuffer) {
    headers["Content-Type"] = "application/octet-stream";
    payload = body;
  } else if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(path, { method, headers, body: payload, credentials: "same-origin" });
  } catch (e) {
    throw new ApiError(0, "airgate cannot be reached: " + e.message);
  }
  if (opts.raw) {
    if (!resp.ok) throw await toError(resp);
    return resp;
  }
  if (resp.status === 204) return null;
  if (!resp.ok) throw await toError(resp);
  const text = await resp.text();
  return text ? JSON.parse(text) : null;
}

async function toError(resp) {
  let message = `${resp.status} ${resp.statusText}`;
  let fields = {};
  try {
    const v = await resp.json();
    if (v && v.error && typeof v.error === "object") {
      message = v.error.message || message;
      fields = v.error.fields || {};
    } else if (v && (v.detail || v.error)) {
      message = v.detail || v.error;
    }
  } catch (_) {
    /* not JSON */
  }
  const err = new ApiError(resp.status, message, fields);
  if (resp.status === 401) window.dispatchEvent(new CustomEvent("airgate:signed-out"));
  return err;
}

/// Reads a `text/event-stream` response, calling `onData` with each parsed `data:` JSON value.
export async function readSse(resp, onData) {
  const reader = resp.body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  for (;;) {
    const { value, done } = await reader.read();
    if (done) break;
    buf += decoder.decode(value, { stream: true });
    let cut;
    while ((cut = buf.indexOf("\n\n")) >= 0) {
      const frame = buf.slice(0, cut);
      buf = buf.slice(cut + 2);
      for (const line of frame.split("\n")) {
        if (line.startsWith("data: ")) onData(JSON.parse(line.slice(6)));
      }
    }
  }
}
