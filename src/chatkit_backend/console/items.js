// Thread items as elements of the conversation. A view keeps each item's element so a
// streamed text delta appends to the text already shown instead of redrawing it.

import { h, prettyJSON } from "./dom.js";

const HIDDEN_TYPES = new Set(["end_of_turn", "hidden_context_item", "sdk_hidden_context"]);

export class ItemsView {
  /**
   * @param {HTMLOListElement} list
   * @param {(url: string) => Promise<string>} imageSource  resolves a preview URL to a displayable one
   */
  constructor(list, imageSource) {
    this.list = list;
    this.imageSource = imageSource;
    this.items = new Map();
  }

  clear() {
    this.items.clear();
    this.list.replaceChildren();
  }

  get size() {
    return this.items.size;
  }

  /** Show items loaded from the server, oldest first, before or after those shown. */
  show(items, where = "end") {
    const elements = items.filter((item) => !HIDDEN_TYPES.has(item.type)).map((item) => this.build(item));
    if (where === "start") this.list.prepend(...elements);
    else this.list.append(...elements);
  }

  /** Add or replace an item (thread.item.added / done / replaced). */
  upsert(item) {
    if (HIDDEN_TYPES.has(item.type)) return;
    const known = this.items.get(item.id);
    const element = this.build(item);
    if (known) known.element.replaceWith(element);
    else this.list.append(element);
  }

  remove(itemId) {
    const known = this.items.get(itemId);
    if (!known) return;
    known.element.remove();
    this.items.delete(itemId);
  }

  /** Apply a thread.item.updated event. */
  update(itemId, update) {
    const known = this.items.get(itemId);
    if (!known || known.item.type !== "assistant_message") return;
    const content = known.item.content;
    switch (update.type) {
      case "assistant_message.content_part.added":
        content[update.content_index] = { ...update.content };
        this.setPart(known, update.content_index, update.content.text || "");
        break;
      case "assistant_message.content_part.text_delta": {
        const part = (content[update.content_index] ||= { type: "output_text", text: "", annotations: [] });
        part.text += update.delta;
        this.appendToPart(known, update.content_index, update.delta);
        break;
      }
      case "assistant_message.content_part.done":
        content[update.content_index] = { ...update.content };
        this.setPart(known, update.content_index, update.content.text || "");
        break;
      default:
        break;
    }
  }

  /** Mark an item as being streamed (until finishStreaming or its done event). */
  markStreaming(itemId) {
    const known = this.items.get(itemId);
    if (known && known.item.type === "assistant_message") known.element.classList.add("streaming");
  }

  /** Mark an assistant item whose stream was stopped. */
  markStopped(itemId) {
    const known = this.items.get(itemId);
    if (!known) return;
    known.element.classList.remove("streaming");
    known.element.classList.add("stopped");
    known.element.append(h("p", { class: "stopped-note" }, "stopped"));
  }

  finishStreaming() {
    for (const element of this.list.querySelectorAll(".streaming")) element.classList.remove("streaming");
  }

  build(item) {
    const element = renderItem(item, this.imageSource);
    this.items.set(item.id, { item: structuredClone(item), element });
    return element;
  }

  part(known, index) {
    const parts = known.element.querySelector(".parts");
    while (parts.children.length <= index) parts.append(h("p", { class: "text" }));
    return parts.children[index];
  }

  setPart(known, index, text) {
    this.part(known, index).textContent = text;
  }

  appendToPart(known, index, delta) {
    this.part(known, index).append(delta);
  }
}

function renderItem(item, imageSource) {
  switch (item.type) {
    case "user_message":
      return message(item, "You", [
        h("div", { class: "parts" }, item.content.map((part) => h("p", { class: "text" }, part.text ?? ""))),
        item.quoted_text ? h("blockquote", {}, item.quoted_text) : null,
        attachmentList(item.attachments || [], imageSource),
      ]);
    case "assistant_message":
      return message(item, "Assistant", [
        h("div", { class: "parts" }, item.content.map((part) => h("p", { class: "text" }, part.text ?? ""))),
      ]);
    default:
      return message(item, item.type, [
        h("details", { class: "json" }, h("summary", {}, `${item.type} item`), h("pre", {}, prettyJSON(item))),
      ]);
  }
}

function message(item, author, body) {
  const role = item.type === "user_message" ? "user" : item.type === "assistant_message" ? "assistant" : "other";
  return h(
    "li",
    { class: `item ${role}`, dataset: { itemId: item.id, itemType: item.type } },
    h("div", { class: "item-head" }, h("span", { class: "author" }, author), " ", h("time", { datetime: item.created_at }, shortTime(item.created_at))),
    body,
  );
}

function attachmentList(attachments, imageSource) {
  if (attachments.length === 0) return null;
  return h("ul", { class: "attachments" }, attachments.map((attachment) => attachmentChip(attachment, imageSource)));
}

/** An attachment: a preview for images, a name chip for files. */
function attachmentChip(attachment, imageSource) {
  const label = h("span", { class: "name" }, attachment.name);
  const chip = h("li", { class: "chip", dataset: { attachmentId: attachment.id || "" } });
  if (attachment.type === "image" && attachment.preview_url) {
    const image = h("img", { class: "preview", alt: `preview of ${attachment.name}` });
    imageSource(attachment.preview_url).then(
      (src) => {
        image.src = src;
      },
      () => {
        image.replaceWith(h("span", { class: "preview-failed" }, "preview unavailable"));
      },
    );
    chip.append(image);
  }
  chip.append(label);
  return chip;
}

function shortTime(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
}
