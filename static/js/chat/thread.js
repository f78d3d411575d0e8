// The thread on screen: the active branch of the conversation, one <article>
// per message, updated in place. Answers render as sanitised markdown at most
// once per animation frame; user text is shown as plain text.
import { gettext, interpolate, ngettext } from "./i18n.js";
import { copyText, flash, handleCopyClicks, renderMarkdown } from "./markdown.js";
import { fillReasoning, reasoningBlock } from "./reasoning.js";
import { paintTime } from "./time.js";

const STATUS_TEXT = {
  stopped: () => gettext("Stopped."),
  truncated: () => gettext("Cut off at the length limit."),
  filtered: () => gettext("The provider's content filter stopped this answer."),
  interrupted: () => gettext("Interrupted: the answer did not finish."),
  error: () => gettext("The answer failed."),
  moderated: () => gettext("Not sent."),
};
const EDIT_MAX_HEIGHT = 0.5; // of the window: a longer message scrolls inside the box
const MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

export class ThreadView {
  constructor({ scroller, list, jump, handlers, errorMessages = {}, moderationCategories = {} }) {
    this.scroller = scroller;
    this.list = list;
    this.jump = jump;
    this.handlers = handlers;
    this.errorMessages = errorMessages; // error code → text in the page's language (server's table)
    this.moderationCategories = moderationCategories; // moderation category → its name, likewise
    this.retries = new Map(); // answer id → when the provider is tried again (ms)
    this.retryTimer = null;
    this.nodes = new Map();
    this.dirty = new Set();
    this.frame = null;
    this.thread = null;
    this.following = true;
    this.omitted = 0; // earlier messages the next send leaves out (the gauge's count)
    this.omittedNote = element("p", "context-note");
    this.omittedNote.setAttribute("role", "note");
    handleCopyClicks(list);
    list.addEventListener("click", (event) => this.onClick(event));
    scroller.addEventListener("scroll", () => this.onScroll(), { passive: true });
    jump.addEventListener("click", () => this.scrollToEnd(true));
  }

  show(thread) {
    for (const id of [...this.retries.keys()]) this.clearRetry(id);
    this.thread = thread;
    this.following = true;
    this.omitted = 0;
    this.render();
    this.scrollToEnd(false);
  }

  // Re-render the branch (which messages, in which order) and every message.
  render() {
    const branch = this.thread ? this.thread.branch() : [];
    const wanted = new Set(branch.map((m) => m.id));
    for (const [id, node] of this.nodes) {
      if (!wanted.has(id)) {
        node.remove();
        this.nodes.delete(id);
      }
    }
    const atEnd = this.nearEnd();
    this.omittedNote.remove(); // out of the way of the index below
    branch.forEach((message, index) => {
      const node = this.nodes.get(message.id) || this.create(message);
      if (this.list.children[index] !== node) this.list.insertBefore(node, this.list.children[index] || null);
      this.update(node, message);
    });
    this.placeOmittedNote(branch);
    if (atEnd && this.following) this.scrollToEnd(false);
  }

  // The gauge counted the next prompt: `count` earlier messages do not fit.
  setOmitted(count) {
    if (count === this.omitted) return;
    this.omitted = count;
    this.render();
  }

  // Say where the model's view of the conversation starts: before the first
  // message it will see (the server skips answers that hold no text, and knows
  // nothing of messages still being sent).
  placeOmittedNote(branch) {
    if (!this.omitted) return;
    const sent = branch.filter((m) => !m.id.startsWith("pending-") && (m.role === "user" || m.content));
    const first = sent[this.omitted];
    const node = first && this.nodes.get(first.id);
    if (!node) return;
    this.omittedNote.textContent = interpolate(ngettext(
      "%(count)s earlier message is not sent to the model: it no longer fits its context window.",
      "%(count)s earlier messages are not sent to the model: they no longer fit its context window.",
      this.omitted,
    ), { count: this.omitted });
    this.list.insertBefore(this.omittedNote, node);
  }

  // Times read "just now", "5 min ago"…: keep them true as the page stays open.
  refreshTimes() {
    const now = new Date();
    for (const time of this.list.querySelectorAll(".meta time")) paintTime(time, time.dateTime, now);
  }

  // A streaming answer changed: render it on the next animation frame.
  touch(messageId) {
    this.dirty.add(messageId);
    if (this.frame === null) {
      this.frame = requestAnimationFrame(() => this.flush());
    }
  }

