"""Tracking transactions at ingest: each stored event advances or updates its key's transaction.

- ``entry_matches`` runs before the write transaction: which lifecycles each accepted event belongs
  to, under which key, as which step (or as an update). The event's row stores them
  (``encode_matches``), so they are committed with the event.
- On PostgreSQL, ``record_matches`` merges them into the records inside that same transaction
  (an in-transaction hook of ingest), for the events that were really stored (not duplicates). On
  SQLite, ``fold`` merges them just after, in SQL, with the same result (``State.apply`` is its
  reference).

``dashboard.lifecycles.observer`` hooks these into ingest.

Races are closed in the database. Records are unique per ``(lifecycle, key)``. A batch inserts the
records it believes new, in ``(lifecycle, key)`` order, with ``ON CONFLICT DO NOTHING`` (and, on
PostgreSQL, ``RETURNING`` to learn which went in: a concurrent batch may have created one first);
every other record is locked (``SELECT … FOR UPDATE``, in the same order), merged and updated. Two
processes ingesting one key therefore serialise on its row and neither loses a step, and since
inserts and locks always go in one order, batches cannot deadlock.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from django.db import connection
from django.utils import timezone

from dashboard.core.bulk import db_json, utc_text
from dashboard.events.envelope import NormalizedEvent
from dashboard.lifecycles.definitions import LifecycleDef
from dashboard.lifecycles.models import Lifecycle, Transaction

# A record keeps a bounded sample of what it links to and of its out-of-order facts.
MAX_LINKS = 10
MAX_FACTS = 20
_INSERT_CHUNK = 400

TX_FIELDS = (
    "lifecycle_id", "key", "status", "steps_mask", "missing_count", "first_missing", "steps_seen", "out_of_order",
    "out_of_order_events", "first_seen", "last_seen", "deadline", "overdue_at", "duplicates", "updates", "trace_ids",
    "idempotency_keys", "updated_at",
)  # fmt: skip


@dataclass(slots=True)
class Match:
    """One stored event's part in one lifecycle: ``step`` is the step's index, None for an update.
    ``time`` is the event's time as record text (see ``utc_text``), set when the match is recorded."""

    lifecycle: LifecycleDef
    key: str
    stored_id: str
    entry: NormalizedEvent
    step: int | None
    time: str = ""


def entry_matches(lifecycles: Sequence[LifecycleDef], stored_id: str, entry: NormalizedEvent) -> list[Match]:
    """The matches of one event (stored as ``stored_id``) among ``lifecycles``, in their order."""
    matches: list[Match] = []
    envelope: dict[str, Any] | None = None
    for lifecycle in lifecycles:
        key = lifecycle.key_of(entry)
        if key is None:
            continue
        if lifecycle.pattern is not None:
            if envelope is None:
                envelope = entry.envelope()
            if not lifecycle.pattern.matches(envelope):
                continue
        matches.append(Match(lifecycle, key, stored_id, entry, lifecycle.step_index.get(entry.detail_type)))
    return matches


def encode_matches(matches: list[Match]) -> str:
    """``matches`` (of one event) as ``Event.lifecycle_matches`` stores them."""
    return orjson.dumps([[match.lifecycle.id, match.key, match.step] for match in matches]).decode()


# Times are merged as text, "YYYY-MM-DD HH:MM:SS[.ffffff]" in UTC: the form SQLite stores and
# PostgreSQL (whose sessions Django sets to UTC) reads, and one whose order is the order of time
# (a whole second has no fraction, so it is a prefix of every later instant within that second).
# Ingest merges several times per event; parsing and formatting datetimes cost more than the rest.


_LATEST = "9999-12-31 23:59:59.999999"


def _text_from_db(value: Any) -> str:
    if isinstance(value, datetime):
        # Naive from SQLite (Django's converter): UTC by construction, whatever the machine's zone.
        return utc_text(value if value.tzinfo else value.replace(tzinfo=UTC))
    # SQLite text; written by other tools it may carry a zero fraction: drop it, as _text would.
    return value[:-7] if value.endswith(".000000") else value


def _rfc3339(text: str) -> str:
    """Record text as the API's RFC 3339 (what ``format_time`` gives for the same instant)."""
    return text.replace(" ", "T") + "Z"


def _from_rfc3339(value: str) -> str:
    return value[:-1].replace("T", " ")


