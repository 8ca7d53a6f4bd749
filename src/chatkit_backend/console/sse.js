// Incremental parser for a text/event-stream body (the WHATWG "server-sent events" format).
// EventSource cannot POST, so the console reads the stream with fetch and parses it here.

export class SSEParser {
  constructor() {
    this.buffer = "";
    this.data = [];
    this.event = "";
    this.id = "";
  }

  /** Feed decoded text; returns the events completed by it: [{event, data, id}]. */
  push(text) {
    this.buffer += text;
    const events = [];
    let start = 0;
    for (;;) {
      const end = nextLineEnd(this.buffer, start);
      if (end === null) break;
      const line = this.buffer.slice(start, end.index);
      start = end.index + end.length;
      const event = this.line(line);
      if (event) events.push(event);
    }
    this.buffer = this.buffer.slice(start);
    return events;
  }

  /** Call at the end of the body: a final event without its blank line still counts. */
  end() {
    const events = this.buffer ? this.push("\n\n") : [];
    const last = this.line("");
    if (last) events.push(last);
    return events;
  }

  line(line) {
    if (line === "") {
      if (this.data.length === 0) {
        this.event = "";
        return null;
      }
      const event = { event: this.event || "message", data: this.data.join("\n"), id: this.id };
      this.data = [];
      this.event = "";
      return event;
    }
    if (line.startsWith(":")) return null; // a comment, e.g. a keep-alive
    const colon = line.indexOf(":");
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? "" : line.slice(colon + 1);
    if (value.startsWith(" ")) value = value.slice(1);
    if (field === "data") this.data.push(value);
    else if (field === "event") this.event = value;
    else if (field === "id") this.id = value;
    return null;
  }
}

// A line ends at \r\n, \n or \r; a \r at the very end may be the first half of \r\n.
function nextLineEnd(buffer, from) {
  for (let i = from; i < buffer.length; i++) {
    const char = buffer[i];
    if (char === "\n") return { index: i, length: 1 };
    if (char === "\r") {
      if (i + 1 === buffer.length) return null;
      return { index: i, length: buffer[i + 1] === "\n" ? 2 : 1 };
    }
  }
  return null;
}
