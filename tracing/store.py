"""Storing decoded spans and log records: one bulk insert per table per request, idempotent."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction

from dashboard.envelope import EntryError, NormalizedEvent, from_log_record
from dashboard.ingest.store import EntryResult, store_events
from tracing.models import LogRecord, Span, SpanLink
from tracing.otlp import LogRecordData, SpanRecord


def store_spans(spans: list[SpanRecord], received_at: datetime) -> None:
    """Store spans and their links; a span already stored (a retried export) is kept once."""
    if not spans:
        return
    links = [
        SpanLink(
            trace_id=span.trace_id,
            span_id=span.span_id,
            linked_trace_id=link["trace_id"],
            linked_span_id=link["span_id"],
            attributes=link.get("attributes") or {},
        )
        for span in spans
        for link in span.links
    ]
    rows = [
        Span(
            trace_id=span.trace_id,
            span_id=span.span_id,
            parent_span_id=span.parent_span_id,
            trace_state=span.trace_state[:512],
            name=span.name[:512],
            kind=span.kind,
            service=span.service[:256],
            start_ns=span.start_ns,
            end_ns=span.end_ns,
            status_code=span.status_code,
            status_message=span.status_message,
            attributes=span.attributes,
            resource=span.resource,
            scope=span.scope[:256],
            events=span.events,
            links=span.links,
            received_at=received_at,
        )
        for span in spans
    ]
    with transaction.atomic():
        Span.objects.bulk_create(rows, ignore_conflicts=True)
        if links:
            SpanLink.objects.bulk_create(links, ignore_conflicts=True)


def store_logs(records: list[LogRecordData], received_at: datetime) -> list[EntryResult]:
    """Store log records; those with an event name become events (in the same transaction)."""
    events: list[NormalizedEvent | EntryError] = []
    logs: list[LogRecord] = []
    for record in records:
        if record.event_name:
            try:
                events.append(
                    from_log_record(
                        event_name=record.event_name,
                        body=record.body,
                        attributes=record.attributes,
                        service=record.service,
                        time_ns=record.time_ns or record.observed_ns,
                        trace_id=record.trace_id,
                        span_id=record.span_id,
                        severity_text=record.severity_text,
                    )
                )
            except EntryError as err:
                events.append(err)
            continue
        logs.append(
            LogRecord(
                trace_id=record.trace_id,
                span_id=record.span_id,
                time_ns=record.time_ns or record.observed_ns,
                observed_ns=record.observed_ns,
                severity_number=record.severity_number,
                severity_text=record.severity_text[:32],
                body=record.body,
                attributes=record.attributes,
                service=record.service[:256],
                scope=record.scope[:256],
                received_at=received_at,
            )
        )
    with transaction.atomic():
        if logs:
            LogRecord.objects.bulk_create(logs)
        return store_events(events, received_at) if events else []
