// The composer: the message box, persona and model pickers, the parameters
// panel (checked with the server's rules, which still decide), and the context
// gauge (tokens the next request would use, from /api/tokens/count).
import { request } from "./api.js";
import { gettext, interpolate, ngettext } from "./i18n.js";

const GAUGE_DELAY = 400;
const LABELS = {
  temperature: () => gettext("Temperature"),
  top_p: () => gettext("Top p"),
  n: () => gettext("Answers (n)"),
  max_tokens: () => gettext("Max answer tokens"),
  presence_penalty: () => gettext("Presence penalty"),
  frequency_penalty: () => gettext("Frequency penalty"),
  stop: () => gettext("Stop sequences (one per line)"),
  logit_bias: () => gettext("Logit bias (token id: bias, …)"),
  reasoning_effort: () => gettext("Reasoning effort"),
  size: () => gettext("Image size"),
  response_format: () => gettext("Image transfer (url or b64_json)"),
};

function paramInput(rule) {
  if (rule.kind === "stop") return document.createElement("textarea");
  if (rule.kind !== "choice") return document.createElement("input");
  const select = document.createElement("select");
  select.append(new Option("—", ""), ...rule.choices.map((choice) => new Option(choice, choice)));
  return select;
}

export class Composer {
  constructor({ elements, boot, handlers }) {
    this.el = elements;
    this.boot = boot;
    this.handlers = handlers;
    this.composing = false;
    this.overrides = {};
    this.dirty = false;
    this.errors = {};
    this.gaugeTimer = null;
    this.fillPickers();
    this.wire();
  }

  // --- Pickers -------------------------------------------------------------

  fillPickers() {
    const none = new Option(gettext("No persona"), "");
    const personas = this.boot.personas.map((p) => new Option(`${p.avatar || "✦"} ${p.name}`, p.id));
    this.el.persona.replaceChildren(none, ...personas);
    const models = this.boot.models.map((m) => new Option(m.name, String(m.id)));
    this.el.model.replaceChildren(...models);
    this.el.model.disabled = models.length === 0;
    this.addDocumentModels();
  }

  // Completion models continue a text instead of chatting: picking one opens a
  // completion document (its own page), so they are listed apart.
  addDocumentModels() {
    const documents = this.boot.completion_models || [];
    if (!documents.length) return;
    const group = document.createElement("optgroup");
    group.label = gettext("Completion models — open a document");
    for (const m of documents) group.append(new Option(m.name, `document:${m.url}`));
    this.el.model.append(group);
    this.el.model.disabled = false;
  }

  get persona() {
    return this.boot.personas.find((p) => p.id === this.el.persona.value) || null;
  }

  get model() {
    return this.boot.models.find((m) => String(m.id) === this.el.model.value) || null;
  }

  // Pick what a conversation (or a new chat) uses.
  select({ persona, model, overrides }) {
    this.el.persona.value = persona || "";
    const fallback = (this.persona && this.persona.model) || this.boot.default_model;
    const wanted = model ?? fallback;
    if (wanted != null && this.boot.models.some((m) => m.id === wanted)) this.el.model.value = String(wanted);
    this.overrides = { ...(overrides || {}) };
    this.dirty = false;
    this.renderParams();
    this.scheduleGauge();
  }

  // --- Typing and sending -----------------------------------------------------

