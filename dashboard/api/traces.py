"""``GET /api/traces/<trace_id>``."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import ApiError, api_view, json_response
from tracing.assembly import assemble_trace

_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")


@api_view("read")
def get_trace(request: HttpRequest, trace_id: str) -> HttpResponse:
    trace_id = trace_id.lower()
    if not _TRACE_ID.match(trace_id):
        raise ApiError(400, "invalid_trace_id", "A trace id is 32 hexadecimal characters.")
    trace = assemble_trace(trace_id)
    if trace is None:
        raise ApiError(404, "not_found", f"No span, event or log of trace {trace_id} is stored.")
    return json_response(trace)
