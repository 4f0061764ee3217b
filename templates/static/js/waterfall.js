// The trace waterfall's layout, kept apart from drawing so it can be tested without a browser.
// Spans are keyed "<trace_id>/<span_id>"; events by their stored id. Times are epoch nanoseconds
// (`start_ns`, `end_ns`, `time_ns`, from time.js's parseNs).

export const keyOf = (traceOf, spanOf) => traceOf + "/" + spanOf;

/** A span's status name: "error", "ok" or "unset", from either the API's or the live shape. */
export function statusOf(span) {
  const s = span.status;
  if (!s) return "unset";
  return typeof s === "string" ? s : s.code || "unset";
}

/** [first, last] time over every span and event, never an empty range. */
export function bounds(spans, events) {
  let lo = Infinity, hi = -Infinity;
  spans.forEach((s) => { lo = Math.min(lo, s.start_ns); hi = Math.max(hi, s.end_ns); });
  events.forEach((e) => {
    if (!Number.isNaN(e.time_ns)) { lo = Math.min(lo, e.time_ns); hi = Math.max(hi, e.time_ns); }
  });
  if (!Number.isFinite(lo)) return [0, 1];
  return [lo, Math.max(hi, lo + 1)];
}

/**
 * The time axis's ticks over `[t0, t1]` (ns): `{ at, label }` at 0, ¼, ½, ¾ and the end, where `at`
 * is the fraction of the width and `label` is what `format` (ms → text) makes of its offset. A tick
 * whose label reads as the previous one's is left out: a trace of no duration (every span and
 * event at one instant) gets one tick, not five "0.000 ms" on top of each other.
 */
export function axisTicks(t0, t1, format) {
  const ticks = [];
  [0, 0.25, 0.5, 0.75, 1].forEach((at) => {
    const label = format(((t1 - t0) * at) / 1e6);
    if (!ticks.length || ticks[ticks.length - 1].label !== label) ticks.push({ at, label });
  });
  return ticks;
}

/**
 * The waterfall's rows, top to bottom. Spans nest under their parent; a trace's root that consumed
 * a message published by a span on the page hangs under that span (`hop`); events go under the
 * span that published them; span links whose other end is not on the page become link rows
 * (`direction` "out": follows from; "in": consumed by). Siblings are in time order, spans before
 * events at equal times. A collapsed span hides everything below it; the open span is followed by
 * its detail row. Nothing is lost: entries only reachable through a cycle of links are drawn at
 * the top level.
 *
 * Rows: {type: "span", span, key, depth, hasChildren, hop} | {type: "detail", span, depth} |
 * {type: "event", event, depth} | {type: "link", direction, traceId, spanId, depth}.
 */
export function layout({ spans, events, incoming = [], collapsed = new Set(), open = null, traceId }) {
  const children = new Map();
  const entries = [];
  const addChild = (parentKey, entry) => {
    if (!children.has(parentKey)) children.set(parentKey, []);
    children.get(parentKey).push(entry);
  };
  spans.forEach((s, key) => {
    const entry = { kind: "span", at: s.start_ns, item: s, key, hop: false };
    entries.push(entry);
    const parentKey = keyOf(s.trace_id, s.parent_span_id);
    if (s.parent_span_id && spans.has(parentKey)) { addChild(parentKey, entry); return; }
    const from = (s.links || []).find((l) => l.trace_id && l.trace_id !== s.trace_id && spans.has(keyOf(l.trace_id, l.span_id)));
    if (from) { entry.hop = true; addChild(keyOf(from.trace_id, from.span_id), entry); return; }
    entry.root = true;
  });
  events.forEach((e) => {
    const entry = { kind: "event", at: e.time_ns, item: e };
    entries.push(entry);
    const parentKey = keyOf(e.trace_id, e.parent_span_id);
    if (e.parent_span_id && spans.has(parentKey)) addChild(parentKey, entry); else entry.root = true;
  });
  const incomingBySpan = new Map();
  incoming.forEach((l) => {
    const key = keyOf(traceId, l.span_id);
    if (!incomingBySpan.has(key)) incomingBySpan.set(key, []);
    incomingBySpan.get(key).push(l);
  });
  const byTime = (a, b) => (a.at - b.at) || (a.kind === b.kind ? 0 : a.kind === "span" ? -1 : 1);

  const rows = [];
  const visited = new Set();
  const markHidden = (entry) => {
    (children.get(entry.key) || []).forEach((k) => { visited.add(k); if (k.kind === "span") markHidden(k); });
  };
  const visit = (entry, depth) => {
    if (visited.has(entry)) return;
    visited.add(entry);
    if (entry.kind === "event") { rows.push({ type: "event", event: entry.item, depth }); return; }
    const span = entry.item;
    const kids = (children.get(entry.key) || []).sort(byTime);
    // Links whose other end is drawn here already show as nesting; the rest are rows to click through.
    const outs = (span.links || []).filter((l) => l.trace_id && !spans.has(keyOf(l.trace_id, l.span_id)));
    const ins = (incomingBySpan.get(entry.key) || []).filter((l) => !spans.has(keyOf(l.trace_id, l.linked_span_id)));
    const hasChildren = kids.length + outs.length + ins.length > 0;
    rows.push({ type: "span", span, key: entry.key, depth, hasChildren, hop: entry.hop });
    if (open === entry.key) rows.push({ type: "detail", span, depth: depth + 1 });
    if (collapsed.has(entry.key)) { markHidden(entry); return; }
    outs.forEach((l) => rows.push({ type: "link", direction: "out", traceId: l.trace_id, spanId: l.span_id, depth: depth + 1 }));
    ins.forEach((l) => rows.push({ type: "link", direction: "in", traceId: l.trace_id, spanId: l.linked_span_id, depth: depth + 1 }));
    kids.forEach((k) => visit(k, depth + 1));
  };
  entries.filter((e) => e.root).sort(byTime).forEach((entry) => visit(entry, 0));
  entries.filter((e) => !visited.has(e)).sort(byTime).forEach((entry) => visit(entry, 0));
  return rows;
}