  flush() {
    this.frame = null;
    const atEnd = this.nearEnd();
    for (const id of this.dirty) {
      const node = this.nodes.get(id);
      const message = this.thread && this.thread.messages.get(id);
      if (node && message) this.update(node, message);
    }
    this.dirty.clear();
    if (atEnd && this.following) this.scrollToEnd(false);
  }

  create(message) {
    const node = document.createElement("article");
    node.className = `message ${message.role}`;
    node.dataset.id = message.id;
    const avatar = element("div", "avatar");
    avatar.setAttribute("aria-hidden", "true");
    const bubble = element("div", "bubble");
    const meta = element("header", "meta");
    const body = element("div", message.role === "assistant" ? "body markdown" : "body plain");
    const status = element("p", "status");
    const actions = element("div", "actions");
    bubble.append(meta, reasoningBlock(), body, status, actions);
    node.append(avatar, bubble);
    this.nodes.set(message.id, node);
    return node;
  }

  update(node, message) {
    if (node.classList.contains("editing")) return; // the edit box stays until sent or cancelled
    const images = (message.images || []).length;
    const key = `${message.status}|${message.seq}|${message.content.length}|${images}|${this.siblingKey(message)}`;
    if (node.dataset.key === key) return;
    node.dataset.key = key;
    node.dataset.status = message.status;
    node.classList.toggle("streaming", message.status === "streaming");
    this.fillAvatar(node.querySelector(".avatar"), message);
    this.fillMeta(node.querySelector(".meta"), message);
    fillReasoning(node.querySelector("details.reasoning"), message);
    this.fillBody(node.querySelector(".body"), message);
    this.fillStatus(node.querySelector(".status"), message);
    this.fillActions(node.querySelector(".actions"), message);
  }

  fillAvatar(avatar, message) {
    const persona = message.persona;
    avatar.textContent = message.role === "user" ? "🙂" : (persona && persona.avatar) || "✦";
  }

  fillMeta(meta, message) {
    const parts = [];
    if (message.role === "user") {
      parts.push(textSpan("author", gettext("You")));
    } else {
      const persona = message.persona;
      parts.push(textSpan("author", persona ? persona.name : gettext("Assistant")));
      if (persona) parts.push(textSpan("version", interpolate(gettext("v%(version)s"), persona)));
      if (message.model) parts.push(textSpan("model", message.model));
      if (message.notice) parts.push(textSpan("notice", message.notice)); // e.g. a fallback model answered
    }
    const time = document.createElement("time");
    paintTime(time, message.created);
    parts.push(time);
    if (message.role === "assistant" && message.status !== "streaming") parts.push(this.details(message));
    meta.replaceChildren(...parts);
  }

  details(message) {
    const box = element("details", "message-details");
    const summary = document.createElement("summary");
    summary.textContent = "ⓘ";
    summary.setAttribute("aria-label", gettext("How this answer was made"));
    const list = document.createElement("dl");
    const rows = [
      [gettext("Parameters"), JSON.stringify(message.params || {})],
      [gettext("Prompt tokens"), message.prompt_tokens ?? "—"],
      [gettext("Answer tokens"), message.completion_tokens ?? "—"],
      [gettext("Usage"), message.usage_estimated ? gettext("estimated") : gettext("reported by the API")],
      [gettext("Time to first token"), message.ttft_ms == null ? "—" : `${message.ttft_ms} ms`],
    ];
    if (message.context_omitted) {
      rows.push([gettext("Left out of the context"), String(message.context_omitted)]);
    }
    for (const [term, value] of rows) {
      const dt = document.createElement("dt");
      dt.textContent = term;
      const dd = document.createElement("dd");
      dd.textContent = String(value);
      list.append(dt, dd);
    }
    box.append(summary, list);
    return box;
  }

  fillBody(body, message) {
    if (message.role !== "assistant") {
      body.textContent = message.content;
      return;
    }
    if (isImageAnswer(message)) return fillImages(body, message);
    if (message.status === "streaming" && !message.content) {
      const dots = element("span", "typing");
      dots.setAttribute("aria-label", gettext("Writing…"));
      body.replaceChildren(dots);
      return;
    }
    body.replaceChildren(renderMarkdown(message.content));
  }

  fillStatus(status, message) {
    if (message.status === "streaming" && this.retries.has(message.id)) return this.paintRetry(message.id);
    if (message.id.startsWith("pending-")) return this.paintSending(status);
    const describe = STATUS_TEXT[message.status];
    status.className = `status status-${message.status}`;
    if (!describe) {
      status.hidden = true;
      status.textContent = "";
      return;
    }
    status.hidden = false;
    // The text for the code, never the provider's own words (they stay in the server log).
    const reason = this.errorMessages[message.error_code] || message.error_message;
    status.textContent = describe() + (reason ? ` ${reason}` : "") + this.flaggedFor(message);
  }

