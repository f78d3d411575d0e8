// A completion document: the prompt editor, its parameters and the streamed
// continuations, over the chat socket (a `complete` frame; docs/protocol.md).
// Provider text goes into the page only through textContent.
import { Connection } from "../chat/socket.js";

const boot = JSON.parse(document.getElementById("boot").textContent);
const $ = (id) => document.getElementById(id);
const el = {
  form: $("document-form"),
  model: $("document-model"),
  persona: $("document-persona"),
  prompt: $("document-prompt"),
  suffix: $("document-suffix"),
  error: $("document-error"),
  run: $("document-run"),
  stop: $("document-stop"),
  results: $("document-results"),
  info: $("token-info"),
  title: $("document-title"),
};
const NUMBERS = ["max_tokens", "temperature", "top_p", "n", "best_of", "logprobs", "presence_penalty", "frequency_penalty"];
const state = { conversationId: boot.thread ? boot.thread.conversation.id : null, cards: new Map(), running: new Set() };

function fillPickers() {
  el.model.replaceChildren(...boot.models.map((m) => new Option(m.name, String(m.id))));
  if (boot.model) el.model.value = String(boot.model);
  const conversationModel = boot.thread && boot.thread.conversation.model;
  if (conversationModel) el.model.value = String(conversationModel);
  const none = new Option(gettext("No persona"), "");
  el.persona.replaceChildren(none, ...boot.personas.map((p) => new Option(p.name, p.id)));
}

function params() {
  const values = {};
  for (const name of NUMBERS) {
    const raw = $(`p-${name}`).value.trim();
    if (raw !== "") values[name] = Number(raw);
  }
  if (el.suffix.value) values.suffix = el.suffix.value;
  const stop = $("p-stop").value.split("|").filter((s) => s !== "");
  if (stop.length) values.stop = stop;
  const bias = $("p-logit_bias").value.trim();
  if (bias) values.logit_bias = parseBias(bias);
  if ($("p-echo").checked) values.echo = true;
  if (!$("p-stream").checked) values.stream = false;
  return values;
}

function parseBias(text) {
  try {
    return JSON.parse(text);
  } catch {
    return text; // the server names the parameter and says what it takes
  }
}

function showError(message) {
  el.error.textContent = message;
  el.error.hidden = !message;
}

function complete(event) {
  event.preventDefault();
  showError("");
  const frame = { type: "complete", client_id: crypto.randomUUID(), content: el.prompt.value, params: params() };
  if (el.model.value) frame.model = Number(el.model.value);
  if (el.persona.value) frame.persona_id = el.persona.value;
  if (state.conversationId) frame.conversation_id = state.conversationId;
  if (!connection.send(frame)) showError(gettext("Offline — reconnecting…"));
}

// --- Continuations ------------------------------------------------------------

function card(message) {
  let entry = state.cards.get(message.id);
  if (entry) return entry;
  const root = document.createElement("article");
  root.className = "document-result";
  root.dataset.id = message.id;
  const status = document.createElement("p");
  status.className = "result-status";
  const text = document.createElement("div");
  text.className = "completion-text";
  const actions = document.createElement("div");
  actions.className = "result-actions";
  root.append(status, text, actions);
  el.results.prepend(root);
  entry = { root, status, text, actions, message };
  state.cards.set(message.id, entry);
  return entry;
}

function working(message) {
  const p = message.params || {};
  return p.best_of !== undefined || p.stream === false;
}

function showMessage(message) {
  if (message.role !== "assistant") return;
  const entry = card(message);
  entry.message = message;
  entry.text.textContent = message.content;
  if (message.status === "streaming") {
    state.running.add(message.id);
    // best_of cannot stream: the result comes whole, so say it is on its way.
    entry.status.textContent = working(message) ? gettext("Working…") : gettext("Writing…");
  } else {
    finish(entry, message.status, message.finish_reason, message.logprobs);
  }
  toggleRunning();
}

function appendDelta(frame) {
  const entry = state.cards.get(frame.message_id);
  if (!entry) return;
  entry.text.append(document.createTextNode(frame.text));
}

function finish(entry, status, finishReason, logprobs) {
  state.running.delete(entry.root.dataset.id);
  entry.status.textContent = statusText(status, finishReason);
  if (logprobs && logprobs.length) renderTokens(entry, logprobs);
  entry.actions.replaceChildren(button(gettext("Regenerate"), () => send("regenerate", entry)));
  if (status === "truncated") entry.actions.append(button(gettext("Continue"), () => send("continue", entry)));
  toggleRunning();
}

