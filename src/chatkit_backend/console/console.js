// The console: a chat and an inspector in one, speaking the ChatKit protocol to this
// server's own endpoint. Entry module; see api.js (requests), inspector.js, items.js.

import { ApiError, ChatKitClient } from "./api.js";
import { byId, formatBytes, h, meta } from "./dom.js";
import { Inspector } from "./inspector.js";
import { ItemsView } from "./items.js";

const CREDENTIALS_KEY = "chatkit-console.credentials";
const THREAD_PAGE = 20;
const ITEM_PAGE = 30;

const config = {
  path: meta("chatkit-path", "/chatkit"),
  auth: meta("chatkit-auth", "none"),
  attachments: meta("chatkit-attachments", "on") === "on",
  maxUploadBytes: Number(meta("chatkit-max-upload-bytes", "0")) || Infinity,
  models: parseList(meta("chatkit-models", "[]")), // CHATKIT_MODELS: {id, label, description, default}
  tools: parseList(meta("chatkit-tools", "[]")), // CHATKIT_TOOLS with an id: {id, label, type}
};

const ui = {
  endpoint: byId("endpoint"),
  authMode: byId("auth-mode"),
  credentialsForm: byId("credentials-form"),
  credentials: byId("credentials"),
  threadList: byId("thread-list"),
  threadsEmpty: byId("threads-empty"),
  threadsMore: byId("threads-more"),
  newThread: byId("new-thread"),
  title: byId("thread-title"),
  renameThread: byId("rename-thread"),
  renameForm: byId("rename-form"),
  renameInput: byId("rename-input"),
  renameCancel: byId("rename-cancel"),
  deleteThread: byId("delete-thread"),
  banner: byId("banner"),
  messages: byId("messages"),
  itemsMore: byId("items-more"),
  itemList: byId("item-list"),
  chatEmpty: byId("chat-empty"),
  composer: byId("composer"),
  pending: byId("pending-attachments"),
  fileInput: byId("file-input"),
  attach: byId("attach"),
  message: byId("message"),
  send: byId("send"),
  composerOptions: byId("composer-options"),
  modelField: byId("model-field"),
  modelPicker: byId("model-picker"),
  toolField: byId("tool-field"),
  toolMenu: byId("tool-menu"),
  stop: byId("stop"),
  exchanges: byId("exchanges"),
  inspectorClear: byId("inspector-clear"),
  rawForm: byId("raw-form"),
  rawBody: byId("raw-body"),
};

const state = {
  threadId: null,
  threadsAfter: null,
  itemsAfter: null,
  streaming: null, // AbortController of the open stream
  pending: [], // attachments in the composer: {id, file, localURL, attachment, ready, failed, element}
  previews: new Map(), // preview URL -> Promise<object URL>
  deleteArmed: false,
};

const inspector = new Inspector(ui.exchanges);
const client = new ChatKitClient({
  path: config.path,
  credentials: () => ui.credentials.value.trim(),
  inspector,
});
const view = new ItemsView(ui.itemList, imageSource);

// -- start ------------------------------------------------------------------------------

function start() {
  ui.endpoint.textContent = config.path;
  ui.authMode.textContent = `auth: ${config.auth}`;
  ui.credentials.value = sessionStorage.getItem(CREDENTIALS_KEY) || "";
  if (!config.attachments) {
    ui.attach.hidden = true;
    ui.fileInput.disabled = true;
  }
  buildChoices();
  wireEvents();
  loadThreads(true).then(() => {
    const fromHash = threadIdFromHash();
    if (fromHash) return selectThread(fromHash);
    return undefined;
  });
}

