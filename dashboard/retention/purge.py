"""The purge: rows received before their kind's cut-off are deleted in small batches.

Each kind's table is walked in primary-key order from its oldest row: stored event ids are ULIDs made
as events arrive, and span and log ids grow as rows are inserted, so the oldest rows come first and
the walk stops at the first page that holds nothing older than the cut-off. A page's rows that are
old enough (``received_at`` decides, the key only finds them) go in one short write transaction of
their own, and the purge pauses between transactions (``EVENTSCOPE_RETENTION_PAUSE_MS``, or
``EVENTSCOPE_RETENTION_PAUSE_FACTOR`` times as long as the batch took, whichever is longer): on SQLite
the write lock is the one ingest needs, so ingest batches queue behind one purge batch at most, never
behind the whole purge, and the purge holds the lock for a bounded share of the time (a fifth, by
default). Walking by key needs no
index on ``received_at`` (ingest would pay for it on every row).

On PostgreSQL, where the tables are partitioned by day, whole days older than the cut-off are
dropped first (``dashboard.retention.partitions``), and the batched walk takes what is left.

What points at a purged row:

- events: replay deliveries (and their attempts) of finished replays are deleted with the event, as
  their foreign keys say (``on_delete=CASCADE``, carried out by Django's collector, which also
  follows any relation added later the way it declares); the replay keeps its counters. Events a
  pending or running replay still needs are kept (``dashboard.retention.keep``). Transaction records
  and key ledgers are aggregates or queries: records keep their steps (an event page for a purged
  step says "not found"), and ledgers list what is left.
- spans: their links go with them, and so do the trace-search rows (summary and terms) of a trace
  with no span left; the per-service operation counts are aggregates and stay.
- logs: nothing points at them.
- servicemap (the map's rollup rows, by their bucket's time rather than a received time): nothing
  points at them; a bucket goes once all of it lies before the cut-off.
- transactions (the records of lifecycles, by the later of their deadline and their last change
  rather than a received time, ``dashboard.lifecycles.expiry``): nothing points at them; a step that
  arrives for a key whose record was purged starts a new, partial record, as any step arriving
  first does.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.db import connection
from django.db.models import Exists, Model, OuterRef, QuerySet
from django.utils import timezone

from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.core.partitions import Busy, DayPartition, count_rows
from dashboard.events.models import Event
from dashboard.lifecycles.expiry import count_stale_records, delete_stale_records
from dashboard.retention import partitions
from dashboard.retention.keep import needed_by_active_replays
from dashboard.retention.policy import KINDS, cutoff, wording
from dashboard.servicemap.expiry import count_old_buckets, delete_old_buckets
from tracing.models import LogRecord, Span, SpanLink
from tracing.summaries import forget_traces_without_spans

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class Outcome:
    """One kind's purge: ``deleted`` rows (would be, in a dry run) received before ``cutoff``
    (None: the kind is kept forever), ``kept`` old rows a replay still needs, and whether the walk
    reached its end (False: the time budget ran out, or a day's partition could not be detached for
    a busy table; the next purge goes on from the oldest row)."""

    kind: str
    cutoff: datetime | None
    deleted: int = 0
    kept: int = 0
    finished: bool = True
    # PostgreSQL: the day partitions dropped whole (would be, in a dry run), and their rows (in
    # ``deleted`` too); days kept because a replay needs some of their events are not in it.
    dropped: list[tuple[str, int]] = field(default_factory=list)


@dataclass(slots=True)
class _Pacing:
    batch_size: int
    pause: float
    factor: float
    deadline: float | None
    sleep: Callable[[float], None]

    def out_of_time(self) -> bool:
        return self.deadline is not None and time.monotonic() >= self.deadline


def purge(
    *,
    now: datetime | None = None,
    dry_run: bool = False,
    kinds: tuple[str, ...] = KINDS,
    batch_size: int | None = None,
    pause_ms: int | None = None,
    budget_seconds: float | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> list[Outcome]:
    """Delete (or, with ``dry_run``, count) what each kind holds older than its cut-off at ``now``.

    Runs outside any transaction (each batch commits on its own). ``budget_seconds`` bounds the run:
    a purge cut short says so in its outcomes and the next one continues."""
    now = now or timezone.now()
    pacing = _Pacing(
        batch_size=batch_size or settings.EVENTSCOPE_RETENTION_BATCH_SIZE,
        pause=(settings.EVENTSCOPE_RETENTION_PAUSE_MS if pause_ms is None else pause_ms) / 1000,
        factor=settings.EVENTSCOPE_RETENTION_PAUSE_FACTOR,
        deadline=None if budget_seconds is None else time.monotonic() + budget_seconds,
        sleep=sleep,
    )
    outcomes = []
    for kind in kinds:
        outcome = Outcome(kind, cutoff(kind, now))
        if outcome.cutoff is not None:
            _PURGES.get(kind, _purge_kind)(outcome, pacing, dry_run)
        outcomes.append(outcome)
        if dry_run or outcome.cutoff is None:
            continue  # a dry run is printed by its caller; a kind kept forever has nothing to say
        if kind in _PURGES:
            rows, age = wording(kind)
            logger.info(
                "retention: %s: %d %sdeleted (%s %s)%s", kind, outcome.deleted, rows, age, outcome.cutoff,
                "" if outcome.finished else "; not finished, the next purge goes on",
            )  # fmt: skip
        else:
            logger.info(
                "retention: %s: %d deleted (%d day partitions dropped), %d kept for replays (received before %s)%s",
                kind, outcome.deleted, len(outcome.dropped), outcome.kept, outcome.cutoff,
                "" if outcome.finished else "; not finished, the next purge goes on",
            )  # fmt: skip
    return outcomes


def _purge_kind(outcome: Outcome, pacing: _Pacing, dry_run: bool) -> None:
    assert outcome.cutoff is not None
    model, delete = _KINDS[outcome.kind]
    partitioned = partitions.in_use()
    if partitioned:
        days = _drop_old_days(outcome, pacing, dry_run)
        if not outcome.finished:
            return
        if dry_run:
            _count_rest(outcome, model, days)
            return
    for low, high in _old_pages(model, outcome.cutoff, pacing.batch_size, partitioned):
        if pacing.out_of_time():
            outcome.finished = False
            return
        page = model.objects.filter(pk__lte=high, received_at__lt=outcome.cutoff)  # type: ignore[attr-defined]
        if low is not None:
            page = page.filter(pk__gt=low)
        if dry_run:
            kept = _kept_for_replays(page) if outcome.kind == "events" else 0
            outcome.kept += kept
            outcome.deleted += page.count() - kept
            continue
        started = time.monotonic()
        deleted, kept = run_alone_in_write_transaction(lambda page=page: _delete_batch(outcome.kind, delete, page))  # type: ignore[misc]
        outcome.deleted += deleted
        outcome.kept += kept
        _checkpoint()
        # Give the write lock (and the CPU) back to ingest for a multiple of the time the batch held
        # it: deleting rows costs a write per index page they sit on, scattered over the random-keyed
        # indexes, so a batch costs far more than an ingest batch of the same size.
        pacing.sleep(max(pacing.pause, pacing.factor * (time.monotonic() - started)))


def _purge_rollups(outcome: Outcome, pacing: _Pacing, dry_run: bool) -> None:
    """The service map's rollup rows whose bucket ended before the cut-off, a batch a transaction
    with the same pauses as the other kinds (``dashboard.servicemap.expiry``)."""
    assert outcome.cutoff is not None
    if dry_run:
        outcome.deleted = count_old_buckets(outcome.cutoff)
        return
    size = pacing.batch_size
    # A batch that deletes less than a batch (or nothing: a batch size that takes none) leaves none.
    _paced(outcome, pacing, iter(partial(delete_old_buckets, outcome.cutoff, size), None), lambda n: n == 0 or n < size)


def _purge_records(outcome: Outcome, pacing: _Pacing, dry_run: bool) -> None:
    """Transaction records whose deadline and last change lie before the cut-off, a batch a write
    transaction with the same pauses as the other kinds (``dashboard.lifecycles.expiry``)."""
    assert outcome.cutoff is not None
    if dry_run:
        outcome.deleted = count_stale_records(outcome.cutoff)
        return
    _paced(outcome, pacing, delete_stale_records(outcome.cutoff, pacing.batch_size))


def _paced(
    outcome: Outcome, pacing: _Pacing, batches: Iterator[int], last: Callable[[int], bool] = lambda _: False
) -> None:
    """Run ``batches`` (each a write transaction, yielding how many it deleted) with the pacing of
    the other kinds, until they end, one is ``last`` (no pause after it), or the time budget runs out."""
    while True:
        if pacing.out_of_time():
            outcome.finished = False
            return
        started = time.monotonic()
        deleted = next(batches, None)
        if deleted is None:
            return
        outcome.deleted += deleted
        if last(deleted):
            return
        _checkpoint()
        # After every batch, one that deleted nothing too: it held the write lock all the same.
        pacing.sleep(max(pacing.pause, pacing.factor * (time.monotonic() - started)))


def _drop_old_days(outcome: Outcome, pacing: _Pacing, dry_run: bool) -> list[DayPartition]:
    """PostgreSQL: drop (or, in a dry run, list) the day partitions wholly older than the cut-off,
    one transaction a day, except a day of events that a replay still needs; the days dropped."""
    assert outcome.cutoff is not None
    if not dry_run:  # a day detached by a purge that stopped before it was done with it
        for name, held in partitions.drop_detached(outcome.kind):
            outcome.dropped.append((name, held))
            outcome.deleted += held
    dropped = []
    for day in partitions.old_days(outcome.kind, outcome.cutoff):
        if pacing.out_of_time():
            outcome.finished = False
            break
        if dry_run:
            if outcome.kind == "events" and partitions.needed_by_replays(day):
                continue
            rows: int | None = count_rows(connection, day.name)
        else:
            try:
                rows = partitions.drop_day(outcome.kind, day)
            except Busy as busy:  # nothing of that day was changed; the next purge tries again
                logger.warning("retention: %s", busy)
                outcome.finished = False
                break
        if rows is not None:
            dropped.append(day)
            outcome.dropped.append((day.name, rows))
            outcome.deleted += rows
    return dropped


def _kept_for_replays(page: QuerySet[Event]) -> int:
    needed = needed_by_active_replays()
    return 0 if needed is None else page.filter(needed).count()


def _delete_batch(kind: str, delete: Callable[[Any], int], page: QuerySet[Any]) -> tuple[int, int]:
    """Delete ``page`` of ``kind`` but the events an active replay needs; how many deleted and kept.
    The replays are read in the batch's transaction, just before the delete: one started before it
    is seen (a replay planned from events this batch deletes, committed after it, finds those
    deliveries dead-lettered by its run: ``dashboard.replay.engine``)."""
    if kind == "events":
        needed = needed_by_active_replays()
        if needed is not None:
            return delete(page.exclude(needed)), page.filter(needed).count()
    return delete(page), 0


def _count_rest(outcome: Outcome, model: type[Model], dropped: list[DayPartition]) -> None:
    """PostgreSQL, dry run: count what the batched delete would take after the drops (the rows
    older than the cut-off outside the days listed for dropping), in one query."""
    assert outcome.cutoff is not None
    rest = model.objects.filter(received_at__lt=outcome.cutoff)  # type: ignore[attr-defined]
    for day in dropped:
        rest = rest.exclude(received_at__gte=day.start, received_at__lt=day.end)
    if outcome.kind == "events":
        needed = needed_by_active_replays()
        if needed is not None:
            outcome.kept += rest.filter(needed).count()
            rest = rest.exclude(needed)
    outcome.deleted += rest.count()


def _checkpoint() -> None:
    """SQLite: copy what the batch wrote from the WAL into the database now, outside the write lock.
    A batch of deletes dirties pages all over the random-keyed indexes; left to the automatic
    checkpoint, that copy would be made inside whichever commit crossed its threshold next, most
    often an ingest request's."""
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with connection.cursor() as cursor:
            cursor.execute("PRAGMA wal_checkpoint(PASSIVE)")


