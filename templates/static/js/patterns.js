// The pattern playground (/patterns/): the pattern is checked as it is typed, through
// POST /api/patterns/test (the server's engine is the only judge of a pattern), and the pasted
// event is checked to be a JSON object. Trying it is the form's submit, answered by the server.

/** "ok" with a message, or the reason a pattern's text is not even JSON (checked before asking). */
export function readJson(text) {
  if (!text.trim()) return { ok: false, empty: true, message: "" };
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, message: "Not valid JSON: " + err.message };
  }
}

function start() {
  const form = document.getElementById("playground");
  if (!form) return;
  const patternBox = document.getElementById("pattern");
  const patternStatus = document.getElementById("pattern-status");
  const eventBox = document.getElementById("event");
  const eventStatus = document.getElementById("event-status");
  const csrf = form.querySelector("input[name=csrfmiddlewaretoken]").value;
  let asked = 0;

  function say(node, ok, text) {
    node.textContent = text;
    node.className = "small " + (ok ? "ok" : "error");
  }

  function checkPattern() {
    const mine = ++asked;
    const read = readJson(patternBox.value);
    if (!read.ok) {
      say(patternStatus, false, read.empty ? "Write a pattern: a JSON object." : read.message);
      return;
    }
    fetch(form.dataset.validateApi, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": csrf, Accept: "application/json" },
      body: JSON.stringify({ pattern: read.value, event: {} }),
    }).then((r) => r.json().then((body) => {
      if (mine !== asked) return;
      if (r.ok) say(patternStatus, true, "Valid pattern.");
      else say(patternStatus, false, body.error ? body.error.message : "Invalid pattern.");
    })).catch(() => { if (mine === asked) say(patternStatus, false, "Could not check the pattern."); });
  }

  function checkEvent() {
    const read = readJson(eventBox.value);
    if (read.empty) { eventStatus.textContent = ""; eventStatus.className = "small"; return; }
    if (!read.ok) say(eventStatus, false, read.message);
    else if (read.value === null || typeof read.value !== "object" || Array.isArray(read.value)) {
      say(eventStatus, false, "The event must be a JSON object (an EventBridge envelope).");
    } else say(eventStatus, true, "A JSON object.");
  }

  let typing = null;
  patternBox.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(checkPattern, 250); });
  let typingEvent = null;
  eventBox.addEventListener("input", () => { clearTimeout(typingEvent); typingEvent = setTimeout(checkEvent, 250); });
  // A server-reported error stays until the text changes.
  if (!patternStatus.textContent && patternBox.value.trim()) checkPattern();
}

if (typeof document !== "undefined") start();
