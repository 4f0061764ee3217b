// The few DOM helpers every page script shares. Producers' text only ever goes through textContent
// and attribute setters here, never through innerHTML.
import { formatTime } from "./time.js";

export function el(tag, cls, text) {
  const node = document.createElement(tag);
  if (cls) node.className = cls;
  if (text !== undefined && text !== null) node.textContent = text;
  return node;
}

export function link(href, text, cls) {
  const a = el("a", cls, text);
  a.href = href;
  return a;
}

/** A table cell with text (or empty), appended to `tr`. */
export function cell(tr, text, cls) {
  const td = el("td", cls, text);
  tr.appendChild(td);
  return td;
}

/** A `<time>` element for an RFC 3339 time, shown in the chosen zone (timezone.js rewrites it on a switch). */
export function timeNode(iso) {
  const node = el("time", null, formatTime(iso));
  if (iso) node.dateTime = iso;
  return node;
}

/** A table cell holding one `<time>`, appended to `tr`. */
export function timeCell(tr, iso, cls) {
  const td = cell(tr, null, cls);
  if (iso) td.appendChild(timeNode(iso));
  return td;
}

/** A table cell holding one link (none when `text` is empty), appended to `tr`. */
export function linkCell(tr, text, href, cls) {
  const td = cell(tr, null, cls);
  if (text) td.appendChild(link(href, text));
  return td;
}

const PALETTE = ["#3b6fd8", "#d9822b", "#2e9e6a", "#9b59b6", "#c2457a", "#1f9bb0", "#b59a1f", "#6b7c93",
  "#5c6bc0", "#8d6e63", "#43a047", "#e65f5c"];

/** One colour per name (service or source), the same on every page: a hash of the name picks it. */
export function colourOf(name) {
  let hash = 0;
  const text = String(name);
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
  return PALETTE[hash % PALETTE.length];
}

/** Server-rendered service chips get their colour here (the CSP allows no inline styles). */
export function paintServiceChips(root = document) {
  root.querySelectorAll("[data-service]").forEach((node) => {
    node.style.borderLeftColor = colourOf(node.dataset.service);
  });
}

/** The websocket URL for a path on this page's own origin. */
export function socketUrl(path) {
  return (location.protocol === "https:" ? "wss://" : "ws://") + location.host + path;
}
