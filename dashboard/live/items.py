"""Live items: built on the ingest thread from data it already holds, shaped for clients later.

The ingest side (``wire_event`` / ``wire_span``) only copies values it has at hand into small dicts;
formatting span times and building the envelope a pattern matches against happen in the hub, once
per item, and only while someone is subscribed.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from dashboard.events.envelope import EntryError, NormalizedEvent, format_time
from dashboard.events.shapes import flat_event
from dashboard.live.messages import LiveEvent, LiveSpan, WireEvent, WireSpan
from tracing.assembly import SPAN_KINDS, STATUS_CODES, format_ns

if TYPE_CHECKING:
    from dashboard.ingest.store import EntryResult
    from tracing.otlp import SpanRecord


def wire_event(stored_id: str, entry: NormalizedEvent, received_at: str) -> WireEvent:
    """``entry`` as stored under ``stored_id``; ``received_at`` is already formatted (one per batch)."""
    event = cast(
        LiveEvent,
        flat_event(
            stored_id, entry.event_id, entry.source, entry.detail_type, entry.time, entry.resources, entry.detail,
            entry.trace_id, entry.parent_span_id, entry.idempotency_key, received_at, entry.format, "",
        ),
    )  # fmt: skip
    return {"event": event, "account": entry.account, "region": entry.region}


def wire_span(span: SpanRecord) -> WireSpan:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id,
        "name": span.name,
        "kind": span.kind,
        "service": span.service,
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "status_code": span.status_code,
        "status_message": span.status_message,
        "attributes": span.attributes,
    }


def event_envelope(item: WireEvent) -> dict[str, Any]:
    """The canonical envelope (CONTRACT §3.5) of a wire event: what event patterns match."""
    event = item["event"]
    return {
        "version": "0",
        "id": event["event_id"],
        "source": event["source"],
        "detail-type": event["detail-type"],
        "time": event["time"],
        "account": item["account"],
        "region": item["region"],
        "resources": event["resources"],
        "detail": event["detail"],
    }


def live_span(span: WireSpan) -> LiveSpan:
    kind, code = span["kind"], span["status_code"]
    return {
        "trace_id": span["trace_id"],
        "span_id": span["span_id"],
        "parent_span_id": span["parent_span_id"] or None,
        "name": span["name"],
        "kind": SPAN_KINDS[kind] if 0 <= kind < len(SPAN_KINDS) else str(kind),
        "service": span["service"],
        "start": format_ns(span["start_ns"]),
        "end": format_ns(span["end_ns"]),
        "duration_ms": (span["end_ns"] - span["start_ns"]) / 1e6,
        "status": {
            "code": STATUS_CODES[code] if 0 <= code < len(STATUS_CODES) else str(code),
            "message": span["status_message"],
        },
    }


def span_document(span: LiveSpan, attributes: dict[str, Any]) -> dict[str, Any]:
    """What a pattern matches for a span: its live fields plus its attributes."""
    return {**span, "attributes": attributes}


def accepted_wire_events(
    entries: Sequence[NormalizedEvent | EntryError], results: Sequence[EntryResult], received_at: datetime
) -> list[WireEvent]:
    """The wire events of the entries ``store_events`` answered ``accepted`` (stored just now)."""
    when = format_time(received_at)
    out: list[WireEvent] = []
    for result in results:
        if result.status == "accepted":
            entry = entries[result.index]
            if isinstance(entry, NormalizedEvent):
                out.append(wire_event(result.id, entry, when))
    return out
