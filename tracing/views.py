"""``POST /v1/traces`` and ``POST /v1/logs``: OTLP/HTTP, protobuf or JSON, exactly as the spec says.

Responses are in the request's encoding; a request that cannot be decoded is a 400 carrying a
``google.rpc.Status``; individually invalid spans or records are reported as partial success.
"""

from __future__ import annotations

from typing import Literal

from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from dashboard.core import metrics
from dashboard.core.endpoints import ingest_endpoint
from dashboard.core.http import ApiError, authenticate, error_response
from dashboard.ingest.body import read_body
from tracing.otlp import (
    CONTENT_TYPES,
    Encoding,
    OtlpDecodeError,
    decode_logs,
    decode_traces,
    encode_export_response,
    encode_status,
    encoding_from_content_type,
)
from tracing.store import store_logs, store_spans

# google.rpc.Code values for the Status body.
_INVALID_ARGUMENT, _UNAUTHENTICATED, _PERMISSION_DENIED, _RESOURCE_EXHAUSTED = 3, 16, 7, 8


def _status_response(status: int, code: int, message: str, encoding: Encoding) -> HttpResponse:
    return HttpResponse(encode_status(code, message, encoding), status=status, content_type=CONTENT_TYPES[encoding])


def _export(request: HttpRequest, signal: Literal["traces", "logs"]) -> HttpResponse:
    if request.method != "POST":
        return error_response(405, "method_not_allowed", "Use POST.", {"Allow": "POST"})
    encoding = encoding_from_content_type(request.headers.get("Content-Type"))
    if encoding is None:
        return _status_response(
            415, _INVALID_ARGUMENT, "Content-Type must be application/x-protobuf or application/json.", "json"
        )
    try:
        authenticate(request, "ingest", allow_session=False)
    except ApiError as err:
        return error_response(err.status, err.code, err.message, err.headers)
    try:
        body = read_body(request)
    except ApiError as err:
        code = _RESOURCE_EXHAUSTED if err.status == 413 else _INVALID_ARGUMENT
        return _status_response(err.status, code, err.message, encoding)
    received_at = timezone.now()
    try:
        if signal == "traces":
            traces = decode_traces(body, encoding)
            store_spans(traces.spans, received_at)
            rejected, errors = traces.rejected, traces.errors
            metrics.count_items("span", len(traces.spans), rejected=rejected)
        else:
            logs = decode_logs(body, encoding)
            results = store_logs(logs.records, received_at)  # those that are events are counted as events
            metrics.count_items("log", sum(not record.event_name for record in logs.records), rejected=logs.rejected)
            failed = [result.error for result in results if result.status == "rejected"]
            rejected, errors = logs.rejected + len(failed), logs.errors + failed
    except OtlpDecodeError as err:
        return _status_response(400, _INVALID_ARGUMENT, str(err), encoding)
    message = "; ".join(errors[:10])
    return HttpResponse(
        encode_export_response(signal, rejected, message, encoding),
        content_type=CONTENT_TYPES[encoding],
    )


@ingest_endpoint("otlp_traces")
@csrf_exempt
def export_traces(request: HttpRequest) -> HttpResponse:
    return _export(request, "traces")


@ingest_endpoint("otlp_logs")
@csrf_exempt
def export_logs(request: HttpRequest) -> HttpResponse:
    return _export(request, "logs")