  wire() {
    const prompt = this.el.prompt;
    prompt.addEventListener("compositionstart", () => (this.composing = true));
    prompt.addEventListener("compositionend", () => {
      // Some browsers deliver the Enter that ends a composition after this event.
      setTimeout(() => (this.composing = false), 0);
    });
    prompt.addEventListener("keydown", (event) => this.onKey(event));
    prompt.addEventListener("input", () => {
      this.autosize();
      this.scheduleGauge();
    });
    this.el.form.addEventListener("submit", (event) => {
      event.preventDefault();
      this.submit();
    });
    this.el.stop.addEventListener("click", () => this.handlers.stop());
    this.el.persona.addEventListener("change", () => {
      this.handlers.personaChanged(this.persona);
      const model = this.persona && this.persona.model;
      if (model && this.boot.models.some((m) => m.id === model)) this.el.model.value = String(model);
      this.renderParams();
      this.scheduleGauge();
    });
    this.el.model.addEventListener("change", () => {
      if (this.el.model.value.startsWith("document:")) {
        window.location.assign(this.el.model.value.slice("document:".length));
        return;
      }
      this.renderParams();
      this.scheduleGauge();
    });
    this.el.paramsToggle.addEventListener("click", () => this.toggleParams());
  }

  onKey(event) {
    const composing = event.isComposing || this.composing || event.keyCode === 229;
    // Esc (stop) is a page shortcut: shortcuts.js.
    if (event.key === "Enter" && !event.shiftKey && !composing) {
      event.preventDefault();
      this.submit();
    }
  }

  submit() {
    const text = this.el.prompt.value.trim();
    if (!text || this.busy) return;
    if (Object.keys(this.errors).length) {
      this.showError(gettext("Fix the parameters marked in red first."));
      this.openParams();
      return;
    }
    const sent = this.handlers.send(text, {
      persona: this.el.persona.value || null,
      model: this.model ? this.model.id : null,
      params: this.dirty ? this.cleanOverrides() : null,
      image: Boolean(this.model && this.model.kind === "image"), // the prompt asks for images
    });
    if (sent) this.clear();
  }

  clear() {
    this.el.prompt.value = "";
    this.autosize();
    this.dirty = false;
    this.showError("");
  }

  // After a refused send: the text comes back, nothing is lost.
  restore(text) {
    if (!this.el.prompt.value) this.el.prompt.value = text;
    this.autosize();
  }

  setBusy(busy) {
    this.busy = busy;
    this.el.send.hidden = busy;
    this.el.stop.hidden = !busy;
  }

  focus() {
    this.el.prompt.focus();
  }

  fill(text) {
    this.el.prompt.value = text;
    this.autosize();
    this.focus();
  }

  autosize() {
    const prompt = this.el.prompt;
    prompt.style.height = "auto";
    prompt.style.height = `${Math.min(prompt.scrollHeight, 240)}px`;
  }

  showError(text, fields) {
    this.el.error.hidden = !text;
    this.el.error.textContent = text;
    if (fields) {
      this.errors = { ...fields };
      this.renderParams();
      this.openParams();
    }
  }

  // --- Parameters -------------------------------------------------------------

  toggleParams() {
    if (this.el.params.hidden) this.openParams();
    else this.closeParams();
  }

  openParams() {
    this.el.params.hidden = false;
    this.el.paramsToggle.setAttribute("aria-expanded", "true");
  }

  closeParams() {
    this.el.params.hidden = true;
    this.el.paramsToggle.setAttribute("aria-expanded", "false");
  }

  renderParams() {
    const model = this.model;
    const rules = model ? model.rules : this.boot.rules;
    const persona = this.persona;
    const rows = Object.entries(rules).map(([name, rule]) => this.paramRow(name, rule, model, persona));
    const reset = document.createElement("button");
    reset.type = "button";
    reset.className = "linklike";
    reset.textContent = gettext("Reset to defaults");
    reset.addEventListener("click", () => {
      this.overrides = {};
      this.errors = {};
      this.dirty = true;
      this.renderParams();
    });
    this.el.params.replaceChildren(...rows, reset);
    this.el.paramsToggle.classList.toggle("is-on", Object.keys(this.overrides).length > 0);
  }