function wireEvents() {
  ui.credentials.addEventListener("input", () => {
    const value = ui.credentials.value.trim();
    if (value) sessionStorage.setItem(CREDENTIALS_KEY, value);
    else sessionStorage.removeItem(CREDENTIALS_KEY);
  });
  ui.credentialsForm.addEventListener("submit", (event) => {
    event.preventDefault();
    clearBanner();
    loadThreads(true);
  });
  ui.newThread.addEventListener("click", () => newThread());
  ui.threadsMore.addEventListener("click", () => loadThreads(false));
  ui.itemsMore.addEventListener("click", () => loadEarlierItems());
  ui.renameThread.addEventListener("click", openRename);
  ui.renameCancel.addEventListener("click", closeRename);
  ui.renameForm.addEventListener("submit", (event) => {
    event.preventDefault();
    renameThread(ui.renameInput.value.trim());
  });
  ui.renameInput.addEventListener("keydown", (event) => {
    if (event.key === "Escape") closeRename();
  });
  ui.deleteThread.addEventListener("click", deleteThread);
  ui.deleteThread.addEventListener("blur", disarmDelete);
  ui.composer.addEventListener("submit", (event) => {
    event.preventDefault();
    sendMessage();
  });
  ui.message.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
      event.preventDefault();
      sendMessage();
    }
  });
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && state.streaming) stopStream();
  });
  ui.stop.addEventListener("click", stopStream);
  ui.attach.addEventListener("click", () => ui.fileInput.click());
  ui.fileInput.addEventListener("change", () => {
    addFiles([...ui.fileInput.files]);
    ui.fileInput.value = "";
  });
  for (const zone of [ui.composer, ui.messages]) {
    zone.addEventListener("dragover", (event) => {
      if (!config.attachments || !event.dataTransfer?.types.includes("Files")) return;
      event.preventDefault();
      ui.composer.classList.add("dropping");
    });
    zone.addEventListener("dragleave", () => ui.composer.classList.remove("dropping"));
    zone.addEventListener("drop", (event) => {
      ui.composer.classList.remove("dropping");
      if (!config.attachments || !event.dataTransfer?.files.length) return;
      event.preventDefault();
      addFiles([...event.dataTransfer.files]);
    });
  }
  ui.inspectorClear.addEventListener("click", () => inspector.clear());
  ui.rawForm.addEventListener("submit", (event) => {
    event.preventDefault();
    sendRaw(ui.rawBody.value);
  });
  window.addEventListener("hashchange", () => {
    const id = threadIdFromHash();
    if (id && id !== state.threadId) selectThread(id);
    else if (!id && state.threadId) newThread();
  });
}

// -- threads ----------------------------------------------------------------------------

async function loadThreads(reset) {
  const after = reset ? null : state.threadsAfter;
  const page = await guarded(() =>
    client.request({ type: "threads.list", params: { limit: THREAD_PAGE, order: "desc", after } }),
  );
  if (!page) return;
  if (reset) ui.threadList.replaceChildren();
  for (const thread of page.data) {
    if (!threadEntry(thread.id)) ui.threadList.append(threadListItem(thread));
  }
  state.threadsAfter = page.after;
  ui.threadsMore.hidden = !page.has_more;
  showThreadsEmpty();
  markCurrentThread();
}

function threadListItem(thread) {
  return h(
    "li",
    { dataset: { threadId: thread.id } },
    h(
      "button",
      { type: "button", class: "thread", onclick: () => selectThread(thread.id) },
      h("span", { class: "thread-title" }, titleOf(thread)),
      h("time", { datetime: thread.created_at }, shortDate(thread.created_at)),
    ),
  );
}

function threadEntry(threadId) {
  return [...ui.threadList.children].find((li) => li.dataset.threadId === threadId) || null;
}

function upsertThreadEntry(thread, { top = false } = {}) {
  const known = threadEntry(thread.id);
  if (known) {
    known.querySelector(".thread-title").textContent = titleOf(thread);
    if (top) ui.threadList.prepend(known);
  } else {
    ui.threadList.prepend(threadListItem(thread));
  }
  showThreadsEmpty();
  markCurrentThread();
}

function showThreadsEmpty() {
  ui.threadsEmpty.hidden = ui.threadList.children.length > 0;
}

function markCurrentThread() {
  for (const li of ui.threadList.children) {
    const button = li.querySelector("button");
    if (li.dataset.threadId === state.threadId) button.setAttribute("aria-current", "true");
    else button.removeAttribute("aria-current");
  }
}

function newThread() {
  stopStream();
  state.threadId = null;
  state.itemsAfter = null;
  view.clear();
  ui.title.textContent = "New thread";
  ui.itemsMore.hidden = true;
  setThreadActions(false);
  closeRename();
  clearBanner();
  showChatEmpty();
  markCurrentThread();
  if (location.hash) history.replaceState(null, "", location.pathname + location.search);
  ui.message.focus();
}

