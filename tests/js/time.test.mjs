// Time parsing and formatting shared by the pages.
import assert from "node:assert/strict";
import test from "node:test";

import { clock, currentZone, fmtMs, formatAt, formatTime, hhmm, parseNs, zoneName } from "../../templates/static/js/time.js";

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

test("clock and hhmm show UTC by default", () => {
  assert.equal(clock("2026-01-02T03:04:05.678901Z"), "2026-01-02 03:04:05.678901 UTC");
  assert.equal(clock(null), "");
  assert.equal(hhmm(Date.UTC(2026, 0, 2, 3, 4)), "03:04");
});

test("formatAt: one format, UTC or an offset, the fraction kept as sent", () => {
  assert.equal(formatAt("2026-01-02T03:04:05.678901Z", null), "2026-01-02 03:04:05.678901 UTC");
  assert.equal(formatAt("2026-01-02T03:04:05.123456789Z", null), "2026-01-02 03:04:05.123456789 UTC");
  assert.equal(formatAt("2026-01-02T03:04:05Z", null), "2026-01-02 03:04:05 UTC");
  assert.equal(formatAt("2026-01-02T03:04:05.678901Z", 60), "2026-01-02 04:04:05.678901 +01:00");
  assert.equal(formatAt("2026-01-02T03:04:05.5Z", -330), "2026-01-01 21:34:05.5 -05:30");
  assert.equal(formatAt("2026-01-02T03:04:05.5Z", 0), "2026-01-02 03:04:05.5 +00:00");
});

test("formatAt reads any offset and crosses days, months and years", () => {
  assert.equal(formatAt("2026-01-02T05:04:05.000001+02:00", null), "2026-01-02 03:04:05.000001 UTC");
  assert.equal(formatAt("2025-12-31T23:30:00Z", 60), "2026-01-01 00:30:00 +01:00");
  assert.equal(formatAt("2026-03-01T00:10:00Z", -60), "2026-02-28 23:10:00 -01:00");
});

test("formatAt leaves what is not a time alone", () => {
  assert.equal(formatAt("", null), "");
  assert.equal(formatAt(null, 60), "");
  assert.equal(formatAt("soon", null), "soon");
  assert.equal(formatAt("2026-13-45T99:00:00Z", null), "2026-13-45T99:00:00Z");
});

test("formatTime: UTC by default, local through the browser's offset at that instant", () => {
  assert.equal(currentZone(), "utc"); // nothing remembered (no localStorage here)
  assert.equal(formatTime("2026-01-02T03:04:05Z"), "2026-01-02 03:04:05 UTC");
  const iso = "2026-07-02T03:04:05.25Z";
  const offset = -new Date(Date.parse(iso)).getTimezoneOffset();
  assert.equal(formatTime(iso, "local"), formatAt(iso, offset));
  assert.equal(hhmm(Date.UTC(2026, 0, 2, 3, 4), "utc"), "03:04");
  assert.equal(zoneName(), "UTC");
  assert.equal(zoneName("local"), "local time");
});
