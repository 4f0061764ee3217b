"""``/patterns/``: the pattern playground. A pattern (checked as it is typed, by static/js/patterns.js
through ``POST /api/patterns/test``) is tried against a pasted event and against the most recent
stored events; for each event that does not match, the first field that failed is said."""

from __future__ import annotations

from typing import Any

import orjson
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_http_methods

from dashboard.events.models import Event
from dashboard.events.shapes import envelope_of
from dashboard.patterns.engine import CompiledPattern, PatternError, compile_pattern, explain_mismatch

#: How many of the newest stored events are tried by default, and at most.
RECENT_DEFAULT = 20
RECENT_MAX = 200
# What the envelope (envelope_of) and the result table read: the stored raw body is not needed.
ENVELOPE_FIELDS = (
    "id",
    "event_id",
    "source",
    "detail_type",
    "time",
    "account",
    "region",
    "resources",
    "detail",
    "received_at",
)
EXAMPLE_PATTERN = '{\n  "source": ["shop.orders"],\n  "detail-type": [{"prefix": "Order"}]\n}'


def _recent_count(raw: str) -> int:
    try:
        return max(0, min(RECENT_MAX, int(raw)))
    except ValueError:
        return RECENT_DEFAULT


def _verdict(pattern: CompiledPattern, written: Any, event: dict[str, Any]) -> dict[str, Any]:
    """``{"match": bool, "why": Mismatch | None}`` for one event (the envelope patterns see);
    ``written`` is the pattern as the person wrote it, whose field order the explanation follows."""
    if pattern.matches(event):
        return {"match": True, "why": None}
    return {"match": False, "why": explain_mismatch(written, event)}


@login_required
@require_http_methods(["GET", "HEAD", "POST"])
def patterns_page(request: HttpRequest) -> HttpResponse:
    """GET shows the form (``?pattern=`` fills it and tries it on recent events); POST also tries
    the pasted event. An invalid pattern or event is said on the page, with status 400."""
    data = request.POST if request.method == "POST" else request.GET
    pattern_text = data.get("pattern", "")
    event_text = data.get("event", "")
    recent = _recent_count(data.get("recent", str(RECENT_DEFAULT)))
    context: dict[str, Any] = {
        "pattern_text": pattern_text or ("" if request.method == "POST" else EXAMPLE_PATTERN),
        "event_text": event_text,
        "recent": recent,
        "recent_max": RECENT_MAX,
        "tried": False,
    }
    if request.method != "POST" and not pattern_text:
        return render(request, "dashboard/patterns.html", context)
    status = 200
    if not pattern_text.strip():
        context["pattern_error"] = 'Write a pattern: a JSON object such as {"source": ["shop.orders"]}.'
        return render(request, "dashboard/patterns.html", context, status=400)
    try:
        pattern = compile_pattern(pattern_text)
    except PatternError as err:
        context["pattern_error"] = f"Invalid event pattern: {err}"
        return render(request, "dashboard/patterns.html", context, status=400)
    written = orjson.loads(pattern_text)  # it compiled, so it is JSON
    context["tried"] = True
    if event_text.strip():
        try:
            pasted = orjson.loads(event_text)
        except orjson.JSONDecodeError as err:
            pasted, context["event_error"] = None, f"The event is not valid JSON: {err}"
            status = 400
        if pasted is not None and not isinstance(pasted, dict):
            context["event_error"] = "The event must be a JSON object (an EventBridge envelope)."
            status = 400
        elif pasted is not None:
            context["pasted"] = _verdict(pattern, written, pasted)
    events = list(Event.objects.order_by("-id").only(*ENVELOPE_FIELDS)[:recent]) if recent else []
    rows = [{"event": event, **_verdict(pattern, written, envelope_of(event))} for event in events]
    context["rows"] = rows
    context["matched"] = sum(1 for row in rows if row["match"])
    return render(request, "dashboard/patterns.html", context, status=status)
