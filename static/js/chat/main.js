// The chat page: wires the socket, the open conversation, the thread view,
// the sidebar and the composer. Opening a conversation never reloads the page.
import { getJSON, request } from "./api.js";
import { Composer } from "./composer.js";
import { gettext, interpolate } from "./i18n.js";
import { FlagControl } from "./flag.js";
import { copyText } from "./markdown.js";
import { closeSidebar, isNarrow, openSidebar } from "./shell.js";
import { Shortcuts } from "./shortcuts.js";
import { Sidebar } from "./sidebar.js";
import { Connection } from "./socket.js";
import { Thread } from "./store.js";
import { ThreadView } from "./thread.js";
import { Urls } from "./urls.js";

const UNDO_FOR = 6000;
const TIME_REFRESH = 30000; // "just now" becomes "1 min" without a reload
const UNSENT_KEY = "chatsite:unsent"; // text to put back in the composer after signing in
const $ = (id) => document.getElementById(id);
const boot = JSON.parse($("boot").textContent);
const urls = new Urls(boot.urls);

class ChatPage {
  constructor() {
    this.thread = new Thread(boot.thread);
    this.pending = new Map(); // client_id → {frame, text}: sent, not yet acknowledged
    this.buffer = null; // deltas held while a subscribe is answered
    this.deletions = new Map();
    this.connection = new Connection(urls.socket);
    this.view = new ThreadView({
      scroller: $("thread"),
      list: $("messages"),
      jump: $("jump"),
      errorMessages: boot.error_messages || {},
      moderationCategories: boot.moderation_categories || {},
      handlers: {
        regenerate: (m) => this.regenerate(m),
        retry: (m) => this.regenerate(m),
        continue: (m) => this.act({ type: "continue", message_id: m.id }),
        edit: (m, text) => this.act({ type: "edit", message_id: m.id, content: text }, text),
        switch: (m) => this.switchTo(m),
      },
    });
    this.sidebar = new Sidebar({
      urls,
      elements: {
        list: $("conversation-list"),
        groups: $("list-groups"),
        empty: $("list-empty"),
        more: $("list-more"),
        search: $("search"),
        showActive: $("show-active"),
        showArchived: $("show-archived"),
      },
      handlers: {
        open: (id) => this.open(id),
        changed: (c) => this.conversationChanged(c),
        remove: (c) => this.remove(c),
      },
    });
    this.flag = new FlagControl({
      state: $("flag-state"),
      button: $("flag-toggle"),
      urls,
      changed: (c) => this.conversationChanged(c),
      failed: (error) => this.toast(error.message, gettext("OK"), () => {}),
    });
    this.composer = new Composer({
      boot,
      elements: {
        form: $("composer"),
        prompt: $("prompt"),
        send: $("send"),
        stop: $("stop"),
        persona: $("persona-picker"),
        model: $("model-picker"),
        paramsToggle: $("params-toggle"),
        params: $("params-panel"),
        error: $("composer-error"),
        gauge: $("gauge"),
        gaugeFill: $("gauge-fill"),
        gaugeText: $("gauge-text"),
      },
      handlers: {
        send: (text, choice) => this.send(text, choice),
        stop: () => this.stop(),
        personaChanged: () => this.showEmptyState(),
        conversationId: () => this.thread.id,
        contextOmitted: (count) => this.view.setOmitted(count),
      },
    });
  }

  start() {
    this.sidebar.show(boot.sidebar);
    this.connection.addEventListener("frame", (event) => this.receive(event.detail));
    this.connection.addEventListener("open", () => this.online());
    this.connection.addEventListener("offline", () => this.showOffline(0));
    this.connection.addEventListener("reconnecting", (event) => this.showOffline(event.detail.attempt));
    this.connection.addEventListener("signedout", () => this.signedOut());
    this.connection.connect();
    this.showThread();
    this.wirePage();
    this.restoreUnsent();
  }

  // Text that had not reached the server when the session ended comes back
  // after signing in again (the sign-in link leaves this page).
  restoreUnsent() {
    const text = sessionStorage.getItem(UNSENT_KEY);
    sessionStorage.removeItem(UNSENT_KEY);
    if (text) this.composer.restore(text);
  }

  // --- Opening conversations --------------------------------------------------

  showThread() {
    const conversation = this.thread.conversation;
    const chosen = boot.preselect_persona || boot.default_persona;
    boot.preselect_persona = null; // a ?persona= link picks the persona of the first chat only
    this.composer.select({
      persona: conversation ? conversation.persona && conversation.persona.id : chosen,
      model: conversation ? conversation.model : null,
      overrides: conversation ? conversation.params : {},
    });
    this.view.show(this.thread);
    this.sidebar.setActive(this.thread.id);
    this.showTitle();
    this.showEmptyState();
    this.updateBusy();
    this.composer.focus();
  }

