"""``GET /api/traces/<trace_id>``."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from dashboard.core.http import ApiError, api_view, json_response
from dashboard.core.trace_context import parse_trace_id
from tracing.assembly import assemble_trace


@api_view("read")
def get_trace(request: HttpRequest, trace_id: str) -> HttpResponse:
    parsed = parse_trace_id(trace_id)
    if parsed is None:
        raise ApiError(400, "invalid_trace_id", "A trace id is 32 hexadecimal characters.", where="trace_id")
    trace = assemble_trace(parsed)
    if trace is None:
        raise ApiError(404, "not_found", f"No span, event or log of trace {parsed} is stored.")
    return json_response(trace)
