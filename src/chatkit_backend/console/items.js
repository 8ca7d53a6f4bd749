// Thread items as elements of the conversation. A view keeps each item's element so a
// streamed update changes what is shown instead of redrawing the list. Assistant text is
// Markdown (markdown.js), re-rendered at most once per frame while it streams; its
// annotations are listed as sources; workflows show their tasks; generated images are
// fetched like attachment previews.

import { h, prettyJSON } from "./dom.js";
import { renderMarkdown } from "./markdown.js";

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
    this.dirty = new Set(); // assistant items whose text changed since the last frame
    this.frame = null;
  }

  clear() {
    this.items.clear();
    this.dirty.clear();
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
    if (!known) return;
    switch (known.item.type) {
      case "assistant_message":
        this.updateMessage(known, update);
        break;
      case "workflow":
        this.updateWorkflow(known, update);
        break;
      case "generated_image":
        if (update.type === "generated_image.updated") {
          known.item.image = update.image;
          known.element.querySelector(".generated")?.replaceWith(generatedImage(known.item, this.imageSource));
        }
        break;
      default:
        break;
    }
  }

  updateMessage(known, update) {
    const content = known.item.content;
    const index = update.content_index;
    switch (update.type) {
      case "assistant_message.content_part.added":
      case "assistant_message.content_part.done":
        content[index] = { ...update.content, annotations: update.content.annotations || content[index]?.annotations || [] };
        this.renderPart(known, index);
        this.renderSources(known);
        break;
      case "assistant_message.content_part.text_delta": {
        const part = (content[index] ||= { type: "output_text", text: "", annotations: [] });
        part.text += update.delta;
        this.dirty.add(known);
        this.scheduleRender();
        break;
      }
      case "assistant_message.content_part.annotation_added": {
        const part = (content[index] ||= { type: "output_text", text: "", annotations: [] });
        part.annotations = [...(part.annotations || [])];
        part.annotations.splice(update.annotation_index, 0, update.annotation);
        this.renderSources(known);
        break;
      }
      default:
        break;
    }
  }

  updateWorkflow(known, update) {
    const tasks = known.item.workflow.tasks;
    if (update.type === "workflow.task.added") tasks.splice(update.task_index, 0, update.task);
    else if (update.type === "workflow.task.updated") tasks[update.task_index] = update.task;
    else return;
    known.element.querySelector(".tasks").replaceWith(taskList(tasks));
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
    this.flush();
    known.element.classList.remove("streaming");
    known.element.classList.add("stopped");
    known.element.append(h("p", { class: "stopped-note" }, "stopped"));
  }

  finishStreaming() {
    this.flush();
    for (const element of this.list.querySelectorAll(".streaming")) element.classList.remove("streaming");
  }

  build(item) {
    const element = renderItem(item, this.imageSource);
    const known = { item: structuredClone(item), element };
    this.items.set(item.id, known);
    return element;
  }

  scheduleRender() {
    if (this.frame !== null) return;
    this.frame = requestAnimationFrame(() => {
      this.frame = null;
      this.flush();
    });
  }

  /** Render the text of every assistant item that changed (streamed deltas). */
  flush() {
    if (this.frame !== null) {
      cancelAnimationFrame(this.frame);
      this.frame = null;
    }
    for (const known of this.dirty) {
      known.item.content.forEach((_, index) => this.renderPart(known, index));
    }
    this.dirty.clear();
  }

  renderPart(known, index) {
    const parts = known.element.querySelector(".parts");
    while (parts.children.length <= index) parts.append(h("div", { class: "text markdown" }));
    renderMarkdown(parts.children[index], known.item.content[index]?.text || "");
  }

  renderSources(known) {
    known.element.querySelector(".sources")?.remove();
    const sources = sourceList(known.item.content);
    if (sources) known.element.querySelector(".parts").after(sources);
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
    case "assistant_message": {
      const parts = h("div", { class: "parts" });
      for (const part of item.content) {
        const element = h("div", { class: "text markdown" });
        renderMarkdown(element, part.text ?? "");
        parts.append(element);
      }
      return message(item, "Assistant", [parts, sourceList(item.content)]);
    }
    case "workflow":
      return message(item, "Workflow", [
        item.workflow.summary ? h("p", { class: "workflow-summary" }, summaryText(item.workflow.summary)) : null,
        taskList(item.workflow.tasks),
      ]);
    case "generated_image":
      return message(item, "Image", [generatedImage(item, imageSource)]);
    default:
      return message(item, item.type, [
        h("details", { class: "json" }, h("summary", {}, `${item.type} item`), h("pre", {}, prettyJSON(item))),
      ]);
  }
}