  async open(id, { push = true } = {}) {
    if (id === this.thread.id) return this.closeSidebar();
    const data = await getJSON(urls.detail(id));
    // A completion document has its own page (the server redirects /c/<id>/ there).
    if (data.conversation.mode === "completion") return window.location.assign(urls.page(id));
    this.thread = new Thread(data);
    if (push) history.pushState({ id }, "", urls.page(id));
    this.showThread();
    this.subscribe();
    this.closeSidebar();
  }

  newChat({ push = true } = {}) {
    this.thread = new Thread(null);
    if (push) history.pushState({ id: null }, "", urls.home);
    this.connection.send({ type: "unsubscribe" });
    this.showThread();
    this.closeSidebar();
  }

  showTitle() {
    const title = (this.thread.conversation && this.thread.conversation.title) || gettext("New chat");
    $("thread-title").textContent = title;
    const imported = this.thread.conversation && this.thread.conversation.imported;
    $("thread-imported").hidden = !imported;
    document.title = `${title} · chatsite`;
    this.flag.show(this.thread.conversation);
  }

  showEmptyState() {
    const empty = this.thread.messages.size === 0;
    $("empty-state").hidden = !empty;
    if (!empty) return;
    const persona = this.composer.persona;
    $("empty-avatar").textContent = (persona && persona.avatar) || "💬";
    $("empty-title").textContent = persona ? persona.name : gettext("How can I help?");
    $("empty-description").textContent = persona ? persona.description : "";
    const starters = (persona ? persona.starters : []).map((text) => {
      const button = document.createElement("button");
      button.type = "button";
      button.className = "starter";
      button.textContent = text;
      button.addEventListener("click", () => {
        this.composer.fill(text);
        this.composer.submit();
      });
      return button;
    });
    $("starters").replaceChildren(...starters);
  }

  // --- Sending -------------------------------------------------------------------

  send(text, choice) {
    const frame = { type: choice.image ? "image" : "send", content: text, client_id: clientId() };
    if (this.thread.id) frame.conversation_id = this.thread.id;
    if (this.thread.leaf && !this.thread.leaf.startsWith("pending-")) frame.parent_id = this.thread.leaf;
    if (choice.persona) frame.persona_id = choice.persona;
    if (choice.model != null) frame.model = choice.model;
    if (choice.params) frame.params = choice.params;
    this.showPending(frame, text);
    this.transmit(frame, text);
    return true;
  }

  act(fields, text = "") {
    const frame = { ...fields, client_id: clientId() };
    this.transmit(frame, text);
  }

  regenerate(message) {
    const frame = { type: "regenerate", message_id: message.id };
    const model = this.composer.model;
    if (model) frame.model = model.id;
    this.act(frame);
  }

  transmit(frame, text) {
    this.pending.set(frame.client_id, { frame, text });
    this.connection.send(frame); // if offline, sent again on reconnect (client_id makes it safe)
  }

  // The question shows at once; the server's echo replaces it.
  showPending(frame, text) {
    const id = `pending-${frame.client_id}`;
    this.thread.messages.set(id, {
      id,
      role: "user",
      content: text,
      status: "sent",
      parent_id: this.thread.leaf,
      created: new Date().toISOString(),
      seq: 0,
    });
    this.thread.leaf = id;
    this.showEmptyState();
    this.view.render();
    this.view.scrollToEnd(false);
  }

  dropPending(clientId) {
    const entry = this.pending.get(clientId);
    this.pending.delete(clientId);
    const temporary = this.thread.messages.get(`pending-${clientId}`);
    if (temporary) {
      this.thread.messages.delete(temporary.id);
      if (this.thread.leaf === temporary.id) this.thread.leaf = temporary.parent_id;
    }
    return entry;
  }

  stop() {
    const running = this.thread.streaming();
    if (running.length) this.connection.send({ type: "stop", conversation_id: this.thread.id });
  }

  switchTo(message) {
    this.thread.leaf = this.thread.deepest(message).id;
    this.view.render();
    // keepalive: the choice is saved even when the page is reloaded or closed at once.
    const patched = request(
      "PATCH", urls.detail(this.thread.id), { current_leaf: this.thread.leaf }, { keepalive: true },
    );
    patched.then(() => this.composer.refreshGauge()).catch(() => {});
  }

