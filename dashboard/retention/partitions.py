"""Retention on PostgreSQL's day partitions: keeping partitions ready ahead, and dropping whole days.

The event, span and log tables are partitioned by day of ``received_at`` there (``events.0003``,
``tracing.0004``; ``dashboard.core.partitions``). A day whose every row is older than its kind's
retention is detached and dropped (see ``drop_day``), with what goes with its rows:

- events: the dedupe keys of its events (``dashboard.events.keys``), and the rows that point at its
  events the way their relations declare (finished replays' deliveries and their attempts, by
  ``CASCADE``), as the batched delete's collector does. A day that holds an event a pending or
  running replay still needs (``dashboard.retention.keep``) is not dropped: the batched delete takes
  its other events and keeps those.
- spans: their dedupe keys, the links that start from them, and the trace-search rows (summary and
  terms) of the day's traces that have no span left.
- logs: nothing else.

These go after the detach has committed, read from the detached table, and before it is dropped;
a table left detached by a process stopped midway is finished by the next purge (``drop_detached``).

What is left older than the cut-off (the day the cut-off falls in, days kept for replays, old rows
in the DEFAULT partition) goes by the batched delete (``dashboard.retention.purge``).
"""

# Statements are put together from table and partition names; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime
from typing import Any

from django.db import connection, models, transaction
from django.db.models.deletion import get_candidate_relations_to_delete
from django.db.models.expressions import RawSQL
from django.utils import timezone

from dashboard.core import partitions
from dashboard.core.partitions import DayPartition
from dashboard.events import keys as event_keys
from dashboard.events.models import Event
from dashboard.retention.keep import needed_by_active_replays
from tracing import keys as span_keys
from tracing.models import LogRecord, Span, SpanLink
from tracing.summaries import forget_traces_without_spans

logger = logging.getLogger(__name__)

MODELS: dict[str, type[models.Model]] = {"events": Event, "spans": Span, "logs": LogRecord}


def in_use() -> bool:
    """Whether this database's tables are partitioned by day (PostgreSQL, once migrated)."""
    return partitions.is_partitioned(connection, Event._meta.db_table)


def keep_ahead(today: date | None = None, ahead: int = partitions.DAYS_AHEAD) -> list[str]:
    """Make the day partitions of the ``ahead`` days after ``today`` that each partitioned table
    lacks (and its DEFAULT partition); the partitions made. Never ``today`` or a day before it (see
    ``partitions.ensure_days``): when upkeep was down so long that today has no partition, today's
    rows go to the DEFAULT partition. Nothing on SQLite."""
    if not in_use():
        return []
    today = today or timezone.now().date()
    created = []
    for model in MODELS.values():
        table = model._meta.db_table
        try:
            with transaction.atomic():
                partitions.ensure_default(connection, table)
                created += partitions.ensure_days(connection, table, partitions.days_after(today, ahead))
        except partitions.Busy as busy:  # the days ahead leave time: the next upkeep makes them
            logger.warning("partitions: %s", busy)
    return created


def old_days(kind: str, cutoff: datetime) -> list[DayPartition]:
    """The day partitions of ``kind`` whose every row was received before ``cutoff``, oldest first."""
    return [day for day in partitions.day_partitions(connection, MODELS[kind]._meta.db_table) if day.end <= cutoff]


def drop_detached(kind: str) -> list[tuple[str, int]]:
    """Finish the day tables of ``kind`` left detached (a process stopped after a detach, see
    ``drop_day``): delete what goes with their rows, then drop them; their names and rows."""
    table = MODELS[kind]._meta.db_table
    return [(name, _forget_and_drop(kind, name)) for name in partitions.detached_days(connection, table)]


def needed_by_replays(day: DayPartition) -> bool:
    """Whether the day holds an event a pending or running replay still needs."""
    needed = needed_by_active_replays()
    return needed is not None and _events_of(day).filter(needed).exists()


