// The service map's pure parts (/map/): the window of a range, the labels and colours of edges, the
// links an edge opens, and the layout (dagre, left to right). No DOM here: node --test covers it.
import dagre from "../vendor/dagre/dagre.esm.js";
import { fmtMs } from "./time.js";

/** The window switch: each range is this long before now. */
export const RANGES = { "15m": 15, "1h": 60, "6h": 360, "24h": 1440 };
export const DEFAULT_RANGE = "1h";

/** `{since, until}` (RFC 3339) of `range` ending at `nowMs` (epoch milliseconds). */
export function windowFor(range, nowMs) {
  const minutes = RANGES[range] || RANGES[DEFAULT_RANGE];
  const iso = (ms) => new Date(ms).toISOString();
  return { since: iso(nowMs - minutes * 60_000), until: iso(nowMs) };
}

/** Errors as a share of an edge's count, 0..1. */
export function errorShare(edge) {
  return edge.count ? edge.errors / edge.count : 0;
}

/** A rate per minute as it reads best: "12/min", "1.5/min", below one a minute per hour: "30/h", "0.13/h". */
export function fmtRate(perMinute) {
  if (perMinute >= 10) return Math.round(perMinute) + "/min";
  if (perMinute >= 1) return perMinute.toFixed(1) + "/min";
  const perHour = perMinute * 60;
  if (perHour >= 10) return Math.round(perHour) + "/h";
  return perHour.toFixed(perHour >= 1 ? 1 : 2) + "/h";
}

/**
 * The OpenTelemetry messaging of an edge as it reads: "kafka orders-topic (process)"; "" without any.
 * `short` leaves out a destination that only repeats the edge's type, and the operation.
 */
export function messagingText(edge, short = false) {
  const messaging = edge.messaging;
  if (!messaging) return "";
  const destination = short && messaging.destination === edge.via ? "" : messaging.destination;
  const text = [messaging.system, destination].filter(Boolean).join(" ");
  if (short || !messaging.operation) return text;
  return text ? `${text} (${messaging.operation})` : messaging.operation;
}

/** The two lines an edge is labelled with: what flows (and through which destination), and how it goes. */
export function edgeLabel(edge) {
  const parts = [fmtRate(edge.rate_per_minute)];
  const share = errorShare(edge);
  if (edge.errors) parts.push((share * 100).toFixed(share < 0.1 ? 1 : 0) + "% err");
  if (edge.kind === "event" && edge.lag_ms && edge.lag_ms.p95 !== null) parts.push("p95 " + fmtMs(edge.lag_ms.p95));
  let what = edge.kind === "call" ? "call " + edge.via : edge.via;
  const messaging = messagingText(edge, true);
  if (messaging && edge.messaging.destination && edge.messaging.destination !== edge.via) what += " · " + messaging;
  return [what, parts.join(" · ")];
}

/** Lags at or over these (ms) colour an event edge as slow / very slow. */
export const SLOW_MS = 1000;
export const VERY_SLOW_MS = 10_000;

/** The edge's class: bad (≥ 5% errors, or p95 lag ≥ 10 s), warn (any error, or p95 ≥ 1 s), ok. */
export function edgeClass(edge) {
  const share = errorShare(edge);
  const p95 = edge.kind === "event" && edge.lag_ms ? edge.lag_ms.p95 : null;
  if (share >= 0.05 || (p95 !== null && p95 >= VERY_SLOW_MS)) return "edge-bad";
  if (share > 0 || (p95 !== null && p95 >= SLOW_MS)) return "edge-warn";
  return "edge-ok";
}

/**
 * The window the map's counts cover: the map counts the minutes that start inside the window, so
 * both ends are rounded up to the minute (what an edge opens then lists what it counted).
 */
export function countedWindow(window) {
  const up = (iso) => new Date(Math.ceil(Date.parse(iso) / 60_000) * 60_000).toISOString();
  return { since: up(window.since), until: up(window.until) };
}