  // --- Frames from the server --------------------------------------------------

  receive(frame) {
    const handler = this[`on_${frame.type}`];
    if (handler) handler.call(this, frame);
  }

  on_message(frame) {
    const mine = frame.client_id && this.pending.has(frame.client_id);
    if (frame.conversation_id !== this.thread.id) {
      if (!(mine && !this.thread.id)) return;
      this.adopt(frame.conversation_id);
    }
    const message = frame.message;
    if (mine && message.role === "user") this.dropPending(frame.client_id);
    if (mine && message.role === "assistant") this.pending.delete(frame.client_id);
    const leaf = this.thread.leaf;
    const leafMessage = leaf && this.thread.messages.get(leaf);
    this.thread.upsert(message);
    const follows = message.parent_id === (leaf || null) || (mine && message.role === "user");
    const regenerated = mine && leafMessage && message.parent_id === leafMessage.parent_id;
    if (follows || regenerated) this.thread.leaf = message.id;
    this.view.render();
    this.updateBusy();
    this.showEmptyState();
    this.sidebar.upsert({ ...this.thread.conversation, updated: new Date().toISOString() });
  }

  // Our first message started a conversation: it becomes the open one.
  adopt(id) {
    const now = new Date().toISOString();
    this.thread.conversation = {
      id, title: "", pinned: false, archived: false, flagged: false, created: now, updated: now,
      persona: this.composer.persona, model: this.composer.model && this.composer.model.id,
      current_leaf: null, params: {},
    };
    history.pushState({ id }, "", urls.page(id));
    this.sidebar.setActive(id);
  }

  on_delta(frame) {
    if (frame.conversation_id !== this.thread.id) return;
    this.view.clearRetry(frame.message_id);
    if (this.buffer) return void this.buffer.push(frame);
    const result = this.thread.applyDelta(frame);
    if (result === "applied") this.view.touch(frame.message_id);
    else if (result === "gap" || result === "unknown") this.resync(frame.message_id);
  }

  on_snapshot(frame) {
    if (frame.conversation_id === this.thread.id && this.thread.applySnapshot(frame)) {
      this.view.touch(frame.id);
    }
  }

  on_retrying(frame) {
    if (frame.conversation_id === this.thread.id) this.view.showRetry(frame.message_ids, frame.delay_s);
  }

  on_done(frame) {
    this.view.clearRetry(frame.message_id);
    if (frame.conversation_id !== this.thread.id) return;
    const message = this.thread.applyDone(frame);
    if (message && frame.seq > message.seq) this.resync(message.id); // fetch the rest
    this.view.render();
    this.updateBusy();
    this.composer.refreshGauge(); // the answer is part of the next prompt now
  }

  on_budget(frame) {
    // A budget is 80 % used (or more): the warning stays visible above the thread.
    const notice = document.getElementById("budget-notice");
    notice.textContent = frame.warning || "";
    notice.hidden = !frame.warning;
  }

  on_subscribed() {
    const held = this.buffer || [];
    this.buffer = null;
    for (const frame of held) this.on_delta(frame);
  }

  on_conversation(frame) {
    this.conversationChanged(frame.conversation);
  }

  on_error(frame) {
    const entry = frame.client_id ? this.dropPending(frame.client_id) : null;
    if (entry && entry.text) this.composer.restore(entry.text); // nothing the user wrote is lost
    this.view.render();
    this.showEmptyState();
    this.composer.showError(frame.message, frame.fields);
  }

  conversationChanged(conversation) {
    if (conversation.id === this.thread.id) {
      Object.assign(this.thread.conversation, conversation);
      this.showTitle();
      this.flag.show(this.thread.conversation); // e.g. the moderation check flagged it
    }
    this.sidebar.upsert(conversation);
  }

  // --- Connection ---------------------------------------------------------------

  // The session ended (signed out elsewhere, password changed, account closed):
  // the socket stops reconnecting and the page says how to get back.
  signedOut() {
    const unsent = [...this.pending.keys()].map((clientId) => this.dropPending(clientId).text);
    this.view.render();
    const text = [...unsent, this.composer.el.prompt.value.trim()].filter(Boolean).join("\n\n");
    if (text) {
      sessionStorage.setItem(UNSENT_KEY, text);
      this.composer.el.prompt.value = "";
      this.composer.restore(text);
    }
    const link = document.createElement("a");
    const here = location.pathname + location.search;
    link.href = `${urls.login}?${new URLSearchParams({ next: here })}`;
    link.textContent = gettext("Signed out — sign in again");
    $("connection").replaceChildren(link);
    $("connection").hidden = false;
  }

