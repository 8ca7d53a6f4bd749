// Assistant text as Markdown, the way ChatKit shows it: GitHub-flavoured Markdown (lists,
// code blocks, tables, links, strikethrough) through marked, then sanitized by DOMPurify.
// HTML written in the text is shown as text, not interpreted (ChatKit does the same:
// "use `openai-compatible:<model>`" keeps its "<model>"); links may only be web or mail
// links and open in a new tab without a referrer; images are not shown (the console's
// Content-Security-Policy would refuse other origins anyway).

import { Marked } from "./vendor/marked.esm.js";
import DOMPurify from "./vendor/purify.es.js";

const ESCAPES = { "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" };
const escapeHTML = (text) => String(text).replace(/[&<>"']/g, (character) => ESCAPES[character]);

const parser = new Marked({ gfm: true, breaks: false, async: false });
parser.use({ renderer: { html: (token) => escapeHTML(token.text) } });

const purify = DOMPurify(window);
purify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer");
  }
});

const SANITIZE = {
  USE_PROFILE: { html: true },
  FORBID_TAGS: ["img", "style", "form", "input", "button", "textarea", "select", "iframe"],
  FORBID_ATTR: ["style", "class", "id"],
  ALLOWED_URI_REGEXP: /^(?:(?:https?|mailto):|#)/i,
};

/** The sanitized HTML of Markdown text. */
export function markdownToHTML(text) {
  return purify.sanitize(parser.parse(text || ""), SANITIZE);
}

/** Show Markdown text in an element (its previous content replaced). */
export function renderMarkdown(element, text) {
  element.innerHTML = markdownToHTML(text);
  element.dataset.markdown = text || "";
}
