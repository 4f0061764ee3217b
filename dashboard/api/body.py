"""The JSON body of an API request (the operate endpoints and the pattern tester)."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpRequest

from dashboard.core.http import ApiError
from dashboard.patterns.engine import TOO_DEEP_BODY, json_too_deep


def json_body(request: HttpRequest) -> Any:
    """The body parsed as JSON; ApiError 400 ``too_deep`` past the parser's nesting limit (a pattern
    nested a thousand levels is said as such, not as "not JSON"), ``invalid_json`` otherwise."""
    try:
        return orjson.loads(request.body)
    except orjson.JSONDecodeError as err:
        if json_too_deep(err):
            raise ApiError(400, "too_deep", TOO_DEEP_BODY) from None
        raise ApiError(400, "invalid_json", "The body is not valid JSON.") from None