  // Offline: say so, with the attempt count once it has failed again, and let
  // the user try at once instead of waiting for the next attempt.
  showOffline(attempt) {
    if (this.connection.signedOut) return;
    const text = document.createElement("span");
    text.textContent = attempt > 1
      ? interpolate(gettext("Offline — reconnecting (attempt %(attempt)s)…"), { attempt })
      : gettext("Offline — reconnecting…");
    const retry = document.createElement("button");
    retry.type = "button";
    retry.className = "linklike";
    retry.textContent = gettext("Retry now");
    retry.addEventListener("click", () => this.connection.reconnectNow());
    $("connection").replaceChildren(text, " ", retry);
    $("connection").hidden = false;
  }

  online() {
    $("connection").hidden = true;
    if (this.thread.id) this.subscribe();
    for (const { frame } of this.pending.values()) this.connection.send(frame);
  }

  subscribe(messageId) {
    const frame = { type: "subscribe", conversation_id: this.thread.id };
    const running = messageId ? this.thread.messages.get(messageId) : this.thread.streaming()[0];
    if (running) {
      frame.message_id = running.id;
      frame.after_seq = running.seq;
    }
    this.buffer = [];
    this.connection.send(frame);
  }

  resync(messageId) {
    if (!this.buffer) this.subscribe(messageId);
  }

  updateBusy() {
    const busy = this.thread.streaming().length > 0;
    this.composer.setBusy(busy);
    $("thread").setAttribute("aria-busy", String(busy));
  }

  // --- Deleting with undo ---------------------------------------------------------

  remove(conversation) {
    this.sidebar.remove(conversation.id);
    if (conversation.id === this.thread.id) this.newChat();
    const timer = setTimeout(() => {
      this.reallyDelete(conversation.id).catch((error) => {
        // Refused (a conversation staff flagged for review stays): put it back and say why.
        this.sidebar.upsert(conversation);
        this.toast(error.message, gettext("Dismiss"), () => {});
      });
    }, UNDO_FOR);
    this.deletions.set(conversation.id, timer);
    this.toast(interpolate(gettext("Deleted “%(title)s”."), { title: conversation.title || gettext("New chat") }), gettext("Undo"), () => {
      clearTimeout(this.deletions.get(conversation.id));
      this.deletions.delete(conversation.id);
      this.sidebar.upsert(conversation);
    });
  }

  reallyDelete(id, keepalive = false) {
    this.deletions.delete(id);
    return request("DELETE", urls.detail(id), undefined, { keepalive });
  }

  toast(text, actionText, action) {
    const toast = $("toast");
    $("toast-text").textContent = text;
    const button = $("toast-action");
    button.textContent = actionText;
    button.onclick = () => {
      toast.hidden = true;
      action();
    };
    toast.hidden = false;
    clearTimeout(this.toastTimer);
    this.toastTimer = setTimeout(() => (toast.hidden = true), UNDO_FOR);
  }

  // --- The rest of the page --------------------------------------------------------

  wirePage() {
    $("new-chat").addEventListener("click", (event) => {
      event.preventDefault();
      this.newChat();
    });
    window.addEventListener("popstate", () => {
      const id = urls.pageId(location.pathname);
      if (id) this.open(id, { push: false });
      else this.newChat({ push: false });
    });
    window.addEventListener("pagehide", () => {
      for (const [id, timer] of this.deletions) {
        clearTimeout(timer);
        this.reallyDelete(id, true);
      }
    });
    new Shortcuts({
      dialog: $("shortcuts"),
      opener: $("shortcuts-open"),
      closer: $("shortcuts-close"),
      actions: {
        newChat: () => this.newChat(),
        search: () => this.focusSearch(),
        focusComposer: () => this.composer.focus(),
        stop: () => this.thread.streaming().length > 0 && (this.stop(), true),
        copyLastAnswer: () => this.copyLastAnswer(),
      },
    }).wire();
    setInterval(() => this.view.refreshTimes(), TIME_REFRESH);
  }

  closeSidebar() {
    closeSidebar();
  }

  focusSearch() {
    if (isNarrow()) openSidebar();
    $("search").focus();
    $("search").select();
  }

  copyLastAnswer() {
    const answer = this.thread.branch().findLast((m) => m.role === "assistant" && m.content);
    if (!answer) return;
    copyText(answer.content).then(() => this.toast(gettext("Copied the last answer."), gettext("OK"), () => {}));
  }
}

function clientId() {
  return crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(36).slice(2)}`;
}

window.chatPage = new ChatPage();
window.chatPage.start();
