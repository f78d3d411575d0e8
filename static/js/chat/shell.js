// The layout every product page shares: the sidebar (a drawer on phones), the
// language switch and the theme switch. The chat page imports the drawer calls.
import { request } from "./api.js";

const $ = (id) => document.getElementById(id);
const NARROW = window.matchMedia("(max-width: 760px)");

export function openSidebar() {
  $("app").classList.add("sidebar-open");
  $("scrim").hidden = false;
  $("open-sidebar").setAttribute("aria-expanded", "true");
  $("close-sidebar").focus();
}

export function closeSidebar() {
  if (!$("app").classList.contains("sidebar-open")) return;
  $("app").classList.remove("sidebar-open");
  $("scrim").hidden = true;
  $("open-sidebar").setAttribute("aria-expanded", "false");
}

export const isNarrow = () => NARROW.matches;

// One click always changes what the page looks like: each choice is its own
// button, and the pressed one is the theme in force.
function chooseTheme(choice) {
  const root = document.documentElement;
  if (root.dataset.theme === choice) return;
  root.dataset.theme = choice;
  for (const button of $("theme-switch").querySelectorAll("[data-theme-choice]")) {
    button.setAttribute("aria-pressed", String(button.dataset.themeChoice === choice));
  }
  request("PATCH", $("theme-switch").dataset.url, { theme: choice }).catch(() => {});
}

function wire() {
  $("open-sidebar").addEventListener("click", openSidebar);
  $("close-sidebar").addEventListener("click", closeSidebar);
  $("scrim").addEventListener("click", closeSidebar);
  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && $("app").classList.contains("sidebar-open")) closeSidebar();
  });
  $("language").addEventListener("change", () => $("language-form").submit());
  $("theme-switch").addEventListener("click", (event) => {
    const button = event.target.closest("[data-theme-choice]");
    if (button) chooseTheme(button.dataset.themeChoice);
  });
}

if ($("app")) wire();
