// The live tail (/live/): a websocket on /ws/live/ with a server-side pattern filter.
// Payload text only ever reaches the page through textContent and attribute setters.
import { cell, el, linkCell, socketUrl, timeCell } from "./dom.js";
import { schemaNote } from "./schemacheck.js";

function start() {
  const form = document.getElementById("live-form");
  if (!form) return;
  const rows = document.getElementById("live-rows");
  const empty = document.getElementById("live-empty");
  const stateBox = document.getElementById("live-state");
  const patternBox = document.getElementById("live-pattern");
  const patternStatus = document.getElementById("pattern-status");
  const pauseButton = document.getElementById("pause");
  const maxRows = parseInt(form.dataset.maxRows, 10) || 500;
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;

  let socket = null;
  let connectedOnce = false;
  let retryDelay = 500;
  let filter = { pattern: null, kinds: ["event", "span"] };
  let paused = false;
  let held = [];
  let resuming = false;
  let waiting = []; // items that arrive while a resume over HTTP is running
  let lastEventId = null; // the newest stored event id shown: where a reconnect resumes from
  let seen = new Set();
  const arrivals = [];
  const counts = { shown: 0, dropped: 0 };

  function setText(id, value) { document.getElementById(id).textContent = String(value); }

  function setState(text, kind) {
    stateBox.textContent = text;
    stateBox.className = "live-state" + (kind ? " " + kind : "");
  }

  function preview(value) {
    let text = JSON.stringify(value);
    return text && text.length > 160 ? text.slice(0, 160) + "…" : text;
  }

  function insert(tr) {
    rows.insertBefore(tr, rows.firstChild);
    while (rows.childElementCount > maxRows) rows.removeChild(rows.lastChild);
    empty.hidden = true;
  }

  function eventRow(e) {
    let tr = document.createElement("tr");
    tr.className = "live-event";
    tr.dataset.id = e.id;
    timeCell(tr, e.received_at, "mono nowrap");
    cell(tr, "event", "kind");
    linkCell(tr, e["detail-type"], "/events/" + encodeURIComponent(e.id) + "/");
    const note = schemaNote(e);
    if (note) {
      // Checked against the type's pinned schema version: the reason is the badge's title.
      const badge = el("span", "badge " + note.cls, note.text);
      badge.title = note.title;
      tr.lastChild.append(" ", badge);
      if (note.cls === "schema-invalid") tr.classList.add("schema-invalid-row");
    }
    cell(tr, e.source);
    linkCell(tr, e.trace_id ? e.trace_id.slice(0, 12) + "…" : "", "/traces/" + e.trace_id + "/", "mono");
    linkCell(tr, e.idempotency_key || "", "/keys/" + encodeURIComponent(e.idempotency_key || "") + "/", "mono clip");
    cell(tr, preview(e.detail), "mono clip preview");
    return tr;
  }

  function spanRow(s) {
    let tr = document.createElement("tr");
    tr.className = "live-span" + (s.status && s.status.code === "error" ? " error-row" : "");
    timeCell(tr, s.start, "mono nowrap");
    cell(tr, "span", "kind");
    linkCell(tr, s.name, "/traces/" + s.trace_id + "/#span-" + s.span_id);
    cell(tr, s.service);
    linkCell(tr, s.trace_id.slice(0, 12) + "…", "/traces/" + s.trace_id + "/", "mono");
    cell(tr, "");
    cell(tr, s.duration_ms.toFixed(1) + " ms · " + (s.status ? s.status.code : ""), "mono");
    return tr;
  }

  function droppedRow(count) {
    let tr = document.createElement("tr");
    tr.className = "live-dropped";
    let td = cell(tr, count + " item(s) dropped: this view fell behind the stream");
    td.colSpan = 7;
    return tr;
  }

  function show(message) {
    if (message.type === "event") {
      let e = message.event;
      if (seen.has(e.id)) return;
      seen.add(e.id);
      if (seen.size > 20000) seen = new Set(Array.from(seen).slice(-10000));
      if (!lastEventId || e.id > lastEventId) lastEventId = e.id;
      insert(eventRow(e));
    } else if (message.type === "span") {
      insert(spanRow(message.span));
    } else if (message.type === "dropped") {
      insert(droppedRow(message.count));
      return;
    }
    counts.shown += 1;
    setText("shown", counts.shown);
  }

  function take(message) {
    if (message.type === "dropped") {
      counts.dropped += message.count;
      setText("dropped", counts.dropped);
      document.getElementById("dropped-box").classList.add("alert");
    } else {
      arrivals.push(Date.now());
    }
    if (resuming) { waiting.push(message); return; }
    place(message);
  }

  function place(message) {
    if (paused) {
      held.push(message);
      if (held.length > maxRows) held.shift();
      setText("held", held.length);
      return;
    }
    show(message);
  }

  function patternParam() {
    return filter.pattern === null ? "" : "&pattern=" + encodeURIComponent(JSON.stringify(filter.pattern));
  }

  // After a reconnect: what was stored while the socket was down, oldest first, so no gap shows.
  function resume() {
    if (!lastEventId || filter.kinds.indexOf("event") < 0) return;
    resuming = true;
    let after = lastEventId;
    function page() {
      let url = form.dataset.eventsApi + "?limit=500&after=" + encodeURIComponent(after) + patternParam();
      return fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (r) { return r.ok ? r.json() : { results: [] }; })
        .then(function (body) {
          body.results.forEach(function (e) { take({ type: "event", event: e }); });
          if (body.next_cursor) { after = body.next_cursor; return page(); }
          return null;
        });
    }
    // Items of the resume go to the waiting list too, then everything is shown in order.
    let pending = [];
    let keep = waiting;
    waiting = pending;
    page().catch(function () { return null; }).then(function () {
      resuming = false;
      let queued = pending.concat(keep);
      waiting = [];
      queued.forEach(place);
    });
  }

  function subscribe() {
    if (socket && socket.readyState === WebSocket.OPEN) {
      socket.send(JSON.stringify({ type: "subscribe", pattern: filter.pattern, kinds: filter.kinds }));
    }
  }

  function connect() {
    socket = new WebSocket(socketUrl(form.dataset.socket));
    socket.addEventListener("open", function () {
      retryDelay = 500;
      subscribe();
    });
    socket.addEventListener("message", function (frame) {
      let message;
      try { message = JSON.parse(frame.data); } catch (err) { return; }
      if (message.type === "subscribed") {
        setState("live", "up");
        patternStatus.textContent = message.pattern === null ? "Showing everything." : "Filter applied.";
        patternStatus.className = "small ok";
        if (connectedOnce) resume();
        connectedOnce = true;
      } else if (message.type === "error") {
        patternStatus.textContent = message.message;
        patternStatus.className = "small error";
      } else {
        take(message);
      }
    });
    socket.addEventListener("close", function (closed) {
      if (closed.code === 4401) {
        setState("signed out: reload to log in", "down");
        return;
      }
      setState("reconnecting…", "down");
      setTimeout(connect, retryDelay);
      retryDelay = Math.min(retryDelay * 2, 10000);
    });
  }

  // --- The pattern editor: checked as it is typed, applied on submit -------------------------------
  let validation = 0;
  function readPattern() {
    let text = patternBox.value.trim();
    if (!text) return { ok: true, pattern: null };
    try { return { ok: true, pattern: JSON.parse(text) }; } catch (err) { return { ok: false, error: "Not valid JSON: " + err.message }; }
  }

  function validate() {
    let mine = ++validation;
    let read = readPattern();
    if (!read.ok) return Promise.resolve(report(mine, false, read.error));
    if (read.pattern === null) return Promise.resolve(report(mine, true, "No pattern: everything is shown."));
    return fetch(form.dataset.validateApi, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify({ pattern: read.pattern, event: {} }),
    }).then(function (r) {
      return r.json().then(function (body) {
        if (r.ok) return report(mine, true, "Valid pattern.");
        return report(mine, false, body.error ? body.error.message : "Invalid pattern.");
      });
    }).catch(function () { return report(mine, false, "Could not check the pattern."); });
  }

  function report(mine, ok, text) {
    if (mine === validation) {
      patternStatus.textContent = text;
      patternStatus.className = "small " + (ok ? "ok" : "error");
    }
    return ok;
  }

  let typing = null;
  patternBox.addEventListener("input", function () {
    clearTimeout(typing);
    typing = setTimeout(validate, 250);
  });

  form.addEventListener("submit", function (submitted) {
    submitted.preventDefault();
    validate().then(function (ok) {
      if (!ok) return;
      let kinds = [];
      if (document.getElementById("kind-event").checked) kinds.push("event");
      if (document.getElementById("kind-span").checked) kinds.push("span");
      if (!kinds.length) { report(validation, false, "Choose events, spans or both."); return; }
      filter = { pattern: readPattern().pattern, kinds: kinds };
      subscribe();
    });
  });

  pauseButton.addEventListener("click", function () {
    paused = !paused;
    pauseButton.textContent = paused ? "Resume" : "Pause";
    pauseButton.setAttribute("aria-pressed", String(paused));
    if (!paused) {
      let backlog = held;
      held = [];
      setText("held", 0);
      backlog.forEach(show);
    }
  });

  document.getElementById("clear").addEventListener("click", function () {
    while (rows.firstChild) rows.removeChild(rows.firstChild);
    counts.shown = 0;
    setText("shown", 0);
    empty.hidden = false;
  });

  // Items per second over the last five seconds.
  setInterval(function () {
    let now = Date.now();
    while (arrivals.length && arrivals[0] < now - 5000) arrivals.shift();
    setText("rate", (arrivals.length / 5).toFixed(arrivals.length < 50 ? 1 : 0));
  }, 1000);

  connect();
}

start();
