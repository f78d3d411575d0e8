// Translations come from Django's JavaScript catalog (/jsi18n/), loaded before
// the modules; every user-facing string of the page goes through these.
const catalog = window.django || {};

export function gettext(text) {
  return catalog.gettext ? catalog.gettext(text) : text;
}

export function ngettext(singular, plural, count) {
  return catalog.ngettext ? catalog.ngettext(singular, plural, count) : count === 1 ? singular : plural;
}

export function interpolate(text, values) {
  return text.replace(/%\((\w+)\)s/g, (_match, key) => String(values[key]));
}

export const language = document.documentElement.lang || "en";
