// The taps page's pure parts: the API body the create and edit forms make, and how counts are shown.

/** The scheme of a broker URL ("amqp", "nats", "redis"), or "" when it is none of them. */
export function brokerOf(url) {
  const match = /^\s*([a-z][a-z0-9+.-]*):\/\//i.exec(url || "");
  if (!match) return "";
  const scheme = match[1].toLowerCase();
  if (scheme === "amqp" || scheme === "amqps") return "amqp";
  if (scheme === "nats" || scheme === "tls") return "nats";
  if (scheme === "redis" || scheme === "rediss") return "redis";
  return "";
}

/** The fields each broker needs beside name, url and format. */
export const OPTIONS = { amqp: ["exchange", "binding_key"], nats: ["subject"], redis: ["stream"] };

/** The POST /api/taps body of the create form's values (an object of strings): only the fields the
 * URL's broker takes; an unknown scheme keeps what was typed, and the API says what is wrong. */
export function tapBody(values) {
  const body = { name: (values.name || "").trim(), url: (values.url || "").trim(), format: values.format || "auto" };
  const broker = brokerOf(body.url);
  for (const option of OPTIONS[broker] || []) body[option] = values[option] || "";
  return body;
}

/** A count for a table cell: "—" when the broker reports none. */
export function countText(value) {
  if (value === null || value === undefined) return "—";
  return Number(value).toLocaleString("en-US");
}

/** The PATCH /api/taps/<name> body of the edit form's values: the create body without the name (a
 * tap's name stays). The URL as shown (user:***@host) is sent back as it is: the stored password is
 * kept for it. */
export function tapChange(values) {
  const body = tapBody(values);
  delete body.name;
  return body;
}
