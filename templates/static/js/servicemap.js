// The service map page (/map/): fetches GET /api/servicemap for the chosen window, lays it out left
// to right (servicemap_model.js, dagre) and draws it as SVG; refreshes every few seconds while the
// page is visible. Clicking an edge opens its panel: its events in the window (GET /api/events with
// the edge's type and source), a link to the events search, and a few of its traces. Service names,
// event types and sources are producers' text: they only ever go in through textContent/attributes.
import { cell, colourOf, el, link, linkCell, timeNode } from "./dom.js";
import {
  DEFAULT_RANGE, RANGES, callsUrl, edgeClass, edgeKey, edgeLabel, eventsApiUrl, eventsUrl, fmtRate, layout,
  messagingText, nodeLabel, pathOf, windowFor,
} from "./servicemap_model.js";
import { fmtMs } from "./time.js";

const SVG = "http://www.w3.org/2000/svg";
const frame = document.getElementById("map-frame");
const svg = document.getElementById("map");
const empty = document.getElementById("map-empty");
const status = document.getElementById("map-status");
const detail = document.getElementById("edge-detail");
let range = RANGES[frame.dataset.range] ? frame.dataset.range : DEFAULT_RANGE;
let selected = null; // the key of the edge whose panel is open
let current = null; // {map, window} last drawn
let timer = null;

function svgEl(tag, attrs, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs || {})) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function arrowHead() {
  const defs = svgEl("defs");
  for (const cls of ["edge-ok", "edge-warn", "edge-bad"]) {
    const marker = svgEl("marker", {
      id: "arrow-" + cls, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse",
    });
    marker.appendChild(svgEl("path", { d: "M0,0 L10,5 L0,10 z", class: "arrow " + cls }));
    defs.appendChild(marker);
  }
  return defs;
}

function draw(map, window) {
  current = { map, window };
  const laid = layout(map);
  svg.replaceChildren(arrowHead());
  svg.setAttribute("viewBox", `0 0 ${Math.max(laid.width, 200)} ${Math.max(laid.height, 80)}`);
  svg.setAttribute("width", Math.max(laid.width, 200));
  svg.setAttribute("height", Math.max(laid.height, 80));
  empty.hidden = map.edges.length > 0 || map.services.length > 0;
  svg.hidden = !empty.hidden;
  for (const item of laid.edges) {
    const cls = edgeClass(item.edge);
    const group = svgEl("g", { class: "map-edge " + cls, tabindex: 0, role: "button" });
    group.dataset.key = edgeKey(item.edge);
    group.dataset.kind = item.edge.kind;
    group.dataset.from = item.edge.from;
    group.dataset.to = item.edge.to;
    group.dataset.via = item.edge.via;
    if (group.dataset.key === selected) group.classList.add("selected");
    const d = pathOf(item.points);
    group.appendChild(svgEl("path", { d, class: "hit" })); // a wide invisible stroke: easy to click
    group.appendChild(svgEl("path", { d, class: "line", "marker-end": `url(#arrow-${cls})` }));
    const [what, how] = edgeLabel(item.edge);
    const label = svgEl("text", { x: item.label.x, y: item.label.y - 4, "text-anchor": "middle", class: "edge-label" });
    label.appendChild(svgEl("tspan", { x: item.label.x, dy: 0, class: "via" }, what));
    label.appendChild(svgEl("tspan", { x: item.label.x, dy: 13 }, how));
    group.appendChild(label);
    group.appendChild(svgEl("title", {}, `${item.edge.from} → ${item.edge.to}: ${what} (${how})`));
    group.addEventListener("click", () => open(item.edge));
    group.addEventListener("keydown", (event) => {
      if (event.key === "Enter" || event.key === " ") open(item.edge);
    });
    svg.appendChild(group);
  }
  for (const node of laid.nodes) {
    const group = svgEl("g", { class: "map-node" + (node.service.errors ? " has-errors" : "") });
    group.dataset.service = node.name;
    const rect = svgEl("rect", {
      x: node.x - node.width / 2, y: node.y - node.height / 2, width: node.width, height: node.height, rx: 6,
    });
    rect.style.stroke = colourOf(node.name);
    group.appendChild(rect);
    group.appendChild(svgEl("text", { x: node.x, y: node.y - 4, "text-anchor": "middle", class: "name" }, node.name));
    group.appendChild(svgEl("text", { x: node.x, y: node.y + 12, "text-anchor": "middle", class: "stats" }, nodeLabel(node.service)));
    svg.appendChild(group);
  }
  fillTable(map, window);
  if (selected) {
    const edge = map.edges.find((item) => edgeKey(item) === selected);
    if (edge) fillCounts(edge);
  }
}

