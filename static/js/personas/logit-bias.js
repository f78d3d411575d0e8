// Shows the token ids of a logit bias entry while it is typed.
// The server turns words into ids with the chosen model's tokenizer; this
// module only asks and writes the answer into the table with textContent.

const DELAY_MS = 300;

function csrfToken(form) {
  const input = form.querySelector("input[name=csrfmiddlewaretoken]");
  return input ? input.value : "";
}

function cell(row, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content;
  row.append(td);
  return td;
}

function keyNode(entry) {
  const node = document.createElement(entry.is_word ? "q" : "code");
  node.textContent = entry.key;
  return node;
}

function tokensNode(entry, unknown) {
  const wrap = document.createDocumentFragment();
  for (const token of entry.tokens) {
    const span = document.createElement("span");
    span.className = "token";
    const id = document.createElement("code");
    id.textContent = String(token.id);
    span.append(id, " ");
    const text = document.createElement(token.text === null ? "span" : "q");
    if (token.text === null) text.className = "muted";
    text.textContent = token.text === null ? unknown : token.text;
    span.append(text);
    wrap.append(span);
  }
  return wrap;
}

function render(preview, entries) {
  const body = preview.querySelector("tbody");
  const rows = entries.map((entry) => {
    const row = document.createElement("tr");
    cell(row, keyNode(entry));
    cell(row, tokensNode(entry, preview.dataset.unknown));
    cell(row, String(entry.bias));
    return row;
  });
  body.replaceChildren(...rows);
}

function setUp(preview) {
  const text = document.getElementById(preview.dataset.textField);
  const model = document.getElementById(preview.dataset.modelField);
  const error = preview.querySelector(".logit-bias-error");
  if (!text) return;
  let timer = null;
  let latest = 0;

  async function refresh() {
    const asked = ++latest;
    const response = await fetch(preview.dataset.previewUrl, {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken(text.form) },
      body: JSON.stringify({ text: text.value, model: model ? model.value || null : null }),
      credentials: "same-origin",
    });
    if (asked !== latest || !response.ok) return;
    const data = await response.json();
    error.textContent = data.error || "";
    if (data.entries) render(preview, data.entries);
  }

  function schedule() {
    clearTimeout(timer);
    timer = setTimeout(() => refresh().catch(() => {}), DELAY_MS);
  }

  text.addEventListener("input", schedule);
  if (model) model.addEventListener("change", schedule);
}

for (const preview of document.querySelectorAll(".logit-bias-preview[data-preview-url]")) {
  setUp(preview);
}
