// The open conversation's flag for review: the owner sets and clears their own;
// a flag staff set is shown, and its control is disabled with the reason why
// (the server refuses an owner clearing it, with the code flagged_by_staff).
import { request } from "./api.js";
import { gettext } from "./i18n.js";

export class FlagControl {
  constructor({ state, button, urls, changed, failed }) {
    this.state = state;
    this.button = button;
    this.urls = urls;
    this.changed = changed;
    this.failed = failed;
    this.conversation = null;
    this.button.addEventListener("click", () => this.toggle());
  }

  show(conversation) {
    this.conversation = conversation && conversation.id ? conversation : null;
    const c = this.conversation;
    this.button.hidden = !c;
    this.state.hidden = !(c && c.flagged);
    if (!c) return;
    const byStaff = Boolean(c.flagged && c.flagged_by_staff);
    this.state.classList.toggle("by-staff", byStaff);
    this.state.textContent = byStaff ? gettext("Flagged by staff for review") : gettext("Flagged for review");
    this.button.textContent = c.flagged ? gettext("Remove flag") : gettext("Flag for review");
    this.button.disabled = byStaff;
    this.button.title = byStaff
      ? gettext("Staff flagged this conversation for review; only staff can remove the flag.")
      : gettext("A flag marks a conversation for review by staff; the change is recorded.");
    if (byStaff && c.flag_source === "moderation") {
      // Nobody set it: the moderation check did (docs/admin.md, "Moderation").
      this.state.textContent = gettext("Flagged for review by the moderation check");
      this.button.title = gettext("The moderation check flagged this conversation; only staff can remove the flag.");
    }
  }

  async toggle() {
    const c = this.conversation;
    if (!c || this.button.disabled) return;
    try {
      const data = await request("PATCH", this.urls.detail(c.id), { flagged: !c.flagged });
      this.changed(data.conversation);
    } catch (error) {
      this.failed(error);
    }
  }
}
