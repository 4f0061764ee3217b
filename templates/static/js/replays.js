// The replays page (/replays/): consumers, dry run then start, live progress over /ws/replays/<id>/,
// cancel and re-drive. Payload text only ever reaches the page through textContent.
import { cell, socketUrl, timeCell, timeNode } from "./dom.js";

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
    cell(tr, replay.name);
    cell(tr, replay.state, "state state-" + replay.state);
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
      let cancel = document.createElement("button");
      cancel.type = "button";
      cancel.className = "cancel-replay";
      cancel.textContent = "Cancel";
      cancel.addEventListener("click", function () {
        cancel.disabled = true;
        api("POST", "/api/replays/" + replay.id + "/cancel").then(render).catch(function (err) {
          cancel.disabled = false;
          window.alert(err.message);
        });
      });
      actions.appendChild(cancel);
    }
    if (replay.failed) {
      let link = document.createElement("a");
      link.href = "?replay=" + encodeURIComponent(replay.id) + "#dead-letters";
      link.textContent = " dead letters";
      actions.appendChild(link);
    }
    if (replay.error) tr.title = replay.error;
    if (fresh) rowsBox.insertBefore(tr, rowsBox.firstChild);
    emptyBox.hidden = true;
    if (ACTIVE[replay.state]) watch(replay.id);
    else unwatch(replay.id);
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

  const initial = JSON.parse(document.getElementById("replays-data").textContent);
  for (let i = initial.length - 1; i >= 0; i--) render(initial[i]);

  function readPattern(form) {
    let text = form.elements.pattern.value.trim();
    if (!text) return null;
    return JSON.parse(text);
  }

  function readRate(form) {
    let text = form.elements.rate_per_second.value.trim();
    return text ? Number(text) : null;
  }

  document.getElementById("consumer-form").addEventListener("submit", function (event) {
    event.preventDefault();
    let form = event.target;
    let body;
    try {
      body = { name: form.elements.name.value.trim(), url: form.elements.url.value.trim(),
               pattern: readPattern(form), rate_per_second: readRate(form) };
    } catch (err) {
      say("consumer-status", "The pattern is not valid JSON.", true);
      return;
    }
    if (form.elements.secret.value) body.secret = form.elements.secret.value;
    say("consumer-status", "Saving…");
    api("POST", root.dataset.consumersApi, body).then(function () {
      window.location.reload();
    }).catch(function (err) { say("consumer-status", err.message, true); });
  });

  const replayForm = document.getElementById("replay-form");
  const startButton = document.getElementById("start-replay");
  let planned = null;
  let plannedKey = null; // one Idempotency-Key per planned replay: a double click starts it once

  function newKey() {
    // crypto.randomUUID needs a secure context; getRandomValues works on plain http too.
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function replayBody(dryRun) {
    let form = replayForm;
    let consumers = [];
    form.querySelectorAll("input[name=consumers]:checked").forEach(function (box) { consumers.push(box.value); });
    let body = { name: form.elements.name.value.trim(), since: form.elements.since.value.trim(),
                 pattern: readPattern(form), consumers: consumers, rate_per_second: readRate(form), dry_run: dryRun };
    let until = form.elements.until.value.trim();
    if (until) body.until = until;
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

  function showPlan(plan) {
    document.getElementById("plan").hidden = false;
    document.getElementById("plan-matched").textContent = plan.matched + (plan.complete ? "" : "+ (partial count)");
    document.getElementById("plan-deliveries").textContent = plan.deliveries;
    document.getElementById("plan-skipped").textContent = plan.skipped;
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

  replayForm.addEventListener("submit", function (event) {
    event.preventDefault();
    let body;
    try { body = replayBody(true); } catch (err) {
      say("replay-status", "The pattern is not valid JSON.", true);
      return;
    }
    startButton.disabled = true;
    say("replay-status", "Planning…");
    api("POST", root.dataset.replaysApi, body).then(function (plan) {
      planned = JSON.stringify(replayBody(false));
      plannedKey = newKey();
      showPlan(plan);
      startButton.disabled = false;
      say("replay-status", "Dry run done: nothing was delivered. Start it when the plan looks right.");
    }).catch(function (err) { say("replay-status", err.message, true); });
  });

  replayForm.addEventListener("input", function () {
    // A changed form needs a new dry run before it can start.
    startButton.disabled = true;
  });

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

  function redrive(replayId, ids) {
    say("redrive-status", "Re-driving…");
    api("POST", "/api/replays/" + replayId + "/redrive", ids ? { ids: ids } : {}).then(function (answer) {
      say("redrive-status", answer.redriven + " re-driven.");
      render(answer.replay);
      window.setTimeout(function () { window.location.reload(); }, 800);
    }).catch(function (err) { say("redrive-status", err.message, true); });
  }

  const all = document.getElementById("redrive-all");
  if (all) all.addEventListener("click", function () { all.disabled = true; redrive(all.dataset.replay, null); });
  document.querySelectorAll(".redrive-one").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      redrive(button.dataset.replay, [parseInt(button.dataset.delivery, 10)]);
    });
  });
}

start();
