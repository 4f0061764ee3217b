"""``POST /api/cloudevents``: the CloudEvents 1.0 HTTP binding (structured, binary and batch modes)."""

from __future__ import annotations

import orjson
from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from dashboard.core.endpoints import ingest_endpoint
from dashboard.core.http import ApiError, api_view, json_response
from dashboard.events.envelope import TOO_DEEP, EntryError, NormalizedEvent, from_cloudevent
from dashboard.ingest.body import read_body
from dashboard.ingest.cloudevents_format import (
    CloudEventError,
    ParsedCloudEvent,
    detect_mode,
    parse_batch,
    parse_binary,
    parse_structured,
)
from dashboard.ingest.native import batch_of
from dashboard.ingest.responses import summary
from dashboard.ingest.store import store_events


def _raw_structured(parsed: ParsedCloudEvent) -> str:
    try:
        return orjson.dumps({**parsed.attributes, "data": parsed.data}).decode()
    except orjson.JSONEncodeError:  # parsed (up to 1,024 levels) but too deep to write back
        raise EntryError(TOO_DEEP) from None


@ingest_endpoint("cloudevents")
@api_view("ingest", ("POST",), allow_session=False)
def ingest_cloudevents(request: HttpRequest) -> HttpResponse:
    mode = detect_mode(request.headers.get("Content-Type"), request.headers)
    if mode is None:
        raise ApiError(
            415,
            "unsupported_media_type",
            "Send application/cloudevents+json (structured), application/cloudevents-batch+json (batch), "
            "or ce-* headers (binary mode).",
        )
    body = read_body(request)
    now = timezone.now()
    entries: list[NormalizedEvent | EntryError] = []
    # A CloudEventError that is not caught per entry (a malformed body or single event) is a 400
    # invalid_cloudevent naming the attribute at fault (api_view answers it).
    if mode == "batch":
        for item in batch_of(parse_batch(body)):
            if isinstance(item, CloudEventError):
                entries.append(EntryError(str(item)))
                continue
            try:
                entries.append(from_cloudevent(item.attributes, item.data, _raw_structured(item), now))
            except EntryError as err:
                entries.append(err)
    else:
        header_key = (request.headers.get("Idempotency-Key") or "")[:256]
        if mode == "structured":
            parsed = parse_structured(body)
            raw = body.decode("utf-8", "replace")
        else:
            parsed = parse_binary(request.headers, body)
            ce_headers = {k.lower(): v for k, v in request.headers.items() if k.lower().startswith("ce-")}
            raw = orjson.dumps({"headers": ce_headers, "body": body.decode("utf-8", "replace")}).decode()
        try:
            entries.append(from_cloudevent(parsed.attributes, parsed.data, raw, now, header_key))
        except EntryError as err:
            # A single event that is invalid as a whole is a bad request, as in the HTTP binding.
            raise ApiError(400, "invalid_cloudevent", str(err)) from None
    return json_response(summary(store_events(entries, now)))
