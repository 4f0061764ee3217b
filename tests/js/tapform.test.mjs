// The taps page's create and edit forms: the bodies they send, by the URL's broker.
import assert from "node:assert/strict";
import test from "node:test";

import { brokerOf, countText, tapBody, tapChange } from "../../templates/static/js/tapform.js";

test("it tells the broker from the URL's scheme", () => {
  assert.equal(brokerOf("amqp://guest:guest@127.0.0.1:5672/"), "amqp");
  assert.equal(brokerOf(" NATS://127.0.0.1:4222"), "nats");
  assert.equal(brokerOf("rediss://example:6380/0"), "redis");
  assert.equal(brokerOf("http://example/"), "");
  assert.equal(brokerOf(""), "");
});

test("it sends only the fields the broker takes", () => {
  const values = { name: " orders ", url: "amqp://h/", format: "raw", exchange: "shop", binding_key: "order.#", subject: "x", stream: "y" };
  assert.deepEqual(tapBody(values), { name: "orders", url: "amqp://h/", format: "raw", exchange: "shop", binding_key: "order.#" });
  assert.deepEqual(tapBody({ name: "n", url: "redis://h:6379/0", stream: "s" }), { name: "n", url: "redis://h:6379/0", format: "auto", stream: "s" });
  assert.deepEqual(tapBody({ name: "n", url: "ftp://h" }), { name: "n", url: "ftp://h", format: "auto" });
});

test("it shows a missing backlog as a dash", () => {
  assert.equal(countText(null), "—");
  assert.equal(countText(undefined), "—");
  assert.equal(countText(12345), "12,345");
  assert.equal(countText(0), "0");
});

test("an edit sends the create body without the name, the masked URL as shown", () => {
  const values = { name: "orders", url: "amqp://guest:***@h/", format: "raw", exchange: "shop", binding_key: "#", stream: "x" };
  assert.deepEqual(tapChange(values), { url: "amqp://guest:***@h/", format: "raw", exchange: "shop", binding_key: "#" });
  assert.deepEqual(tapChange({ name: "n", url: "nats://h:4222", subject: "a.>" }), { url: "nats://h:4222", format: "auto", subject: "a.>" });
});
