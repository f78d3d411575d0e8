// Keyboard shortcuts of the chat page, and the help overlay that lists them
// (`?`). The bindings avoid the browser's own: Ctrl/⌘+Shift+O, not Ctrl+N.
const MAC = /Mac|iPhone|iPad/.test(navigator.platform || navigator.userAgent);

export class Shortcuts {
  // actions: newChat, search, focusComposer, stop (returns true when it stopped
  // something), copyLastAnswer.
  constructor({ dialog, opener, closer, actions }) {
    this.dialog = dialog;
    this.opener = opener;
    this.closer = closer;
    this.actions = actions;
    this.returnFocus = null;
  }

  wire() {
    if (MAC) for (const key of this.dialog.querySelectorAll("kbd[data-mod]")) key.textContent = "⌘";
    document.addEventListener("keydown", (event) => this.onKey(event));
    this.opener.addEventListener("click", () => this.open());
    this.closer.addEventListener("click", () => this.dialog.close());
    this.dialog.addEventListener("close", () => this.returnFocus && this.returnFocus.focus());
    this.dialog.addEventListener("keydown", (event) => event.key === "Tab" && this.trapFocus(event));
    // A click on the backdrop (outside the box) closes it too.
    this.dialog.addEventListener("click", (event) => {
      if (event.target === this.dialog) this.dialog.close();
    });
  }

  open() {
    if (this.dialog.open) return;
    this.returnFocus = document.activeElement;
    this.dialog.showModal(); // modal: the page behind is inert, Esc closes
    this.closer.focus();
  }

  // A modal dialog keeps the page behind inert, but Tab would still leave for
  // the browser's own controls: keep it cycling inside the dialog.
  trapFocus(event) {
    const focusable = [...this.dialog.querySelectorAll("button, [href], [tabindex]:not([tabindex='-1'])")];
    const first = focusable[0];
    const last = focusable[focusable.length - 1];
    const current = document.activeElement;
    if (event.shiftKey ? current === first : current === last) {
      event.preventDefault();
      (event.shiftKey ? last : first).focus();
    }
  }

  onKey(event) {
    if (event.defaultPrevented || event.isComposing || this.dialog.open) return;
    const run = this.actionFor(event);
    if (run && run() !== false) event.preventDefault();
  }

  actionFor(event) {
    const mod = MAC ? event.metaKey : event.ctrlKey;
    const key = event.key.length === 1 ? event.key.toLowerCase() : event.key;
    if (mod && event.shiftKey && key === "o") return this.actions.newChat;
    if (mod && event.shiftKey && key === "c") return this.actions.copyLastAnswer;
    if (mod && !event.shiftKey && key === "k") return this.actions.search;
    if (event.shiftKey && key === "Escape") return this.actions.focusComposer;
    if (key === "Escape" && !mod) return this.actions.stop;
    if (key === "?" && !mod && !event.altKey && !typing(event.target)) return () => this.open();
    return null;
  }
}

function typing(target) {
  return Boolean(target.closest && target.closest("input, textarea, select, [contenteditable]"));
}
