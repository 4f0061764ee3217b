"""``POST /api/events``: one EventBridge-style event object, or an array of them."""

from __future__ import annotations

from typing import Any

import orjson
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.core import exactjson
from dashboard.core.endpoints import ingest_endpoint
from dashboard.core.http import ApiError, api_view, json_response
from dashboard.core.media import media_type
from dashboard.events.envelope import EntryError, NormalizedEvent, from_native
from dashboard.ingest.body import read_body
from dashboard.ingest.responses import summary
from dashboard.ingest.store import store_events

JSON_TYPES = ("application/json", "text/json")


def parse_json_body(body: bytes) -> Any:
    try:
        return exactjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise ApiError(400, "invalid_json", f"The body is not valid JSON: {err}.") from None


def batch_of(document: Any, what: str = "event") -> list[Any]:
    """A single object or an array of at most EVENTSCOPE_MAX_BATCH, as a list."""
    if isinstance(document, dict):
        return [document]
    if isinstance(document, list):
        if not document:
            raise ApiError(400, "empty_batch", f"The array holds no {what}.")
        if len(document) > settings.EVENTSCOPE_MAX_BATCH:
            raise ApiError(
                400,
                "batch_too_large",
                f"At most {settings.EVENTSCOPE_MAX_BATCH} {what}s a request; got {len(document)}.",
            )
        return document
    raise ApiError(400, "invalid_body", f"The body must be one {what} object or an array of them.")


@ingest_endpoint("events")
@api_view("ingest", ("POST",), allow_session=False)
def ingest_events(request: HttpRequest) -> HttpResponse:
    if media_type(request.headers.get("Content-Type")) not in JSON_TYPES:
        raise ApiError(415, "unsupported_media_type", "Send the events as application/json.")
    items = batch_of(parse_json_body(read_body(request)))
    header_key = (request.headers.get("Idempotency-Key") or "")[:256] if len(items) == 1 else ""
    now = timezone.now()
    entries: list[NormalizedEvent | EntryError] = []
    for item in items:
        try:
            entries.append(from_native(item, now, header_key))
        except EntryError as err:
            entries.append(err)
    return json_response(summary(store_events(entries, now)))
