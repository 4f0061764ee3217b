"""Walking the archive for a replay: in the events' original time order, by cursor, in pages.

The order is ``(time, stored id)``: the producer's time first, arrival order among equal times. The
``event_time`` index gives the time order and the database sorts only within one timestamp (SQLite's
partial sort, PostgreSQL's incremental sort), so a page costs the same at any depth of the archive.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone

from dashboard.core.bulk import db_datetime, insert_rows
from dashboard.events.models import Event
from dashboard.events.queries import narrowed_by_pattern
from dashboard.events.shapes import envelope_of, event_json
from dashboard.patterns.engine import CompiledPattern, compile_pattern
from dashboard.replay.models import Consumer, Delivery

PAGE = 500
WALK_FIELDS = (
    "id", "event_id", "source", "detail_type", "time", "account", "region", "resources", "detail",
    "idempotency_key",
)  # fmt: skip
# A dry run stops counting after this many archive events and says its plan is partial.
DRY_RUN_SCAN_LIMIT = 200_000
FIRST_EVENTS = 10


def compiled_or_none(pattern: Any) -> CompiledPattern | None:
    """The compiled pattern, or None for "every event" (a stored null pattern).

    Stored patterns were checked when saved, under the limits of their day: they are not refused now.
    """
    return None if pattern is None else compile_pattern(pattern, limits=False)


def archive_range(since: datetime, until: datetime, pattern: CompiledPattern | None) -> QuerySet[Event]:
    """The archive's events in ``[since, until)``, narrowed by what ``pattern`` pins on indexed
    columns (the pattern itself is matched in Python)."""
    return narrowed_by_pattern(Event.objects.filter(time__gte=since, time__lt=until), pattern)


def walk(
    since: datetime,
    until: datetime,
    pattern: CompiledPattern | None,
    after: tuple[datetime, str] | None = None,
    page: int = PAGE,
) -> Iterator[list[Event]]:
    """Pages of the archive range in time order, starting after the cursor ``(time, stored id)``.
    Every event of the range comes back (matching the pattern is the caller's business), so the
    cursor can always advance past a page."""
    base = archive_range(since, until, pattern).only(*WALK_FIELDS).order_by("time", "id")
    while True:
        query = base
        if after is not None:
            # time >= t narrows the index range; the OR only orders ties within that timestamp.
            query = query.filter(time__gte=after[0]).filter(Q(time__gt=after[0]) | Q(id__gt=after[1]))
        rows = list(query[:page])
        if not rows:
            return
        yield rows
        if len(rows) < page:
            return
        after = (rows[-1].time, rows[-1].id)


@dataclass(slots=True)
class Selection:
    """What one page of the walk comes to: per matched event, the consumers that receive it."""

    matched: list[tuple[Event, list[Consumer]]]
    skipped: int


def select(
    events: Sequence[Event],
    pattern: CompiledPattern | None,
    consumers: Sequence[tuple[Consumer, CompiledPattern | None]],
) -> Selection:
    """Match ``events`` against the replay's pattern, then each matched one against each consumer's.
    An event that a consumer's pattern leaves out counts once as skipped for that consumer."""
    matched: list[tuple[Event, list[Consumer]]] = []
    skipped = 0
    for event in events:
        envelope: dict[str, Any] | None = None
        if pattern is not None:
            envelope = envelope_of(event)
            if not pattern.matches(envelope):
                continue
        receivers = []
        for consumer, consumer_pattern in consumers:
            if consumer_pattern is not None:
                if envelope is None:
                    envelope = envelope_of(event)
                if not consumer_pattern.matches(envelope):
                    skipped += 1
                    continue
            receivers.append(consumer)
        matched.append((event, receivers))
    return Selection(matched, skipped)


DELIVERY_FIELDS = (
    "replay", "event", "consumer", "seq", "idempotency_key", "state", "claim", "attempts", "drive_attempts",
    "last_error", "updated_at",
)  # fmt: skip


def insert_deliveries(replay_id: int, first_seq: int, selection: Selection) -> int:
    """Create the pending delivery rows of ``selection`` (seq = ``first_seq`` + the event's place);
    rows that exist already are left alone, so planning a page twice is harmless. Returns how many
    deliveries the page holds. Precondition: inside a transaction."""
    now = db_datetime(timezone.now())
    rows = [
        (replay_id, event.id, consumer.pk, first_seq + index, event.idempotency_key[:256], Delivery.PENDING, "", 0, 0,
         "", now)
        for index, (event, receivers) in enumerate(selection.matched)
        for consumer in receivers
    ]  # fmt: skip
    if rows:
        insert_rows(Delivery, [f"{name}_id" if name in ("replay", "event", "consumer") else name for name in
                               DELIVERY_FIELDS], rows, ignore_conflicts=True)  # fmt: skip
    return len(rows)


def dry_run(
    pages: Iterable[list[Event]],
    pattern: CompiledPattern | None,
    consumers: Sequence[tuple[Consumer, CompiledPattern | None]],
) -> dict[str, Any]:
    """The plan of a replay without delivering anything, over ``pages`` (the archive walk or a
    selection's events): events matched, by detail-type and by consumer, deliveries in all,
    consumers' skips and the first few events in delivery order that a chosen consumer receives
    (with no consumers chosen, the first events matched)."""
    by_type: Counter[str] = Counter()
    by_consumer: Counter[str] = Counter({consumer.name: 0 for consumer, _ in consumers})
    first: list[dict[str, Any]] = []
    matched = skipped = scanned = 0
    complete = True
    for events in pages:
        selection = select(events, pattern, consumers)
        scanned += len(events)
        skipped += selection.skipped
        for event, receivers in selection.matched:
            matched += 1
            by_type[event.detail_type] += 1
            for consumer in receivers:
                by_consumer[consumer.name] += 1
            if len(first) < FIRST_EVENTS and (receivers or not consumers):
                first.append(event_json(event))
        if scanned >= DRY_RUN_SCAN_LIMIT:
            complete = False
            break
    return {
        "dry_run": True,
        "complete": complete,
        "scanned": scanned,
        "matched": matched,
        "deliveries": sum(by_consumer.values()),
        "skipped": skipped,
        "by_detail_type": dict(by_type.most_common()),
        "by_consumer": dict(by_consumer),
        "first_events": first,
    }


def plan_selected(
    replay_id: int,
    pages: Iterable[list[Event]],
    pattern: CompiledPattern | None,
    consumers: Sequence[tuple[Consumer, CompiledPattern | None]],
) -> tuple[int, int, int]:
    """Plan every delivery of a selection replay at once (its events are few and fixed): the rows
    as the walk would create them, in the same order. Returns ``(matched, skipped, deliveries)``.
    Precondition: inside the transaction that creates the replay."""
    matched = skipped = planned = 0
    for events in pages:
        selection = select(events, pattern, consumers)
        planned += insert_deliveries(replay_id, matched, selection)
        matched += len(selection.matched)
        skipped += selection.skipped
    return matched, skipped, planned