  // A question the moderation check refused: which categories, by their names.
  flaggedFor(message) {
    const categories = (message.moderation && message.moderation.categories) || [];
    if (message.status !== "moderated" || !categories.length) return "";
    const names = categories.map((code) => this.moderationCategories[code] || code);
    return " " + interpolate(gettext("Flagged for: %(categories)s."), { categories: names.join(", ") });
  }

  // Our question is on its way: the server's echo replaces it.
  paintSending(status) {
    status.className = "status status-sending";
    status.hidden = false;
    status.setAttribute("role", "status");
    status.textContent = gettext("Sending…");
  }

  // The provider asked to wait (429/503): say so on the answer, counting down.
  showRetry(ids, seconds) {
    const at = Date.now() + seconds * 1000;
    for (const id of ids) {
      this.retries.set(id, at);
      this.paintRetry(id);
    }
    if (this.retryTimer === null) this.retryTimer = setInterval(() => this.tickRetries(), 1000);
  }

  clearRetry(id) {
    if (!this.retries.delete(id)) return;
    const node = this.nodes.get(id);
    const message = this.thread && this.thread.messages.get(id);
    if (node && message) this.fillStatus(node.querySelector(".status"), message);
    if (!this.retries.size) {
      clearInterval(this.retryTimer);
      this.retryTimer = null;
    }
  }

  tickRetries() {
    for (const id of this.retries.keys()) this.paintRetry(id);
  }

  paintRetry(id) {
    const node = this.nodes.get(id);
    if (!node) return;
    const status = node.querySelector(".status");
    const left = Math.max(0, Math.ceil((this.retries.get(id) - Date.now()) / 1000));
    status.className = "status status-retrying";
    status.hidden = false;
    status.setAttribute("role", "status");
    status.textContent = left
      ? interpolate(gettext("The provider is busy — retrying in %(seconds)s s"), { seconds: left })
      : gettext("The provider is busy — retrying now…");
  }

  fillActions(actions, message) {
    const buttons = [];
    const siblings = this.thread.siblings(message);
    if (siblings.length > 1) buttons.push(this.siblingNav(message, siblings));
    buttons.push(button("copy", gettext("Copy"), gettext("Copy the message")));
    const done = message.status !== "streaming";
    if (message.role === "user") {
      buttons.push(button("edit", gettext("Edit"), gettext("Edit and resend")));
    } else if (done) {
      if (message.status === "truncated" && message.error_code !== "answer_too_long") {
        buttons.push(button("continue", gettext("Continue"), gettext("Continue the answer")));
      }
      if (message.status === "error" || message.status === "interrupted") {
        buttons.push(button("retry", gettext("Retry"), gettext("Try the answer again")));
      }
      buttons.push(button("regenerate", gettext("Regenerate"), gettext("Write another answer")));
    }
    actions.replaceChildren(...buttons);
  }

  siblingKey(message) {
    if (!this.thread) return "";
    const siblings = this.thread.siblings(message);
    return `${siblings.findIndex((m) => m.id === message.id)}/${siblings.length}`;
  }

  siblingNav(message, siblings) {
    const index = siblings.findIndex((m) => m.id === message.id);
    const nav = element("span", "siblings");
    const previous = button("previous", "‹", gettext("Previous version"));
    previous.disabled = index === 0;
    const label = element("span", "sibling-count");
    label.textContent = `${index + 1}/${siblings.length}`;
    const next = button("next", "›", gettext("Next version"));
    next.disabled = index === siblings.length - 1;
    nav.append(previous, label, next);
    return nav;
  }

  onClick(event) {
    const target = event.target.closest("button[data-action]");
    if (!target) return;
    const node = target.closest(".message");
    const message = this.thread.messages.get(node.dataset.id);
    const action = target.dataset.action;
    if (action === "copy") {
      copyText(message.content).then(() => flash(target, gettext("Copied")));
    } else if (action === "edit") {
      this.startEdit(node, message);
    } else if (action === "previous" || action === "next") {
      const siblings = this.thread.siblings(message);
      const index = siblings.findIndex((m) => m.id === message.id) + (action === "next" ? 1 : -1);
      this.handlers.switch(siblings[index]);
    } else {
      this.handlers[action](message);
    }
  }

