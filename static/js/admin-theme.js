// The admin follows the product's theme setting (Profile.theme), not Django's own
// localStorage choice. Loaded as a classic script in <head> so the page paints in
// the right colours from the first frame; a click on the admin's theme button
// changes the product setting too, so both stay the same.
(() => {
  const script = document.currentScript;
  const root = document.documentElement;
  // The product says "system" where Django's admin CSS says "auto".
  const toAdmin = { system: "auto", light: "light", dark: "dark" };
  const toProduct = { auto: "system", light: "light", dark: "dark" };

  root.dataset.theme = toAdmin[script.dataset.theme] || "auto";

  function next(current) {
    // Every click changes what is on screen: from "auto" go to the opposite look.
    const systemDark = window.matchMedia("(prefers-color-scheme: dark)").matches;
    const order = systemDark ? ["auto", "light", "dark"] : ["auto", "dark", "light"];
    return order[(order.indexOf(current) + 1) % order.length];
  }

  function csrfToken() {
    const input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  function save(theme) {
    const url = script.dataset.saveUrl;
    if (!url) return; // signed out: only this page changes
    fetch(url, {
      method: "PATCH",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrfToken() },
      body: JSON.stringify({ theme: toProduct[theme] }),
    }).catch(() => {}); // the page already shows it; the setting is kept next time it works
  }

  function toggle() {
    const theme = next(root.dataset.theme);
    root.dataset.theme = theme;
    save(theme);
  }

  document.addEventListener("DOMContentLoaded", () => {
    for (const button of document.querySelectorAll(".theme-toggle")) {
      button.addEventListener("click", toggle);
    }
  });
})();
