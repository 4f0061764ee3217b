// The trace waterfall's layout: nesting, hops between traces, events, links, collapsing.
import assert from "node:assert/strict";
import test from "node:test";

import { fmtMs } from "../../templates/static/js/time.js";
import { axisTicks, bounds, keyOf, layout, statusOf } from "../../templates/static/js/waterfall.js";

const T = "a".repeat(32);
const U = "b".repeat(32);

function span(trace, id, parent, start, end, extra = {}) {
  return { trace_id: trace, span_id: id, parent_span_id: parent, start_ns: start, end_ns: end, links: [], ...extra };
}

function spans(...list) {
  return new Map(list.map((s) => [keyOf(s.trace_id, s.span_id), s]));
}

const summary = (rows) => rows.map((r) => {
  if (r.type === "span") return `${"  ".repeat(r.depth)}${r.span.span_id}${r.hop ? " (hop)" : ""}`;
  if (r.type === "event") return `${"  ".repeat(r.depth)}event ${r.event.id}`;
  if (r.type === "link") return `${"  ".repeat(r.depth)}${r.direction} ${r.traceId}/${r.spanId}`;
  return `${"  ".repeat(r.depth)}detail ${r.span.span_id}`;
});

test("children nest under their parent in time order, events under the span that published them", () => {
  const all = spans(span(T, "root", "", 0, 100), span(T, "late", "root", 50, 60), span(T, "early", "root", 10, 20));
  const events = new Map([["e1", { id: "e1", trace_id: T, parent_span_id: "early", time_ns: 15 }]]);
  assert.deepEqual(summary(layout({ spans: all, events, traceId: T })),
    ["root", "  early", "    event e1", "  late"]);
});

test("a consumer's trace hangs under the span that published its message", () => {
  const all = spans(span(T, "publish", "", 0, 10),
    span(U, "consume", "", 20, 30, { links: [{ trace_id: T, span_id: "publish" }] }));
  const rows = layout({ spans: all, events: new Map(), traceId: T });
  assert.deepEqual(summary(rows), ["publish", "  consume (hop)"]);
});

test("links whose other end is not on the page become rows both ways", () => {
  const all = spans(span(T, "s1", "", 0, 10, { links: [{ trace_id: U, span_id: "far" }] }));
  const incoming = [{ span_id: "s1", trace_id: U, linked_span_id: "reader" }];
  assert.deepEqual(summary(layout({ spans: all, events: new Map(), incoming, traceId: T })),
    ["s1", "  out " + U + "/far", "  in " + U + "/reader"]);
});

test("a collapsed span hides everything below it; the open one gets its detail row", () => {
  const all = spans(span(T, "root", "", 0, 100), span(T, "child", "root", 1, 2), span(T, "grandchild", "child", 1, 2));
  const collapsed = new Set([keyOf(T, "child")]);
  const rows = layout({ spans: all, events: new Map(), collapsed, open: keyOf(T, "root"), traceId: T });
  assert.deepEqual(summary(rows), ["root", "  detail root", "  child"]);
  assert.equal(rows.find((r) => r.type === "span" && r.span.span_id === "child").hasChildren, true);
});

test("spans in a cycle of links are still drawn", () => {
  const all = spans(span(T, "x", "", 0, 1, { links: [{ trace_id: U, span_id: "y" }] }),
    span(U, "y", "", 2, 3, { links: [{ trace_id: T, span_id: "x" }] }));
  const rows = layout({ spans: all, events: new Map(), traceId: T });
  assert.equal(rows.filter((r) => r.type === "span").length, 2);
});

test("bounds cover spans and events and are never empty", () => {
  const all = spans(span(T, "a", "", 100, 200));
  const events = new Map([["e", { time_ns: 300 }], ["bad", { time_ns: NaN }]]);
  assert.deepEqual(bounds(all, events), [100, 300]);
  assert.deepEqual(bounds(new Map(), new Map()), [0, 1]);
  assert.deepEqual(bounds(spans(span(T, "z", "", 5, 5)), new Map()), [5, 6]);
});

test("statusOf reads both the API's and the live message's status", () => {
  assert.equal(statusOf({ status: { code: "error" } }), "error");
  assert.equal(statusOf({ status: "ok" }), "ok");
  assert.equal(statusOf({}), "unset");
});

test("the axis has five ticks over a trace that lasts, one over a trace of no duration", () => {
  assert.deepEqual(axisTicks(0, 8e6, fmtMs), [
    { at: 0, label: "0.000 ms" }, { at: 0.25, label: "2.00 ms" }, { at: 0.5, label: "4.00 ms" },
    { at: 0.75, label: "6.00 ms" }, { at: 1, label: "8.00 ms" },
  ]);
  const [t0, t1] = bounds(new Map([["s", span(T, "s", "", 5e9, 5e9)]]), new Map());
  assert.deepEqual(axisTicks(t0, t1, fmtMs), [{ at: 0, label: "0.000 ms" }]);
});
