"""Assembling one trace: its spans, the events and logs on it, and the traces it is tied to.

Traces are tied by span links (read from both ends) and by idempotency keys that events of both
traces carried: a message published in one trace and consumed in another shows up on both pages.
"""

from __future__ import annotations

from typing import Any

from dashboard.core.spans import format_ns, kind_name, status_name
from dashboard.events.models import Event
from dashboard.events.shapes import LIST_FIELDS, event_json
from tracing.models import LogRecord, Span, SpanLink

MAX_SPANS = 10_000


def span_json(span: Span) -> dict[str, Any]:
    return {
        "trace_id": span.trace_id,
        "span_id": span.span_id,
        "parent_span_id": span.parent_span_id or None,
        "name": span.name,
        "kind": kind_name(span.kind),
        "service": span.service,
        "start": format_ns(span.start_ns),
        "end": format_ns(span.end_ns),
        "start_ns": span.start_ns,
        "end_ns": span.end_ns,
        "duration_ms": (span.end_ns - span.start_ns) / 1e6,
        "status": {
            "code": status_name(span.status_code),
            "message": span.status_message,
        },
        "attributes": span.attributes,
        "resource": span.resource,
        "scope": span.scope,
        "span_events": span.events,
        "links": span.links,
    }


def log_json(log: LogRecord) -> dict[str, Any]:
    return {
        "time": format_ns(log.time_ns),
        "trace_id": log.trace_id,
        "span_id": log.span_id or None,
        "severity": log.severity_text,
        "severity_number": log.severity_number,
        "body": log.body,
        "attributes": log.attributes,
        "service": log.service,
    }


def linked_traces(trace_id: str, keys: list[str]) -> list[dict[str, Any]]:
    """Traces tied to ``trace_id``: by links out of it, links into it, and shared idempotency keys."""
    found: dict[tuple[str, str], dict[str, Any]] = {}
    for link in SpanLink.objects.filter(trace_id=trace_id).exclude(linked_trace_id=trace_id)[:1000]:
        found.setdefault(
            (link.linked_trace_id, "links_to"),
            {"trace_id": link.linked_trace_id, "relation": "links_to", "span_id": link.span_id,
             "linked_span_id": link.linked_span_id},
        )  # fmt: skip
    for link in SpanLink.objects.filter(linked_trace_id=trace_id).exclude(trace_id=trace_id)[:1000]:
        found.setdefault(
            (link.trace_id, "linked_from"),
            {"trace_id": link.trace_id, "relation": "linked_from", "span_id": link.linked_span_id,
             "linked_span_id": link.span_id},
        )  # fmt: skip
    if keys:
        shared = (
            Event.objects.filter(idempotency_key__in=keys)
            .exclude(trace_id="")
            .exclude(trace_id=trace_id)
            .values_list("trace_id", "idempotency_key")
            .distinct()[:1000]
        )
        for other, key in shared:
            found.setdefault(
                (other, "shares_key"), {"trace_id": other, "relation": "shares_key", "idempotency_key": key}
            )
    return list(found.values())


def assemble_trace(trace_id: str) -> dict[str, Any] | None:
    """The trace as the API shows it, or None when nothing of it is stored."""
    spans = list(Span.objects.filter(trace_id=trace_id).order_by("start_ns", "id")[:MAX_SPANS])
    events = list(Event.objects.filter(trace_id=trace_id).only(*LIST_FIELDS).order_by("time", "id")[:MAX_SPANS])
    logs = list(LogRecord.objects.filter(trace_id=trace_id).order_by("time_ns", "id")[:MAX_SPANS])
    if not spans and not events and not logs:
        return None
    keys = sorted({event.idempotency_key for event in events if event.idempotency_key})
    return {
        "trace_id": trace_id,
        "spans": [span_json(span) for span in spans],
        "events": [event_json(event) for event in events],
        "logs": [log_json(log) for log in logs],
        "linked_traces": linked_traces(trace_id, keys),
    }
