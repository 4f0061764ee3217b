"""The service map as an observer of ingest (registered by ``ServiceMapConfig.ready()``).

Inside a batch's write transaction it writes one ``Pending`` row naming the traces the batch
touched: one small insert a request, whatever the batch's size. Of a batch of events, only the
traces of events that name their publishing span count: the fold matches no other event. After the commit it wakes the
folder thread, which matches and rolls up a moment later (``dashboard.servicemap.fold``).
"""

from __future__ import annotations

from django.conf import settings

from dashboard.core.bulk import db_datetime, db_json, insert_rows
from dashboard.ingest.observers import BatchHooks, EventHooks, StoredEvents
from dashboard.servicemap import folder
from dashboard.servicemap.models import Pending
from tracing.store import StoredSpans


def _note(kind: int, received_at: object, traces: set[str]) -> None:
    # On the hook's own connection, no ORM save: it may run on another request's thread (observers.py).
    insert_rows(Pending, ("kind", "received_at", "traces"), [(kind, received_at, db_json(sorted(traces)))])


def _note_spans(batch: StoredSpans) -> None:
    _note(Pending.SPANS, db_datetime(batch.received_at), {span.trace_id for span in batch.spans})


def _hop_traces(batch: StoredEvents) -> set[str]:
    """The traces of the batch's events that name a publishing span (the fold reads no other)."""
    return {event.trace_id for _, event in batch.events if event.trace_id and event.parent_span_id}


def _note_events(batch: StoredEvents) -> None:
    traces = _hop_traces(batch)
    if traces:
        _note(Pending.EVENTS, db_datetime(batch.received_at), traces)


def _wake_for_events(batch: StoredEvents) -> None:
    # A batch with no such event left no note: nothing to fold, so the folder is not woken for it.
    if any(event.trace_id and event.parent_span_id for _, event in batch.events):
        folder.wake()


def _wake(_: object) -> None:
    folder.wake()


_SPANS: BatchHooks[StoredSpans] = BatchHooks(in_transaction=_note_spans, after_commit=_wake)
_EVENTS = EventHooks(in_transaction=_note_events, after_commit=_wake_for_events)


def span_hooks() -> BatchHooks[StoredSpans] | None:
    return _SPANS if settings.EVENTSCOPE_SERVICE_MAP else None


def event_hooks() -> EventHooks | None:
    return _EVENTS if settings.EVENTSCOPE_SERVICE_MAP else None