function fillTable(map, window) {
  const body = document.querySelector("#map-edges tbody");
  const rows = map.edges.map((edge) => {
    const tr = el("tr", edgeClass(edge));
    cell(tr, edge.from);
    cell(tr, edge.to);
    cell(tr, edge.kind);
    const via = cell(tr, null);
    via.appendChild(link(edge.kind === "event" ? eventsUrl(edge, window) : callsUrl(edge, window), edge.via));
    cell(tr, String(edge.count), "num");
    cell(tr, fmtRate(edge.rate_per_minute), "num");
    cell(tr, String(edge.errors), "num");
    cell(tr, String(edge.duplicates), "num");
    for (const name of ["p50", "p95", "p99"]) {
      const value = edge.lag_ms ? edge.lag_ms[name] : null;
      cell(tr, value === null || value === undefined ? "" : fmtMs(value), "num");
    }
    cell(tr, messagingText(edge));
    tr.addEventListener("click", (event) => {
      if (event.target.tagName !== "A") open(edge);
    });
    return tr;
  });
  if (!rows.length) {
    const tr = el("tr");
    const td = cell(tr, "No edges in this window.", "muted");
    td.colSpan = 12;
    rows.push(tr);
  }
  body.replaceChildren(...rows);
}

function fillCounts(edge) {
  const share = edge.count ? ((edge.errors / edge.count) * 100).toFixed(1) + "%" : "0%";
  const parts = [`${edge.count} ${edge.kind === "event" ? "processed" : "calls"}`, fmtRate(edge.rate_per_minute),
    `${edge.errors} errors (${share})`, `${edge.duplicates} duplicates`];
  if (edge.kind === "event" && edge.lag_ms && edge.lag_ms.p50 !== null) {
    parts.push(`lag p50 ${fmtMs(edge.lag_ms.p50)} · p95 ${fmtMs(edge.lag_ms.p95)} · p99 ${fmtMs(edge.lag_ms.p99)}`);
  }
  if (edge.messaging) parts.push(messagingText(edge));
  document.getElementById("edge-counts").textContent = parts.join(" · ");
}

async function open(edge) {
  selected = edgeKey(edge);
  svg.querySelectorAll(".map-edge").forEach((node) => node.classList.toggle("selected", node.dataset.key === selected));
  const window = current.window;
  detail.hidden = false;
  document.getElementById("edge-title").textContent =
    `${edge.from} → ${edge.to}: ${edge.kind === "call" ? "calls to " : ""}${edge.via}`;
  fillCounts(edge);
  const links = document.getElementById("edge-links");
  links.replaceChildren(
    edge.kind === "event"
      ? link(eventsUrl(edge, window), "All these events in the events search →", "events-link")
      : link(callsUrl(edge, window), "These calls in the trace search →", "events-link"),
  );
  const traces = document.getElementById("edge-traces");
  traces.replaceChildren(...(edge.traces || []).map((id) => {
    const li = el("li", "mono");
    li.appendChild(link(`/traces/${id}/`, id));
    return li;
  }));
  const body = document.querySelector("#edge-events tbody");
  document.getElementById("edge-events").hidden = edge.kind !== "event";
  body.replaceChildren();
  if (edge.kind !== "event") return;
  const response = await fetch(eventsApiUrl(edge, window), { credentials: "same-origin" });
  if (!response.ok || selected !== edgeKey(edge)) return;
  const rows = (await response.json()).results.map((event) => {
    const tr = el("tr");
    const opened = link(`/events/${encodeURIComponent(event.id)}/`);
    opened.appendChild(timeNode(event.time));
    cell(tr, null, "mono nowrap").appendChild(opened);
    cell(tr, event.source);
    cell(tr, event["detail-type"]);
    linkCell(tr, event.idempotency_key, `/keys/${encodeURIComponent(event.idempotency_key)}/`, "mono");
    linkCell(tr, event.trace_id ? event.trace_id.slice(0, 12) + "…" : "", `/traces/${event.trace_id}/`, "mono");
    return tr;
  });
  body.replaceChildren(...rows);
  detail.scrollIntoView({ block: "nearest" });
}

async function refresh() {
  const window = windowFor(range, Date.now());
  const params = new URLSearchParams(window);
  try {
    const response = await fetch("/api/servicemap?" + params.toString(), { credentials: "same-origin" });
    if (!response.ok) throw new Error("GET /api/servicemap: " + response.status);
    draw(await response.json(), window);
    // In the pages' one format and zone (a <time>, rewritten by the header's time switch).
    status.replaceChildren("updated ", timeNode(new Date().toISOString()));
  } catch (error) {
    status.textContent = "could not refresh: " + error.message;
  }
}

function schedule() {
  clearTimeout(timer);
  timer = setTimeout(async () => {
    if (!document.hidden) await refresh();
    schedule();
  }, Number(frame.dataset.refresh || 5) * 1000);
}

document.querySelectorAll("#map-ranges a").forEach((anchor) => {
  anchor.addEventListener("click", (event) => {
    event.preventDefault();
    range = anchor.dataset.range;
    document.querySelectorAll("#map-ranges a").forEach((other) => {
      if (other === anchor) other.setAttribute("aria-current", "true");
      else other.removeAttribute("aria-current");
    });
    history.replaceState(null, "", "?range=" + encodeURIComponent(range));
    refresh();
  });
});

refresh().then(schedule);
