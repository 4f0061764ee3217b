// The replays page's pure helpers: "replay these" addresses, labels, patterns and attempts.
import assert from "node:assert/strict";
import test from "node:test";

import {
  attemptSummary, attemptsUrl, consumerBody, consumerKind, consumerTargetText, patternText, selectionFromQuery,
  selectionLabel, selectionName,
} from "../../templates/static/js/replayforms.js";

test("a replay-these address becomes the selection the API takes", () => {
  assert.deepEqual(selectionFromQuery("?event_ids=A,B,,A"), { event_ids: ["A", "B"] });
  assert.deepEqual(selectionFromQuery("?idempotency_key=order%2F7%20%26%20co"), { idempotency_key: "order/7 & co" });
  assert.deepEqual(selectionFromQuery("?trace_id=%204bf9%20"), { trace_id: "4bf9" });
  assert.deepEqual(selectionFromQuery("?lifecycle=orders&key=o-1"), { transaction: { lifecycle: "orders", key: "o-1" } });
  assert.equal(selectionFromQuery("?lifecycle=orders"), null);
  assert.equal(selectionFromQuery("?replay=3"), null);
  assert.equal(selectionFromQuery(""), null);
});

test("a selection is said in words and named", () => {
  assert.equal(selectionLabel({ event_ids: ["X"] }), "event X");
  assert.equal(selectionLabel({ event_ids: ["X", "Y"] }), "2 chosen events");
  assert.equal(selectionLabel({ idempotency_key: "k" }), "key k");
  assert.equal(selectionLabel({ transaction: { lifecycle: "orders", key: "o-1" } }), "transaction o-1 in orders");
  assert.equal(selectionLabel(null), "");
  assert.equal(selectionName({ trace_id: "abc" }, new Date(Date.UTC(2026, 0, 2, 3, 4))), "replay-trace-abc-20260102-0304");
});

test("patterns are shown as JSON, not in another language's form", () => {
  assert.equal(patternText({ "detail-type": ["OrderPaid"] }), '{"detail-type":["OrderPaid"]}');
  assert.equal(patternText(null), "");
});

test("an attempt is summed up by status and latency", () => {
  assert.equal(attemptSummary({ status: 200, latency_ms: 3.21, error: null }), "200 in 3.2 ms");
  assert.equal(attemptSummary({ status: 503, latency_ms: 1, error: "HTTP 503: busy" }), "503 in 1.0 ms: HTTP 503: busy");
  assert.equal(attemptSummary({ status: null, latency_ms: 0, error: "URL refused: x" }), "no answer after 0.0 ms: URL refused: x");
});

test("the attempts address carries the owner, the outcome and the cursor", () => {
  assert.equal(attemptsUrl({ kind: "consumer", id: "a b" }, "", null), "/api/consumers/a%20b/attempts");
  assert.equal(attemptsUrl({ kind: "replay", id: 7 }, "dead", "42"), "/api/replays/7/attempts?outcome=dead&cursor=42");
});

test("a consumer URL's scheme says its kind", () => {
  assert.equal(consumerKind("https://hooks.example/x"), "http");
  assert.equal(consumerKind(" HTTP://127.0.0.1:9000/"), "http");
  assert.equal(consumerKind("amqps://guest:***@mq/"), "amqp");
  assert.equal(consumerKind("tls://nats.internal:4222"), "nats");
  assert.equal(consumerKind("rediss://:***@cache:6380/0"), "redis");
  assert.equal(consumerKind("ftp://x"), "");
  assert.equal(consumerKind("amqp"), "");
  assert.equal(consumerKind(""), "");
});

test("the consumer form sends only the options of the URL's kind", () => {
  const values = { name: " billing ", url: " amqp://guest:***@127.0.0.1:5672/ ", exchange: "shop", routing_key: "",
                   subject: "left.over", stream: "left-over" };
  assert.deepEqual(consumerBody(values),
    { name: "billing", url: "amqp://guest:***@127.0.0.1:5672/", exchange: "shop", routing_key: null });
  assert.deepEqual(consumerBody({ ...values, routing_key: "orders.paid", exchange: "" }),
    { name: "billing", url: "amqp://guest:***@127.0.0.1:5672/", exchange: "", routing_key: "orders.paid" });
  assert.deepEqual(consumerBody({ ...values, url: "nats://127.0.0.1:4222" }),
    { name: "billing", url: "nats://127.0.0.1:4222", subject: "left.over" });
  assert.deepEqual(consumerBody({ name: "b", url: "redis://h/0" }), { name: "b", url: "redis://h/0", stream: "" });
  assert.deepEqual(consumerBody({ ...values, url: "http://127.0.0.1:9000/" }), { name: "billing", url: "http://127.0.0.1:9000/" });
  assert.deepEqual(consumerBody({ name: "b", url: "gopher://h", exchange: "x" }), { name: "b", url: "gopher://h" });
});

test("where a broker consumer publishes is said in a few words", () => {
  assert.equal(consumerTargetText({ kind: "amqp", exchange: "shop", routing_key: null }), "exchange shop, routing key = detail-type");
  assert.equal(consumerTargetText({ kind: "amqp", exchange: "", routing_key: "q" }), "default exchange, routing key q");
  assert.equal(consumerTargetText({ kind: "nats", subject: "orders.replayed" }), "subject orders.replayed");
  assert.equal(consumerTargetText({ kind: "redis", stream: "s" }), "stream s");
  assert.equal(consumerTargetText({ kind: "http" }), "");
});
