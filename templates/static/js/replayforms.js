// Pure helpers of the replays page (/replays/): reading a "replay these" address into a selection,
// saying it in words, the text of patterns and attempts, and the consumer form's body by the URL's
// kind. No DOM here: tested with node --test.
import { brokerOf } from "./tapform.js";

/** The selection a "replay these" link carries in the page's query string, as POST /api/replays
 * takes it (`{"event_ids": [...]}`, `{"idempotency_key"}`, `{"trace_id"}` or `{"transaction":
 * {"lifecycle", "key"}}`), or null when it carries none. */
export function selectionFromQuery(search) {
  const params = new URLSearchParams(search);
  const ids = params.get("event_ids");
  if (ids) {
    const list = ids.split(",").map((id) => id.trim()).filter(Boolean);
    if (list.length) return { event_ids: Array.from(new Set(list)) };
  }
  const key = params.get("idempotency_key");
  if (key) return { idempotency_key: key };
  const trace = params.get("trace_id");
  if (trace) return { trace_id: trace.trim() };
  const lifecycle = params.get("lifecycle");
  const txKey = params.get("key");
  if (lifecycle && txKey) return { transaction: { lifecycle: lifecycle, key: txKey } };
  return null;
}

/** A person's words for a selection (the form's "What" line and the default replay name). */
export function selectionLabel(selection) {
  if (!selection) return "";
  if (selection.event_ids) {
    const n = selection.event_ids.length;
    return n === 1 ? "event " + selection.event_ids[0] : n + " chosen events";
  }
  if (selection.idempotency_key !== undefined) return "key " + selection.idempotency_key;
  if (selection.trace_id !== undefined) return "trace " + selection.trace_id;
  if (selection.transaction) return "transaction " + selection.transaction.key + " in " + selection.transaction.lifecycle;
  return "";
}

/** A default replay name for a selection: the label, in the characters a name reads best with. */
export function selectionName(selection, now) {
  const stamp = (now || new Date()).toISOString().slice(0, 16).replace(/[-:]/g, "").replace("T", "-");
  const label = selectionLabel(selection).replace(/\s+/g, "-").slice(0, 200);
  return "replay-" + label + "-" + stamp;
}

/** A consumer pattern as the JSON a person writes it in; "" for none (every event). */
export function patternText(pattern) {
  if (pattern === null || pattern === undefined) return "";
  return JSON.stringify(pattern);
}

/** One attempt in a few words: "200 in 3.2 ms", "no answer after 5003 ms: <error>". */
export function attemptSummary(attempt) {
  const ms = attempt.latency_ms === null || attempt.latency_ms === undefined ? "?" : attempt.latency_ms.toFixed(1);
  if (attempt.status === null || attempt.status === undefined) {
    return "no answer after " + ms + " ms" + (attempt.error ? ": " + attempt.error : "");
  }
  return attempt.status + " in " + ms + " ms" + (attempt.status >= 300 && attempt.error ? ": " + attempt.error : "");
}

/** The attempts API address for a consumer or a replay, an outcome filter and a cursor. */
export function attemptsUrl(owner, outcome, cursor) {
  const base = owner.kind === "consumer"
    ? "/api/consumers/" + encodeURIComponent(owner.id) + "/attempts"
    : "/api/replays/" + encodeURIComponent(owner.id) + "/attempts";
  const params = new URLSearchParams();
  if (outcome) params.set("outcome", outcome);
  if (cursor) params.set("cursor", cursor);
  const query = params.toString();
  return query ? base + "?" + query : base;
}

/** The kind of consumer a URL makes: "http", "amqp", "nats" or "redis" (as the API reads the
 * scheme), or "" while it is none of them. */
export function consumerKind(url) {
  const broker = brokerOf(url);
  if (broker) return broker;
  return /^\s*https?:\/\//i.test(url || "") ? "http" : "";
}

/** The broker options each kind of consumer takes (HTTP: none). */
export const CONSUMER_OPTIONS = { http: [], amqp: ["exchange", "routing_key"], nats: ["subject"], redis: ["stream"] };

/** The name, URL and broker options of a consumer form's values (an object of strings) as
 * POST/PATCH /api/consumers take them: only the options of the URL's kind, so a consumer moved to
 * another kind leaves the old kind's behind; an empty routing key is null (each event's
 * detail-type). A URL shown masked (user:***@) is sent back as it is: the server keeps the stored
 * password for it. */
export function consumerBody(values) {
  const body = { name: (values.name || "").trim(), url: (values.url || "").trim() };
  for (const option of CONSUMER_OPTIONS[consumerKind(body.url)] || []) {
    const value = values[option] || "";
    body[option] = option === "routing_key" && value === "" ? null : value;
  }
  return body;
}

/** Where a broker consumer publishes, in a few words ("" for an HTTP consumer). */
export function consumerTargetText(consumer) {
  if (consumer.kind === "amqp") {
    const exchange = consumer.exchange ? "exchange " + consumer.exchange : "default exchange";
    return exchange + ", routing key " + (consumer.routing_key ? consumer.routing_key : "= detail-type");
  }
  if (consumer.kind === "nats") return "subject " + consumer.subject;
  if (consumer.kind === "redis") return "stream " + consumer.stream;
  return "";
}
