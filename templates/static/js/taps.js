// The taps page (/taps/): create a tap, edit, stop/start/delete one, and the table refreshed every
// few seconds from /api/taps. Broker and payload text reach the page only through textContent.
import { cell, el, timeNode } from "./dom.js";
import { brokerOf, countText, tapBody, tapChange } from "./tapform.js";

const REFRESH_MS = 3000;

function start() {
  const root = document.getElementById("taps-page");
  if (!root) return;
  const csrf = root.querySelector("input[name=csrfmiddlewaretoken]").value;
  const rows = document.getElementById("tap-rows");
  const form = document.getElementById("tap-form");
  const status = document.getElementById("tap-status");

  function api(method, url, body) {
    return fetch(url, {
      method: method,
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: body === undefined ? undefined : JSON.stringify(body)
    }).then(function (response) {
      if (response.status === 204) return null;
      return response.json().then(function (data) {
        if (!response.ok) throw new Error(data && data.error ? data.error.message : "HTTP " + response.status);
        return data;
      });
    });
  }

  function say(text, isError) {
    status.textContent = text;
    status.classList.toggle("error", Boolean(isError));
  }

  function button(label, action) {
    const b = el("button", "small", label);
    b.type = "button";
    b.addEventListener("click", function () {
      b.disabled = true;
      action().then(refresh, function (err) { say(err.message, true); }).finally(function () { b.disabled = false; });
    });
    return b;
  }

  function row(tap) {
    const tr = el("tr");
    tr.dataset.tap = tap.name;
    tr.dataset.state = tap.state;
    const path = "/api/taps/" + encodeURIComponent(tap.name);
    cell(tr, tap.name);
    cell(tr, tap.url, "mono clip");
    cell(tr, tap.exchange !== undefined ? tap.exchange + " ← " + tap.binding_key : (tap.subject || tap.stream), "mono");
    cell(tr, tap.format);
    cell(tr, tap.state, "state state-" + tap.state);
    for (const count of [tap.received, tap.stored, tap.duplicates, tap.rejected, tap.backlog]) cell(tr, countText(count), "num");
    const error = cell(tr, tap.last_error, "clip");
    if (tap.last_error && tap.last_error_at) {
      error.appendChild(document.createTextNode(" "));
      error.appendChild(timeNode(tap.last_error_at));
    }
    const actions = cell(tr, null, "actions");
    const edit = el("button", "small edit-tap", "Edit");
    edit.type = "button";
    edit.addEventListener("click", function () { startEditing(tap); });
    actions.appendChild(edit);
    if (tap.state === "stopped") actions.appendChild(button("Start", function () { return api("POST", path + "/start"); }));
    else actions.appendChild(button("Stop", function () { return api("POST", path + "/stop"); }));
    actions.appendChild(button("Delete", function () {
      return window.confirm("Delete the tap " + tap.name + " and its queue on the broker?") ? api("DELETE", path) : Promise.resolve();
    }));
    return tr;
  }

  function render(taps) {
    rows.textContent = "";
    if (!taps.length) {
      const tr = el("tr", "empty-row");
      const td = cell(tr, "No taps yet: add one below.", "muted");
      td.colSpan = 12;
      rows.appendChild(tr);
    }
    for (const tap of taps) rows.appendChild(row(tap));
  }

  function refresh() {
    return api("GET", root.dataset.api).then(function (data) { render(data.results); }, function () {});
  }

  function showOptions() {
    const broker = brokerOf(form.elements.url.value);
    form.querySelectorAll("[data-broker]").forEach(function (label) {
      label.hidden = Boolean(broker) && label.dataset.broker !== broker;
    });
  }

  let editing = null; // the name of the tap the form edits; null: the form adds one

  // The form edits a tap: its settings filled in (the URL masked as shown; sent back so, the server
  // keeps the stored password), its name fixed.
  function startEditing(tap) {
    editing = tap.name;
    form.reset();
    form.elements.name.value = tap.name;
    form.elements.name.readOnly = true;
    form.elements.url.value = tap.url;
    form.elements.format.value = tap.format;
    for (const option of ["exchange", "binding_key", "subject", "stream"]) {
      form.elements[option].value = tap[option] === undefined || tap[option] === null ? "" : tap[option];
    }
    document.getElementById("tap-form-title").textContent = "Edit tap " + tap.name;
    document.getElementById("tap-submit").textContent = "Save changes";
    document.getElementById("tap-cancel").hidden = false;
    showOptions();
    say("");
    form.scrollIntoView({ block: "nearest" });
  }

  function stopEditing() {
    editing = null;
    form.reset();
    form.elements.name.readOnly = false;
    document.getElementById("tap-form-title").textContent = "Add a tap";
    document.getElementById("tap-submit").textContent = "Add tap";
    document.getElementById("tap-cancel").hidden = true;
    showOptions();
  }

  document.getElementById("tap-cancel").addEventListener("click", function () { stopEditing(); say(""); });
  form.elements.url.addEventListener("input", showOptions);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    const values = {};
    for (const field of form.elements) if (field.name) values[field.name] = field.value;
    const request = editing
      ? api("PATCH", root.dataset.api + "/" + encodeURIComponent(editing), tapChange(values))
      : api("POST", root.dataset.api, tapBody(values));
    const done = editing ? " saved: it runs with the new settings." : " created.";
    say(editing ? "Saving…" : "Creating…");
    request.then(function (tap) {
      say(tap.state === "failing" ? "Saved, but failing: " + tap.last_error : "Tap " + tap.name + done, tap.state === "failing");
      stopEditing();
      return refresh();
    }, function (err) { say(err.message, true); });
  });
  showOptions();
  refresh();
  window.setInterval(refresh, REFRESH_MS);
}

start();
