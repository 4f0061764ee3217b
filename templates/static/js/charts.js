// Stacked bar charts of rates over time, drawn as SVG from json_script data:
// {"buckets": [epoch ms...], "bucket_minutes": n, "series": [{"name", "counts": [...], "total"}]}.
// Names are producers' text: they only ever go through textContent.
import { colourOf } from "./dom.js";
import { hhmm, zoneName } from "./time.js";

const SVG = "http://www.w3.org/2000/svg";
const W = 640, H = 180, PAD_L = 40, PAD_B = 20, PAD_T = 8;

function svg(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  return node;
}

function draw(figure) {
  // Drawn again when the header's time switch changes: the axis follows the chosen zone.
  figure.querySelectorAll(":scope > svg, :scope > .legend, :scope > p.muted.small").forEach((node) => node.remove());
  const source = document.getElementById(figure.dataset.series);
  if (!source) return;
  const data = JSON.parse(source.textContent);
  const n = data.buckets.length;
  const totals = data.buckets.map((_, i) => data.series.reduce((sum, s) => sum + s.counts[i], 0));
  const max = Math.max(1, ...totals);
  const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "rate-chart", role: "img" });
  const title = svg("title");
  title.textContent = figure.querySelector("figcaption") ? figure.querySelector("figcaption").textContent : "";
  chart.appendChild(title);
  const plotW = W - PAD_L, plotH = H - PAD_B - PAD_T, barW = plotW / Math.max(1, n);
  for (const frac of [0, 0.5, 1]) {
    const y = PAD_T + plotH * (1 - frac);
    chart.appendChild(svg("line", { x1: PAD_L, x2: W, y1: y, y2: y, class: "grid" }));
    const label = svg("text", { x: PAD_L - 4, y: y + 4, class: "axis", "text-anchor": "end" });
    label.textContent = String(Math.round(max * frac));
    chart.appendChild(label);
  }
  data.buckets.forEach((start, i) => {
    let y = PAD_T + plotH;
    data.series.forEach((s) => {
      const count = s.counts[i];
      if (!count) return;
      const h = (count / max) * plotH;
      y -= h;
      const rect = svg("rect", { x: PAD_L + i * barW + 0.5, y, width: Math.max(1, barW - 1), height: h, fill: colourOf(s.name) });
      const tip = svg("title");
      tip.textContent = `${s.name}: ${count} ${figure.dataset.unit} at ${hhmm(start)} ${zoneName()}`;
      rect.appendChild(tip);
      chart.appendChild(rect);
    });
    if (i % Math.ceil(n / 6) === 0) {
      const label = svg("text", { x: PAD_L + i * barW, y: H - 4, class: "axis" });
      label.textContent = hhmm(start);
      chart.appendChild(label);
    }
  });
  if (data.counted_from) {
    // A busy window: only the newest rows were counted; shade the part of the axis they don't cover.
    const span = (data.buckets.length ? data.bucket_minutes * 60000 : 1);
    const cut = Math.min(n, Math.max(0, (data.counted_from - data.buckets[0]) / span));
    chart.appendChild(svg("rect", { x: PAD_L, y: PAD_T, width: cut * barW, height: plotH, class: "uncounted" }));
    const note = document.createElement("p");
    note.className = "muted small";
    note.textContent = `Busy window: only the newest ${data.budget.toLocaleString()} ${figure.dataset.unit} are counted (from ${hhmm(data.counted_from)} ${zoneName()}).`;
    figure.appendChild(note);
  }
  figure.appendChild(chart);
  const legend = document.createElement("ul");
  legend.className = "legend";
  if (!data.series.length) {
    const empty = document.createElement("li");
    empty.className = "muted";
    empty.textContent = `No ${figure.dataset.unit} in this window.`;
    legend.appendChild(empty);
  }
  data.series.forEach((s) => {
    const item = document.createElement("li");
    const swatch = document.createElement("span");
    swatch.className = "swatch";
    swatch.style.background = colourOf(s.name);
    let label;
    if (figure.dataset.link === "source" && s.name !== "(other)") {
      label = document.createElement("a");
      label.href = "/events/?source=" + encodeURIComponent(s.name);
    } else {
      label = document.createElement("span");
    }
    label.textContent = s.name;
    const total = document.createElement("span");
    total.className = "muted";
    total.textContent = " " + s.total;
    item.append(swatch, label, total);
    legend.appendChild(item);
  });
  figure.appendChild(legend);
}

function drawAll() {
  document.querySelectorAll("figure.chart[data-series]").forEach(draw);
}

drawAll();
document.addEventListener("eventscope:time-zone", drawAll);
