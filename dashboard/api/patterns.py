"""``POST /api/patterns/test``: does this event pattern match this event?"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.api.body import json_body
from dashboard.core.http import ApiError, api_view, json_response
from dashboard.patterns.engine import PatternError, compile_pattern


@api_view("read", ("POST",))
def test_pattern(request: HttpRequest) -> HttpResponse:
    document = json_body(request)
    if not isinstance(document, dict) or "pattern" not in document or "event" not in document:
        raise ApiError(400, "invalid_body", 'Send {"pattern": {...}, "event": {...}}.')
    if not isinstance(document["event"], dict):
        raise ApiError(400, "invalid_event", "'event' must be a JSON object.", where="event")
    try:
        matcher = compile_pattern(document["pattern"])
    except PatternError as err:
        raise ApiError(400, "invalid_pattern", f"Invalid event pattern: {err}", where="pattern") from None
    return json_response({"match": matcher.matches(document["event"])})
