// Time parsing and formatting shared by the pages.
import assert from "node:assert/strict";
import test from "node:test";

import { clock, fmtMs, hhmm, parseNs } from "../../templates/static/js/time.js";

test("parseNs keeps sub-millisecond precision", () => {
  // Epoch nanoseconds in a double are exact to a few hundred ns today: enough for a waterfall.
  const a = parseNs("2026-01-02T03:04:05.000001Z");
  const b = parseNs("2026-01-02T03:04:05.000002500Z");
  assert.ok(Math.abs(b - a - 1500) < 300, String(b - a));
  assert.ok(Math.abs(parseNs("2026-01-02T03:04:05.123Z") - parseNs("2026-01-02T03:04:05Z") - 123e6) < 300);
  assert.equal(parseNs("2026-01-02T03:04:05Z"), Date.UTC(2026, 0, 2, 3, 4, 5) * 1e6);
});

test("parseNs honours an offset and refuses what is not a time", () => {
  assert.equal(parseNs("2026-01-02T05:04:05+02:00"), parseNs("2026-01-02T03:04:05Z"));
  assert.ok(Number.isNaN(parseNs(undefined)));
  assert.ok(Number.isNaN(parseNs("yesterday")));
});

test("fmtMs picks the unit that reads best", () => {
  assert.equal(fmtMs(0.25), "0.250 ms");
  assert.equal(fmtMs(3.14159), "3.14 ms");
  assert.equal(fmtMs(250), "250.0 ms");
  assert.equal(fmtMs(1200), "1.20 s");
});

test("clock and hhmm show UTC", () => {
  assert.equal(clock("2026-01-02T03:04:05.678901Z"), "2026-01-02 03:04:05.678901");
  assert.equal(clock(null), "");
  assert.equal(hhmm(Date.UTC(2026, 0, 2, 3, 4)), "03:04");
});
