// Model output is untrusted. It becomes markdown (marked), then a sanitised
// DOM (DOMPurify, on the whole text at every render), then highlighted code
// (highlight.js). Only http/https/mailto links survive and open in a new tab
// without referrer; images never load: they are written as links. Math becomes
// MathML through KaTeX (math.js); the sanitiser keeps MathML, never SVG.
//
// A single line break is a line break: models write poems, addresses and
// step lists that way, and mean it.
//
// HTML written by the model is shown as text, never parsed: the browser checks
// the page's Content-Security-Policy while it parses, even in the sanitiser's
// inert document, so one `<img onerror>` or `style=""` would send a violation
// report at every render although nothing runs. The sanitiser then only ever
// sees marked's own markup.
import { Marked } from "../../vendor/marked/marked.esm.js";
import DOMPurify from "../../vendor/dompurify/purify.es.mjs";
import hljs from "../../vendor/highlight/es/highlight.min.js";
import { gettext } from "./i18n.js";
import { mathExtension } from "./math.js";

const markdown = new Marked({
  gfm: true,
  breaks: true,
  async: false,
  renderer: {
    html(token) {
      const text = this.text({ type: "text", raw: token.raw, text: token.text }); // escaped
      return token.block ? `<p>${text}</p>\n` : text;
    },
    image({ href, title, text }) {
      const label = `🖼 ${text || href || gettext("image")}`;
      const tokens = [{ type: "text", raw: label, text: label }];
      return this.link({ href, title, tokens }).replace(/^<a /, '<a class="image-link" ');
    },
  },
});
markdown.use(mathExtension);

const SAFE_LINK = /^(?:https?:|mailto:)/i;
const FORBID_TAGS = [
  "img", "picture", "source", "video", "audio", "track", "iframe", "frame", "object", "embed",
  "svg", "form", "input", "button", "textarea", "select", "option", "style", "link",
  "meta", "base", "template", "dialog", "details", "summary",
];

const purifier = DOMPurify(window);
purifier.addHook("afterSanitizeAttributes", (node) => {
  if (node.nodeName === "A" && node.hasAttribute("href")) {
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});

const SANITIZE = {
  ALLOWED_URI_REGEXP: SAFE_LINK,
  FORBID_TAGS,
  // KaTeX wraps each formula in <semantics> with its TeX source in <annotation>,
  // which MathML hides; without them the source would show beside the formula.
  ADD_TAGS: ["semantics", "annotation"],
  // Links and images must match SAFE_LINK, and so would every attribute not known
  // to be URL-free: these are layout words and lengths (MathML's, and marked's
  // table alignment), never followed.
  ADD_URI_SAFE_ATTR: [
    "align", "display", "encoding", "mathvariant", "mathsize", "mathcolor", "mathbackground",
    "stretchy", "fence", "separator", "largeop", "minsize", "maxsize", "lspace", "rspace",
    "width", "height", "depth", "voffset", "scriptlevel", "displaystyle", "accent",
    "accentunder", "notation", "linethickness", "columnalign", "columnspacing", "columnlines",
    "rowspacing", "rowlines",
  ],
  FORBID_ATTR: ["style", "srcset", "action", "formaction", "background", "ping"],
  ALLOW_DATA_ATTR: false,
  RETURN_DOM_FRAGMENT: true,
};

export function renderMarkdown(text) {
  const fragment = purifier.sanitize(markdown.parse(text || ""), SANITIZE);
  for (const block of fragment.querySelectorAll("pre > code")) decorateCode(block);
  for (const table of fragment.querySelectorAll("table")) wrapTable(table);
  return fragment;
}

function decorateCode(code) {
  const language = [...code.classList].find((c) => c.startsWith("language-"));
  const name = language ? language.slice("language-".length) : "";
  if (name && hljs.getLanguage(name)) {
    code.textContent = code.textContent; // highlight from plain text only
    hljs.highlightElement(code);
  }
  const pre = code.parentElement;
  const head = document.createElement("div");
  head.className = "code-head";
  const label = document.createElement("span");
  label.textContent = name || gettext("code");
  const copy = document.createElement("button");
  copy.type = "button";
  copy.className = "copy-code";
  copy.textContent = gettext("Copy");
  copy.setAttribute("aria-label", gettext("Copy the code"));
  head.append(label, copy);
  pre.before(head);
  const wrapper = document.createElement("div");
  wrapper.className = "code-block";
  head.before(wrapper);
  wrapper.append(head, pre);
}

function wrapTable(table) {
  const wrapper = document.createElement("div");
  wrapper.className = "table-wrap";
  table.before(wrapper);
  wrapper.append(table);
}

// Copy buttons work by delegation, so freshly rendered blocks need no wiring.
export function handleCopyClicks(root) {
  root.addEventListener("click", async (event) => {
    const button = event.target.closest(".copy-code");
    if (!button) return;
    const code = button.closest(".code-block").querySelector("code");
    await copyText(code.textContent);
    flash(button, gettext("Copied"));
  });
}

export async function copyText(text) {
  try {
    await navigator.clipboard.writeText(text);
  } catch {
    const area = document.createElement("textarea");
    area.value = text;
    document.body.append(area);
    area.select();
    document.execCommand("copy");
    area.remove();
  }
}

export function flash(button, text) {
  const before = button.textContent;
  button.textContent = text;
  setTimeout(() => (button.textContent = before), 1200);
}
