"""Live items: built after the commit from what ingest stored, shaped for clients later.

The ingest side (``wire_events`` here, ``tracing.live`` for spans) only copies values it has at
hand into small dicts; formatting span times and building the envelope a pattern matches against
happen in the hub, once per item, and only while someone is subscribed.
"""

from __future__ import annotations

from typing import Any, cast

from dashboard.core.spans import format_ns, kind_name, status_name
from dashboard.events.envelope import NormalizedEvent, canonical_envelope, format_time
from dashboard.events.shapes import flat_event
from dashboard.ingest.observers import StoredEvents
from dashboard.live.messages import LiveEvent, LiveSpan, WireEvent, WireSpan


def wire_event(stored_id: str, entry: NormalizedEvent, received_at: str) -> WireEvent:
    """``entry`` as stored under ``stored_id``; ``received_at`` is already formatted (one per batch)."""
    event = cast(
        LiveEvent,
        flat_event(
            stored_id=stored_id,
            event_id=entry.event_id,
            source=entry.source,
            detail_type=entry.detail_type,
            time=entry.time,
            resources=entry.resources,
            detail=entry.detail,
            trace_id=entry.trace_id,
            parent_span_id=entry.parent_span_id,
            idempotency_key=entry.idempotency_key,
            received_at=received_at,
            format=entry.format,
            replay_name="",
            schema_error=entry.schema_error,
        ),
    )
    return {"event": event, "account": entry.account, "region": entry.region}


def wire_events(stored: StoredEvents) -> list[WireEvent]:
    """The wire events of a batch ingest stored (just now, duplicates left out)."""
    when = format_time(stored.received_at)
    return [wire_event(stored_id, entry, when) for stored_id, entry in stored.events]


def event_envelope(item: WireEvent) -> dict[str, Any]:
    """The canonical envelope of a wire event: what event patterns match."""
    event = item["event"]
    return canonical_envelope(
        event_id=event["event_id"],
        source=event["source"],
        detail_type=event["detail-type"],
        time=event["time"],
        account=item["account"],
        region=item["region"],
        resources=event["resources"],
        detail=event["detail"],
    )


def live_span(span: WireSpan) -> LiveSpan:
    """The client form of a wire span (the hub builds it only for spans someone is subscribed to)."""
    return {
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "parent_span_id": span["parent_span_id"] or None,
        "name": span["name"],
        "kind": kind_name(span["kind"]),
        "service": span["service"],
        "start": format_ns(span["start_ns"]),
        "end": format_ns(span["end_ns"]),
        "duration_ms": (span["end_ns"] - span["start_ns"]) / 1e6,
        "status": {
            "code": status_name(span["status_code"]),
            "message": span["status_message"],
        },
    }


def span_document(span: LiveSpan, attributes: dict[str, Any]) -> dict[str, Any]:
    """What a pattern matches for a span: its live fields plus its attributes."""
    return {**span, "attributes": attributes}
