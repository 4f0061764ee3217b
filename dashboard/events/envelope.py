"""One event model: every ingest format is normalised to the canonical EventBridge envelope here.

Each ``from_*`` function takes one already-parsed entry and returns a ``NormalizedEvent`` or raises
``EntryError`` with a message that says what is wrong with that entry (answered per entry, never as
a failure of the whole request).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.conf import settings

from dashboard.core import exactjson
from dashboard.core.trace_context import parse_traceparent, parse_xray_header

MAX_FIELD = 256


class EntryError(ValueError):
    """One entry is invalid; the message is shown to the client as is."""


@dataclass(slots=True)
class NormalizedEvent:
    event_id: str
    source: str
    detail_type: str
    time: datetime
    detail: Any
    format: str
    raw: str
    resources: list[str] = field(default_factory=list)
    account: str = ""
    region: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    trace_id: str = ""
    parent_span_id: str = ""
    idempotency_key: str = ""
    # The check against its type's pinned schema version, set at ingest by the schemas app's
    # observer (Event.schema_error): None when nothing is pinned, "" when valid, else the reason.
    schema_error: str | None = None

    def envelope(self) -> dict[str, Any]:
        """The canonical envelope: what patterns match and replays deliver."""
        return canonical_envelope(
            event_id=self.event_id,
            source=self.source,
            detail_type=self.detail_type,
            time=self.time,
            account=self.account,
            region=self.region,
            resources=self.resources,
            detail=self.detail,
        )


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC with a ``Z``; fractions of a second only when there are any."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    # isoformat leaves the fraction out when it is zero, as wanted; it ends in "+00:00" here.
    return value.isoformat()[:-6] + "Z"


def parse_time(value: Any, name: str = "time") -> datetime:
    """An RFC 3339 timestamp with an offset (``Z`` or ``±hh:mm``) as an aware UTC datetime."""
    if not isinstance(value, str) or not value:
        raise EntryError(f"'{name}' must be an RFC 3339 timestamp string")
    text = value.strip()
    if len(text) > 40:
        raise EntryError(f"'{name}' is not an RFC 3339 timestamp: {value[:40]!r}…")
    try:
        parsed = datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        raise EntryError(f"'{name}' is not an RFC 3339 timestamp: {value!r}") from None
    if parsed.tzinfo is None or "T" not in text.upper():
        raise EntryError(f"'{name}' must be RFC 3339 with a date, a time and an offset (e.g. 2026-01-01T12:00:00Z)")
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00, which is before the year 1 in UTC
        raise EntryError(f"'{name}' is out of range: {value!r}") from None


def canonical_envelope(
    *,
    event_id: str,
    source: str,
    detail_type: str,
    time: datetime | str,
    account: str,
    region: str,
    resources: list[str],
    detail: Any,
) -> dict[str, Any]:
    """The canonical EventBridge envelope of an event: what patterns match and replays deliver; the
    one place it is built.

    ``time`` is a datetime, or its RFC 3339 text as ``format_time`` gives it (the live tail holds
    events with their time already formatted).
    """
    return {
        "version": "0",
        "id": event_id,
        "source": source,
        "detail-type": detail_type,
        "time": time if isinstance(time, str) else format_time(time),
        "account": account,
        "region": region,
        "resources": resources,
        "detail": detail,
    }


def _required_str(entry: dict[str, Any], name: str) -> str:
    value = entry.get(name)
    if not isinstance(value, str) or not value.strip():
        raise EntryError(f"'{name}' is required and must be a non-empty string")
    if len(value) > MAX_FIELD:
        raise EntryError(f"'{name}' is longer than {MAX_FIELD} characters")
    return value


def _optional_str(entry: dict[str, Any], name: str, limit: int = MAX_FIELD) -> str:
    value = entry.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise EntryError(f"'{name}' must be a string")
    if len(value) > limit:
        raise EntryError(f"'{name}' is longer than {limit} characters")
    return value


def _resources(value: Any, name: str = "resources") -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise EntryError(f"'{name}' must be a list of strings")
    return value


def idempotency_key_of(detail: Any) -> str:
    """``detail.metadata.idempotency-key`` when it is a non-empty string (first in precedence)."""
    if isinstance(detail, dict):
        metadata = detail.get("metadata")
        if isinstance(metadata, dict):
            key = metadata.get("idempotency-key")
            if isinstance(key, str | int) and not isinstance(key, bool) and str(key):
                return str(key)[:MAX_FIELD]
    return ""


def _trace(traceparent: Any, xray: Any) -> tuple[str, str]:
    if isinstance(traceparent, str):
        context = parse_traceparent(traceparent)
        if context is None:
            raise EntryError(f"'traceparent' is not a valid W3C traceparent: {traceparent[:80]!r}")
        return context.trace_id, context.parent_span_id
    if isinstance(xray, str):
        context = parse_xray_header(xray)
        if context is None:
            raise EntryError(f"the X-Ray trace header is not valid: {xray[:80]!r}")
        return context.trace_id, context.parent_span_id
    return "", ""


TOO_DEEP = "The event nests objects and arrays too deeply to be stored (JSON is written up to 254 levels)."


def _raw(entry: Any) -> str:
    try:
        return orjson.dumps(entry).decode()
    except orjson.JSONEncodeError:  # parsed (up to 1,024 levels) but too deep to write back
        raise EntryError(TOO_DEEP) from None


def from_native(entry: Any, now: datetime, header_key: str = "") -> NormalizedEvent:
    """A native JSON entry (an EventBridge-style envelope with optional trace fields)."""
    if not isinstance(entry, dict):
        raise EntryError("each event must be a JSON object")
    source = _required_str(entry, "source")
    detail_type = _required_str(entry, "detail-type")
    detail = entry.get("detail")
    if not isinstance(detail, dict):
        raise EntryError("'detail' is required and must be a JSON object")
    event_id = _optional_str(entry, "id")  # "" -> the stored id
    time = parse_time(entry["time"]) if entry.get("time") is not None else now
    trace_id, parent = _trace(entry.get("traceparent"), entry.get("trace-header"))
    return NormalizedEvent(
        event_id=event_id,
        source=source,
        detail_type=detail_type,
        time=time,
        detail=detail,
        format="native",
        raw=_raw(entry),
        resources=_resources(entry.get("resources")),
        account=_optional_str(entry, "account", 64) or settings.EVENTSCOPE_ACCOUNT,
        region=_optional_str(entry, "region", 64) or settings.EVENTSCOPE_REGION,
        trace_id=trace_id,
        parent_span_id=parent,
        idempotency_key=idempotency_key_of(detail) or header_key,
    )


# CloudEvents context attributes that map onto the envelope (or are the trace) rather than into extra.
_CE_MAPPED = {"specversion", "id", "source", "type", "time", "traceparent", "tracestate"}


def from_cloudevent(
    attributes: dict[str, Any], data: Any, raw: str, now: datetime, header_key: str = ""
) -> NormalizedEvent:
    """A parsed CloudEvent: ``type`` -> detail-type, ``data`` -> detail, other attributes into extra."""
    for name in ("id", "source", "type"):
        value = attributes.get(name)
        if isinstance(value, str) and len(value) > MAX_FIELD:
            raise EntryError(f"'{name}' is longer than {MAX_FIELD} characters")
    time = parse_time(attributes["time"]) if attributes.get("time") else now
    trace_id, parent = _trace(attributes.get("traceparent"), None)
    extension_key = attributes.get("idempotencykey")
    key = idempotency_key_of(data) or (str(extension_key)[:MAX_FIELD] if extension_key else "") or header_key
    return NormalizedEvent(
        event_id=str(attributes["id"]),
        source=str(attributes["source"]),
        detail_type=str(attributes["type"]),
        time=time,
        detail=data,
        format="cloudevents",
        raw=raw,
        resources=[str(attributes["subject"])] if attributes.get("subject") else [],
        account=settings.EVENTSCOPE_ACCOUNT,
        region=settings.EVENTSCOPE_REGION,
        extra={k: v for k, v in attributes.items() if k not in _CE_MAPPED},
        trace_id=trace_id,
        parent_span_id=parent,
        idempotency_key=key,
    )


class PutEventsEntryError(EntryError):
    """A PutEvents entry error, with the EventBridge error code to answer."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def from_putevents(entry: Any, now: datetime, account: str, region: str) -> NormalizedEvent:
    """One ``PutEvents`` request entry, validated the way EventBridge does."""
    if not isinstance(entry, dict):
        raise PutEventsEntryError("InvalidArgument", "Each entry must be an object.")
    for name in ("Source", "DetailType", "Detail"):
        value = entry.get(name)
        if not isinstance(value, str) or not value:
            raise PutEventsEntryError(
                "InvalidArgument", f"Parameter {name} is not valid. Reason: {name} is a required argument."
            )
    source, detail_type = entry["Source"], entry["DetailType"]
    if len(source) > MAX_FIELD or len(detail_type) > MAX_FIELD:
        raise PutEventsEntryError("InvalidArgument", "Parameter Source or DetailType is longer than 256 characters.")
    try:
        detail = exactjson.loads(entry["Detail"])
    except orjson.JSONDecodeError as err:
        raise PutEventsEntryError("MalformedDetail", f"Detail is malformed: {err}.") from None
    if not isinstance(detail, dict):
        raise PutEventsEntryError("MalformedDetail", "Detail is malformed: it must be a JSON object.")
    time = now
    raw_time = entry.get("Time")
    if raw_time is not None:
        if isinstance(raw_time, bool) or not isinstance(raw_time, int | float):
            raise PutEventsEntryError("InvalidArgument", "Parameter Time is not valid: epoch seconds expected.")
        try:
            time = datetime.fromtimestamp(raw_time, UTC)
        except (OverflowError, OSError, ValueError):
            raise PutEventsEntryError("InvalidArgument", "Parameter Time is out of range.") from None
    try:
        resources = _resources(entry.get("Resources"), "Resources")
        trace_id, parent = _trace(None, entry.get("TraceHeader"))
    except EntryError as err:
        raise PutEventsEntryError("InvalidArgument", str(err)) from None
    extra = {"event-bus-name": entry["EventBusName"]} if isinstance(entry.get("EventBusName"), str) else {}
    return NormalizedEvent(
        event_id="",  # EventBridge assigns the id: ours is the stored id
        source=source,
        detail_type=detail_type,
        time=time,
        detail=detail,
        format="eventbridge",
        raw=_raw(entry),
        resources=resources,
        account=account,
        region=region,
        extra=extra,
        trace_id=trace_id,
        parent_span_id=parent,
        idempotency_key=idempotency_key_of(detail),
    )


