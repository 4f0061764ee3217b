// The trace page: the waterfall (spans on a time axis nested by parent and coloured by service, the
// events each span published placed under it, span links both ways, a span's panel on click), and
// the header counts, the events table and the transactions — all for one scope at a time (the whole
// flow or this trace alone, switched without a reload) and all kept current over
// /ws/traces/<trace_id>/. The page's data is re-read over HTTP after live items and after every
// (re)connect, so nothing committed while the socket was down is missed.
//
// Everything shown is producers' data: it is written with textContent/createElement only.
import { cell, colourOf, el, link, socketUrl, timeNode } from "./dom.js";
import { fmtMs, formatTime, parseNs } from "./time.js";
import { eventsInOrder, exceptionsOf, linksOf, scoped, SCOPES, summarize, transactionsIn } from "./tracefacts.js";
import { axisTicks, bounds, keyOf, layout, statusOf } from "./waterfall.js";

function start() {
  const root = document.getElementById("waterfall");
  const dataNode = document.getElementById("trace-data");
  if (!root || !dataNode) return;
  const traceId = root.dataset.traceId;
  const INDENT = 14;

  const state = {
    spans: new Map(), events: new Map(), incoming: [], peers: {}, transactions: [], flowTraces: new Set([traceId]),
    collapsed: new Set(), open: null, scope: SCOPES.includes(root.dataset.scope) ? root.dataset.scope : "flow",
  };

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
      (trace.flow.traces || []).forEach((t) => state.flowTraces.add(t));
    }
    if (trace.transactions) state.transactions = trace.transactions;
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
    const peer = state.spans.get(keyOf(traceOf, spanOf)) || state.peers[keyOf(traceOf, spanOf)];
    return peer ? peer.service + " · " + peer.name : "span " + spanOf;
  }

  function spanHref(traceOf, spanOf) { return "/traces/" + traceOf + "/#span-" + spanOf; }

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
      ["service", span.service], ["start", timeNode(span.start || "")], ["duration", fmtMs((span.end_ns - span.start_ns) / 1e6)],
      ["status", statusOf(span) + (span.status && span.status.message ? ": " + span.status.message : "")],
    ];
    const table = el("table", "attrs");
    const add = (k, v) => {
      const tr = el("tr");
      const td = el("td", "mono");
      if (v instanceof Node) td.appendChild(v); else td.textContent = typeof v === "string" ? v : JSON.stringify(v);
      tr.append(el("th", "", k), td);
      table.appendChild(tr);
    };
    facts.forEach(([k, v]) => add(k, v));
    Object.keys(span.attributes || {}).sort().forEach((k) => add(k, span.attributes[k]));
    Object.keys(span.resource || {}).sort().forEach((k) => add("resource." + k, span.resource[k]));
    (span.span_events || []).filter((e) => e.name !== "exception").forEach((e) => add("event " + (e.name || ""), e.attributes || {}));
    box.appendChild(table);

    // Links both ways, each opening the other trace's page at the span at the other end.
    const links = linksOf(span, state.spans, state.incoming, traceId);
    [["out", "Follows from", "wf-links-out"], ["in", "Linked from (consumed by)", "wf-links-in"]].forEach(([way, title, cls]) => {
      if (!links[way].length) return;
      box.appendChild(el("h4", "", title));
      const list = el("ul", "wf-links " + cls);
      links[way].forEach((l) => {
        const item = el("li");
        item.appendChild(link(spanHref(l.trace_id, l.span_id), peerLabel(l.trace_id, l.span_id), "wf-panel-link"));
        item.appendChild(el("span", "muted mono", " trace " + shortId(l.trace_id) + (l.trace_id === span.trace_id ? " (same trace)" : "")));
        list.appendChild(item);
      });
      box.appendChild(list);
    });

    // Exceptions the span recorded, the stack trace as the runtime wrote it, line by line.
    const exceptions = exceptionsOf(span);
    if (exceptions.length) {
      box.appendChild(el("h4", "", exceptions.length === 1 ? "Exception" : exceptions.length + " exceptions"));
      exceptions.forEach((ex) => {
        const item = el("div", "wf-exception");
        const head = el("div");
        head.append(el("span", "ex-type mono", ex.type || "exception"), el("span", "ex-message", ex.message ? ": " + ex.message : ""));
        if (ex.escaped) head.appendChild(el("span", "muted", " (escaped the span)"));
        item.appendChild(head);
        if (ex.stacktrace) item.appendChild(el("pre", "stacktrace", ex.stacktrace));
        box.appendChild(item);
      });
    }
    return box;
  }

  // --- the scope's header, events and transactions -----------------------------------------------
  const summaryBox = document.getElementById("trace-summary");
  const factsBox = document.getElementById("trace-facts");
  const eventRows = document.getElementById("trace-event-rows");
  const eventsHeading = document.getElementById("events-heading");
  const txBox = document.getElementById("trace-transactions");
  const txRows = document.getElementById("transactions-rows");
  const txScope = document.getElementById("transactions-scope");
  const notFound = document.getElementById("not-found");
  const scopeTabs = document.querySelectorAll("a[data-scope]");
  const scopeWord = () => (state.scope === "trace" ? "this trace" : "this flow");

  function fact(name, value, id, cls) {
    const dd = el("dd", cls || "");
    dd.id = id;
    if (value instanceof Node) dd.appendChild(value); else dd.textContent = String(value);
    // Each name and its value in one box, so that a narrow window never wraps between them.
    const pair = el("div");
    pair.append(el("dt", "", name), dd);
    factsBox.append(pair);
    return dd;
  }

  function drawSummary(spans, events) {
    const sum = summarize(spans, events);
    summaryBox.hidden = !sum.spanCount && !sum.eventCount;
    factsBox.replaceChildren();
    if (sum.root) {
      const rootBox = el("span");
      rootBox.append(el("span", "svc", sum.root.service), " " + sum.root.name);
      fact("Root", rootBox, "fact-root");
    }
    fact("Started", timeNode(sum.start), "fact-start", "mono");
    fact("Duration", fmtMs(sum.durationMs), "fact-duration", "num");
    if (state.scope === "flow") fact("Traces", sum.traceCount, "fact-traces", "num");
    fact("Spans", sum.spanCount, "fact-spans", "num");
    fact("Events", sum.eventCount, "fact-events", "num");
    fact("Errors", sum.errorCount, "fact-errors", "num" + (sum.errorCount ? " error" : ""));
    const services = el("span");
    sum.services.forEach(([name, count]) => {
      const chip = el("span", "svc", name + " ");
      chip.dataset.service = name;
      chip.style.borderLeftColor = colourOf(name);
      chip.appendChild(el("span", "muted", String(count)));
      services.append(chip, " ");
    });
    fact("Services", services, "fact-services");
  }

  function eventTableRow(e) {
    const tr = el("tr");
    tr.dataset.id = e.id;
    const when = cell(tr, null, "mono nowrap");
    const open = link("/events/" + encodeURIComponent(e.id) + "/", null);
    open.title = "Open the event";
    open.appendChild(timeNode(e.time));
    when.appendChild(open);
    cell(tr, null).appendChild(link("/events/?source=" + encodeURIComponent(e.source), e.source, "chip source"));
    cell(tr, null).appendChild(link("/events/?detail_type=" + encodeURIComponent(e["detail-type"]), e["detail-type"], "chip type"));
    const traceCell = cell(tr, null, "mono");
    if (e.trace_id) traceCell.appendChild(link("/traces/" + e.trace_id + "/", shortId(e.trace_id)));
    else traceCell.appendChild(el("span", "muted", "—"));
    const keyCell = cell(tr, null, "mono key");
    if (e.idempotency_key) keyCell.appendChild(link("/keys/" + encodeURIComponent(e.idempotency_key) + "/", e.idempotency_key));
    else keyCell.appendChild(el("span", "muted", "—"));
    const under = cell(tr, null, "mono");
    if (e.parent_span_id) under.appendChild(link("#span-" + e.parent_span_id, e.parent_span_id));
    return tr;
  }

  function drawEvents(events) {
    eventsHeading.textContent = "Events on " + scopeWord();
    const rows = eventsInOrder(events).map(eventTableRow);
    if (!rows.length) {
      const tr = el("tr", "empty");
      cell(tr, "No events carry " + scopeWord() + ".", "muted").colSpan = 6;
      rows.push(tr);
    }
    eventRows.replaceChildren(...rows);
  }

  function drawTransactions() {
    const list = transactionsIn(state.transactions, state.scope, traceId);
    txBox.hidden = !list.length;
    txScope.textContent = "whose events are on " + scopeWord();
    txRows.replaceChildren(...list.map((tx) => {
      const tr = el("tr", "tx-" + tx.status);
      cell(tr, tx.lifecycle);
      const keyCell = cell(tr, null, "mono");
      const a = link(tx.url, tx.key, "tx-link");
      a.title = "Open the transaction";
      keyCell.appendChild(a);
      const status = cell(tr, null, "tx-status");
      status.appendChild(el("span", "badge " + tx.status, tx.status));
      if (tx.out_of_order) status.append(" ", el("span", "badge out-of-order", "out of order"));
      cell(tr, (tx.steps_seen || []).map((seen) => seen.step).join(" → "));
      cell(tr, (tx.missing_steps || []).join(", "));
      return tr;
    }));
  }

  function drawScopeTabs() {
    scopeTabs.forEach((tab) => {
      if (tab.dataset.scope === state.scope) tab.setAttribute("aria-current", "true"); else tab.removeAttribute("aria-current");
      if (tab.dataset.scope === "flow") {
        const n = new Set([...state.flowTraces, ...[...state.spans.values()].map((sp) => sp.trace_id)]).size;
        tab.textContent = "Whole flow (" + n + (n === 1 ? " trace)" : " traces)");
      }
    });
  }

  scopeTabs.forEach((tab) => tab.addEventListener("click", (ev) => {
    ev.preventDefault();
    state.scope = tab.dataset.scope;
    // The address keeps the choice (a reload or a shared link opens the same scope).
    const url = new URL(location.href);
    if (state.scope === "trace") url.searchParams.set("flow", "0"); else url.searchParams.delete("flow");
    history.replaceState(null, "", url);
    draw();
  }));

  function draw() {
    const spans = scoped(state.spans, state.scope, traceId);
    const events = scoped(state.events, state.scope, traceId);
    if (notFound && (state.spans.size || state.events.size)) notFound.hidden = true;
    drawSummary(spans, events);
    drawEvents(events);
    drawTransactions();
    drawScopeTabs();
    const [t0, t1] = bounds(spans, events);
    const scale = 100 / (t1 - t0);
    const rows = el("div", "wf-rows");
    const found = layout({ spans, events, incoming: state.incoming,
      collapsed: state.collapsed, open: state.open, traceId });
    found.forEach((r) => {
      if (r.type === "span") rows.appendChild(spanRow(r.span, r.depth, r.hasChildren, t0, scale, r.hop));
      else if (r.type === "detail") rows.appendChild(detailPanel(r.span, r.depth));
      else if (r.type === "event") rows.appendChild(eventRow(r.event, r.depth, t0, scale));
      else if (r.direction === "out") {
        rows.appendChild(linkRow(r.depth, "⇠", "follows from " + peerLabel(r.traceId, r.spanId),
          spanHref(r.traceId, r.spanId), r.traceId));
      } else {
        rows.appendChild(linkRow(r.depth, "⇢", "consumed by " + peerLabel(r.traceId, r.spanId),
          spanHref(r.traceId, r.spanId), r.traceId));
      }
    });

    const axis = el("div", "wf-row wf-axis");
    const traces = new Set([...spans.values()].map((sp) => sp.trace_id));
    axis.appendChild(el("div", "wf-label", spans.size + " spans · " + events.size + " events · " +
      traces.size + (traces.size === 1 ? " trace" : " traces")));
    const ticks = el("div", "wf-track");
    axisTicks(t0, t1, fmtMs).forEach(({ at, label }) => {
      const tick = el("span", "wf-tick", label);
      tick.style.left = (at * 100) + "%";
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

  // #span-<id> (what links from other pages and from span panels open) selects that span: its
  // panel opens, its row is highlighted and scrolled to.
  function selectFromHash() {
    const match = /^#span-([0-9a-f]+)$/i.exec(location.hash);
    if (!match) return;
    const here = state.spans.get(keyOf(traceId, match[1]));
    const span = here || [...state.spans.values()].find((sp) => sp.span_id === match[1]);
    if (span) state.open = keyOf(span.trace_id, span.span_id);
  }

  window.addEventListener("hashchange", () => { highlight.done = false; selectFromHash(); draw(); });
  document.addEventListener("eventscope:time-zone", () => scheduleDraw());

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
  selectFromHash();
  draw();
  connect();
}

start();
