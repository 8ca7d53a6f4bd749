// The inspector pane: one entry per request of the session, newest first, with its
// status, timing, request id, headers and body; a stream lists each SSE event as it
// arrives (type, time since the request, JSON folded).

import { formatDuration, h, prettyJSON } from "./dom.js";

const SHOWN_RESPONSE_HEADERS = ["content-type", "content-length", "x-request-id", "retry-after", "www-authenticate"];

export class Inspector {
  constructor(list) {
    this.list = list;
    this.count = 0;
  }

  /** Start recording a request; returns its Exchange. */
  begin({ method, url, label, headers, body }) {
    this.count += 1;
    const exchange = new Exchange(this.count, { method, url, label, headers, body });
    this.list.prepend(exchange.element);
    return exchange;
  }

  clear() {
    this.list.replaceChildren();
  }
}

export class Exchange {
  constructor(number, { method, url, label, headers, body }) {
    this.started = performance.now();
    this.requestId = "";
    this.eventCount = 0;
    this.status = h("span", { class: "status pending", "data-role": "status" }, "…");
    this.timing = h("span", { class: "timing", "data-role": "timing" }, "");
    this.idLabel = h("span", { class: "request-id", "data-role": "request-id" }, "");
    this.sections = h("div", { class: "sections" });
    this.details = h(
      "details",
      {},
      h(
        "summary",
        {},
        h("span", { class: "number" }, `#${number}`),
        " ",
        h("span", { class: "label", "data-role": "label" }, label || `${method} ${url}`),
        " ",
        this.status,
        " ",
        this.timing,
        " ",
        this.idLabel,
      ),
      this.sections,
    );
    this.element = h("li", { class: "exchange", dataset: { label: label || "" } }, this.details);
    this.sections.append(
      section("Request", h("pre", {}, `${method} ${url}\n${formatHeaders(headers)}`)),
    );
    if (body !== undefined) this.sections.append(section("Request body", foldedJSON(body, true)));
  }

  /** The response's status and headers have arrived. */
  response(response) {
    this.requestId = response.headers.get("x-request-id") || "";
    this.status.textContent = String(response.status);
    this.status.className = `status ${response.ok ? "ok" : "bad"}`;
    this.idLabel.textContent = this.requestId ? `id ${this.requestId}` : "";
    this.idLabel.title = this.requestId;
    this.timing.textContent = formatDuration(this.elapsed());
    const shown = SHOWN_RESPONSE_HEADERS.filter((name) => response.headers.has(name))
      .map((name) => `${name}: ${response.headers.get(name)}`)
      .join("\n");
    this.sections.append(
      section(
        "Response",
        h("pre", { "data-role": "response-head" }, `HTTP ${response.status} ${response.statusText}\n${shown}`),
      ),
    );
    if (!response.ok) {
      this.element.classList.add("failed");
      this.details.open = true;
    }
    if ((response.headers.get("content-type") || "").startsWith("text/event-stream")) {
      this.events = h("ol", { class: "events", "data-role": "events" });
      this.eventsHeading = h("h3", {}, "Events");
      this.sections.append(h("section", {}, this.eventsHeading, this.events));
    }
  }

  /** One SSE event, parsed. */
  event(event) {
    this.eventCount += 1;
    const at = this.elapsed();
    this.eventsHeading.textContent = `Events (${this.eventCount})`;
    this.timing.textContent = `${formatDuration(at)} · ${this.eventCount} events`;
    this.events.append(
      h(
        "li",
        { class: "event", dataset: { type: event.type || "" } },
        h(
          "details",
          {},
          h(
            "summary",
            {},
            h("span", { class: "event-time" }, `+${formatDuration(at)}`),
            " ",
            h("span", { class: "event-type" }, event.type || "(no type)"),
            " ",
            h("span", { class: "event-gist" }, gist(event)),
          ),
          h("pre", {}, prettyJSON(event)),
        ),
      ),
    );
  }

  /** The response body, shown exactly as the server sent it when it is an error. */
  body(text, contentType) {
    const parsed = contentType.includes("json") ? tryParse(text) : undefined;
    const failed = this.element.classList.contains("failed");
    const shown = failed || parsed === undefined ? h("pre", { "data-role": "body" }, text) : foldedJSON(parsed, false);
    this.sections.append(section(failed ? "Error body (as sent)" : "Response body", shown));
  }

  note(text) {
    this.sections.append(h("p", { class: "note" }, text));
  }

  finish(note) {
    const total = formatDuration(this.elapsed());
    this.timing.textContent = this.events ? `${total} · ${this.eventCount} events` : total;
    if (note) {
      this.element.classList.add("aborted");
      this.status.textContent += " aborted";
      this.note(`${note} after ${total}`);
    }
  }

  fail(error) {
    this.element.classList.add("failed");
    this.status.className = "status bad";
    if (this.status.textContent === "…") this.status.textContent = "network error";
    this.timing.textContent = formatDuration(this.elapsed());
    this.note(`${error.name}: ${error.message}`);
  }

  elapsed() {
    return performance.now() - this.started;
  }
}

function section(title, content) {
  return h("section", {}, h("h3", {}, title), content);
}

function foldedJSON(value, open) {
  const text = prettyJSON(value);
  const lines = text.split("\n").length;
  return h("details", { class: "json", open: open && lines <= 12 }, h("summary", {}, `JSON, ${lines} lines`), h("pre", {}, text));
}

function formatHeaders(headers) {
  const lines = [];
  for (const [name, value] of headers.entries()) {
    lines.push(`${name}: ${name === "authorization" ? maskCredentials(value) : value}`);
  }
  return lines.join("\n");
}

function maskCredentials(value) {
  const [scheme, secret = ""] = value.split(" ", 2);
  return `${scheme} ${"•".repeat(8)}${secret.slice(-4)}`;
}

function tryParse(text) {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** A short, readable summary of an event for its folded line. */
function gist(event) {
  switch (event.type) {
    case "thread.item.updated": {
      const update = event.update || {};
      if (update.type === "assistant_message.content_part.text_delta") return JSON.stringify(update.delta);
      return update.type || "";
    }
    case "thread.item.added":
    case "thread.item.done":
    case "thread.item.replaced":
      return event.item ? `${event.item.type} ${event.item.id}` : "";
    case "thread.item.removed":
      return event.item_id || "";
    case "thread.created":
    case "thread.updated":
      return event.thread ? `${event.thread.id} ${JSON.stringify(event.thread.title ?? null)}` : "";
    case "error":
      return `${event.code || ""} ${event.message || ""}`.trim();
    case "notice":
    case "progress_update":
      return event.message || event.text || "";
    case "stream_options":
      return `allow_cancel=${event.stream_options?.allow_cancel}`;
    default:
      return "";
  }
}
