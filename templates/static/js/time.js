// Times as the pages show them. The server sends RFC 3339 in UTC with up to nanoseconds; a span of a
// few microseconds must keep its width, so times are compared in (approximate) epoch nanoseconds.

/** RFC 3339 text with up to nanoseconds to epoch nanoseconds; NaN for anything else. */
export function parseNs(iso) {
  if (typeof iso !== "string") return NaN;
  const m = /^(.*T\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i.exec(iso);
  if (!m) return Date.parse(iso) * 1e6;
  const fraction = ((m[2] || "") + "000000000").slice(0, 9);
  return Date.parse(m[1] + m[3].replace(/^z$/i, "Z")) * 1e6 + Number(fraction);
}

/** A duration in milliseconds, in the unit that reads best: 0.250 ms, 12.5 ms, 1.20 s. */
export function fmtMs(ms) {
  if (ms < 1) return ms.toFixed(3) + " ms";
  if (ms < 1000) return ms.toFixed(ms < 10 ? 2 : 1) + " ms";
  return (ms / 1000).toFixed(2) + " s";
}

/** HH:MM of an epoch-milliseconds time, for chart axes, in `zone` (by default the remembered one). */
export function hhmm(ms, zone = currentZone()) {
  const d = new Date(ms);
  if (zone === "local") return two(d.getHours()) + ":" + two(d.getMinutes());
  return two(d.getUTCHours()) + ":" + two(d.getUTCMinutes());
}

// --- The one format every page shows a time in ----------------------------------------------------
// "2026-01-02 03:04:05.678901 UTC", or in the browser's zone "2026-01-02 04:04:05.678901 +01:00".
// The fraction is the one the server sent (microseconds for events, nanoseconds for spans), kept
// as text: a Date holds only milliseconds. The server renders the UTC form (pages/templatetags).

const RFC3339 = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)$/i;
const two = (n) => String(n).padStart(2, "0");

/** The zone a page shows times in: "utc" (the default) or "local". */
export const ZONES = ["utc", "local"];
export const ZONE_KEY = "eventscope.time-zone";

/**
 * `iso` (RFC 3339, any offset, any fraction) shown `offsetMinutes` east of UTC: "UTC" for null,
 * else the offset ("+01:00", "-05:30"). Text that is not an RFC 3339 time comes back unchanged.
 */
export function formatAt(iso, offsetMinutes) {
  if (iso === null || iso === undefined || iso === "") return "";
  const m = RFC3339.exec(String(iso));
  if (!m) return String(iso);
  const ms = Date.parse(m[1] + (m[3].toUpperCase() === "Z" ? "Z" : m[3]));
  if (Number.isNaN(ms)) return String(iso);
  const offset = offsetMinutes || 0;
  const d = new Date(ms + offset * 60000);
  const text = d.getUTCFullYear() + "-" + two(d.getUTCMonth() + 1) + "-" + two(d.getUTCDate()) + " " +
    two(d.getUTCHours()) + ":" + two(d.getUTCMinutes()) + ":" + two(d.getUTCSeconds()) +
    (m[2] ? "." + m[2] : "");
  if (offsetMinutes === null || offsetMinutes === undefined) return text + " UTC";
  const sign = offset < 0 ? "-" : "+";
  return text + " " + sign + two(Math.floor(Math.abs(offset) / 60)) + ":" + two(Math.abs(offset) % 60);
}

/** The browser's offset east of UTC, in minutes, at the instant `iso` names (DST included). */
export function localOffset(iso) {
  const ms = parseNs(iso) / 1e6;
  return Number.isNaN(ms) ? -new Date().getTimezoneOffset() : -new Date(ms).getTimezoneOffset();
}

/** `iso` in the page's one format, in `zone` ("utc" or "local"; by default the remembered one). */
export function formatTime(iso, zone = currentZone()) {
  return formatAt(iso, zone === "local" ? localOffset(iso) : null);
}

/** The remembered zone ("utc" unless "local" was chosen); "utc" where nothing can be remembered. */
export function currentZone() {
  try {
    return globalThis.localStorage && globalThis.localStorage.getItem(ZONE_KEY) === "local" ? "local" : "utc";
  } catch (err) {
    return "utc"; // storage refused (privacy settings): the default
  }
}

/** Remember `zone` for every page of this site. */
export function rememberZone(zone) {
  try {
    globalThis.localStorage.setItem(ZONE_KEY, zone === "local" ? "local" : "utc");
  } catch (err) {
    // not remembered; this page still switches
  }
}

/** How a bare clock time (hhmm) is labelled in `zone`: "UTC" or "local time". */
export function zoneName(zone = currentZone()) {
  return zone === "local" ? "local time" : "UTC";
}

/** An RFC 3339 time as the tables show it, in the chosen zone: "2026-01-02 03:04:05.678901 UTC". */
export function clock(iso) {
  return formatTime(iso);
}