@dataclass(slots=True)
class State:
    """A transaction record's values while it is merged (the columns of ``Transaction``); times are
    record text (see ``utc_text``)."""

    lifecycle: LifecycleDef
    key: str
    first_seen: str
    last_seen: str
    deadline: str | None = None
    steps_seen: dict[str, dict[str, Any]] = field(default_factory=dict)
    steps_mask: int = 0
    out_of_order: bool = False
    out_of_order_events: list[dict[str, Any]] = field(default_factory=list)
    duplicates: int = 0
    updates: int = 0
    trace_ids: list[str] = field(default_factory=list)
    idempotency_keys: list[str] = field(default_factory=list)
    overdue_at: str | None = None
    id: int | None = None

    def apply(self, match: Match) -> None:
        """Merge one event. Everything but the out-of-order facts ends up the same whatever order
        the events arrive in: each step keeps its earliest occurrence by event time (ties broken by
        the producer's id), counts and time bounds are order-free, link samples are sorted."""
        entry, steps, time = match.entry, self.lifecycle.steps, match.time
        if time < self.first_seen:
            self.first_seen = time
        if time > self.last_seen:
            self.last_seen = time
        if match.step is None:
            self.updates += 1
            if not self.steps_mask & 1:
                self._out_of_order(match, steps[0])
        else:
            mask = self.steps_mask
            earlier = ~mask & ((1 << match.step) - 1)  # steps before this one not seen yet
            if earlier:
                self._out_of_order(match, steps[(earlier & -earlier).bit_length() - 1])
            step = steps[match.step]
            seen = self.steps_seen.get(step)
            if seen is None:
                self.steps_seen[step] = {
                    "time": _rfc3339(time), "id": match.stored_id, "event_id": entry.event_id, "count": 1
                }  # fmt: skip
                self.steps_mask = mask | (1 << match.step)
            else:
                seen["count"] += 1
                self.duplicates += 1
                if (time, entry.event_id) < (_from_rfc3339(seen["time"]), seen["event_id"]):
                    seen.update(time=_rfc3339(time), id=match.stored_id, event_id=entry.event_id)
        if entry.trace_id:
            self.trace_ids = _add_sorted(self.trace_ids, entry.trace_id)
        if entry.idempotency_key:
            self.idempotency_keys = _add_sorted(self.idempotency_keys, entry.idempotency_key)

    def _out_of_order(self, match: Match, before: str) -> None:
        self.out_of_order = True
        if len(self.out_of_order_events) < MAX_FACTS:
            self.out_of_order_events.append({
                "detail-type": match.entry.detail_type,
                "kind": "update" if match.step is None else "step",
                "id": match.stored_id,
                "event_id": match.entry.event_id,
                "time": _rfc3339(match.time),
                "arrived_before": before,
            })  # fmt: skip

    def row(self, now: str) -> tuple[Any, ...]:
        """The record's column values (``TX_FIELDS`` order); ``now`` is the batch's clock, as text."""
        missing = ((1 << len(self.lifecycle.steps)) - 1) & ~self.steps_mask
        # From the lifecycle's current timeout: a changed timeout applies when a record is next touched.
        try:
            self.deadline = utc_text(
                datetime.fromisoformat(self.first_seen).replace(tzinfo=UTC) + self.lifecycle.timeout
            )
        except OverflowError:  # an event dated near the year 9999: no deadline within the calendar
            self.deadline = _LATEST
        if not missing:
            status = Transaction.COMPLETE
        elif self.deadline < now:
            status, self.overdue_at = Transaction.INCOMPLETE, self.deadline
        else:
            status = Transaction.IN_PROGRESS
        return (
            self.lifecycle.id, self.key, status, self.steps_mask, missing.bit_count(),
            (missing & -missing).bit_length() - 1 if missing else None, db_json(self.steps_seen), self.out_of_order,
            _json_list(self.out_of_order_events), self.first_seen, self.last_seen, self.deadline, self.overdue_at,
            self.duplicates, self.updates, _json_list(self.trace_ids), _json_list(self.idempotency_keys), now,
        )  # fmt: skip


def _json_list(values: list[Any]) -> str:
    return db_json(values) if values else "[]"


def _add_sorted(values: list[str], value: str) -> list[str]:
    if value in values:
        return values
    return sorted([*values, value])[:MAX_LINKS]


def record_matches(fresh: list[Match]) -> None:
    """Advance the transactions of ``fresh``, the matches of events this batch really stored (not
    duplicates of events stored before). Precondition: inside the write transaction that inserted
    the events; uses only ``django.db.connection``.
    """
    if not fresh:
        return
    # A lifecycle deleted since the cache was loaded would fail the foreign key at commit, and
    # with it every batch sharing the commit: keep only those that still exist.
    live = _existing_lifecycles({m.lifecycle.id for m in fresh})
    grouped: dict[tuple[int, str], list[Match]] = {}
    for match in fresh:
        if match.lifecycle.id in live:
            match.time = utc_text(match.entry.time)
            grouped.setdefault((match.lifecycle.id, match.key), []).append(match)
    if not grouped:
        return
    exclusive = connection.vendor == "sqlite"  # SQLite's write transaction excludes every other writer
    now = utc_text(timezone.now())
    order = sorted(grouped)
    # Which records exist already? On SQLite this read is the truth until commit. Elsewhere it is a
    # guess that spares building rows for records that exist; the insert and the lock decide.
    states = _fetch(order, grouped, lock=False) if exclusive else {}
    existing = set(states) if exclusive else _fetch_pairs(order)
    created = _insert_new([pair for pair in order if pair not in existing], grouped, now, exclusive)
    rest = [pair for pair in order if pair not in created]
    if not rest:
        return
    if not exclusive:
        states = _fetch(rest, grouped, lock=True)
        gone = [pair for pair in rest if pair not in states]
        if gone:
            _start_again(gone, grouped, now, states)
    _update(rest, states, grouped, now)


