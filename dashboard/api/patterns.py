"""``POST /api/patterns/test``: does this event pattern match this event?"""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse

from dashboard.core.http import ApiError, api_view, json_response
from dashboard.patterns.engine import TOO_DEEP_BODY, PatternError, compile_pattern, json_too_deep


@api_view("read", ("POST",))
def test_pattern(request: HttpRequest) -> HttpResponse:
    try:
        document = orjson.loads(request.body)
    except orjson.JSONDecodeError as err:
        if json_too_deep(err):
            raise ApiError(400, "too_deep", TOO_DEEP_BODY) from None
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
    if not isinstance(document, dict) or "pattern" not in document or "event" not in document:
        raise ApiError(400, "invalid_body", 'Send {"pattern": {...}, "event": {...}}.')
    if not isinstance(document["event"], dict):
        raise ApiError(400, "invalid_event", "'event' must be a JSON object.")
    try:
        matcher = compile_pattern(document["pattern"])
    except PatternError as err:
        raise ApiError(400, "invalid_pattern", f"Invalid event pattern: {err}") from None
    return json_response({"match": matcher.matches(document["event"])})
