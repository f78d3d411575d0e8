// A shared conversation, read-only: the same rendering as the chat page.
// Answers go through markdown.js (marked, then DOMPurify); questions are text.
import { gettext } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

function messageNode(message, labels) {
  const node = document.createElement("article");
  node.className = `message ${message.role}`;
  const meta = document.createElement("div");
  meta.className = "meta";
  const author = document.createElement("span");
  author.className = "author";
  author.textContent = message.role === "user" ? labels.you : labels.assistant;
  meta.append(author);
  if (message.model) {
    const model = document.createElement("span");
    model.className = "model";
    model.textContent = message.model;
    meta.append(model);
  }
  const body = document.createElement("div");
  body.className = "body";
  if (message.role === "assistant") body.replaceChildren(renderMarkdown(message.content), ...images(message));
  else body.textContent = message.content;
  const avatar = document.createElement("div");
  avatar.className = "avatar";
  avatar.textContent = message.role === "user" ? "🙂" : "✦";
  avatar.setAttribute("aria-hidden", "true");
  const bubble = document.createElement("div");
  bubble.className = "bubble";
  bubble.append(meta, body);
  node.append(avatar, bubble);
  return node;
}

// An image answer's images come inline as data: URIs (allowed by the CSP's img-src).
function images(message) {
  const sources = (message.images || []).filter((source) => /^data:image\/(png|jpeg|webp);base64,/.test(source));
  if (!sources.length) return [];
  const gallery = document.createElement("div");
  gallery.className = "answer-images";
  for (const source of sources) {
    const image = document.createElement("img");
    image.src = source;
    image.alt = gettext("Generated image");
    gallery.append(image);
  }
  return [gallery];
}

const thread = document.getElementById("shared-thread");
const messages = JSON.parse(document.getElementById("shared-messages").textContent);
const labels = { you: thread.dataset.you, assistant: thread.dataset.assistant };
thread.replaceChildren(...messages.map((message) => messageNode(message, labels)));
thread.dataset.rendered = "true";
