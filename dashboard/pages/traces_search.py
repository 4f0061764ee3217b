"""``/traces/``: trace search like Jaeger's front page (``tracing.search``, the same search as
``GET /api/traces``), with the services' pickers, time range presets and cursor paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from dashboard.core.errors import Problem
from tracing.search import search_traces, services

#: The form's single-valued fields, in the API's spelling (docs/api.md), plus ``range`` (a preset).
FIELDS = ("service", "name", "status", "min_duration_ms", "max_duration_ms", "since", "until", "limit", "range")
#: Time range presets: the search's ``since`` is this long before now. "custom" reads since/until.
RANGES = {"15m": timedelta(minutes=15), "1h": timedelta(hours=1), "6h": timedelta(hours=6), "24h": timedelta(hours=24)}
RANGE_LABELS = (("", "Any time"), ("15m", "Last 15 minutes"), ("1h", "Last hour"), ("6h", "Last 6 hours"),
                ("24h", "Last 24 hours"), ("custom", "Custom (since / until)"))  # fmt: skip
STATUSES = (("", "Any"), ("error", "Error"), ("ok", "OK"), ("unset", "Unset"))
# <input type="datetime-local"> sends a local time without an offset; the form labels it UTC.
_LOCAL_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d+)?)?$")


def _utc(value: str) -> str:
    value = value.strip()
    if _LOCAL_TIME.match(value):
        return value + ("Z" if value.count(":") == 2 else ":00Z")
    return value


def _attrs(text: str) -> list[str]:
    """The attribute filters: one ``key=value`` a line, blank lines skipped."""
    return [line.strip() for line in text.splitlines() if line.strip()]


def search_params(form: dict[str, str], now: datetime) -> dict[str, str]:
    """The form's values as ``tracing.search`` takes them: a preset becomes ``since``; since/until
    count only for a custom range (or none chosen); the picker's values pass unchanged."""
    params = {name: form[name] for name in FIELDS if form[name] and name not in ("range", "since", "until")}
    preset = form["range"]
    if preset in RANGES:
        params["since"] = (now - RANGES[preset]).isoformat().replace("+00:00", "Z")
    else:
        for name in ("since", "until"):
            if form[name]:
                params[name] = _utc(form[name])
    return params


def duration_text(ms: float) -> str:
    """A duration in the unit that reads best, as static/js/time.js's ``fmtMs`` writes it:
    ``0.250 ms``, ``12.5 ms``, ``1.20 s``."""
    if ms < 1:
        return f"{ms:.3f} ms"
    if ms < 1000:
        return f"{ms:.{2 if ms < 10 else 1}f} ms"
    return f"{ms / 1000:.2f} s"


def _rows(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Each result with its duration's text and its bar's width: a percentage of the longest trace
    on the page (at least a sliver, so an instant trace still shows a bar)."""
    longest = max((row["duration_ms"] for row in results), default=0) or 1
    return [
        {
            **row,
            "duration": duration_text(row["duration_ms"]),
            "bar": max(0.5, round(100 * row["duration_ms"] / longest, 2)),
        }
        for row in results
    ]


@login_required
def traces_search_page(request: HttpRequest) -> HttpResponse:
    form = {name: request.GET.get(name, "").strip() for name in FIELDS}
    form["attrs"] = request.GET.get("attrs", "")
    error, status = "", 200
    found: dict[str, Any] = {"results": [], "next_cursor": None}
    try:
        params = search_params(form, datetime.now(UTC))
        cursor = request.GET.get("cursor")
        if cursor:
            params["cursor"] = cursor
        found = search_traces(params, _attrs(form["attrs"]))
    except Problem as problem:
        error, status = problem.message, problem.status
    listed = services()["results"]
    chosen = next((service for service in listed if service["name"] == form["service"]), None)
    span_names = chosen["span_names"] if chosen else sorted({name for s in listed for name in s["span_names"]})
    kept = {name: value for name, value in form.items() if value}
    # Paging keeps every filter; a preset's since is taken from now again, the cursor keeps the place.
    older = "?" + urlencode({**kept, "cursor": found["next_cursor"]}) if found["next_cursor"] else ""
    return render(
        request,
        "dashboard/traces.html",
        {
            "form": form,
            "services": [service["name"] for service in listed],
            "span_names": span_names,
            "ranges": RANGE_LABELS,
            "statuses": STATUSES,
            "rows": _rows(found["results"]),
            "error": error,
            "older_url": older,
            "newest_url": "?" + urlencode(kept) if request.GET.get("cursor") else "",
            "filtered": bool(kept),
        },
        status=status,
    )
