// Short, localised times for messages ("just now", "5 min ago", "14:02",
// "Mon", "3 Dec"), with the full stamp for a tooltip.
import { gettext, language } from "./i18n.js";

const MINUTE = 60 * 1000;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const relative = new Intl.RelativeTimeFormat(language, { numeric: "always", style: "short" });
const clock = new Intl.DateTimeFormat(language, { hour: "numeric", minute: "2-digit" });
const weekday = new Intl.DateTimeFormat(language, { weekday: "short" });
const dayMonth = new Intl.DateTimeFormat(language, { day: "numeric", month: "short" });
const dayMonthYear = new Intl.DateTimeFormat(language, { day: "numeric", month: "short", year: "numeric" });
const full = new Intl.DateTimeFormat(language, { dateStyle: "full", timeStyle: "medium" });

export function shortTime(date, now = new Date()) {
  const age = now - date;
  if (age < MINUTE) return gettext("just now");
  if (age < HOUR) return relative.format(-Math.floor(age / MINUTE), "minute");
  if (sameDay(date, now)) return clock.format(date);
  if (age < 6 * DAY) return weekday.format(date);
  if (date.getFullYear() === now.getFullYear()) return dayMonth.format(date);
  return dayMonthYear.format(date);
}

export function fullTime(date) {
  return full.format(date);
}

// Fill (or refresh) a <time> element for an ISO stamp.
export function paintTime(node, iso, now = new Date()) {
  const date = new Date(iso);
  node.dateTime = iso;
  node.textContent = shortTime(date, now);
  node.title = fullTime(date);
}

function sameDay(a, b) {
  return a.getFullYear() === b.getFullYear() && a.getMonth() === b.getMonth() && a.getDate() === b.getDate();
}
