"""Storing decoded spans and log records: one multi-row insert per table per request, idempotent.

Spans and log records are batch kinds of ingest's observers (``dashboard.ingest.observers``):
an app that wants to see them once stored registers for ``SPANS`` or ``LOGS`` in its
``AppConfig.ready()``, as the live tail does for spans (``tracing.live``). Log records that carry
an event name are stored as events and reach the observers of ``EVENTS`` instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import connection

from dashboard.core.bulk import db_datetime, db_json, holds_nul, insert_rows, run_in_write_transaction, without_nul
from dashboard.events.envelope import EntryError, NormalizedEvent, from_log_record
from dashboard.ingest.observers import BatchHooks, BatchKind, run_after_commit, run_in_transaction
from dashboard.ingest.store import EntryResult, store_events
from tracing import keys
from tracing.models import LogRecord, Span, SpanLink
from tracing.otlp import LogRecordData, SpanRecord
from tracing.summaries import add_new_spans, deferred, summarise


@dataclass(frozen=True, slots=True)
class StoredSpans:
    """The spans of one request, as decoded: stored now, or kept as stored before (a retried export
    sends the same spans again, and they are in here again)."""

    received_at: datetime
    spans: list[SpanRecord]  # read-only: every observer is handed the same list


@dataclass(frozen=True, slots=True)
class StoredLogs:
    """The log records one request stored as log records (those with an event name became events)."""

    received_at: datetime
    records: list[LogRecordData]  # read-only, as for spans


SPANS: BatchKind[BatchHooks[StoredSpans]] = BatchKind("spans")
LOGS: BatchKind[BatchHooks[StoredLogs]] = BatchKind("logs")

SPAN_FIELDS = (
    "trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "service", "start_ns", "end_ns",
    "status_code", "status_message", "attributes", "resource", "scope", "events", "links", "received_at",
)  # fmt: skip
LINK_FIELDS = ("trace_id", "span_id", "linked_trace_id", "linked_span_id", "attributes")
LOG_FIELDS = (
    "trace_id", "span_id", "time_ns", "observed_ns", "severity_number", "severity_text", "body", "attributes",
    "service", "scope", "received_at",
)  # fmt: skip


def store_spans(spans: list[SpanRecord], received_at: datetime) -> None:
    """Store spans and their links; a span already stored (a retried export) is kept once."""
    if not spans:
        return
    when = db_datetime(received_at)
    # Spans of one resource share its attribute dict: encode it once, not once per span.
    resources: dict[int, str] = {}
    rows: list[tuple[Any, ...]] = []
    links: list[tuple[Any, ...]] = []
    for span in spans:
        resource = resources.get(id(span.resource))
        if resource is None:
            resource = resources[id(span.resource)] = db_json(span.resource)
        rows.append((
            span.trace_id, span.span_id, span.parent_span_id, span.trace_state[:512], span.name[:512], span.kind,
            span.service[:256], span.start_ns, span.end_ns, span.status_code, span.status_message,
            db_json(span.attributes), resource, span.scope[:256], db_json(span.events) if span.events else "[]",
            db_json(span.links) if span.links else "[]", when,
        ))  # fmt: skip
        for link in span.links:
            links.append(
                (span.trace_id, span.span_id, link["trace_id"], link["span_id"], db_json(link.get("attributes") or {}))
            )

    observers = SPANS.start()
    batch = StoredSpans(received_at, spans) if observers else None
    if connection.vendor == "postgresql":
        # Telemetry keeps its spans: a U+0000, which PostgreSQL cannot store, becomes U+FFFD there
        # (SQLite stores it as sent, and the check would cost every span of the embedded default).
        rows = [without_nul(row) if holds_nul(row) else row for row in rows]
        links = [without_nul(link) if holds_nul(link) else link for link in links]

    summarise_now = not deferred()  # SQLite: summarised after the commit (tracing.summaries)
    keyed = keys.in_use()

    def write() -> None:
        if keyed:
            # PostgreSQL: the keys table dedupes (the span table is partitioned by day, see
            # tracing.keys); a span is stored and summarised once, the first time its key is new.
            new = keys.claim((span.trace_id, span.span_id) for span in spans)
            if summarise_now:
                add_new_spans(spans, {(span.trace_id, span.span_id) for span in spans} - new)
            fresh = []
            for span, row in zip(spans, rows, strict=True):
                if (span.trace_id, span.span_id) in new:
                    new.discard((span.trace_id, span.span_id))  # twice in one batch: the first
                    fresh.append(row)
            insert_rows(Span, SPAN_FIELDS, fresh)
        else:
            if summarise_now:
                summarise(spans)  # trace search's tables; before the insert, which it tells new spans by
            insert_rows(Span, SPAN_FIELDS, rows, ignore_conflicts=True)
        if links:
            insert_rows(SpanLink, LINK_FIELDS, links, ignore_conflicts=True)
        if batch is not None:
            run_in_transaction(observers, batch)

    run_in_write_transaction(write)
    if batch is not None:
        run_after_commit(observers, batch)


def store_logs(records: list[LogRecordData], received_at: datetime) -> list[EntryResult]:
    """Store log records; those with an event name become events (in the same transaction)."""
    events: list[NormalizedEvent | EntryError] = []
    logs: list[tuple[Any, ...]] = []
    when = db_datetime(received_at)
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
        logs.append((
            record.trace_id, record.span_id, record.time_ns or record.observed_ns, record.observed_ns,
            record.severity_number, record.severity_text[:32], db_json(record.body), db_json(record.attributes),
            record.service[:256], record.scope[:256], when,
        ))  # fmt: skip

    if connection.vendor == "postgresql":  # as for spans
        logs = [without_nul(row) if holds_nul(row) else row for row in logs]
    observers = LOGS.start() if logs else []
    batch = StoredLogs(received_at, [record for record in records if not record.event_name]) if observers else None

    def write() -> list[EntryResult]:
        if logs:
            insert_rows(LogRecord, LOG_FIELDS, logs)
            if batch is not None:
                run_in_transaction(observers, batch)
        # Inside this transaction: the events commit with the log records, and their observers'
        # after-commit hooks wait for this commit.
        return store_events(events, received_at) if events else []

    results = run_in_write_transaction(write)
    if batch is not None:
        run_after_commit(observers, batch)
    return results
