// The replays page (/replays/): consumers (add, edit, pause/resume, send a test event, attempts,
// delete), a new replay (dry run then start; a "replay these" link fills it in), live progress over
// /ws/replays/<id>/, cancel, re-drive, and the attempts log. Payload text only ever reaches the
// page through textContent.
import { cell, el, link, socketUrl, timeCell, timeNode } from "./dom.js";
import {
  attemptSummary, attemptsUrl, consumerBody, consumerKind, consumerTargetText, patternText, selectionFromQuery,
  selectionLabel, selectionName,
} from "./replayforms.js";

function start() {
  const root = document.getElementById("replays-page");
  if (!root) return;
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const rowsBox = document.getElementById("replay-rows");
  const emptyBox = document.getElementById("replay-empty");
  const sockets = {};
  const ACTIVE = { pending: true, running: true };

  function api(method, url, body, extraHeaders) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: Object.assign({ "Content-Type": "application/json", "X-CSRFToken": csrf }, extraHeaders),
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (!response.ok) {
          let message = data && data.error ? data.error.message : "HTTP " + response.status;
          throw new Error(message);
        }
        return data;
      });
    });
  }

  function say(id, text, isError) {
    let box = document.getElementById(id);
    box.textContent = text;
    box.classList.toggle("error", Boolean(isError));
  }

  function button(text, cls, onClick) {
    let b = el("button", cls, text);
    b.type = "button";
    b.addEventListener("click", function () { onClick(b); });
    return b;
  }

  // --- consumers ---------------------------------------------------------------------------------

  let consumers = JSON.parse(document.getElementById("consumers-data").textContent);
  const consumerRows = document.getElementById("consumer-rows");
  const picks = document.getElementById("consumer-picks");
  const consumerForm = document.getElementById("consumer-form");
  let editing = null; // the name of the consumer the form edits; null: the form adds one

  function renderPicks() {
    let checked = {};
    picks.querySelectorAll("input[name=consumers]:checked").forEach(function (box) { checked[box.value] = true; });
    picks.querySelectorAll("label.pick, span.muted").forEach(function (node) { node.remove(); });
    if (!consumers.length) picks.appendChild(el("span", "muted small", "Add a consumer first."));
    consumers.forEach(function (consumer) {
      let label = el("label", "pick");
      let box = document.createElement("input");
      box.type = "checkbox";
      box.name = "consumers";
      box.value = consumer.name;
      box.checked = Boolean(checked[consumer.name]);
      label.append(box, " " + consumer.name + (consumer.paused ? " (paused)" : ""));
      picks.appendChild(label);
    });
  }

  function renderConsumers() {
    consumerRows.textContent = "";
    if (!consumers.length) {
      let tr = el("tr", "empty-row");
      let td = cell(tr, "No consumers yet: add one below.", "muted");
      td.colSpan = 9;
      consumerRows.appendChild(tr);
    }
    consumers.forEach(function (consumer) {
      let tr = el("tr");
      tr.id = "consumer-" + consumer.name;
      tr.dataset.name = consumer.name;
      cell(tr, consumer.name, "consumer-name");
      cell(tr, consumer.kind, "consumer-kind");
      cell(tr, consumer.url, "mono clip consumer-url");
      let target = consumerTargetText(consumer);
      cell(tr, target || "—", target ? "mono clip consumer-target" : "muted consumer-target");
      if (consumer.pattern) cell(tr, patternText(consumer.pattern), "mono clip pattern-json");
      else cell(tr, "every event", "muted");
      cell(tr, consumer.rate_per_second === null ? "—" : consumer.rate_per_second, "num");
      cell(tr, consumer.has_secret ? "yes" : "no");
      cell(tr, consumer.paused ? "paused" : "active", "consumer-state " + (consumer.paused ? "state-cancelled" : "state-completed"));
      let actions = cell(tr, null, "nowrap consumer-actions");
      actions.append(
        button("Edit", "edit-consumer", function () { editConsumer(consumer); }), " ",
        button(consumer.paused ? "Resume" : "Pause", "pause-consumer", function (b) {
          b.disabled = true;
          changeConsumer(consumer.name, { paused: !consumer.paused },
            consumer.paused ? consumer.name + " resumed: its replays go on." : consumer.name + " paused: its replays wait.")
            .catch(function () {}); // said in the status line
        }), " ",
        button("Send test event", "test-consumer", function (b) { testConsumer(consumer, b, tr); }), " ",
        button("Attempts", "consumer-attempts", function () { openAttempts({ kind: "consumer", id: consumer.name }); }), " ",
        button("Delete", "delete-consumer", function (b) { deleteConsumer(consumer, b); })
      );
      let result = el("div", "small test-result");
      result.setAttribute("role", "status");
      actions.appendChild(result);
      consumerRows.appendChild(tr);
    });
    renderPicks();
  }

  function replaceConsumer(name, updated) {
    consumers = consumers.map(function (c) { return c.name === name ? updated : c; });
    consumers.sort(function (a, b) { return a.name < b.name ? -1 : a.name > b.name ? 1 : 0; });
    renderConsumers();
  }

  function changeConsumer(name, change, message) {
    return api("PATCH", root.dataset.consumersApi + "/" + encodeURIComponent(name), change).then(function (updated) {
      replaceConsumer(name, updated);
      say("consumer-action-status", message || updated.name + " saved.");
      return updated;
    }).catch(function (err) {
      say("consumer-action-status", err.message, true);
      renderConsumers();
      throw err;
    });
  }

  function testConsumer(consumer, b, tr) {
    let result = tr.querySelector(".test-result");
    b.disabled = true;
    result.textContent = "Sending…";
    result.classList.remove("error");
    api("POST", root.dataset.consumersApi + "/" + encodeURIComponent(consumer.name) + "/test").then(function (attempt) {
      result.textContent = (attempt.delivered ? "Test delivered: " : "Test failed: ") + attemptSummary(attempt);
      result.classList.toggle("error", !attempt.delivered);
      b.disabled = false;
    }).catch(function (err) {
      result.textContent = err.message;
      result.classList.add("error");
      b.disabled = false;
    });
  }

  function deleteConsumer(consumer, b) {
    if (!window.confirm("Delete the consumer " + consumer.name + " and the record of its deliveries?")) return;
    b.disabled = true;
    api("DELETE", root.dataset.consumersApi + "/" + encodeURIComponent(consumer.name)).then(function () {
      consumers = consumers.filter(function (c) { return c.name !== consumer.name; });
      renderConsumers();
      if (editing === consumer.name) resetConsumerForm();
      say("consumer-action-status", consumer.name + " deleted.");
    }).catch(function (err) {
      b.disabled = false;
      say("consumer-action-status", err.message, true);
    });
  }

  function editConsumer(consumer) {
    editing = consumer.name;
    let f = consumerForm.elements;
    f.name.value = consumer.name;
    f.url.value = consumer.url;
    f.rate_per_second.value = consumer.rate_per_second === null ? "" : consumer.rate_per_second;
    f.secret.value = "";
    f.secret.placeholder = consumer.has_secret ? "unchanged (type to replace)" : "";
    f.pattern.value = consumer.pattern ? JSON.stringify(consumer.pattern, null, 2) : "";
    // The URL comes masked (user:***@): sent back unchanged, the server keeps the stored password.
    ["exchange", "routing_key", "subject", "stream"].forEach(function (option) {
      f[option].value = consumer[option] === null || consumer[option] === undefined ? "" : consumer[option];
    });
    showConsumerOptions();
    document.getElementById("consumer-form-title").textContent = "Edit consumer " + consumer.name;
    document.getElementById("consumer-submit").textContent = "Save changes";
    document.getElementById("consumer-cancel").hidden = false;
    say("consumer-status", "");
    consumerForm.scrollIntoView({ block: "nearest" });
    f.url.focus();
  }

  function resetConsumerForm() {
    editing = null;
    consumerForm.reset();
    showConsumerOptions();
    consumerForm.elements.secret.placeholder = "";
    document.getElementById("consumer-form-title").textContent = "Add a consumer";
    document.getElementById("consumer-submit").textContent = "Add consumer";
    document.getElementById("consumer-cancel").hidden = true;
  }

  // The broker options of the URL's kind, and only those, are shown.
  function showConsumerOptions() {
    let kind = consumerKind(consumerForm.elements.url.value);
    consumerForm.querySelectorAll("[data-kind]").forEach(function (label) {
      label.hidden = label.dataset.kind !== kind;
    });
  }

  consumerForm.elements.url.addEventListener("input", showConsumerOptions);

  document.getElementById("consumer-cancel").addEventListener("click", function () {
    resetConsumerForm();
    say("consumer-status", "");
  });

  function readPattern(form) {
    let text = form.elements.pattern.value.trim();
    if (!text) return null;
    return JSON.parse(text);
  }

  function readRate(form) {
    let text = form.elements.rate_per_second.value.trim();
    return text ? Number(text) : null;
  }

  consumerForm.addEventListener("submit", function (event) {
    event.preventDefault();
    let form = consumerForm;
    let body;
    try {
      let values = {};
      for (const field of form.elements) if (field.name) values[field.name] = field.value;
      body = Object.assign(consumerBody(values), { pattern: readPattern(form), rate_per_second: readRate(form) });
    } catch (err) {
      say("consumer-status", "The pattern is not valid JSON.", true);
      return;
    }
    if (form.elements.secret.value) body.secret = form.elements.secret.value;
    say("consumer-status", "Saving…");
    if (editing) {
      let name = editing;
      changeConsumer(name, body, "Saved.").then(function (updated) {
        resetConsumerForm();
        say("consumer-status", updated.name + " saved.");
      }).catch(function (err) { say("consumer-status", err.message, true); });
      return;
    }
    api("POST", root.dataset.consumersApi, body).then(function (created) {
      consumers.push(created);
      replaceConsumer(created.name, created);
      resetConsumerForm();
      say("consumer-status", created.name + " added.");
    }).catch(function (err) { say("consumer-status", err.message, true); });
  });

  // --- replays -----------------------------------------------------------------------------------

  function eta(seconds) {
    if (seconds === null || seconds === undefined) return "—";
    if (seconds < 60) return Math.round(seconds) + " s";
    if (seconds < 3600) return Math.round(seconds / 60) + " min";
    return (seconds / 3600).toFixed(1) + " h";
  }

  function render(replay) {
    let id = "replay-" + replay.id;
    let tr = document.getElementById(id);
    let fresh = !tr;
    if (fresh) {
      tr = document.createElement("tr");
      tr.id = id;
    }
    tr.textContent = "";
    tr.dataset.state = replay.state;
    cell(tr, replay.id, "num");
    let nameCell = cell(tr, replay.name);
    if (replay.selection) nameCell.appendChild(el("div", "muted small", selectionLabel(selectionOf(replay.selection))));
    let stateCell = cell(tr, replay.state, "state state-" + replay.state);
    if (replay.paused_consumers && replay.paused_consumers.length && ACTIVE[replay.state]) {
      stateCell.appendChild(el("div", "small muted waiting", "waiting: " + replay.paused_consumers.join(", ") + " paused"));
    }
    let progressCell = cell(tr, null, "progress-cell");
    let bar = document.createElement("progress");
    let done = replay.delivered + replay.failed;
    bar.max = Math.max(replay.total, done, 1);
    bar.value = done;
    progressCell.appendChild(bar);
    let label = document.createElement("span");
    label.className = "small";
    label.textContent = " " + done + " / " + (replay.planning_done ? replay.total : "≤" + replay.total);
    progressCell.appendChild(label);
    cell(tr, replay.delivered, "num delivered");
    cell(tr, replay.failed, "num failed");
    cell(tr, replay.skipped, "num");
    cell(tr, replay.rate === null || replay.rate === undefined ? "—" : replay.rate, "num");
    cell(tr, ACTIVE[replay.state] ? eta(replay.eta_seconds) : "—", "num");
    if (replay.last_replayed_time) timeCell(tr, replay.last_replayed_time, "mono");
    else cell(tr, "—", "mono");
    let actions = cell(tr, null, "nowrap");
    if (ACTIVE[replay.state]) {
      actions.appendChild(button("Cancel", "cancel-replay", function (cancel) {
        cancel.disabled = true;
        api("POST", "/api/replays/" + replay.id + "/cancel").then(render).catch(function (err) {
          cancel.disabled = false;
          window.alert(err.message);
        });
      }));
      actions.append(" ");
    }
    actions.appendChild(button("Attempts", "replay-attempts", function () {
      openAttempts({ kind: "replay", id: replay.id, name: replay.name });
    }));
    if (replay.failed) {
      actions.append(" ", link("?replay=" + encodeURIComponent(replay.id) + "#dead-letters", "dead letters"));
    }
    if (replay.error) tr.title = replay.error;
    if (fresh) rowsBox.insertBefore(tr, rowsBox.firstChild);
    emptyBox.hidden = true;
    if (ACTIVE[replay.state]) watch(replay.id);
    else unwatch(replay.id);
  }

  // A replay's stored selection ({"kind", …}) in the shape the API takes, for its label.
  function selectionOf(stored) {
    if (stored.kind === "event_ids") return { event_ids: new Array(stored.events) };
    if (stored.kind === "transaction") return { transaction: { lifecycle: stored.lifecycle, key: stored.key } };
    let out = {};
    out[stored.kind] = stored[stored.kind];
    return out;
  }

  function watch(id) {
    if (sockets[id]) return;
    let delay = 500;
    let state = { closed: false, socket: null };
    sockets[id] = state;
    function connect() {
      const socket = new WebSocket(socketUrl(root.dataset.socketPrefix + id + "/"));
      state.socket = socket;
      socket.addEventListener("open", function () {
        delay = 500;
        // Catch up on what changed while the socket was not there.
        api("GET", "/api/replays/" + id).then(render).catch(function () {});
      });
      socket.addEventListener("message", function (message) {
        let data;
        try { data = JSON.parse(message.data); } catch (err) { return; }
        if (data.type === "progress" && data.replay) render(data.replay);
      });
      socket.addEventListener("close", function () {
        if (state.closed) return;
        setTimeout(connect, delay);
        delay = Math.min(delay * 2, 10000);
      });
    }
    connect();
  }

  function unwatch(id) {
    let state = sockets[id];
    if (!state) return;
    state.closed = true;
    if (state.socket) state.socket.close();
    delete sockets[id];
  }

  // --- a new replay ------------------------------------------------------------------------------

  const replayForm = document.getElementById("replay-form");
  const startButton = document.getElementById("start-replay");
  let planned = null;
  let plannedKey = null; // one Idempotency-Key per planned replay: a double click starts it once
  let selection = selectionFromQuery(window.location.search);

  function newKey() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function showSelection() {
    let box = document.getElementById("selection-box");
    box.hidden = !selection;
    replayForm.querySelectorAll(".range-field").forEach(function (field) { field.hidden = Boolean(selection); });
    replayForm.elements.since.required = !selection;
    if (selection) document.getElementById("selection-label").textContent = selectionLabel(selection);
  }

  document.getElementById("selection-clear").addEventListener("click", function () {
    selection = null;
    showSelection();
    startButton.disabled = true;
    document.getElementById("plan").hidden = true;
  });

  function replayBody(dryRun) {
    let form = replayForm;
    let chosen = [];
    form.querySelectorAll("input[name=consumers]:checked").forEach(function (box) { chosen.push(box.value); });
    let body = { name: form.elements.name.value.trim(), pattern: readPattern(form), consumers: chosen,
                 rate_per_second: readRate(form), dry_run: dryRun };
    if (selection) {
      Object.assign(body, selection);
    } else {
      body.since = form.elements.since.value.trim();
      let until = form.elements.until.value.trim();
      if (until) body.until = until;
    }
    return body;
  }

  function fillRows(id, pairs) {
    let box = document.getElementById(id);
    box.textContent = "";
    pairs.forEach(function (pair) {
      let tr = document.createElement("tr");
      pair.forEach(function (value, index) { cell(tr, value, index ? "num" : ""); });
      box.appendChild(tr);
    });
  }

  function showPlan(plan, withConsumers) {
    document.getElementById("plan").hidden = false;
    document.getElementById("plan-selection").textContent = selection ? "— " + selectionLabel(selection) : "";
    document.getElementById("plan-matched").textContent = plan.matched + (plan.complete ? "" : "+ (partial count)");
    document.getElementById("plan-deliveries").textContent = plan.deliveries;
    document.getElementById("plan-skipped").textContent = plan.skipped;
    document.getElementById("plan-first-title").textContent = withConsumers
      ? "First events delivered (in delivery order)" : "First events selected (in delivery order)";
    fillRows("plan-types", Object.keys(plan.by_detail_type).map(function (k) { return [k, plan.by_detail_type[k]]; }));
    fillRows("plan-consumers", Object.keys(plan.by_consumer).map(function (k) { return [k, plan.by_consumer[k]]; }));
    let first = document.getElementById("plan-first");
    first.textContent = "";
    plan.first_events.forEach(function (ev) {
      let tr = document.createElement("tr");
      let td = cell(tr, null, "mono");
      let a = document.createElement("a");
      a.href = "/events/" + encodeURIComponent(ev.id) + "/";
      a.append(timeNode(ev.time), " " + ev.id);
      td.appendChild(a);
      cell(tr, ev["detail-type"]);
      cell(tr, ev.source);
      cell(tr, ev.idempotency_key || "—", "mono");
      first.appendChild(tr);
    });
  }

  function dryRun() {
    let body;
    try { body = replayBody(true); } catch (err) {
      say("replay-status", "The pattern is not valid JSON.", true);
      return;
    }
    startButton.disabled = true;
    say("replay-status", "Planning…");
    api("POST", root.dataset.replaysApi, body).then(function (plan) {
      showPlan(plan, body.consumers.length > 0);
      if (!body.consumers.length) {
        planned = null;
        say("replay-status", "This is what the selection holds. Pick consumers and run the dry run again to start it.");
        return;
      }
      planned = JSON.stringify(replayBody(false));
      plannedKey = newKey();
      startButton.disabled = false;
      say("replay-status", "Dry run done: nothing was delivered. Start it when the plan looks right.");
    }).catch(function (err) { say("replay-status", err.message, true); });
  }

  replayForm.addEventListener("submit", function (event) {
    event.preventDefault();
    dryRun();
  });

  replayForm.addEventListener("input", function () {
    // A changed form needs a new dry run before it can start.
    startButton.disabled = true;
  });
  replayForm.addEventListener("change", function () { startButton.disabled = true; });

  startButton.addEventListener("click", function () {
    if (!planned) return;
    startButton.disabled = true;
    api("POST", root.dataset.replaysApi, JSON.parse(planned), { "Idempotency-Key": plannedKey }).then(function (replay) {
      say("replay-status", "Replay #" + replay.id + " started.");
      render(replay);
    }).catch(function (err) {
      // Safe to try again: the same key makes the server answer with the replay it already made.
      say("replay-status", err.message + " — try again.", true);
      startButton.disabled = false;
    });
  });

  // --- attempts ----------------------------------------------------------------------------------

  const attemptsBox = document.getElementById("attempts");
  const attemptRows = document.getElementById("attempts-rows");
  const outcomeBox = document.getElementById("attempts-outcome");
  const moreButton = document.getElementById("attempts-more");
  let attemptsOwner = null;
  let attemptsCursor = null;

  function attemptRow(attempt) {
    let tr = el("tr", "attempt outcome-" + attempt.outcome);
    timeCell(tr, attempt.at, "mono");
    if (attempt.replay) cell(tr, "#" + attempt.replay, "num");
    else cell(tr, "test", "muted");
    if (attempt.event) {
      let td = cell(tr, null, "mono");
      td.appendChild(link("/events/" + encodeURIComponent(attempt.event) + "/", attempt.event));
    } else {
      cell(tr, "sample event", "muted");
    }
    cell(tr, attempt.consumer || "—");
    cell(tr, attempt.number, "num");
    cell(tr, attempt.status === null ? "no answer" : attempt.status, "num attempt-status");
    cell(tr, attempt.latency_ms.toFixed(1) + " ms", "num");
    cell(tr, attempt.outcome, "attempt-outcome state-" + (attempt.outcome === "dead" ? "failed" : attempt.outcome === "retry" ? "running" : "completed"));
    let detail = cell(tr, null, "clip");
    if (attempt.error) detail.appendChild(el("span", "error", attempt.error));
    else if (attempt.response) detail.appendChild(el("span", "mono muted", attempt.response));
    return tr;
  }

  function loadAttempts(more) {
    say("attempts-status", "Loading…");
    moreButton.hidden = true;
    api("GET", attemptsUrl(attemptsOwner, outcomeBox.value, more ? attemptsCursor : null)).then(function (page) {
      if (!more) attemptRows.textContent = "";
      page.results.forEach(function (attempt) { attemptRows.appendChild(attemptRow(attempt)); });
      attemptsCursor = page.next_cursor;
      moreButton.hidden = !page.next_cursor;
      let shown = attemptRows.children.length;
      say("attempts-status", shown ? shown + " shown, newest first." : "No attempts" + (outcomeBox.value ? " with this outcome." : " yet."));
    }).catch(function (err) { say("attempts-status", err.message, true); });
  }

  function openAttempts(owner) {
    attemptsOwner = owner;
    attemptsBox.hidden = false;
    document.getElementById("attempts-owner").textContent = owner.kind === "consumer"
      ? "to consumer " + owner.id : "of replay #" + owner.id + (owner.name ? " " + owner.name : "");
    loadAttempts(false);
    attemptsBox.scrollIntoView({ block: "nearest" });
  }

  outcomeBox.addEventListener("change", function () { if (attemptsOwner) loadAttempts(false); });
  moreButton.addEventListener("click", function () { loadAttempts(true); });
  document.getElementById("attempts-close").addEventListener("click", function () {
    attemptsBox.hidden = true;
    attemptsOwner = null;
  });

  // --- dead letters ------------------------------------------------------------------------------

  function redrive(replayId, ids, buttons) {
    say("redrive-status", "Re-driving…");
    buttons.forEach(function (b) { b.disabled = true; });
    api("POST", "/api/replays/" + replayId + "/redrive", ids ? { ids: ids } : {}).then(function (answer) {
      let which = ids || Array.from(document.querySelectorAll(".redrive-one")).map(function (b) {
        return parseInt(b.dataset.delivery, 10);
      });
      which.forEach(function (id) {
        let row = document.getElementById("dead-" + id);
        if (!row) return;
        row.classList.add("redriven");
        row.querySelector(".redrive-state").textContent = answer.redriven ? "re-driven: sending again" : "not dead any more";
        row.querySelector(".redrive-one").disabled = true;
      });
      let n = answer.redriven;
      say("redrive-status", n === 0 ? "Nothing to re-drive: these were re-driven already."
        : n + " dead letter" + (n === 1 ? "" : "s") + " re-driven: replay #" + answer.replay.id + " is sending " +
          (n === 1 ? "it" : "them") + " again. Its progress shows above.");
      if (!document.querySelector(".redrive-one:not([disabled])")) document.getElementById("redrive-all").disabled = true;
      render(answer.replay);
    }).catch(function (err) {
      buttons.forEach(function (b) { b.disabled = false; });
      say("redrive-status", err.message, true);
    });
  }

  const all = document.getElementById("redrive-all");
  if (all) all.addEventListener("click", function () { redrive(all.dataset.replay, null, [all]); });
  document.querySelectorAll(".redrive-one").forEach(function (b) {
    b.addEventListener("click", function () {
      redrive(b.dataset.replay, [parseInt(b.dataset.delivery, 10)], [b]);
    });
  });

  // --- start -------------------------------------------------------------------------------------

  renderConsumers();
  showConsumerOptions();
  const initial = JSON.parse(document.getElementById("replays-data").textContent);
  for (let i = initial.length - 1; i >= 0; i--) render(initial[i]);
  showSelection();
  if (selection) {
    // Arrived from "replay these": the form is filled in and the plan of the selection shown first.
    replayForm.elements.name.value = selectionName(selection);
    document.getElementById("new-replay").scrollIntoView({ block: "start" });
    dryRun();
  }
}

start();