function statusText(status, finishReason) {
  if (status === "truncated") return gettext("Stopped at the length limit (max_tokens).");
  if (status === "stopped") return gettext("Stopped.");
  if (status === "error" || status === "interrupted") return gettext("The model could not finish.");
  return finishReason === "stop" ? gettext("Complete.") : "";
}

function button(label, action) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = label;
  b.addEventListener("click", action);
  return b;
}

function send(kind, entry) {
  connection.send({ type: kind, message_id: entry.root.dataset.id, client_id: crypto.randomUUID() });
}

function toggleRunning() {
  el.stop.hidden = state.running.size === 0;
}

// --- Log probabilities: each token a span; hover, focus or tap shows its numbers.

function renderTokens(entry, logprobs) {
  const spans = logprobs.map((item) => {
    const span = document.createElement("span");
    span.className = "token";
    span.tabIndex = 0;
    span.textContent = item.token;
    const show = () => showToken(span, item);
    span.addEventListener("mouseenter", show);
    span.addEventListener("focus", show);
    span.addEventListener("click", show);
    return span;
  });
  entry.text.replaceChildren(...spans);
}

function percent(logprob) {
  return logprob === null || logprob === undefined ? "—" : `${(Math.exp(logprob) * 100).toFixed(2)} %`;
}

function showToken(span, item) {
  for (const active of document.querySelectorAll(".token.is-active")) active.classList.remove("is-active");
  span.classList.add("is-active");
  const head = document.createElement("p");
  head.textContent = `${JSON.stringify(item.token)} · ${gettext("probability")} ${percent(item.logprob)}`;
  const list = document.createElement("ol");
  const top = Object.entries(item.top || {}).sort((a, b) => b[1] - a[1]);
  for (const [token, logprob] of top) {
    const li = document.createElement("li");
    li.textContent = `${JSON.stringify(token)} ${percent(logprob)}`;
    list.append(li);
  }
  const label = document.createElement("p");
  label.textContent = top.length ? gettext("Alternatives:") : gettext("No alternatives were returned.");
  el.info.replaceChildren(head, label, list);
  el.info.hidden = false;
}

// --- The socket -------------------------------------------------------------------

function onFrame(frame) {
  if (frame.type === "message") {
    const message = frame.message;
    if (!state.conversationId && message.conversation_id) adopt(message.conversation_id);
    showMessage(message);
  } else if (frame.type === "delta" || frame.type === "snapshot") {
    if (frame.type === "snapshot") {
      const entry = state.cards.get(frame.id);
      if (entry) entry.text.textContent = frame.content;
    } else appendDelta(frame);
  } else if (frame.type === "done") {
    const entry = state.cards.get(frame.message_id);
    if (entry) finish(entry, frame.status, frame.finish_reason, frame.logprobs);
  } else if (frame.type === "error") {
    const fields = frame.fields ? Object.entries(frame.fields).map(([k, v]) => `${k} ${v}`) : [];
    showError([frame.message, ...fields].join(" "));
  }
}

function adopt(conversationId) {
  state.conversationId = conversationId;
  const url = boot.urls.document.replace(boot.urls.id, conversationId);
  history.replaceState(null, "", url);
  el.title.textContent = el.prompt.value.slice(0, 60) || el.title.textContent;
}

function showStored() {
  if (!boot.thread) return;
  const messages = boot.thread.messages;
  const prompts = messages.filter((m) => m.role === "user");
  const last = prompts[prompts.length - 1];
  if (last) el.prompt.value = last.content;
  for (const m of messages) showMessage(m);
  const params = (messages.find((m) => m.role === "assistant") || {}).params || {};
  if (params.suffix) el.suffix.value = params.suffix;
}

const connection = new Connection(boot.urls.socket);
connection.addEventListener("frame", (event) => onFrame(event.detail));
connection.addEventListener("open", () => {
  if (state.conversationId) connection.send({ type: "subscribe", conversation_id: state.conversationId });
});
el.form.addEventListener("submit", complete);
el.stop.addEventListener("click", () => {
  if (state.conversationId) connection.send({ type: "stop", conversation_id: state.conversationId });
});
fillPickers();
showStored();
connection.connect();