async function selectThread(threadId) {
  if (state.streaming) stopStream();
  clearBanner();
  closeRename();
  state.threadId = threadId;
  state.itemsAfter = null;
  view.clear();
  markCurrentThread();
  setHash(threadId);
  const loaded = await guarded(async () => {
    const thread = await client.request({ type: "threads.get_by_id", params: { thread_id: threadId } });
    const items = await client.request({
      type: "items.list",
      params: { thread_id: threadId, limit: ITEM_PAGE, order: "desc", after: null },
    });
    return [thread, items];
  });
  if (state.threadId !== threadId) return; // another thread was chosen meanwhile
  if (!loaded) {
    // A thread that no longer exists (deleted elsewhere): drop it from the list.
    if (ui.banner.dataset.status === "404") {
      threadEntry(threadId)?.remove();
      showThreadsEmpty();
    }
    state.threadId = null;
    ui.title.textContent = "Thread not found";
    setThreadActions(false);
    markCurrentThread();
    return;
  }
  const [thread, items] = loaded;
  ui.title.textContent = titleOf(thread);
  upsertThreadEntry(thread);
  view.show([...items.data].reverse());
  state.itemsAfter = items.after;
  ui.itemsMore.hidden = !items.has_more;
  setThreadActions(true);
  showChatEmpty();
  scrollToEnd();
}

async function loadEarlierItems() {
  const threadId = state.threadId;
  if (!threadId || !state.itemsAfter) return;
  const page = await guarded(() =>
    client.request({
      type: "items.list",
      params: { thread_id: threadId, limit: ITEM_PAGE, order: "desc", after: state.itemsAfter },
    }),
  );
  if (!page || state.threadId !== threadId) return;
  view.show([...page.data].reverse(), "start");
  state.itemsAfter = page.after;
  ui.itemsMore.hidden = !page.has_more;
}

function openRename() {
  if (!state.threadId) return;
  ui.renameInput.value = ui.title.textContent;
  ui.renameForm.hidden = false;
  ui.title.hidden = true;
  ui.renameInput.focus();
  ui.renameInput.select();
}

function closeRename() {
  ui.renameForm.hidden = true;
  ui.title.hidden = false;
}

async function renameThread(title) {
  const threadId = state.threadId;
  if (!threadId || !title) return;
  const thread = await guarded(() => client.request({ type: "threads.update", params: { thread_id: threadId, title } }));
  if (!thread) return;
  closeRename();
  if (state.threadId === threadId) ui.title.textContent = titleOf(thread);
  upsertThreadEntry(thread);
}

// Delete asks once more on the same button ("Confirm delete"), no modal dialog.
async function deleteThread() {
  const threadId = state.threadId;
  if (!threadId) return;
  if (!state.deleteArmed) {
    state.deleteArmed = true;
    ui.deleteThread.textContent = "Confirm delete";
    return;
  }
  disarmDelete();
  const done = await guarded(() => client.request({ type: "threads.delete", params: { thread_id: threadId } }));
  if (!done) return;
  threadEntry(threadId)?.remove();
  showThreadsEmpty();
  if (state.threadId === threadId) newThread();
}

function disarmDelete() {
  state.deleteArmed = false;
  ui.deleteThread.textContent = "Delete";
}

function setThreadActions(enabled) {
  ui.renameThread.disabled = !enabled;
  ui.deleteThread.disabled = !enabled;
  disarmDelete();
}

// -- sending and streaming -------------------------------------------------------------

async function sendMessage() {
  if (state.streaming) return;
  const text = ui.message.value.trim();
  if (state.pending.some((entry) => !entry.ready && !entry.failed)) {
    showBanner("Wait for the uploads to finish before sending.", "info");
    return;
  }
  const attachments = state.pending.filter((entry) => entry.ready).map((entry) => entry.attachment.id);
  if (!text && attachments.length === 0) return;
  clearBanner();
  const input = {
    content: text ? [{ type: "input_text", text }] : [],
    attachments,
    quoted_text: null,
    inference_options: inferenceOptions(),
  };
  const request = state.threadId
    ? { type: "threads.add_user_message", params: { thread_id: state.threadId, input } }
    : { type: "threads.create", params: { input } };
  const controller = new AbortController();
  state.streaming = controller;
  setStreaming(true);
  const sentText = ui.message.value;
  const sentTool = ui.toolMenu.value;
  ui.message.value = "";
  ui.toolMenu.value = ""; // a tool choice applies to one message, as in ChatKit's composer
  const sentAttachments = clearPending();
  // What this stream has shown, so a late outcome never touches another thread's view.
  const shown = { threadId: state.threadId, assistantId: null };
  try {
    const outcome = await client.stream(request, (event) => onStreamEvent(event, shown), controller.signal);
    if (outcome === "aborted" && shown.threadId === state.threadId) {
      if (shown.assistantId) view.markStopped(shown.assistantId);
      showBanner("Stream stopped. The server keeps what was generated so far.", "info");
    }
    releasePending(sentAttachments);
  } catch (error) {
    handleError(error);
    // Nothing was sent: give the draft back.
    if (error instanceof ApiError && !ui.message.value) {
      ui.message.value = sentText;
      ui.toolMenu.value = sentTool;
      restorePending(sentAttachments);
    }
  } finally {
    if (state.streaming === controller) state.streaming = null;
    view.finishStreaming();
    setStreaming(false);
    ui.message.focus();
  }
}

