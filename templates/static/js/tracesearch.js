// The trace search form (/traces/): service chips get their colours, and choosing a service refills
// the span-name picker with that service's span names (GET /api/services). Names are producers'
// text: they only ever go in through option text and values.
import { paintServiceChips } from "./dom.js";

const service = document.getElementById("ts-service");
const spanName = document.getElementById("ts-name");
let known = null; // the /api/services answer, fetched once

async function servicesList() {
  if (known === null) {
    const response = await fetch("/api/services", { credentials: "same-origin" });
    if (!response.ok) throw new Error("GET /api/services: " + response.status);
    known = (await response.json()).results;
  }
  return known;
}

function option(value, text) {
  const node = document.createElement("option");
  node.value = value;
  node.textContent = text;
  return node;
}

async function refillSpanNames() {
  const list = await servicesList();
  const chosen = list.find((item) => item.name === service.value);
  const names = chosen ? chosen.span_names : [...new Set(list.flatMap((item) => item.span_names))].sort();
  const keep = spanName.value;
  spanName.replaceChildren(option("", "Any span name"), ...names.map((name) => option(name, name)));
  spanName.value = names.includes(keep) ? keep : "";
}

paintServiceChips();

// Empty fields are left out of the URL, so a search's address reads as what was asked
// (/traces/?service=checkout&status=error). Disabled fields are not submitted; they are enabled
// again when the page is shown from the back/forward cache.
const form = document.getElementById("trace-search");
if (form) {
  const fields = () => [...form.querySelectorAll("input, select, textarea")].filter((f) => f.name);
  form.addEventListener("submit", () => {
    fields().forEach((field) => { if (field.value.trim() === "") field.disabled = true; });
  });
  window.addEventListener("pageshow", () => fields().forEach((field) => { field.disabled = false; }));
}
if (service && spanName) {
  service.addEventListener("change", () => {
    refillSpanNames().catch(() => {
      // The server-rendered list stays; the search itself still answers.
    });
  });
}
