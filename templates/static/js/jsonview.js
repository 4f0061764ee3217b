// A collapsible JSON viewer with a copy button, for every `.json-view[data-source]` on the page.
// The data comes from a json_script element and is parsed with the exact parser, so numbers are
// shown and copied as stored, however large. It is rendered with createElement/textContent only,
// so whatever a payload contains stays text.
import { el } from "./dom.js";
import { ExactNumber, parse, stringify } from "./exactjson.js";

function scalar(value) {
  if (value instanceof ExactNumber) return el("span", "j-num", value.text);
  if (value === null) return el("span", "j-null", "null");
  switch (typeof value) {
    case "string": return el("span", "j-str", JSON.stringify(value));
    case "boolean": return el("span", "j-bool", String(value));
    default: return el("span", "", String(value));
  }
}

function render(value, depth) {
  if (value === null || typeof value !== "object" || value instanceof ExactNumber) return scalar(value);
  const isArray = Array.isArray(value);
  const keys = isArray ? value.map((_, i) => i) : Object.keys(value);
  const [open, close] = isArray ? ["[", "]"] : ["{", "}"];
  if (keys.length === 0) return el("span", "j-punct", open + close);
  const box = el("span", "j-node");
  const toggle = el("button", "j-toggle", "▾");
  toggle.type = "button";
  toggle.setAttribute("aria-label", "collapse");
  const summary = el("span", "j-summary", " " + keys.length + (isArray ? " items " : " keys "));
  summary.hidden = true;
  const list = el("ul", "j-list");
  keys.forEach((key, index) => {
    const item = el("li");
    if (!isArray) item.append(el("span", "j-key", JSON.stringify(String(key))), el("span", "j-punct", ": "));
    item.appendChild(render(value[key], depth + 1));
    if (index < keys.length - 1) item.appendChild(el("span", "j-punct", ","));
    list.appendChild(item);
  });
  toggle.addEventListener("click", () => {
    const collapsed = !list.hidden;
    list.hidden = collapsed;
    summary.hidden = !collapsed;
    toggle.textContent = collapsed ? "▸" : "▾";
    toggle.setAttribute("aria-label", collapsed ? "expand" : "collapse");
  });
  box.append(toggle, el("span", "j-punct", open), summary, list, el("span", "j-punct", close));
  if (depth >= 3 && keys.length > 8) toggle.click();
  return box;
}

function copy(text, button) {
  const done = (label) => {
    button.textContent = label;
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  };
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(text).then(() => done("Copied"), () => done("Copy failed"));
    return;
  }
  // Plain-http deployments have no clipboard API: select a hidden textarea and copy that.
  const area = el("textarea", "offscreen");
  area.value = text;
  document.body.appendChild(area);
  area.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  area.remove();
  done(ok ? "Copied" : "Copy failed");
}

function mount(container) {
  const source = document.getElementById(container.dataset.source);
  if (!source) return;
  const value = parse(source.textContent);
  const text = typeof value === "string" ? value : stringify(value, 2);
  const bar = el("div", "j-bar");
  const button = el("button", "copy", "Copy");
  button.type = "button";
  button.addEventListener("click", () => copy(text, button));
  const expand = el("button", "", "Expand all");
  expand.type = "button";
  expand.addEventListener("click", () => {
    container.querySelectorAll(".j-toggle[aria-label=expand]").forEach((t) => t.click());
  });
  bar.append(button, expand);
  const body = el("pre", "j-root");
  body.appendChild(typeof value === "string" ? el("span", "j-str", value) : render(value, 0));
  container.replaceChildren(bar, body);
}

document.querySelectorAll(".json-view[data-source]").forEach(mount);