function onStreamEvent(event, shown) {
  if (event.type !== "thread.created" && shown.threadId !== state.threadId) return; // left that thread
  switch (event.type) {
    case "thread.created":
      if (state.threadId !== shown.threadId) return;
      shown.threadId = event.thread.id;
      state.threadId = event.thread.id;
      ui.title.textContent = titleOf(event.thread);
      setHash(event.thread.id);
      upsertThreadEntry(event.thread, { top: true });
      setThreadActions(true);
      break;
    case "thread.updated":
      if (event.thread.id === state.threadId) ui.title.textContent = titleOf(event.thread);
      upsertThreadEntry(event.thread);
      break;
    case "thread.item.added":
    case "thread.item.done":
    case "thread.item.replaced":
      view.upsert(event.item);
      if (event.type === "thread.item.added") view.markStreaming(event.item.id);
      if (event.item.type === "assistant_message") shown.assistantId = event.item.id;
      break;
    case "thread.item.updated":
      view.update(event.item_id, event.update);
      break;
    case "thread.item.removed":
      view.remove(event.item_id);
      break;
    case "error":
      showBanner(`Stream error${event.code ? ` (${event.code})` : ""}: ${event.message || "the server reported an error"}`);
      break;
    case "notice":
      showBanner(event.message, event.level === "danger" ? "error" : "info");
      break;
    case "progress_update":
      showBanner(event.text, "info");
      break;
    default:
      break; // stream_options, client_effect, ...: visible in the inspector
  }
  showChatEmpty();
  scrollToEnd();
}

function stopStream() {
  if (state.streaming) state.streaming.abort();
}

function setStreaming(on) {
  ui.itemList.setAttribute("aria-busy", String(on));
  ui.send.hidden = on;
  ui.stop.hidden = !on;
  ui.composer.classList.toggle("busy", on);
}

async function sendRaw(text) {
  let body;
  try {
    body = JSON.parse(text);
  } catch (error) {
    showBanner(`Raw request is not JSON: ${error.message}`);
    return;
  }
  clearBanner();
  try {
    await client.stream(body, () => {});
  } catch (error) {
    handleError(error);
  }
}

// -- model picker and tool menu (CHATKIT_MODELS, CHATKIT_TOOLS) --------------------------

function buildChoices() {
  if (config.models.length > 0) {
    const fallback = config.models.find((model) => model.default) || config.models[0];
    for (const model of config.models) {
      const option = h("option", { value: model.id, title: model.description || null }, model.label || model.id);
      ui.modelPicker.append(option);
    }
    ui.modelPicker.value = fallback.id;
    ui.modelField.hidden = false;
  }
  if (config.tools.length > 0) {
    for (const tool of config.tools) {
      ui.toolMenu.append(h("option", { value: tool.id, dataset: { type: tool.type } }, tool.label || tool.id));
    }
    ui.toolField.hidden = false;
  }
  ui.composerOptions.hidden = ui.modelField.hidden && ui.toolField.hidden;
}

/** What the composer picked, as ChatKit sends it (``inference_options``). */
function inferenceOptions() {
  const options = {};
  if (!ui.modelField.hidden && ui.modelPicker.value) options.model = ui.modelPicker.value;
  if (!ui.toolField.hidden && ui.toolMenu.value) options.tool_choice = { id: ui.toolMenu.value };
  return options;
}

function parseList(text) {
  try {
    const value = JSON.parse(text);
    return Array.isArray(value) ? value : [];
  } catch {
    return [];
  }
}

// -- attachments ------------------------------------------------------------------------

