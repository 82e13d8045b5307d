// The API, as the operator sees it: every request carries the admin token.

const KEY = "cloudmart-admin-token";
let config = null;

export class Unauthorised extends Error {}

export class Refused extends Error {
  constructor(status, detail) {
    super(typeof detail === "string" ? detail : JSON.stringify(detail));
    this.status = status;
  }
}

/** An id as one segment of an API path. A browser resolves "." and ".." (and "%2e", "%2e%2e") as the path's
 * current and parent segment, so such an id would ask another route: it names nothing. */
export function segment(id) {
  if (id === "." || id === "..") throw new Refused(404, `no saga, order, book or customer has the id "${id}"`);
  return encodeURIComponent(id);
}

export async function loadConfig() {
  const response = await fetch("/explorer/config");
  config = await response.json();
  if (config.adminToken) sessionStorage.setItem(KEY, config.adminToken);
  return config;
}

export const vocabulary = () => config.vocabulary;
export const traceUrl = (traceId) => (config.traceUrl && traceId ? config.traceUrl.replace("{traceId}", traceId) : null);
export const token = () => sessionStorage.getItem(KEY);
export const signOut = () => sessionStorage.removeItem(KEY);

/** Keeps ``candidate`` if the API takes it as the admin token. */
export async function signIn(candidate) {
  const response = await fetch("/admin/faults", { headers: { Authorization: `Bearer ${candidate}` } });
  if (!response.ok) return false;
  sessionStorage.setItem(KEY, candidate);
  return true;
}

async function request(method, path, body) {
  const headers = { Authorization: `Bearer ${token()}`, Accept: "application/json" };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const response = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  if (response.status === 401) throw new Unauthorised();
  const answer = response.headers.get("content-type")?.includes("json") ? await response.json() : null;
  if (!response.ok) throw new Refused(response.status, answer?.detail ?? response.statusText);
  return answer;
}

export const get = (path) => request("GET", path);
export const post = (path, body = {}) => request("POST", path, body);
export const remove = (path) => request("DELETE", path);

/**
 * Follows a Server-Sent Events route until ``signal`` aborts, calling ``onEvent(record)`` for each event and
 * ``onOpen()`` on every (re)connection. ``EventSource`` cannot send an Authorization header, and a token in the
 * URL would end up in logs, so this reads the stream with fetch, resuming after the last id like EventSource.
 */
export async function follow(path, { onEvent, onOpen, onState }, signal) {
  let lastId = null;
  while (!signal.aborted) {
    try {
      const headers = { Authorization: `Bearer ${token()}`, Accept: "text/event-stream" };
      if (lastId) headers["Last-Event-ID"] = lastId;
      const response = await fetch(path, { headers, signal });
      if (!response.ok) throw new Error(`stream answered ${response.status}`);
      onState?.(true);
      onOpen?.();
      const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
      let buffer = "";
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        buffer += value.replaceAll("\r\n", "\n");
        let end;
        while ((end = buffer.indexOf("\n\n")) >= 0) {
          const block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const fields = parse(block);
          if (fields.id) lastId = fields.id;
          if (fields.data) onEvent(JSON.parse(fields.data));
        }
      }
    } catch (error) {
      if (signal.aborted) return;
    }
    onState?.(false);
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

function parse(block) {
  const fields = {};
  for (const line of block.split("\n")) {
    if (!line || line.startsWith(":")) continue;
    const colon = line.indexOf(":");
    const name = colon < 0 ? line : line.slice(0, colon);
    const value = colon < 0 ? "" : line.slice(colon + 1).replace(/^ /, "");
    fields[name] = name === "data" && fields.data !== undefined ? `${fields.data}\n${value}` : value;
  }
  return fields;
}