function eventsParams(edge, window) {
  const counted = countedWindow(window);
  const params = new URLSearchParams();
  params.set("detail_type", edge.via);
  if (edge.sources && edge.sources.length === 1) params.set("source", edge.sources[0]);
  params.set("since", counted.since);
  params.set("until", counted.until);
  return params;
}

/** The events search (/events/) for what an event edge carries in the window. */
export function eventsUrl(edge, window) {
  return "/events/?" + eventsParams(edge, window).toString();
}

/** The API query for a few of the events behind an event edge (newest first), for its panel. */
export function eventsApiUrl(edge, window, limit = 10) {
  const params = eventsParams(edge, window);
  params.set("limit", String(limit));
  return "/api/events?" + params.toString();
}

/** The trace search (/traces/) for the called spans of a call edge in the window. */
export function callsUrl(edge, window) {
  const counted = countedWindow(window);
  const params = new URLSearchParams({ service: edge.to, name: edge.via, range: "custom", ...counted });
  return "/traces/?" + params.toString();
}

/** A node's second line: its spans and errors. */
export function nodeLabel(service) {
  const spans = service.spans === 1 ? "1 span" : service.spans + " spans";
  return service.errors ? spans + " · " + service.errors + " err" : spans;
}

/** A stable key for an edge, to keep a selection across refreshes. */
export function edgeKey(edge) {
  return [edge.kind, edge.from, edge.to, edge.via].join("\u0000");
}

const CHAR_W = 7; // a rough width of one character of the labels, in px

/**
 * The map laid out left to right: `{width, height, nodes: [{name, x, y, width, height, service}],
 * edges: [{edge, points: [{x, y}], label: {x, y}}]}`. Several edges between the same two services
 * (different event types) are kept apart (a multigraph).
 */
export function layout(map) {
  const graph = new dagre.graphlib.Graph({ multigraph: true });
  graph.setGraph({ rankdir: "LR", nodesep: 30, ranksep: 90, edgesep: 20, marginx: 20, marginy: 20 });
  graph.setDefaultEdgeLabel(() => ({}));
  const services = new Map(map.services.map((service) => [service.name, service]));
  for (const edge of map.edges) {
    for (const name of [edge.from, edge.to]) {
      if (!services.has(name)) services.set(name, { name, spans: 0, errors: 0 });
    }
  }
  for (const service of services.values()) {
    const width = Math.max(90, CHAR_W * Math.max(service.name.length, nodeLabel(service).length) + 24);
    graph.setNode(service.name, { width, height: 44 });
  }
  map.edges.forEach((edge, index) => {
    const [what, how] = edgeLabel(edge);
    const width = CHAR_W * Math.max(what.length, how.length) * 0.9;
    graph.setEdge(edge.from, edge.to, { width, height: 30, labelpos: "c", index }, edgeKey(edge));
  });
  dagre.layout(graph);
  const nodes = graph.nodes().map((name) => {
    const node = graph.node(name);
    return { name, x: node.x, y: node.y, width: node.width, height: node.height, service: services.get(name) };
  });
  const edges = graph.edges().map((ref) => {
    const data = graph.edge(ref);
    return { edge: map.edges[data.index], points: data.points, label: { x: data.x, y: data.y } };
  });
  const size = graph.graph();
  return { width: size.width || 0, height: size.height || 0, nodes, edges };
}

/** An SVG path through `points` (dagre's edge points), smoothed with quadratic curves. */
export function pathOf(points) {
  if (!points.length) return "";
  let d = `M${points[0].x},${points[0].y}`;
  if (points.length === 2) return d + ` L${points[1].x},${points[1].y}`;
  for (let i = 1; i < points.length - 1; i++) {
    const mid = { x: (points[i].x + points[i + 1].x) / 2, y: (points[i].y + points[i + 1].y) / 2 };
    d += ` Q${points[i].x},${points[i].y} ${i === points.length - 2 ? points[i + 1].x : mid.x},${i === points.length - 2 ? points[i + 1].y : mid.y}`;
  }
  return d;
}