def _old_pages(model: type[Model], before: datetime, size: int, partitioned: bool) -> Iterator[tuple[Any, Any]]:
    """Key ranges ``(low, high]`` (``low`` None: from the start) of ``size`` rows each, from the
    oldest row on, while a range holds a row received before ``before``. On a partitioned table
    the walk keeps to rows received before ``before``: the planner then reads only the partitions
    that can hold them (the cut-off's day, days kept for replays, the DEFAULT partition)."""
    low = None
    while True:
        rows = model.objects.order_by("pk")  # type: ignore[attr-defined]
        if partitioned:
            rows = rows.filter(received_at__lt=before)
        if low is not None:
            rows = rows.filter(pk__gt=low)
        page = list(rows.values_list("pk", "received_at")[:size])
        if not any(received < before for _, received in page):
            return
        high = page[-1][0]
        yield low, high
        low = high


# --- deleting one page of each kind (in the batch's write transaction) ------------------------------


def _delete_events(page: QuerySet[Event]) -> int:
    # On PostgreSQL the events' dedupe keys go with them (a trigger: dashboard.events.keys).
    # The collector deletes what cascades (finished replays' deliveries and their attempts) first.
    _, per_model = page.only("pk").delete()
    return per_model.get(Event._meta.label, 0)


def _delete_spans(page: QuerySet[Span]) -> int:
    rows = list(page.values_list("pk", "trace_id"))
    if not rows:
        return 0
    # On PostgreSQL the spans' dedupe keys go with them (a trigger: tracing.keys).
    Span.objects.filter(pk__in=[pk for pk, _ in rows]).delete()
    traces = sorted({trace_id for _, trace_id in rows})
    SpanLink.objects.filter(trace_id__in=traces).exclude(
        Exists(Span.objects.filter(trace_id=OuterRef("trace_id"), span_id=OuterRef("span_id")))
    ).delete()
    forget_traces_without_spans(traces)
    return len(rows)


def _delete_logs(page: QuerySet[LogRecord]) -> int:
    deleted, _ = page.delete()
    return deleted


_PURGES: dict[str, Callable[[Outcome, _Pacing, bool], None]] = {
    "servicemap": _purge_rollups,
    "transactions": _purge_records,
}

_KINDS: dict[str, tuple[type[Model], Callable[[Any], int]]] = {
    "events": (Event, _delete_events),
    "spans": (Span, _delete_spans),
    "logs": (LogRecord, _delete_logs),
}
