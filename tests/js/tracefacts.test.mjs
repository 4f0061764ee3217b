// The trace page's facts for a scope: what it shows, its header counts, transactions, a span's
// links both ways and its exceptions.
import assert from "node:assert/strict";
import test from "node:test";

import { eventsInOrder, exceptionsOf, inScope, linksOf, scoped, summarize, transactionsIn } from "../../templates/static/js/tracefacts.js";
import { keyOf } from "../../templates/static/js/waterfall.js";

const T = "a".repeat(32);
const U = "b".repeat(32);

function span(trace, id, parent, start, end, extra = {}) {
  return {
    trace_id: trace, span_id: id, parent_span_id: parent, start_ns: start, end_ns: end, service: "svc",
    start: "s-" + id, links: [], status: { code: "unset" }, ...extra,
  };
}

const spanMap = (...list) => new Map(list.map((s) => [keyOf(s.trace_id, s.span_id), s]));
const eventMap = (...list) => new Map(list.map((e) => [e.id, e]));

// A flow of two traces: T publishes, U consumes (its root links back to T's publish span).
const SPANS = spanMap(
  span(T, "root", "", 1_000_000, 9_000_000, { service: "orders" }),
  span(T, "publish", "root", 2_000_000, 3_000_000, { service: "orders" }),
  span(U, "consume", "", 4_000_000, 12_000_000, { service: "billing", status: { code: "error" },
    links: [{ trace_id: T, span_id: "publish" }] }),
);
const EVENTS = eventMap(
  { id: "E2", trace_id: U, time: "t2", time_ns: 5_000_000 },
  { id: "E1", trace_id: T, time: "t1", time_ns: 2_500_000 },
);

test("the trace scope keeps the opened trace's items; the flow scope keeps them all", () => {
  assert.deepEqual([...scoped(SPANS, "trace", T).keys()], [keyOf(T, "root"), keyOf(T, "publish")]);
  assert.equal(scoped(SPANS, "flow", T).size, 3);
  assert.deepEqual([...scoped(EVENTS, "trace", U).keys()], ["E2"]);
  assert.equal(inScope("trace", T, U), false);
  assert.equal(inScope("flow", T, U), true);
});

test("the header counts describe the scope they are given", () => {
  const flow = summarize(SPANS, EVENTS);
  assert.equal(flow.spanCount, 3);
  assert.equal(flow.eventCount, 2);
  assert.equal(flow.errorCount, 1);
  assert.equal(flow.traceCount, 2);
  assert.deepEqual(flow.services, [["billing", 1], ["orders", 2]]);
  assert.equal(flow.durationMs, 11);
  assert.equal(flow.root.span_id, "root");
  assert.equal(flow.start, "s-root");

  const one = summarize(scoped(SPANS, "trace", T), scoped(EVENTS, "trace", T));
  assert.deepEqual([one.spanCount, one.eventCount, one.errorCount, one.traceCount], [2, 1, 0, 1]);
  assert.equal(one.durationMs, 8);
});

test("a trace with events and no spans starts at its first event and lasts nothing", () => {
  const sum = summarize(new Map(), EVENTS);
  assert.deepEqual([sum.spanCount, sum.eventCount, sum.durationMs, sum.root, sum.start], [0, 2, 0, null, "t1"]);
  const none = summarize(new Map(), new Map());
  assert.deepEqual([none.spanCount, none.eventCount, none.start], [0, 0, ""]);
});

test("events are listed by time, then by stored id", () => {
  const events = eventMap({ id: "B", time_ns: 5 }, { id: "C", time_ns: 1 }, { id: "A", time_ns: 5 });
  assert.deepEqual(eventsInOrder(events).map((e) => e.id), ["C", "A", "B"]);
});

test("transactions follow the scope through the traces that carry their events", () => {
  const txs = [{ key: "o-1", on_traces: [T] }, { key: "o-2", on_traces: [U] }, { key: "o-3", on_traces: [T, U] }];
  assert.deepEqual(transactionsIn(txs, "trace", T).map((tx) => tx.key), ["o-1", "o-3"]);
  assert.deepEqual(transactionsIn(txs, "flow", T).map((tx) => tx.key), ["o-1", "o-2", "o-3"]);
  assert.deepEqual(transactionsIn(undefined, "flow", T), []);
});

test("a span's links are read both ways: the links it carries and the spans that link to it", () => {
  const publish = SPANS.get(keyOf(T, "publish"));
  const incoming = [{ span_id: "publish", trace_id: "c".repeat(32), linked_span_id: "far" },
    { span_id: "publish", trace_id: U, linked_span_id: "consume" }, { span_id: "root", trace_id: U, linked_span_id: "x" }];
  assert.deepEqual(linksOf(publish, SPANS, incoming, T), {
    out: [],
    in: [{ trace_id: U, span_id: "consume" }, { trace_id: "c".repeat(32), span_id: "far" }],
  });
  const consume = SPANS.get(keyOf(U, "consume"));
  // Links into the opened trace are not links into a span of another trace with the same id.
  assert.deepEqual(linksOf(consume, SPANS, [{ span_id: "consume", trace_id: T, linked_span_id: "root" }], T),
    { out: [{ trace_id: T, span_id: "publish" }], in: [] });
});

test("exceptions come from the span's exception events, the stack trace kept as written", () => {
  const stack = "Traceback (most recent call last):\n  File \"x.py\", line 1\nValueError: no";
  const s = span(T, "x", "", 0, 1, { span_events: [
    { name: "retry", attributes: { n: 1 } },
    { name: "exception", attributes: { "exception.type": "ValueError", "exception.message": "no",
      "exception.stacktrace": stack, "exception.escaped": "true" } },
    { name: "exception", attributes: { "exception.type": "KeyError" } },
  ] });
  assert.deepEqual(exceptionsOf(s), [
    { type: "ValueError", message: "no", stacktrace: stack, escaped: true },
    { type: "KeyError", message: "", stacktrace: "", escaped: false },
  ]);
  assert.deepEqual(exceptionsOf(span(T, "y", "", 0, 1)), []);
});
