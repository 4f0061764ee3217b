// The trace page's waterfall: spans on a time axis nested by parent and coloured by service, the
// events each span published placed under it, span links both ways, span details on click — kept
// current over /ws/traces/<trace_id>/ (and re-read over HTTP after every (re)connect so nothing
// committed while the socket was down is missed).
//
// Everything shown is producers' data: it is written with textContent/createElement only.
import { colourOf, el, link, socketUrl } from "./dom.js";
import { fmtMs, formatTime, parseNs } from "./time.js";
import { bounds, keyOf, layout, statusOf } from "./waterfall.js";

function start() {
  const root = document.getElementById("waterfall");
  const dataNode = document.getElementById("trace-data");
  if (!root || !dataNode) return;
  const traceId = root.dataset.traceId;
  const INDENT = 14;

  const state = { spans: new Map(), events: new Map(), incoming: [], peers: {}, collapsed: new Set(), open: null };

  // --- data ---------------------------------------------------------------------------------------
  function addSpan(span) {
    const known = state.spans.get(keyOf(span.trace_id, span.span_id)) || {};
    const merged = Object.assign({}, known, span);
    if (merged.start_ns === undefined || span.start !== undefined && span.start_ns === undefined) merged.start_ns = parseNs(merged.start);
    if (merged.end_ns === undefined || span.end !== undefined && span.end_ns === undefined) merged.end_ns = parseNs(merged.end);
    merged.links = merged.links || [];
    merged.attributes = merged.attributes || {};
    state.spans.set(keyOf(span.trace_id, span.span_id), merged);
  }

  function addEvent(event) {
    const known = state.events.get(event.id) || {};
    const merged = Object.assign({}, known, event);
    merged.time_ns = parseNs(merged.time);
    state.events.set(event.id, merged);
  }

  function load(trace) {
    (trace.spans || []).forEach(addSpan);
    (trace.events || []).forEach(addEvent);
    if (trace.incoming_links) state.incoming = trace.incoming_links;
    if (trace.peers) state.peers = Object.assign({}, state.peers, trace.peers);
    if (trace.flow) {
      // The rest of the flow: traces tied to this one by span links, drawn in the same waterfall.
      (trace.flow.spans || []).forEach(addSpan);
      (trace.flow.events || []).forEach(addEvent);
    }
    if (trace.linked_traces) {
      // The API lists one incoming link per other trace; keep what the page was rendered with too.
      const seen = new Set(state.incoming.map((l) => l.trace_id + "/" + l.linked_span_id + "/" + l.span_id));
      trace.linked_traces.filter((l) => l.relation === "linked_from").forEach((l) => {
        const key = l.trace_id + "/" + l.linked_span_id + "/" + l.span_id;
        if (!seen.has(key)) state.incoming.push({ span_id: l.span_id, trace_id: l.trace_id, linked_span_id: l.linked_span_id });
      });
    }
  }

  // --- drawing ------------------------------------------------------------------------------------
  function shortId(id) { return id.length > 12 ? id.slice(0, 12) + "…" : id; }

  function row(kind, depth, id) {
    const r = el("div", "wf-row " + kind);
    if (id) r.id = id;
    const label = el("div", "wf-label");
    label.style.paddingLeft = (6 + depth * INDENT) + "px";
    const track = el("div", "wf-track");
    r.append(label, track);
    return { r, label, track };
  }

  function peerLabel(traceOf, spanOf) {
    const peer = state.peers[traceOf + "/" + spanOf];
    return peer ? peer.service + " · " + peer.name : "span " + spanOf;
  }

  function spanRow(span, depth, hasChildren, t0, scale, hop) {
    const error = statusOf(span) === "error";
    const key = keyOf(span.trace_id, span.span_id);
    const other = span.trace_id !== traceId ? " other" : "";
    const { r, label, track } = row("span" + (error ? " error" : "") + other + (hop ? " hop" : ""), depth, "span-" + span.span_id);
    r.dataset.spanId = span.span_id;
    r.dataset.traceId = span.trace_id;
    const toggle = el("button", "wf-toggle", hasChildren ? (state.collapsed.has(key) ? "▸" : "▾") : "");
    toggle.type = "button";
    toggle.disabled = !hasChildren;
    toggle.setAttribute("aria-label", "children");
    toggle.addEventListener("click", (ev) => {
      ev.stopPropagation();
      if (state.collapsed.has(key)) state.collapsed.delete(key); else state.collapsed.add(key);
      draw();
    });
    const svc = el("span", "wf-svc", span.service);
    svc.style.borderLeftColor = colourOf(span.service);
    const name = el("button", "wf-name", span.name);
    name.type = "button";
    name.title = "Show the span's attributes";
    name.addEventListener("click", () => { state.open = state.open === key ? null : key; draw(); });
    if (hop) {
      // An async hop: this span starts another trace, consuming a message published above it.
      label.append(toggle, link("/traces/" + span.trace_id + "/#span-" + span.span_id, "⇢ " + shortId(span.trace_id), "wf-hop mono"), svc, name);
    } else {
      label.append(toggle, svc, name);
    }
    if (error) label.appendChild(el("span", "wf-error", "error"));
    const bar = el("div", "wf-bar");
    bar.style.left = ((span.start_ns - t0) * scale) + "%";
    bar.style.width = Math.max(0.15, (span.end_ns - span.start_ns) * scale) + "%";
    bar.style.background = colourOf(span.service);
    bar.title = span.name + " — " + fmtMs((span.end_ns - span.start_ns) / 1e6);
    const dur = el("span", "wf-dur", fmtMs((span.end_ns - span.start_ns) / 1e6));
    const endPct = (span.end_ns - t0) * scale;
    // Near the right edge the label goes before the bar instead of after it.
    if (endPct > 85) dur.style.right = (100.5 - (span.start_ns - t0) * scale) + "%";
    else dur.style.left = (endPct + 0.5) + "%";
    track.append(bar, dur);
    r.addEventListener("click", (ev) => { if (ev.target === r || ev.target === track || ev.target === bar) name.click(); });
    return r;
  }

  function eventRow(event, depth, t0, scale) {
    const { r, label, track } = row("event", depth, "event-" + event.id);
    label.appendChild(el("span", "wf-mark", "◆"));
    label.appendChild(link("/events/" + encodeURIComponent(event.id) + "/", event["detail-type"], "wf-event"));
    label.appendChild(el("span", "muted", " " + event.source));
    if (event.idempotency_key) {
      label.appendChild(el("span", "muted", " key "));
      label.appendChild(link("/keys/" + encodeURIComponent(event.idempotency_key) + "/", event.idempotency_key, "mono wf-key"));
    }
    if (!isNaN(event.time_ns)) {
      const mark = el("span", "wf-diamond", "◆");
      mark.style.left = ((event.time_ns - t0) * scale) + "%";
      mark.title = event["detail-type"] + " at " + formatTime(event.time);
      track.appendChild(mark);
    }
    return r;
  }

  function linkRow(depth, arrow, text, href, traceOf) {
    const { r, label } = row("link", depth);
    label.appendChild(el("span", "wf-mark", arrow));
    label.appendChild(link(href, text, "wf-link"));
    label.appendChild(el("span", "muted mono", " trace " + shortId(traceOf)));
    return r;
  }

  function detailPanel(span, depth) {
    const box = el("div", "wf-detail");
    box.style.marginLeft = (6 + depth * INDENT) + "px";
    const facts = [
      ["trace", span.trace_id], ["span id", span.span_id], ["parent", span.parent_span_id || "—"], ["kind", span.kind || "—"],
      ["service", span.service], ["start", span.start || ""], ["duration", fmtMs((span.end_ns - span.start_ns) / 1e6)],
      ["status", statusOf(span) + (span.status && span.status.message ? ": " + span.status.message : "")],
    ];
    const table = el("table", "attrs");
    const add = (k, v) => {
      const tr = el("tr");
      tr.append(el("th", "", k), el("td", "mono", typeof v === "string" ? v : JSON.stringify(v)));
      table.appendChild(tr);
    };
    facts.forEach(([k, v]) => add(k, v));
    Object.keys(span.attributes || {}).sort().forEach((k) => add(k, span.attributes[k]));
    Object.keys(span.resource || {}).sort().forEach((k) => add("resource." + k, span.resource[k]));
    (span.span_events || []).forEach((e) => add("event " + (e.name || ""), e.attributes || {}));
    box.appendChild(table);
    return box;
  }

  function draw() {
    const [t0, t1] = bounds(state.spans, state.events);
    const scale = 100 / (t1 - t0);
    const rows = el("div", "wf-rows");
    const found = layout({ spans: state.spans, events: state.events, incoming: state.incoming,
      collapsed: state.collapsed, open: state.open, traceId });
    found.forEach((r) => {
      if (r.type === "span") rows.appendChild(spanRow(r.span, r.depth, r.hasChildren, t0, scale, r.hop));
      else if (r.type === "detail") rows.appendChild(detailPanel(r.span, r.depth));
      else if (r.type === "event") rows.appendChild(eventRow(r.event, r.depth, t0, scale));
      else if (r.direction === "out") {
        rows.appendChild(linkRow(r.depth, "⇠", "follows from " + peerLabel(r.traceId, r.spanId),
          "/traces/" + r.traceId + "/#span-" + r.spanId, r.traceId));
      } else {
        rows.appendChild(linkRow(r.depth, "⇢", "consumed by " + peerLabel(r.traceId, r.spanId),
          "/traces/" + r.traceId + "/#span-" + r.spanId, r.traceId));
      }
    });

    const axis = el("div", "wf-row wf-axis");
    const traces = new Set([...state.spans.values()].map((sp) => sp.trace_id));
    axis.appendChild(el("div", "wf-label", state.spans.size + " spans · " + state.events.size + " events · " +
      traces.size + (traces.size === 1 ? " trace" : " traces")));
    const ticks = el("div", "wf-track");
    [0, 0.25, 0.5, 0.75, 1].forEach((f) => {
      const tick = el("span", "wf-tick", fmtMs(((t1 - t0) * f) / 1e6));
      tick.style.left = (f * 100) + "%";
      ticks.appendChild(tick);
    });
    axis.appendChild(ticks);
    root.replaceChildren(axis, rows);
    highlight();
  }

  function highlight() {
    const target = location.hash.slice(1);
    root.querySelectorAll(".wf-row.target").forEach((n) => n.classList.remove("target"));
    if (!target) return;
    const node = document.getElementById(target);
    if (node && root.contains(node)) {
      node.classList.add("target");
      if (!highlight.done) { node.scrollIntoView({ block: "center" }); highlight.done = true; }
    }
  }

  window.addEventListener("hashchange", () => { highlight.done = false; highlight(); });

  // --- live ---------------------------------------------------------------------------------------
  const stateLabel = document.getElementById("live-state");
  let redraw = 0, refetch = 0, backoff = 1000;

  function setLive(text, cls) {
    if (!stateLabel) return;
    stateLabel.textContent = text;
    stateLabel.className = "live-state " + (cls || "");
  }

  function scheduleDraw() {
    if (!redraw) redraw = requestAnimationFrame(() => { redraw = 0; draw(); });
  }

  function fetchTrace() {
    // Live messages carry a summary of each item; the API has all of it (attributes, links…).
    fetch(root.dataset.api, { credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((r) => (r.ok ? r.json() : null))
      .then((trace) => { if (trace) { load(trace); scheduleDraw(); } })
      .catch(() => {});
  }

  function scheduleFetch() {
    clearTimeout(refetch);
    refetch = setTimeout(fetchTrace, 800);
  }

  function connect() {
    let socket;
    try { socket = new WebSocket(socketUrl(root.dataset.socket)); } catch (err) { setLive("offline", "down"); return; }
    socket.addEventListener("open", () => { backoff = 1000; setLive("live", "up"); fetchTrace(); });
    socket.addEventListener("message", (msg) => {
      let data;
      try { data = JSON.parse(msg.data); } catch (err) { return; }
      if (data.type === "span" && data.span && data.span.trace_id === traceId) addSpan(data.span);
      else if (data.type === "event" && data.event && data.event.trace_id === traceId) addEvent(data.event);
      else return;
      scheduleDraw();
      scheduleFetch();
    });
    socket.addEventListener("close", () => {
      setLive("reconnecting…", "down");
      setTimeout(connect, backoff);
      backoff = Math.min(backoff * 2, 15000);
    });
  }

  load(JSON.parse(dataNode.textContent));
  draw();
  connect();
}

start();
