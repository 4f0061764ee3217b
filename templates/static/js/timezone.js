// The header's time switch, on every page: UTC (the default) or the browser's local time,
// remembered in localStorage. Server-rendered times are `<time datetime="RFC 3339">UTC text</time>`;
// in local time their text is rewritten here. Scripts that draw times themselves (live.js, trace.js)
// format with time.js, and redraw on the "eventscope:time-zone" event this module sends.
import { ZONES, currentZone, formatTime, rememberZone } from "./time.js";

/** Rewrite every `<time datetime>` under `root` in `zone`. */
export function rewriteTimes(zone, root = document) {
  root.querySelectorAll("time[datetime]").forEach((node) => {
    node.textContent = formatTime(node.getAttribute("datetime"), zone);
    node.title = zone === "local" ? formatTime(node.getAttribute("datetime"), "utc") : "";
  });
}

function start() {
  const zone = currentZone();
  document.documentElement.dataset.timeZone = zone;
  if (zone !== "utc") rewriteTimes(zone);
  const picker = document.getElementById("time-zone");
  if (!picker) return;
  picker.value = zone;
  picker.addEventListener("change", () => {
    const chosen = ZONES.includes(picker.value) ? picker.value : "utc";
    rememberZone(chosen);
    document.documentElement.dataset.timeZone = chosen;
    rewriteTimes(chosen);
    document.dispatchEvent(new CustomEvent("eventscope:time-zone", { detail: { zone: chosen } }));
  });
}

start();
