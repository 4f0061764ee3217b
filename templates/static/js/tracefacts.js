// The trace page's facts for one scope — which spans and events it shows, its header counts, the
// transactions on it — and a span's links both ways and its exceptions. Kept apart from drawing so
// they can be tested without a browser. Spans and events are in Maps as trace.js keeps them (spans
// keyed "<trace_id>/<span_id>", times in epoch nanoseconds: `start_ns`, `end_ns`, `time_ns`).
import { keyOf, statusOf } from "./waterfall.js";

/** The scopes of the page: the whole flow, or the opened trace alone. */
export const SCOPES = ["flow", "trace"];

/** Whether an item of trace `itemTrace` is shown in `scope` on the page of `traceId`. */
export function inScope(scope, traceId, itemTrace) {
  return scope !== "trace" || itemTrace === traceId;
}

/** The entries of `items` (a Map of spans or events) that `scope` shows, as a new Map. */
export function scoped(items, scope, traceId) {
  if (scope !== "trace") return items;
  return new Map([...items].filter(([, item]) => item.trace_id === traceId));
}

const byStart = (a, b) => a.start_ns - b.start_ns;
const byTime = (a, b) => (a.time_ns - b.time_ns) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0);

/** Events in time order (then by stored id), as the events table lists them. */
export function eventsInOrder(events) {
  return [...events.values()].sort(byTime);
}

/**
 * The header's counts for the spans and events of one scope, as the server's
 * `pages.traces.summary` counts them: spans, events, errors (spans with status error), traces,
 * services (name and span count, by name), the span envelope's duration (first start to last end,
 * in ms), the root (the first span without a parent, else the first span) and the start (the first
 * span's start, else the first event's time; RFC 3339 text).
 */
export function summarize(spans, events) {
  const list = [...spans.values()].sort(byStart);
  const evs = eventsInOrder(events);
  const services = new Map();
  let lo = Infinity, hi = -Infinity, errors = 0;
  const traces = new Set();
  list.forEach((s) => {
    services.set(s.service, (services.get(s.service) || 0) + 1);
    lo = Math.min(lo, s.start_ns);
    hi = Math.max(hi, s.end_ns);
    if (statusOf(s) === "error") errors += 1;
    traces.add(s.trace_id);
  });
  evs.forEach((e) => traces.add(e.trace_id));
  const root = list.find((s) => !s.parent_span_id) || list[0] || null;
  return {
    spanCount: list.length,
    eventCount: evs.length,
    errorCount: errors,
    traceCount: traces.size,
    services: [...services].sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : 0)),
    durationMs: list.length ? (hi - lo) / 1e6 : 0,
    root,
    start: list.length ? list[0].start : (evs.length ? evs[0].time : ""),
  };
}

/** The transactions (as the page's data lists them) whose events are on what `scope` shows. */
export function transactionsIn(transactions, scope, traceId) {
  return (transactions || []).filter((tx) => scope !== "trace" || (tx.on_traces || []).includes(traceId));
}

/**
 * A span's links both ways: `out` — the spans it follows from (the links it carries); `in` — the
 * spans that link to it, found among `spans` (every span the page holds) and, for a span of the
 * opened trace, among `incoming` (links into that trace from elsewhere, `{span_id, trace_id,
 * linked_span_id}`). Each is `{trace_id, span_id}`, once, in the order found.
 */
export function linksOf(span, spans, incoming, traceId) {
  const once = (list) => {
    const seen = new Set();
    return list.filter((l) => {
      const key = keyOf(l.trace_id, l.span_id);
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    });
  };
  const out = (span.links || []).filter((l) => l.trace_id && l.span_id)
    .map((l) => ({ trace_id: l.trace_id, span_id: l.span_id }));
  const into = [];
  spans.forEach((other) => {
    if ((other.links || []).some((l) => l.trace_id === span.trace_id && l.span_id === span.span_id)) {
      into.push({ trace_id: other.trace_id, span_id: other.span_id });
    }
  });
  if (span.trace_id === traceId) {
    (incoming || []).filter((l) => l.span_id === span.span_id)
      .forEach((l) => into.push({ trace_id: l.trace_id, span_id: l.linked_span_id }));
  }
  return { out: once(out), in: once(into) };
}

const text = (value) => (value === undefined || value === null ? "" : typeof value === "string" ? value : JSON.stringify(value));

/**
 * The exceptions a span recorded: its OpenTelemetry `exception` span events, each
 * `{type, message, stacktrace, escaped}` from the `exception.*` attributes (text; "" when absent).
 */
export function exceptionsOf(span) {
  return (span.span_events || []).filter((e) => e && e.name === "exception").map((e) => {
    const attrs = e.attributes || {};
    return {
      type: text(attrs["exception.type"]),
      message: text(attrs["exception.message"]),
      stacktrace: text(attrs["exception.stacktrace"]),
      escaped: attrs["exception.escaped"] === true || attrs["exception.escaped"] === "true",
    };
  });
}