def from_log_record(
    *,
    event_name: str,
    body: Any,
    attributes: dict[str, Any],
    service: str,
    time_ns: int,
    trace_id: str,
    span_id: str,
    severity_text: str,
) -> NormalizedEvent:
    """An OpenTelemetry event record (a log record with an event name) as an event.

    type = the event name, data = the body, source = the service, trace and parent span from the
    record. An ``event.id`` attribute, when present, is the producer's id (so a resent export is a
    duplicate); otherwise the stored id is the id.
    """
    if len(event_name) > MAX_FIELD:
        raise EntryError("the event name is longer than 256 characters")
    key = idempotency_key_of(body)
    attr_key = attributes.get("idempotency.key")
    if not key and isinstance(attr_key, str | int) and not isinstance(attr_key, bool):
        key = str(attr_key)[:MAX_FIELD]
    event_id = attributes.get("event.id")
    time = datetime.fromtimestamp(time_ns / 1e9, UTC) if time_ns else datetime.now(UTC)
    extra: dict[str, Any] = {"attributes": attributes}
    if severity_text:
        extra["severity"] = severity_text
    return NormalizedEvent(
        event_id=str(event_id)[:MAX_FIELD] if isinstance(event_id, str | int) and event_id != "" else "",
        source=(service or "unknown_service")[:MAX_FIELD],
        detail_type=event_name,
        time=time,
        detail=body,
        format="otlp",
        raw=orjson.dumps({"event_name": event_name, "body": body, "attributes": attributes}).decode(),
        account=settings.EVENTSCOPE_ACCOUNT,
        region=settings.EVENTSCOPE_REGION,
        extra=extra,
        trace_id=trace_id,
        parent_span_id=span_id,
        idempotency_key=key,
    )
