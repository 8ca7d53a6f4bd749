// The ChatKit client of the console: every request goes through `send`, which adds
// credentials and records the exchange (status, timing, request id, body, SSE events)
// in the inspector.

import { SSEParser } from "./sse.js";

/** A non-2xx answer: carries the status, the server's error fields and its raw body. */
export class ApiError extends Error {
  constructor(status, body, requestId) {
    const error = parseJSON(body)?.error;
    super(error?.message || body || `HTTP ${status}`);
    this.name = "ApiError";
    this.status = status;
    this.code = error?.code || `http_${status}`;
    this.body = body;
    this.requestId = error?.request_id || requestId || "";
  }
}

export class ChatKitClient {
  /**
   * @param {{path: string, credentials: () => string, inspector: import("./inspector.js").Inspector}} options
   */
  constructor({ path, credentials, inspector }) {
    this.path = path;
    this.credentials = credentials;
    this.inspector = inspector;
  }

  /** A non-streaming ChatKit request; resolves to the parsed JSON answer. */
  async request(body) {
    const { response, exchange } = await this.send(this.path, jsonInit(body), body.type, body);
    const text = await response.text();
    exchange.body(text, response.headers.get("content-type") || "");
    exchange.finish();
    if (!response.ok) throw new ApiError(response.status, text, exchange.requestId);
    return text ? JSON.parse(text) : {};
  }

  /**
   * A streaming ChatKit request: calls onEvent(event) for each SSE event as it arrives.
   * Resolves to "done" when the stream ends or "aborted" when `signal` aborts it.
   * A JSON answer (a non-streaming request) is recorded and resolves to "done" too.
   */
  async stream(body, onEvent, signal) {
    let sent;
    try {
      sent = await this.send(this.path, { ...jsonInit(body), signal }, body.type, body);
    } catch (error) {
      if (isAbort(error)) return "aborted";
      throw error;
    }
    const { response, exchange } = sent;
    const contentType = response.headers.get("content-type") || "";
    if (!response.ok || !response.body || !contentType.startsWith("text/event-stream")) {
      // An error before the stream started, or a JSON answer (e.g. a raw non-streaming request).
      const text = await response.text();
      exchange.body(text, contentType);
      exchange.finish();
      if (!response.ok) throw new ApiError(response.status, text, exchange.requestId);
      return "done";
    }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    const parser = new SSEParser();
    const deliver = (events) => {
      for (const raw of events) {
        const event = parseJSON(raw.data) ?? { type: "(not JSON)", raw: raw.data };
        exchange.event(event);
        onEvent(event);
      }
    };
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        deliver(parser.push(decoder.decode(value, { stream: true })));
      }
      deliver(parser.push(decoder.decode()));
      deliver(parser.end());
      exchange.finish();
      return "done";
    } catch (error) {
      if (isAbort(error)) {
        exchange.finish("aborted by the Stop button");
        this.stopReply(exchange.requestId);
        return "aborted";
      }
      exchange.fail(error);
      throw error;
    }
  }

  /**
   * Tell the server the Stop button ended the reply of `requestId`: with
   * CHATKIT_ON_DISCONNECT=finish a closed connection alone lets a reply run on
   * (docs/frontend.md). Recorded in the inspector; its failure is ignored.
   */
  stopReply(requestId) {
    if (!requestId) return;
    const url = `${this.path.replace(/\/+$/, "")}/stop`;
    this.send(url, jsonInit({ request_id: requestId }), "stop")
      .then(async ({ response, exchange }) => {
        exchange.body(await response.text(), response.headers.get("content-type") || "");
        exchange.finish();
      })
      .catch(() => {});
  }

  /** Fetch an image (preview) as an object URL, sending credentials to our own origin. */
  async blobURL(url) {
    const { response, exchange } = await this.send(url, { method: "GET" }, "GET preview");
    if (!response.ok) {
      const text = await response.text();
      exchange.body(text, response.headers.get("content-type") || "");
      exchange.finish();
      throw new ApiError(response.status, text, exchange.requestId);
    }
    const blob = await response.blob();
    exchange.note(`${blob.type || "unknown type"}, ${blob.size} bytes`);
    exchange.finish();
    return URL.createObjectURL(blob);
  }

  /**
   * Send a file to an upload URL: the raw bytes for PUT (all a presigned storage URL
   * takes), a multipart field `file` for POST; resolves to the parsed answer (if any).
   */
  async upload(url, method, headers, file) {
    let body = file;
    if (method !== "PUT") {
      body = new FormData();
      body.append("file", file, file.name);
    }
    const init = { method, headers: { ...headers }, body };
    const { response, exchange } = await this.send(url, init, `upload ${file.name}`, {
      file: file.name,
      size: file.size,
      type: file.type,
    });
    const text = await response.text();
    exchange.body(text, response.headers.get("content-type") || "");
    exchange.finish();
    if (!response.ok) throw new ApiError(response.status, text, exchange.requestId);
    return parseJSON(text) ?? {};
  }

  /** Fetch with credentials (on our origin only), recorded in the inspector. */
  async send(url, init, label, shownBody) {
    const target = new URL(url, location.href);
    const headers = new Headers(init.headers || {});
    const token = this.credentials();
    if (token && target.origin === location.origin) headers.set("Authorization", `Bearer ${token}`);
    const exchange = this.inspector.begin({
      method: init.method || "GET",
      url: target.origin === location.origin ? target.pathname + target.search : target.href,
      label,
      headers,
      body: shownBody,
    });
    let response;
    try {
      response = await fetch(target, { ...init, headers });
    } catch (error) {
      if (isAbort(error)) exchange.finish("aborted before the response");
      else exchange.fail(error);
      throw error;
    }
    exchange.response(response);
    return { response, exchange };
  }
}

function jsonInit(body) {
  return {
    method: "POST",
    headers: { "Content-Type": "application/json", Accept: "application/json, text/event-stream" },
    body: JSON.stringify(body),
  };
}

export function parseJSON(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

export function isAbort(error) {
  return error && error.name === "AbortError";
}
