// The conversation list: pinned first, then grouped by recency; search over
// titles and messages; more pages load as the list scrolls (a user may have
// thousands of conversations); rename, pin, archive and delete from a menu.
import { getJSON, request } from "./api.js";
import { gettext } from "./i18n.js";

const SEARCH_DELAY = 250;
const DAY = 24 * 3600 * 1000;

export class Sidebar {
  constructor({ elements, urls, handlers }) {
    this.el = elements;
    this.urls = urls;
    this.handlers = handlers;
    this.items = new Map();
    this.next = null;
    this.loading = false;
    this.query = "";
    this.archived = false;
    this.activeId = null;
    this.menu = this.buildMenu();
    this.observer = new IntersectionObserver((entries) => {
      if (entries.some((e) => e.isIntersecting)) this.loadMore();
    }, { root: this.el.list });
    this.observer.observe(this.el.more);
    this.wire();
  }

  wire() {
    let timer = null;
    this.el.search.addEventListener("input", () => {
      clearTimeout(timer);
      timer = setTimeout(() => this.reload({ query: this.el.search.value.trim() }), SEARCH_DELAY);
    });
    this.el.showActive.addEventListener("click", () => this.reload({ archived: false }));
    this.el.showArchived.addEventListener("click", () => this.reload({ archived: true }));
    this.el.groups.addEventListener("click", (event) => this.onClick(event));
    document.addEventListener("click", (event) => {
      if (!this.menu.contains(event.target) && !event.target.closest(".item-menu")) this.closeMenu();
    });
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape") this.closeMenu();
    });
  }

  show(page) {
    this.items.clear();
    this.add(page);
  }

  add(page) {
    for (const conversation of page.items) this.items.set(conversation.id, conversation);
    this.next = page.next;
    this.render();
  }

  async reload(changes) {
    Object.assign(this, changes);
    this.el.showActive.classList.toggle("is-on", !this.archived);
    this.el.showArchived.classList.toggle("is-on", this.archived);
    this.el.showActive.setAttribute("aria-pressed", String(!this.archived));
    this.el.showArchived.setAttribute("aria-pressed", String(this.archived));
    const ticket = (this.ticket = (this.ticket || 0) + 1);
    const page = await getJSON(this.pageUrl(null));
    if (ticket === this.ticket) this.show(page); // a newer search may have overtaken this one
  }

  pageUrl(cursor) {
    const params = new URLSearchParams();
    if (this.query) params.set("q", this.query);
    if (this.archived) params.set("archived", "1");
    if (cursor) params.set("cursor", cursor);
    return `${this.urls.conversations}?${params}`;
  }

  async loadMore() {
    if (!this.next || this.loading) return;
    this.loading = true;
    const ticket = this.ticket;
    try {
      const page = await getJSON(this.pageUrl(this.next));
      if (ticket === this.ticket) this.add(page);
    } finally {
      this.loading = false;
    }
  }

  // A conversation changed or started (from this tab, another tab or the server).
  upsert(conversation) {
    const fits = conversation.archived === this.archived && !this.query;
    if (fits) this.items.set(conversation.id, { ...this.items.get(conversation.id), ...conversation });
    else this.items.delete(conversation.id);
    this.render();
  }

  remove(id) {
    this.items.delete(id);
    this.render();
  }

  setActive(id) {
    this.activeId = id;
    for (const node of this.el.groups.querySelectorAll(".item")) {
      const active = node.dataset.id === id;
      node.classList.toggle("is-active", active);
      node.querySelector(".item-link").toggleAttribute("aria-current", active);
    }
  }

  render() {
    const sorted = [...this.items.values()].sort(compare);
    const groups = new Map();
    for (const conversation of sorted) {
      const name = groupOf(conversation);
      if (!groups.has(name)) groups.set(name, []);
      groups.get(name).push(conversation);
    }
    const sections = [...groups].map(([name, conversations]) => this.section(name, conversations));
    this.el.groups.replaceChildren(...sections);
    this.el.empty.hidden = sorted.length > 0;
    this.el.empty.textContent = this.query ? gettext("Nothing matches your search.") : gettext("No conversations yet.");
    this.setActive(this.activeId);
  }

  section(name, conversations) {
    const section = document.createElement("section");
    section.className = "group";
    const heading = document.createElement("h2");
    heading.textContent = name;
    section.append(heading, ...conversations.map((c) => this.item(c)));
    return section;
  }

  item(conversation) {
    const node = document.createElement("div");
    node.className = "item";
    node.dataset.id = conversation.id;
    const link = document.createElement("a");
    link.className = "item-link";
    link.href = this.urls.page(conversation.id);
    const avatar = conversation.persona && conversation.persona.avatar ? `${conversation.persona.avatar} ` : "";
    link.textContent = avatar + (conversation.title || gettext("New chat"));
    if (conversation.pinned) link.prepend(pinMark());
    if (conversation.imported) link.append(importedMark());
    const menu = document.createElement("button");
    menu.type = "button";
    menu.className = "icon-button item-menu";
    menu.textContent = "⋯";
    menu.setAttribute("aria-label", gettext("Conversation actions"));
    menu.setAttribute("aria-haspopup", "menu");
    node.append(link, menu);
    return node;
  }

  onClick(event) {
    const menuButton = event.target.closest(".item-menu");
    const node = event.target.closest(".item");
    if (!node) return;
    const conversation = this.items.get(node.dataset.id);
    if (menuButton) {
      this.openMenu(menuButton, conversation);
    } else if (event.target.closest(".item-link") && !modified(event)) {
      event.preventDefault();
      this.handlers.open(conversation.id);
    }
  }

  buildMenu() {
    const menu = document.createElement("div");
    menu.className = "menu";
    menu.setAttribute("role", "menu");
    menu.hidden = true;
    for (const action of ["rename", "pin", "archive", "share", "export", "delete"]) {
      const item = document.createElement("button");
      item.type = "button";
      item.dataset.action = action;
      item.setAttribute("role", "menuitem");
      menu.append(item);
    }
    menu.addEventListener("click", (event) => {
      const item = event.target.closest("button[data-action]");
      if (item) this.act(item.dataset.action, this.menuFor);
    });
    document.body.append(menu);
    return menu;
  }

  openMenu(anchor, conversation) {
    this.menuFor = conversation;
    const labels = {
      rename: gettext("Rename"),
      pin: conversation.pinned ? gettext("Unpin") : gettext("Pin"),
      archive: conversation.archived ? gettext("Unarchive") : gettext("Archive"),
      share: gettext("Share…"),
      export: gettext("Export"),
      delete: gettext("Delete"),
    };
    for (const item of this.menu.children) item.textContent = labels[item.dataset.action];
    const box = anchor.getBoundingClientRect();
    this.menu.style.setProperty("--menu-top", `${box.bottom + 4}px`);
    this.menu.style.setProperty("--menu-left", `${Math.max(8, box.right - 160)}px`);
    this.menu.hidden = false;
    this.menu.firstElementChild.focus();
  }

  closeMenu() {
    this.menu.hidden = true;
  }

  async act(action, conversation) {
    this.closeMenu();
    if (action === "rename") return this.rename(conversation);
    if (action === "delete") return this.handlers.remove(conversation);
    if (action === "share") return window.location.assign(this.urls.sharePage(conversation.id));
    if (action === "export") return window.location.assign(this.urls.exportPage(conversation.id));
    const change = action === "pin" ? { pinned: !conversation.pinned } : { archived: !conversation.archived };
    const data = await request("PATCH", this.urls.detail(conversation.id), change);
    this.handlers.changed(data.conversation);
  }

  rename(conversation) {
    const node = this.el.groups.querySelector(`.item[data-id="${conversation.id}"]`);
    const link = node.querySelector(".item-link");
    const input = document.createElement("input");
    input.className = "rename";
    input.value = conversation.title;
    input.setAttribute("aria-label", gettext("New title"));
    link.replaceWith(input);
    input.focus();
    input.select();
    let finished = false;
    const finish = async (save) => {
      if (finished) return;
      finished = true;
      const title = input.value.trim();
      if (save && title && title !== conversation.title) {
        const data = await request("PATCH", this.urls.detail(conversation.id), { title });
        this.handlers.changed(data.conversation);
      } else {
        this.render();
      }
    };
    input.addEventListener("keydown", (event) => {
      if (event.key === "Enter") finish(true);
      if (event.key === "Escape") finish(false);
    });
    input.addEventListener("blur", () => finish(true));
  }
}

function importedMark() {
  const mark = document.createElement("span");
  mark.className = "imported-mark";
  mark.textContent = ` · ${gettext("imported")}`;
  return mark;
}

function compare(a, b) {
  if (a.pinned !== b.pinned) return a.pinned ? -1 : 1;
  return a.updated < b.updated ? 1 : a.updated > b.updated ? -1 : 0;
}

function groupOf(conversation) {
  if (conversation.pinned) return gettext("Pinned");
  const startOfToday = new Date();
  startOfToday.setHours(0, 0, 0, 0);
  const updated = new Date(conversation.updated).getTime();
  if (updated >= startOfToday.getTime()) return gettext("Today");
  if (updated >= startOfToday.getTime() - 7 * DAY) return gettext("Previous 7 days");
  return gettext("Older");
}

function pinMark() {
  const mark = document.createElement("span");
  mark.className = "pin";
  mark.setAttribute("aria-label", gettext("Pinned"));
  mark.textContent = "📌 ";
  return mark;
}

function modified(event) {
  return event.metaKey || event.ctrlKey || event.shiftKey || event.altKey || event.button !== 0;
}