  paramRow(name, rule, model, persona) {
    const row = document.createElement("div");
    row.className = "param";
    const id = `param-${name}`;
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = LABELS[name] ? LABELS[name]() : name; // a rule this page does not name yet
    const input = paramInput(rule);
    input.id = id;
    input.name = name;
    if (rule.kind === "number" || rule.kind === "integer") {
      input.type = "number";
      input.step = rule.kind === "integer" ? "1" : "0.01";
      input.min = String(rule.min);
      if (rule.max != null) input.max = String(rule.max);
    }
    input.value = display(this.overrides[name], rule);
    input.placeholder = this.defaultText(name, rule, model, persona);
    if (input.tagName === "SELECT") input.options[0].text = input.placeholder; // the default, as the empty choice
    const locked = persona && persona.overridable && !persona.overridable.includes(name);
    const unused = rule.applies === false; // this model does not take it: never sent
    input.disabled = Boolean(locked) || unused;
    const note = document.createElement("p");
    note.className = "param-note";
    note.id = `${id}-note`;
    input.setAttribute("aria-describedby", note.id);
    if (locked) note.textContent = gettext("Fixed by the persona.");
    else if (unused) note.textContent = rule.note || gettext("Not used by this model.");
    if (this.errors[name]) {
      note.textContent = this.errors[name];
      row.classList.add("has-error");
      input.setAttribute("aria-invalid", "true");
    }
    input.addEventListener("input", () => this.onParam(name, rule, input, row, note));
    row.append(label, input, note);
    return row;
  }

  defaultText(name, rule, model, persona) {
    if (persona && persona.defaults && persona.defaults[name] !== undefined) {
      return interpolate(gettext("persona: %(value)s"), { value: display(persona.defaults[name], rule) });
    }
    if (model && model.defaults && model.defaults[name] !== undefined) {
      return interpolate(gettext("model: %(value)s"), { value: display(model.defaults[name], rule) });
    }
    return rule.default !== undefined ? interpolate(gettext("API default: %(value)s"), { value: rule.default }) : gettext("API default");
  }

  onParam(name, rule, input, row, note) {
    this.dirty = true;
    const raw = input.value.trim();
    const { value, error } = raw === "" ? { value: undefined, error: null } : parse(raw, rule);
    if (value === undefined) delete this.overrides[name];
    else this.overrides[name] = value;
    if (error) this.errors[name] = error;
    else delete this.errors[name];
    row.classList.toggle("has-error", Boolean(error));
    input.toggleAttribute("aria-invalid", Boolean(error));
    note.textContent = error || "";
    this.el.paramsToggle.classList.toggle("is-on", Object.keys(this.overrides).length > 0);
  }

  // Less what the chosen model does not take (set for another model before a switch).
  cleanOverrides() {
    const rules = this.model ? this.model.rules : this.boot.rules;
    return Object.fromEntries(Object.entries(this.overrides).filter(([name]) => !rules[name] || rules[name].applies !== false));
  }

  // --- Context gauge ------------------------------------------------------------

  scheduleGauge(delay = GAUGE_DELAY) {
    clearTimeout(this.gaugeTimer);
    this.gaugeTimer = setTimeout(() => this.updateGauge(), delay);
  }

  // The conversation changed under the gauge (an answer ended, another branch
  // is on screen): count again now.
  refreshGauge() {
    this.scheduleGauge(0);
  }

  async updateGauge() {
    const model = this.model;
    if (!model) return;
    const conversation = this.handlers.conversationId();
    const draft = this.el.prompt.value;
    const body = conversation
      ? { conversation_id: conversation, draft, model: model.id }
      : { model: model.id, messages: this.newChatMessages(draft) };
    const ticket = (this.gaugeTicket = (this.gaugeTicket || 0) + 1);
    try {
      const count = await request("POST", this.boot.urls.count, body);
      if (ticket !== this.gaugeTicket) return; // a newer count is on its way
      this.showGauge(count);
      this.handlers.contextOmitted(conversation ? count.omitted || 0 : 0);
    } catch {
      this.el.gaugeText.textContent = "";
    }
  }