function message(item, author, body) {
  const role =
    item.type === "user_message" ? "user" : item.type === "assistant_message" ? "assistant" : item.type === "workflow" ? "workflow" : "other";
  return h(
    "li",
    { class: `item ${role}`, dataset: { itemId: item.id, itemType: item.type } },
    h(
      "div",
      { class: "item-head" },
      h("span", { class: "author" }, author),
      " ",
      h("time", { datetime: item.created_at }, shortTime(item.created_at)),
      item.type === "user_message" ? choiceTags(item.inference_options) : null,
    ),
    body,
  );
}

/** The model and tool a user message was sent with, as ChatKit's composer picked them. */
function choiceTags(options) {
  if (!options) return null;
  const tags = [];
  if (options.model) tags.push(h("span", { class: "tag model-tag" }, options.model));
  if (options.tool_choice?.id) tags.push(h("span", { class: "tag tool-tag" }, options.tool_choice.id));
  return tags.length ? h("span", { class: "choices" }, " ", tags) : null;
}

/** The annotations of a message's parts, as a numbered list of sources (links for URLs). */
function sourceList(content) {
  const seen = new Set();
  const entries = [];
  for (const part of content || []) {
    for (const annotation of part.annotations || []) {
      const source = annotation.source || {};
      const key = source.url || source.filename || source.id || source.title;
      if (!key || seen.has(key)) continue;
      seen.add(key);
      entries.push(sourceEntry(source));
    }
  }
  if (entries.length === 0) return null;
  return h("div", { class: "sources" }, h("h3", {}, "Sources"), h("ol", {}, entries));
}

function sourceEntry(source) {
  const title = source.title || source.filename || source.url || "source";
  if (source.type === "url" && /^https?:/i.test(source.url || "")) {
    return h(
      "li",
      { class: "source url-source" },
      h("a", { href: source.url, target: "_blank", rel: "noopener noreferrer" }, title),
      source.attribution ? h("span", { class: "muted" }, ` ${source.attribution}`) : null,
    );
  }
  const detail = source.type === "file" && source.filename && source.filename !== title ? ` (${source.filename})` : "";
  return h("li", { class: `source ${source.type || "other"}-source` }, `${title}${detail}`);
}

function taskList(tasks) {
  return h("ol", { class: "tasks" }, (tasks || []).map((task) => taskEntry(task)));
}

function taskEntry(task) {
  const status = task.status_indicator || "none";
  const title = task.title || task.title_query || defaultTaskTitle(task);
  const element = h(
    "li",
    { class: `task ${task.type}-task`, dataset: { status } },
    h("span", { class: "task-status", "aria-label": status }, status === "loading" ? "…" : status === "complete" ? "✓" : "•"),
    " ",
    title ? h("span", { class: "task-title" }, title) : null,
  );
  if (task.content) {
    const body = h("div", { class: "task-content markdown" });
    renderMarkdown(body, task.content);
    element.append(body);
  }
  if (task.queries?.length) element.append(h("p", { class: "task-queries muted" }, task.queries.join(" · ")));
  if (task.sources?.length) {
    element.append(h("ol", { class: "task-sources" }, task.sources.map((source) => sourceEntry(source))));
  }
  return element;
}

function defaultTaskTitle(task) {
  switch (task.type) {
    case "thought":
      return "Thought";
    case "web_search":
      return "Web search";
    case "file":
      return "Files";
    case "image":
      return "Image";
    default:
      return "";
  }
}

function summaryText(summary) {
  if (summary.title) return summary.title;
  if (typeof summary.duration === "number") return `Worked for ${summary.duration} s`;
  return "";
}

function generatedImage(item, imageSource) {
  const url = item.image?.url;
  if (!url) return h("p", { class: "generated muted" }, "generating an image…");
  const image = h("img", { class: "generated", alt: "generated image" });
  imageSource(url).then(
    (src) => {
      image.src = src;
    },
    () => {
      image.replaceWith(h("p", { class: "generated preview-failed" }, "image unavailable"));
    },
  );
  return image;
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