def _start_again(
    gone: list[tuple[int, str]], grouped: dict[tuple[int, str], list[Match]], now: str, states: dict[Any, State]
) -> None:
    """PostgreSQL: records the insert met but the lock no longer found were deleted in between, by
    the retention purge (``dashboard.lifecycles.expiry``) or with their lifecycle. Those whose
    lifecycle is still there start again as new, partial records, as if this batch had come first;
    one that a concurrent batch made again meanwhile is locked and merged like the others (out of
    order: should that deadlock, the database refuses one batch, whose client is told to retry)."""
    live = _existing_lifecycles({lifecycle for lifecycle, _ in gone})
    wanted = [pair for pair in gone if pair[0] in live]
    created = _insert_new(wanted, grouped, now, sqlite=False)
    remade = [pair for pair in wanted if pair not in created]
    if remade:
        states.update(_fetch(remade, grouped, lock=True))


def _existing_lifecycles(ids: set[int]) -> set[int]:
    table = connection.ops.quote_name(Lifecycle._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT id FROM {table} WHERE id IN ({', '.join(['%s'] * len(ids))})", list(ids))  # noqa: S608
        return {int(row[0]) for row in cursor.fetchall()}


_STATE_COLUMNS = (
    "id", "lifecycle_id", "key", "first_seen", "last_seen", "steps_seen", "steps_mask", "out_of_order",
    "out_of_order_events", "duplicates", "updates", "trace_ids", "idempotency_keys", "overdue_at",
)  # fmt: skip


def _where_pairs(pairs: list[tuple[int, str]]) -> tuple[str, list[Any]]:
    """The condition selecting the records of ``pairs``.

    On PostgreSQL exactly those pairs: rows are locked there, and a lifecycle-by-key cross product
    would lock records of other chunks' pairs out of ``(lifecycle, key)`` order (two batches could
    deadlock). On SQLite nothing is locked, and the cross product is the cheaper query.
    """
    if connection.vendor != "sqlite":
        rows = ", ".join(["(%s, %s)"] * len(pairs))
        return f"(lifecycle_id, {connection.ops.quote_name('key')}) IN ({rows})", [v for pair in pairs for v in pair]
    lifecycles = sorted({pair[0] for pair in pairs})
    keys = sorted({pair[1] for pair in pairs})
    sql = (
        f"lifecycle_id IN ({', '.join(['%s'] * len(lifecycles))}) AND {connection.ops.quote_name('key')} "
        f"IN ({', '.join(['%s'] * len(keys))})"
    )
    return sql, [*lifecycles, *keys]


def _fetch_pairs(pairs: list[tuple[int, str]]) -> set[tuple[int, str]]:
    """Which of ``pairs`` have a record (no lock taken)."""
    wanted, found = set(pairs), set[tuple[int, str]]()
    table = connection.ops.quote_name(Transaction._meta.db_table)
    with connection.cursor() as cursor:
        for offset in range(0, len(pairs), _INSERT_CHUNK):
            where, params = _where_pairs(pairs[offset : offset + _INSERT_CHUNK])
            sql = f"SELECT lifecycle_id, {connection.ops.quote_name('key')} FROM {table} WHERE {where}"  # noqa: S608
            cursor.execute(sql, params)
            found.update((int(lifecycle_id), key) for lifecycle_id, key in cursor.fetchall())
    return found & wanted


def _fetch(
    pairs: list[tuple[int, str]], grouped: dict[tuple[int, str], list[Match]], *, lock: bool
) -> dict[tuple[int, str], State]:
    """The records of ``pairs`` that exist, as states; with ``lock``, locked in ``(lifecycle, key)``
    order (``SELECT … FOR UPDATE``) so that concurrent batches queue instead of deadlocking."""
    quote = connection.ops.quote_name
    table = quote(Transaction._meta.db_table)
    columns = ", ".join(quote(name) for name in _STATE_COLUMNS)
    states: dict[tuple[int, str], State] = {}
    with connection.cursor() as cursor:
        for offset in range(0, len(pairs), _INSERT_CHUNK):
            chunk = pairs[offset : offset + _INSERT_CHUNK]
            where, params = _where_pairs(chunk)
            suffix = f" ORDER BY lifecycle_id, {quote('key')} FOR UPDATE" if lock else ""
            cursor.execute(f"SELECT {columns} FROM {table} WHERE {where}{suffix}", params)  # noqa: S608
            for row in cursor.fetchall():
                pair = (int(row[1]), row[2])
                if pair in grouped:
                    states[pair] = _state_of(row, grouped[pair][0].lifecycle)
    return states


def _state_of(row: tuple[Any, ...], lifecycle: LifecycleDef) -> State:
    (pk, _, key, first_seen, last_seen, steps_seen, mask, out_of_order, facts, duplicates, updates, traces, keys,
     overdue_at) = row  # fmt: skip
    return State(
        lifecycle=lifecycle, key=key, first_seen=_text_from_db(first_seen), last_seen=_text_from_db(last_seen),
        steps_seen=decode_json(steps_seen), steps_mask=int(mask), out_of_order=bool(out_of_order),
        out_of_order_events=decode_json(facts), duplicates=int(duplicates), updates=int(updates),
        trace_ids=decode_json(traces), idempotency_keys=decode_json(keys),
        overdue_at=_text_from_db(overdue_at) if overdue_at else None, id=int(pk),
    )  # fmt: skip


def _insert_new(
    pairs: list[tuple[int, str]], grouped: dict[tuple[int, str], list[Match]], now: str, sqlite: bool
) -> set[tuple[int, str]]:
    """Insert a finished record for each of ``pairs`` (in order) unless one exists by then; the
    pairs inserted."""
    if not pairs:
        return set()
    quote = connection.ops.quote_name
    insert = (
        f"INSERT INTO {quote(Transaction._meta.db_table)} ({', '.join(quote(name) for name in TX_FIELDS)}) "  # noqa: S608
        f"VALUES ({', '.join(['%s'] * len(TX_FIELDS))}) ON CONFLICT (lifecycle_id, {quote('key')}) DO NOTHING"
    )
    rows = [_new_state(grouped[pair]).row(now) for pair in pairs]
    with connection.cursor() as cursor:
        if sqlite:
            # Nobody else writes inside this transaction (and ``pairs`` were read in it): every row
            # goes in. One statement prepared once is cheaper than a long multi-row one.
            cursor.executemany(insert, rows)
            return set(pairs)
        created: set[tuple[int, str]] = set()
        returning = f" RETURNING lifecycle_id, {quote('key')}"
        values = insert.index(" VALUES ")
        head, tail = insert[:values], insert[insert.index(" ON CONFLICT") :]
        row_sql = "(" + ", ".join(["%s"] * len(TX_FIELDS)) + ")"
        for offset in range(0, len(rows), _INSERT_CHUNK):
            chunk = rows[offset : offset + _INSERT_CHUNK]
            # Which rows went in tells which records a concurrent batch created first.
            cursor.execute(
                f"{head} VALUES {', '.join([row_sql] * len(chunk))}{tail}{returning}",
                [value for row in chunk for value in row],
            )
            created.update((int(lifecycle_id), key) for lifecycle_id, key in cursor.fetchall())
        return created


def _update(
    pairs: list[tuple[int, str]],
    states: dict[tuple[int, str], State],
    grouped: dict[tuple[int, str], list[Match]],
    now: str,
) -> None:
    """Merge this batch into the existing records of ``pairs`` and write them back."""
    quote = connection.ops.quote_name
    # Not lifecycle_id and key (they never change): a column in the SET list has the database
    # rewrite every index entry holding it, and the (lifecycle, key) one sits at a random place.
    assignments = ", ".join(f"{quote(name)} = %s" for name in TX_FIELDS[2:])
    updates: list[tuple[Any, ...]] = []
    for pair in pairs:
        state = states.get(pair)
        if state is None:  # its lifecycle was deleted meanwhile, and the record with it
            continue
        for match in grouped[pair]:
            state.apply(match)
        updates.append((*state.row(now)[2:], state.id))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {quote(Transaction._meta.db_table)} SET {assignments} WHERE id = %s",  # noqa: S608
            updates,
        )


def _new_state(matches: list[Match]) -> State:
    first = matches[0]
    state = State(first.lifecycle, first.key, first_seen=first.time, last_seen=first.time)
    for match in matches:
        state.apply(match)
    return state


def decode_json(value: Any) -> Any:
    """A JSON column read through a raw cursor (text on SQLite, already decoded on PostgreSQL)."""
    return orjson.loads(value) if isinstance(value, str | bytes) else value