  newChatMessages(draft) {
    const persona = this.persona;
    const messages = persona && persona.system_prompt ? [{ role: "system", content: persona.system_prompt }] : [];
    return draft ? [...messages, { role: "user", content: draft }] : messages;
  }

  // What the next send will really use of the window: older messages that do
  // not fit are left out (and said so in the thread), so the bar only turns red
  // when the send would be refused.
  showGauge(count) {
    const share = Math.min(1, count.prompt_tokens / count.context_window);
    const refused = count.fits === false;
    this.el.gaugeFill.style.setProperty("--share", String(share));
    this.el.gauge.classList.toggle("is-high", refused);
    this.el.gauge.classList.toggle("is-full", !refused && count.omitted > 0);
    this.el.gauge.dataset.used = String(count.prompt_tokens);
    const prefix = count.exact ? "" : "≈ ";
    this.el.gaugeText.textContent = `${prefix}${count.prompt_tokens.toLocaleString()} / ${count.context_window.toLocaleString()}`;
    const values = { used: count.prompt_tokens.toLocaleString(), total: count.context_window.toLocaleString() };
    let label = interpolate(gettext("The next message sends %(used)s tokens of a %(total)s-token context window."), values);
    if (count.omitted > 0) {
      label += " " + interpolate(ngettext(
        "%(count)s earlier message is left out to fit.",
        "%(count)s earlier messages are left out to fit.",
        count.omitted,
      ), { count: count.omitted });
    }
    if (refused) label = count.message || label;
    this.el.gauge.title = label;
    this.el.gauge.setAttribute("aria-label", label);
  }
}

function display(value, rule) {
  if (value === undefined || value === null) return "";
  if (rule.kind === "stop") return Array.isArray(value) ? value.join("\n") : value;
  if (rule.kind === "logit_bias") return Object.entries(value).map(([k, v]) => `${k}: ${v}`).join(", ");
  return String(value);
}

// The same checks as conversations/params.py, for an answer while typing.
function parse(raw, rule) {
  const fail = (error) => ({ value: undefined, error });
  if (rule.kind === "choice") return rule.choices.includes(raw) ? { value: raw, error: null } : fail(gettext("Choose a value from the list."));
  if (rule.kind === "number" || rule.kind === "integer") {
    const number = Number(raw);
    if (!Number.isFinite(number)) return fail(gettext("Enter a number."));
    if (rule.kind === "integer" && !Number.isInteger(number)) return fail(gettext("Enter a whole number."));
    if (number < rule.min || (rule.max != null && number > rule.max)) {
      return fail(interpolate(gettext("Must be from %(min)s to %(max)s."), { min: rule.min, max: rule.max ?? "∞" }));
    }
    return { value: number, error: null };
  }
  if (rule.kind === "stop") {
    const items = raw.split("\n").filter((s) => s !== "");
    if (items.length > rule.max_items) return fail(interpolate(gettext("At most %(count)s sequences."), { count: rule.max_items }));
    if (items.some((s) => s.length > rule.max_length)) return fail(gettext("A sequence is too long."));
    return { value: items, error: null };
  }
  return parseLogitBias(raw, rule);
}

function parseLogitBias(raw, rule) {
  const bias = {};
  for (const part of raw.split(/[,\n]/).map((s) => s.trim()).filter(Boolean)) {
    const match = part.match(/^(\d+)\s*:\s*(-?\d+(?:\.\d+)?)$/);
    if (!match) return { value: undefined, error: gettext("Write entries as token id: bias, e.g. 50256: -100.") };
    const value = Number(match[2]);
    if (value < rule.min || value > rule.max) return { value: undefined, error: gettext("Each bias must be from -100 to 100.") };
    bias[match[1]] = value;
  }
  if (Object.keys(bias).length > rule.max_entries) return { value: undefined, error: gettext("Too many entries.") };
  return { value: bias, error: null };
}
