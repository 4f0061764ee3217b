// The service map's pure parts: windows, labels, colours, the links an edge opens, and the layout.
import assert from "node:assert/strict";
import test from "node:test";

import {
  callsUrl, edgeClass, edgeLabel, eventsApiUrl, eventsUrl, layout, messagingText, nodeLabel, pathOf, windowFor,
} from "../../templates/static/js/servicemap_model.js";

const edge = (extra) => ({
  kind: "event", from: "orders", to: "billing", via: "OrderCreated", count: 100, errors: 0, duplicates: 0,
  rate_per_minute: 1.666, lag_ms: { p50: 20, p95: 120.5, p99: 900 }, sources: ["shop.orders"], messaging: null,
  traces: [], ...extra,
});

test("a range is a window ending now", () => {
  const now = Date.parse("2026-03-01T10:00:00Z");
  assert.deepEqual(windowFor("15m", now), { since: "2026-03-01T09:45:00.000Z", until: "2026-03-01T10:00:00.000Z" });
  assert.equal(windowFor("24h", now).since, "2026-02-28T10:00:00.000Z");
  assert.equal(windowFor("bogus", now).since, "2026-03-01T09:00:00.000Z");
});

test("an edge is labelled with its type, rate, error share and p95 lag", () => {
  assert.deepEqual(edgeLabel(edge()), ["OrderCreated", "1.7/min · p95 120.5 ms"]);
  assert.deepEqual(edgeLabel(edge({ errors: 3 })), ["OrderCreated", "1.7/min · 3.0% err · p95 120.5 ms"]);
  assert.deepEqual(edgeLabel(edge({ kind: "call", via: "POST /charge", lag_ms: undefined, rate_per_minute: 0.5 })),
    ["call POST /charge", "30/h"]);
  assert.equal(edgeLabel(edge({ rate_per_minute: 3 / 1440 }))[1], "0.13/h · p95 120.5 ms");
});

test("an edge through a broker shows its destination; the table and panel its system and operation too", () => {
  const kafka = edge({ messaging: { system: "kafka", destination: "orders-topic", operation: "process" } });
  assert.deepEqual(edgeLabel(kafka), ["OrderCreated · kafka orders-topic", "1.7/min · p95 120.5 ms"]);
  assert.equal(messagingText(kafka), "kafka orders-topic (process)");
  // A destination named after the event type says nothing new on the arrow.
  const same = edge({ messaging: { system: "sns", destination: "OrderCreated", operation: "" } });
  assert.equal(edgeLabel(same)[0], "OrderCreated");
  assert.equal(messagingText(same), "sns OrderCreated");
  assert.equal(messagingText(edge({ messaging: { system: "", destination: "", operation: "receive" } })), "receive");
  assert.equal(messagingText(edge()), "");
});

test("an edge is coloured by its errors and its lag", () => {
  assert.equal(edgeClass(edge()), "edge-ok");
  assert.equal(edgeClass(edge({ errors: 1 })), "edge-warn");
  assert.equal(edgeClass(edge({ errors: 5 })), "edge-bad");
  assert.equal(edgeClass(edge({ lag_ms: { p50: 1, p95: 1500, p99: 2000 } })), "edge-warn");
  assert.equal(edgeClass(edge({ lag_ms: { p50: 1, p95: 12000, p99: 20000 } })), "edge-bad");
  assert.equal(edgeClass(edge({ lag_ms: { p50: null, p95: null, p99: null } })), "edge-ok");
});

test("an event edge opens its events of that type from that source in the window", () => {
  // The map counts the minutes that start inside the window: what an edge opens covers the same.
  const window = { since: "2026-03-01T09:00:00.000Z", until: "2026-03-01T10:00:12.500Z" };
  const url = new URL(eventsUrl(edge(), window), "http://x");
  assert.equal(url.pathname, "/events/");
  assert.deepEqual(Object.fromEntries(url.searchParams), {
    detail_type: "OrderCreated", source: "shop.orders", since: window.since, until: "2026-03-01T10:01:00.000Z",
  });
  assert.ok(!new URL(eventsUrl(edge({ sources: ["a", "b"] }), window), "http://x").searchParams.has("source"));
  const api = new URL(eventsApiUrl(edge(), window, 7), "http://x");
  assert.equal(api.pathname, "/api/events");
  assert.equal(api.searchParams.get("limit"), "7");
  const calls = new URL(callsUrl(edge({ kind: "call", via: "POST /charge" }), window), "http://x");
  assert.equal(calls.pathname, "/traces/");
  assert.equal(calls.searchParams.get("service"), "billing");
  assert.equal(calls.searchParams.get("name"), "POST /charge");
});

test("nodes say their spans and errors", () => {
  assert.equal(nodeLabel({ name: "a", spans: 1, errors: 0 }), "1 span");
  assert.equal(nodeLabel({ name: "a", spans: 12, errors: 2 }), "12 spans · 2 err");
});

test("the shop lays out left to right, in the order events flow", () => {
  const chain = ["orders", "billing", "inventory", "shipping"];
  const map = {
    services: chain.map((name) => ({ name, spans: 10, errors: 0 })),
    edges: chain.slice(1).map((to, i) => edge({ from: chain[i], to, via: "Step" + i })),
  };
  const laid = layout(map);
  const x = Object.fromEntries(laid.nodes.map((node) => [node.name, node.x]));
  assert.ok(x.orders < x.billing && x.billing < x.inventory && x.inventory < x.shipping, JSON.stringify(x));
  assert.equal(laid.edges.length, 3);
  for (const item of laid.edges) assert.ok(item.points.length >= 2 && Number.isFinite(item.label.x));
  assert.ok(pathOf(laid.edges[0].points).startsWith("M"));
});

test("fifty services with many edges, two between the same pair, all get a place", () => {
  const services = Array.from({ length: 50 }, (_, i) => ({ name: "svc-" + i, spans: i, errors: 0 }));
  const edges = [];
  for (let i = 1; i < 50; i++) edges.push(edge({ from: "svc-" + Math.floor((i - 1) / 3), to: "svc-" + i, via: "T" + i }));
  edges.push(edge({ from: "svc-0", to: "svc-1", via: "Other" }));
  const laid = layout({ services, edges });
  assert.equal(laid.nodes.length, 50);
  assert.equal(laid.edges.length, 50);
  const places = new Set(laid.nodes.map((node) => `${Math.round(node.x)},${Math.round(node.y)}`));
  assert.equal(places.size, 50);
  assert.ok(laid.width > 0 && laid.height > 0);
  // Readable: no two services' boxes overlap, and no edge's label sits on a service's box.
  const box = (node) => [node.x - node.width / 2, node.y - node.height / 2, node.x + node.width / 2, node.y + node.height / 2];
  const overlap = (a, b) => a[0] < b[2] && b[0] < a[2] && a[1] < b[3] && b[1] < a[3];
  const boxes = laid.nodes.map(box);
  for (let i = 0; i < boxes.length; i++) {
    for (let j = i + 1; j < boxes.length; j++) assert.ok(!overlap(boxes[i], boxes[j]), `${laid.nodes[i].name} ${laid.nodes[j].name}`);
  }
  for (const item of laid.edges) {
    const [what, how] = edgeLabel(item.edge);
    const width = 7 * Math.max(what.length, how.length) * 0.9;
    const label = [item.label.x - width / 2, item.label.y - 15, item.label.x + width / 2, item.label.y + 15];
    for (const [i, node] of boxes.entries()) assert.ok(!overlap(label, node), `${item.edge.via} on ${laid.nodes[i].name}`);
  }
});