function addFiles(files) {
  for (const file of files) {
    if (file.size > config.maxUploadBytes) {
      showBanner(`${file.name} is ${formatBytes(file.size)}; the server accepts up to ${formatBytes(config.maxUploadBytes)}.`);
      continue;
    }
    const entry = { file, localURL: null, attachment: null, ready: false, failed: false };
    if (file.type.startsWith("image/")) entry.localURL = URL.createObjectURL(file);
    entry.status = h("span", { class: "upload-status" }, "uploading…");
    entry.element = h(
      "li",
      { class: "chip pending-chip" },
      entry.localURL ? h("img", { class: "preview", src: entry.localURL, alt: `preview of ${file.name}` }) : null,
      h("span", { class: "name" }, file.name),
      h("span", { class: "size muted" }, formatBytes(file.size)),
      entry.status,
      h("button", { type: "button", class: "remove secondary", "aria-label": `Remove ${file.name}`, onclick: () => removePending(entry) }, "×"),
    );
    state.pending.push(entry);
    ui.pending.append(entry.element);
    uploadEntry(entry);
  }
}

async function uploadEntry(entry) {
  const { file } = entry;
  try {
    const attachment = await client.request({
      type: "attachments.create",
      params: { name: file.name, size: file.size, mime_type: file.type || "application/octet-stream" },
    });
    entry.attachment = attachment;
    entry.element.dataset.attachmentId = attachment.id;
    const descriptor = attachment.upload_descriptor;
    if (descriptor) {
      entry.status.textContent = "sending…";
      await client.upload(descriptor.url, descriptor.method, descriptor.headers || {}, file);
    }
    entry.ready = true;
    entry.status.textContent = "ready";
    entry.element.classList.add("ready");
  } catch (error) {
    entry.failed = true;
    entry.status.textContent = "failed";
    entry.element.classList.add("failed");
    handleError(error);
  }
}

async function removePending(entry) {
  state.pending = state.pending.filter((other) => other !== entry);
  entry.element.remove();
  if (entry.localURL) URL.revokeObjectURL(entry.localURL);
  if (entry.attachment) {
    await guarded(() => client.request({ type: "attachments.delete", params: { attachment_id: entry.attachment.id } }));
  }
}

function clearPending() {
  const taken = state.pending;
  state.pending = [];
  ui.pending.replaceChildren();
  return taken;
}

function releasePending(entries) {
  for (const entry of entries) if (entry.localURL) URL.revokeObjectURL(entry.localURL);
}

function restorePending(entries) {
  for (const entry of entries) {
    state.pending.push(entry);
    ui.pending.append(entry.element);
  }
}

/** A displayable URL for an attachment preview: fetched with credentials on our origin. */
function imageSource(url) {
  if (url.startsWith("data:") || url.startsWith("blob:")) return Promise.resolve(url);
  if (!state.previews.has(url)) {
    const promise = client.blobURL(url);
    promise.catch(() => state.previews.delete(url));
    state.previews.set(url, promise);
  }
  return state.previews.get(url);
}

// -- errors and banner ------------------------------------------------------------------

/** Run a request; on failure show its error and resolve to null. */
async function guarded(run) {
  try {
    return await run();
  } catch (error) {
    handleError(error);
    return null;
  }
}

function handleError(error) {
  if (error instanceof ApiError) {
    const hint = error.status === 401 ? " Enter an API key or token above." : "";
    showBanner(`${error.status} ${error.code}: ${error.message}${hint}`, "error", {
      status: String(error.status),
      requestId: error.requestId,
    });
  } else {
    showBanner(`${error.name || "Error"}: ${error.message || error}`);
  }
}

function showBanner(text, kind = "error", { status = "", requestId = "" } = {}) {
  ui.banner.replaceChildren(
    h("p", {}, text, requestId ? h("span", { class: "muted request" }, ` request ${requestId}`) : null),
    h("button", { type: "button", class: "secondary dismiss", "aria-label": "Dismiss", onclick: clearBanner }, "×"),
  );
  ui.banner.className = `banner ${kind}`;
  ui.banner.dataset.status = status;
  ui.banner.hidden = false;
}

function clearBanner() {
  ui.banner.hidden = true;
  ui.banner.dataset.status = "";
  ui.banner.replaceChildren();
}

// -- small helpers ----------------------------------------------------------------------

function showChatEmpty() {
  ui.chatEmpty.hidden = view.size > 0;
}

function scrollToEnd() {
  ui.messages.scrollTop = ui.messages.scrollHeight;
}

function titleOf(thread) {
  return thread.title || "Untitled thread";
}

function shortDate(value) {
  const date = new Date(value);
  return Number.isNaN(date.getTime()) ? "" : date.toLocaleString([], { dateStyle: "medium", timeStyle: "short" });
}

function threadIdFromHash() {
  const match = /^#thread=(.+)$/.exec(location.hash);
  return match ? decodeURIComponent(match[1]) : null;
}

function setHash(threadId) {
  const hash = `#thread=${encodeURIComponent(threadId)}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}

start();