  // The edit box takes the message's place, as wide as the column, growing
  // with its text; Copy/Edit hide meanwhile. Enter sends as in the composer
  // (never while an input method is composing), so does Ctrl/⌘+Enter; Esc cancels.
  startEdit(node, message) {
    const form = element("form", "edit-form");
    const area = document.createElement("textarea");
    area.value = message.content;
    area.rows = 1;
    area.setAttribute("aria-label", gettext("Edit your message"));
    const hint = element("span", "edit-hint");
    hint.textContent = MAC ? gettext("Enter or ⌘+Enter to send · Esc to cancel") : gettext("Enter or Ctrl+Enter to send · Esc to cancel");
    const cancel = element("button", "edit-cancel");
    cancel.type = "button";
    cancel.textContent = gettext("Cancel");
    const save = element("button", "edit-save");
    save.type = "submit";
    save.textContent = gettext("Save and send");
    const bar = element("div", "edit-bar");
    bar.append(hint, cancel, save);
    form.append(area, bar);
    node.classList.add("editing");
    node.querySelector(".body").replaceChildren(form);
    const fit = () => fitToText(area);
    area.addEventListener("input", fit);
    fit();
    area.focus();
    area.setSelectionRange(area.value.length, area.value.length);
    const finish = () => {
      node.classList.remove("editing");
      node.dataset.key = "";
      this.update(node, this.thread.messages.get(message.id) || message);
    };
    let composing = false;
    area.addEventListener("compositionstart", () => (composing = true));
    area.addEventListener("compositionend", () => setTimeout(() => (composing = false), 0));
    area.addEventListener("keydown", (event) => {
      if (event.key === "Escape") {
        event.preventDefault();
        event.stopPropagation(); // not the page's Esc (stop an answer)
        finish();
      } else if (event.key === "Enter" && !event.shiftKey && !(composing || event.isComposing || event.keyCode === 229)) {
        event.preventDefault();
        form.requestSubmit();
      }
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      const text = area.value.trim();
      if (!text) return;
      finish();
      this.handlers.edit(message, text);
    });
    cancel.addEventListener("click", finish);
  }

  nearEnd() {
    const s = this.scroller;
    return s.scrollHeight - s.scrollTop - s.clientHeight < 80;
  }

  onScroll() {
    this.following = this.nearEnd();
    this.jump.hidden = this.following;
  }

  scrollToEnd(smooth) {
    this.scroller.scrollTo({ top: this.scroller.scrollHeight, behavior: smooth ? "smooth" : "auto" });
    this.following = true;
    this.jump.hidden = true;
  }
}

function fitToText(area) {
  const max = Math.round(window.innerHeight * EDIT_MAX_HEIGHT);
  area.style.height = "auto";
  area.style.height = `${Math.min(area.scrollHeight + 2, max)}px`;
  area.style.overflowY = area.scrollHeight + 2 > max ? "auto" : "hidden";
}

// An image model's answer: its params are the images endpoint's (docs/protocol.md).
function isImageAnswer(message) {
  return Boolean((message.images && message.images.length) || (message.params && message.params.response_format));
}

// "Generating…" while the provider works, then the images. Only the site's own
// URLs are shown (the server stores every image): the page never loads one from
// elsewhere, and the Content-Security-Policy would refuse it anyway.
function fillImages(body, message) {
  if (message.status === "streaming") {
    const waiting = element("p", "generating");
    waiting.textContent = gettext("Generating images…");
    return body.replaceChildren(waiting);
  }
  const gallery = element("div", "answer-images");
  for (const url of message.images || []) {
    if (!url.startsWith("/") || url.startsWith("//")) continue;
    const link = document.createElement("a");
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener";
    const image = document.createElement("img");
    image.src = url;
    image.alt = gettext("Generated image");
    image.loading = "lazy";
    link.append(image);
    gallery.append(link);
  }
  const parts = message.content ? [renderMarkdown(message.content), gallery] : [gallery];
  body.replaceChildren(...parts);
}

function element(tag, className) {
  const node = document.createElement(tag);
  node.className = className;
  return node;
}

function textSpan(className, text) {
  const span = element("span", className);
  span.textContent = text;
  return span;
}

function button(action, text, label) {
  const node = document.createElement("button");
  node.type = "button";
  node.className = `action action-${action}`;
  node.dataset.action = action;
  node.textContent = text;
  node.setAttribute("aria-label", label);
  return node;
}
