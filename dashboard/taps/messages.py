"""A tapped message becomes an event (docs/taps.md, "From message to event").

One function, :func:`to_event`, for every broker: each source hands over a :class:`TappedMessage`
(body, headers, routing key/subject/stream, the broker's message id). What it cannot make an event of
raises ``EntryError`` with the reason, which the tap keeps as a rejected message.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings

from dashboard.core import exactjson
from dashboard.core.media import media_type
from dashboard.core.trace_context import parse_traceparent
from dashboard.events.envelope import (
    MAX_FIELD,
    EntryError,
    NormalizedEvent,
    format_time,
    from_cloudevent,
    from_native,
    from_putevents,
    idempotency_key_of,
)
from dashboard.ingest.cloudevents_format import STRUCTURED_MEDIA_TYPE, CloudEventError, parse_binary, parse_structured

# AMQP's CloudEvents binding names attributes "cloudEvents:id" (or "cloudEvents_id" where ":" is not
# allowed); NATS, Redis (and HTTP) use "ce-id".
_AMQP_PREFIXES = ("cloudevents:", "cloudevents_")


@dataclass(slots=True)
class TappedMessage:
    body: bytes
    subject: str  # the routing key, the NATS subject or the stream
    message_id: str = ""  # the broker's id of the message ("" when it has none)
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = ""


def amqp_headers(properties: dict[str, Any]) -> dict[str, str]:
    """AMQP application properties as text headers, the binding's ``cloudEvents:`` names as ``ce-``."""
    headers: dict[str, str] = {}
    for name, value in properties.items():
        lowered = name.lower()
        for prefix in _AMQP_PREFIXES:
            if lowered.startswith(prefix):
                name = "ce-" + name[len(prefix) :]
                break
        if name == "ce-time" and not isinstance(value, str | bytes):
            value = _amqp_time(value)
        headers[name] = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
    return headers


def _amqp_time(value: Any) -> Any:
    """The binding sends ``time`` as an AMQP timestamp (milliseconds since the epoch); as RFC 3339."""
    try:
        if isinstance(value, datetime):
            return format_time(value if value.tzinfo else value.replace(tzinfo=UTC))
        if isinstance(value, int | float) and not isinstance(value, bool):
            return format_time(datetime.fromtimestamp(value / 1000, UTC))
    except (OverflowError, OSError, ValueError):
        pass
    return value  # refused as it is, with the reason


def to_event(tap: str, format: str, message: TappedMessage, now: datetime) -> NormalizedEvent:
    """The event ``message`` is, read as ``format`` (auto, cloudevents, eventbridge or raw).

    ``auto`` tries, in order: CloudEvents (``ce-`` headers, or a structured body), an EventBridge-shaped
    JSON body, raw. The broker's message id is the producer id when the event brings none, so a
    message delivered again is a duplicate of the first.
    """
    if len(message.body) > settings.EVENTSCOPE_MAX_BODY_BYTES:
        raise EntryError(f"the message is larger than the limit of {settings.EVENTSCOPE_MAX_BODY_BYTES} bytes")
    lowered = {name.lower(): value for name, value in message.headers.items()}
    header_key = lowered.get("idempotency-key", "")[:MAX_FIELD]
    event: NormalizedEvent | None = None
    if format in ("auto", "cloudevents"):
        event = _cloudevent(message, lowered, header_key, now)
        if event is None and format == "cloudevents":
            raise EntryError(
                "not a CloudEvent: no ce- headers (AMQP: cloudEvents: properties) and the body is not a "
                "structured CloudEvent"
            )
    if event is None and format in ("auto", "eventbridge"):
        event = _eventbridge(message, header_key, now)
        if event is None and format == "eventbridge":
            raise EntryError("not an EventBridge event: the body must be a JSON object with 'source' and 'detail-type'")
    if event is None:
        event = _raw(tap, message, lowered, header_key, now)
    if not event.event_id and message.message_id:
        event.event_id = message.message_id[:MAX_FIELD]
    if not event.trace_id and lowered.get("traceparent"):
        context = parse_traceparent(lowered["traceparent"])
        if context is not None:  # an invalid header is ignored, as W3C Trace Context says
            event.trace_id, event.parent_span_id = context.trace_id, context.parent_span_id
    return event


def _cloudevent(
    message: TappedMessage, lowered: dict[str, str], header_key: str, now: datetime
) -> NormalizedEvent | None:
    ce_headers = {name: value for name, value in lowered.items() if name.startswith("ce-")}
    try:
        if ce_headers:
            headers = dict(ce_headers)
            if message.content_type:
                headers["content-type"] = message.content_type
            parsed = parse_binary(headers, message.body)
            if "traceparent" not in parsed.attributes and lowered.get("traceparent"):
                parsed.attributes["traceparent"] = lowered["traceparent"]
            raw = orjson.dumps({"headers": ce_headers, "body": message.body.decode("utf-8", "replace")}).decode()
            return from_cloudevent(parsed.attributes, parsed.data, raw, now, header_key)
        if media_type(message.content_type) == STRUCTURED_MEDIA_TYPE or _looks_structured(message.body):
            parsed = parse_structured(message.body)
            raw = message.body.decode("utf-8", "replace")
            return from_cloudevent(parsed.attributes, parsed.data, raw, now, header_key)
    except CloudEventError as err:
        raise EntryError(f"invalid CloudEvent: {err}") from None
    return None


def _looks_structured(body: bytes) -> bool:
    return body[:1] == b"{" and b'"specversion"' in body and isinstance(_json(body), dict)


def _eventbridge(message: TappedMessage, header_key: str, now: datetime) -> NormalizedEvent | None:
    document = _json(message.body)
    if not isinstance(document, dict):
        return None
    if "detail-type" in document or ("source" in document and "detail" in document):
        return from_native(document, now, header_key)
    if "DetailType" in document and "Source" in document:  # a PutEvents entry as producers build it
        event = from_putevents(document, now, settings.EVENTSCOPE_ACCOUNT, settings.EVENTSCOPE_REGION)
        event.idempotency_key = event.idempotency_key or header_key
        return event
    return None


def _raw(tap: str, message: TappedMessage, lowered: dict[str, str], header_key: str, now: datetime) -> NormalizedEvent:
    document = _json(message.body)
    encoded = {"base64": base64.b64encode(message.body).decode("ascii")}
    detail = document if document is not _NOT_JSON else encoded
    try:
        raw = message.body.decode("utf-8")
    except UnicodeDecodeError:
        raw = ""
    if not raw or "\x00" in raw:  # bytes, not text: kept as their base64, which every database stores
        raw = orjson.dumps(encoded).decode()
    return NormalizedEvent(
        event_id="",
        source=f"tap:{tap}",
        detail_type=message.subject[:MAX_FIELD],
        time=now,
        detail=detail,
        format="raw",
        raw=raw,
        account=settings.EVENTSCOPE_ACCOUNT,
        region=settings.EVENTSCOPE_REGION,
        extra={"headers": message.headers} if message.headers else {},
        idempotency_key=idempotency_key_of(detail) or header_key,
    )


_NOT_JSON: Any = object()


def _json(body: bytes) -> Any:
    try:
        return exactjson.loads(body) if body else _NOT_JSON
    except orjson.JSONDecodeError:
        return _NOT_JSON
