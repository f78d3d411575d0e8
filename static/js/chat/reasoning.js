// A reasoning model's thinking, collapsed above the answer it led to:
// "Thinking…" while only reasoning streams, "Thought for 12 s" once the answer
// starts (the server's reasoning_ms when the answer is done, this tab's own
// measure until then). Opened, it reads as sanitised markdown through the same
// renderer as answers; closed, it is not rendered at all. The server never
// sends it back to the model (docs/protocol.md).
import { gettext, interpolate } from "./i18n.js";
import { renderMarkdown } from "./markdown.js";

// The <details> block of one message; fillReasoning keeps it up to date.
export function reasoningBlock() {
  const box = document.createElement("details");
  box.className = "reasoning";
  box.hidden = true;
  const summary = document.createElement("summary");
  summary.className = "reasoning-summary";
  const text = document.createElement("div");
  text.className = "reasoning-text markdown";
  box.append(summary, text);
  box.addEventListener("toggle", () => paintText(box));
  return box;
}

export function fillReasoning(box, message) {
  const reasoning = message.reasoning || "";
  box.hidden = !reasoning;
  if (!reasoning) return;
  const thinking = message.status === "streaming" && !message.content;
  if (thinking && box.thinkingSince === undefined) box.thinkingSince = performance.now();
  if (!thinking && box.thinkingSince !== undefined && box.thoughtMs === undefined) {
    box.thoughtMs = performance.now() - box.thinkingSince; // seen live on this tab
  }
  box.classList.toggle("thinking", thinking);
  box.querySelector(".reasoning-summary").textContent = thinking ? gettext("Thinking…") : thoughtFor(message, box.thoughtMs);
  box.reasoning = reasoning;
  paintText(box);
}

function paintText(box) {
  if (!box.open || box.painted === box.reasoning) return;
  box.painted = box.reasoning;
  box.querySelector(".reasoning-text").replaceChildren(renderMarkdown(box.reasoning));
}

function thoughtFor(message, measured) {
  const ms = message.reasoning_ms ?? measured;
  if (ms == null) return gettext("Thought for a moment");
  const seconds = Math.max(1, Math.round(ms / 1000));
  if (seconds < 60) return interpolate(gettext("Thought for %(seconds)s s"), { seconds });
  const minutes = Math.floor(seconds / 60);
  return interpolate(gettext("Thought for %(minutes)s min %(seconds)s s"), { minutes, seconds: seconds % 60 });
}
