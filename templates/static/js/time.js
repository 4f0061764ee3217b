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

/** HH:MM (UTC) of an epoch-milliseconds time, for chart axes. */
export function hhmm(ms) {
  const d = new Date(ms);
  return String(d.getUTCHours()).padStart(2, "0") + ":" + String(d.getUTCMinutes()).padStart(2, "0");
}

/** An RFC 3339 UTC time as the tables show it: "2026-01-02 03:04:05.678901". */
export function clock(iso) {
  return iso ? String(iso).replace("T", " ").replace(/Z$/, "") : "";
}