def drop_day(kind: str, day: DayPartition) -> int | None:
    """Drop ``day``'s partition of ``kind`` with what goes with its rows (see the module); the rows
    it held, or None when it was kept (events a replay needs). ``Busy`` when the table's lock was
    not had in time (nothing was changed; the next purge tries again).

    The detach's transaction locks the table first, then (events) looks whether a replay needs the
    day, then detaches it. A replay is planned from events it reads in the table: a transaction that
    read them before holds a lock the detach's lock waits for, so its replay has committed, and is
    seen, by the time of the look; one that reads them after waits for the detach, and then finds
    none. (A walking replay needs its range beyond its cursor, which the look sees from its start.)
    The transaction does nothing else, so ingest waits for the lock no longer than that. What goes
    with the rows is deleted after the commit, from the detached table (``_forget_and_drop``): only
    once the day is surely gone, so a detach given up leaves every dedupe key, delivery and link of
    the day in place."""
    table = MODELS[kind]._meta.db_table
    if kind == "events" and needed_by_replays(day):  # a first look, without the lock
        return None
    with transaction.atomic():
        partitions.lock_for_detach(connection, table)
        if kind == "events" and needed_by_replays(day):
            return None
        partitions.detach_partition(connection, table, day)
    return _forget_and_drop(kind, day.name)


def _forget_and_drop(kind: str, name: str) -> int:
    """Delete what goes with the rows of the detached day table ``name`` of ``kind``, then drop it;
    the rows it held. Each step may be done again (a process stopped midway leaves the table
    detached, and the next purge comes back to it, ``drop_detached``): each deletes by the rows the
    table still holds."""
    rows = partitions.count_rows(connection, name)
    if kind == "events":
        with transaction.atomic():
            _delete_related(RawSQL(f'SELECT id FROM "{name}"', []))  # noqa: S611 (a table name)
            event_keys.forget_events_of(name)
    elif kind == "spans":
        with transaction.atomic():
            span_keys.forget_spans_of(name)
            with connection.cursor() as cursor:
                cursor.execute(
                    f'DELETE FROM "{SpanLink._meta.db_table}" l USING "{name}" s '
                    "WHERE l.trace_id = s.trace_id AND l.span_id = s.span_id"
                )
                cursor.execute(f'SELECT DISTINCT trace_id FROM "{name}"')
                traces = [row[0] for row in cursor.fetchall()]
        # The day's spans are out of the table: the trace-search rows of a trace with none left go.
        for start in range(0, len(traces), 1000):
            with transaction.atomic():
                forget_traces_without_spans(traces[start : start + 1000])
    with transaction.atomic():
        partitions.drop_detached(connection, name)
    return rows


def _events_of(day: DayPartition) -> models.QuerySet[Event]:
    # A received_at range the planner prunes to the day's partition.
    return Event.objects.filter(received_at__gte=day.start, received_at__lt=day.end)


def _delete_related(ids: Any) -> None:
    """Carry out, for the rows that point at the events of ``ids`` (a subquery of their ids: the
    events may be in a detached day table, no longer in the event table), what their relations declare on delete
    (``CASCADE``: deleted, by Django's collector, which follows their own relations in turn;
    ``SET_NULL``, ``SET_DEFAULT``; ``DO_NOTHING``: nothing). Another rule (``PROTECT``, ``RESTRICT``,
    ``SET``) is refused: a day whose events it would keep cannot be dropped whole."""
    relation: Any
    for relation in get_candidate_relations_to_delete(Event._meta):
        field = relation.field
        related = relation.related_model._base_manager.filter(**{f"{field.name}__in": ids})
        on_delete: Callable[..., None] = field.remote_field.on_delete
        if on_delete is models.CASCADE:
            related.delete()
        elif on_delete is models.SET_NULL:
            related.update(**{field.name: None})
        elif on_delete is models.SET_DEFAULT:
            related.update(**{field.name: field.get_default()})
        elif on_delete is not models.DO_NOTHING:
            raise NotImplementedError(f"{field} declares {on_delete.__name__}: a day of events cannot be dropped whole")
