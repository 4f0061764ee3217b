"""Folding tracked events into transaction records, in the database, on SQLite (the embedded mode).

On SQLite every write waits for the one write lock, so what tracking does inside the ingest
transaction slows every ingest request. There, ingest stores each event's lifecycle matches
(``Event.lifecycle_matches``, decided before the write transaction, see ``tracking.entry_matches``)
in the event's own row, committed with it. ``fold_pending`` then merges the stored events not folded
yet into their records, set-based in SQL: the merge is computed from a snapshot into temporary
tables without the write lock, and written back, with the fold position (``TrackingCursor``), in one
short write transaction. The records are a projection of the event log, kept current by

- the server's folder thread (``dashboard.lifecycles.folder``), a moment after ingest commits;
- every reader of records (the report, the funnel, the CSV, the event page, the sweep, lifecycle
  changes), which folds what is pending before it reads, so a report read after an ingest answered
  always holds its events.

Why the position is the table's rowid: SQLite gives a new row the largest rowid so far plus one,
and one transaction writes at a time, so rowids grow in commit order and everything at or below
the position is folded. A delete of the newest events would let rowids be handed out again; a
trigger (dashboard/core/migrations/0005) lowers the position with it.

The merge has the same result as ``tracking.State.apply`` applied to each match in rowid order
(then in lifecycle order within an event): ``tests/lifecycles/test_transaction_fold.py`` checks the two
against each other on random histories. On PostgreSQL, ingest merges in its own transaction with
row locks instead (``tracking.record_matches``).
"""

# Every statement here is put together from this module's constants; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import sqlite3
import threading
from functools import partial

from django.db import connection
from django.utils import timezone

from dashboard.core.bulk import run_alone_in_write_transaction, utc_text
from dashboard.lifecycles.tracking import MAX_FACTS, MAX_LINKS

# Events folded per write transaction: a backlog is folded in several, so ingest waits briefly.
CHUNK = 20_000
_LATEST = "9999-12-31 23:59:59.999999"

# Record text (see ``utc_text``) as the RFC 3339 the JSON columns hold, and back.
_RFC = "replace({0}, ' ', 'T') || 'Z'"
_RECORD = "replace(substr({0}, 1, length({0}) - 1), 'T', ' ')"

_SETUP = (
    "CREATE TEMP TABLE IF NOT EXISTS fold_range (j INTEGER PRIMARY KEY)",
    "INSERT OR IGNORE INTO temp.fold_range (j) SELECT value FROM json_each('[" + ",".join(map(str, range(64))) + "]')",
    # One row per match, ``pos`` its place in arrival order.
    "CREATE TEMP TABLE IF NOT EXISTS fold_match (pos INTEGER PRIMARY KEY, lifecycle_id INTEGER, key TEXT, "
    "step INTEGER, time TEXT, stored_id TEXT, event_id TEXT, detail_type TEXT, trace_id TEXT, idempotency_key TEXT)",
    "CREATE INDEX IF NOT EXISTS temp.fold_match_pair ON fold_match (lifecycle_id, key, pos)",
    "CREATE INDEX IF NOT EXISTS temp.fold_match_trace_ids ON fold_match (lifecycle_id, key, trace_id)",
    "CREATE INDEX IF NOT EXISTS temp.fold_match_idempotency_keys ON fold_match (lifecycle_id, key, idempotency_key)",
    # One row per (record, step) the batch saw: how often, first arrival, earliest occurrence.
    "CREATE TEMP TABLE IF NOT EXISTS fold_step (lifecycle_id INTEGER, key TEXT, step INTEGER, name TEXT, "
    "count INTEGER, first_pos INTEGER, time TEXT, stored_id TEXT, event_id TEXT, "
    "PRIMARY KEY (lifecycle_id, key, step))",
    "CREATE INDEX IF NOT EXISTS temp.fold_step_arrival ON fold_step (lifecycle_id, key, first_pos)",
    # One row per record the batch touches: the lifecycle, the batch's sums, the record as stored.
    "CREATE TEMP TABLE IF NOT EXISTS fold_pair (lifecycle_id INTEGER, key TEXT, steps TEXT, step_count INTEGER, "
    "timeout INTEGER, b_first_seen TEXT, b_last_seen TEXT, b_updates INTEGER, b_step_matches INTEGER, b_mask INTEGER, "
    "has_traces INTEGER, has_keys INTEGER, x_id INTEGER, x_mask INTEGER, x_first_seen TEXT, x_last_seen TEXT, "
    "x_steps_seen TEXT, x_out_of_order INTEGER, x_facts TEXT, x_duplicates INTEGER, x_updates INTEGER, "
    "x_trace_ids TEXT, x_idempotency_keys TEXT, x_overdue_at TEXT, x_status TEXT, x_deadline TEXT, "
    "x_missing_count INTEGER, PRIMARY KEY (lifecycle_id, key))",
    # Out-of-order facts: a match that arrived while an earlier step was still missing.
    "CREATE TEMP TABLE IF NOT EXISTS fold_fact (lifecycle_id INTEGER, key TEXT, pos INTEGER, rank INTEGER, fact TEXT, "
    "PRIMARY KEY (lifecycle_id, key, pos))",
    # The merged records, in the columns of dashboard_transaction.
    "CREATE TEMP TABLE IF NOT EXISTS fold_record (x_id INTEGER, x_mask INTEGER, x_duplicates INTEGER, "
    "x_updates INTEGER, x_status TEXT, x_overdue_at TEXT, x_deadline TEXT, x_missing_count INTEGER, "
    "x_out_of_order INTEGER, lifecycle_id INTEGER, key TEXT, status TEXT, "
    "steps_mask INTEGER, missing_count INTEGER, first_missing INTEGER, steps_seen TEXT, out_of_order INTEGER, "
    "out_of_order_events TEXT, first_seen TEXT, last_seen TEXT, deadline TEXT, overdue_at TEXT, "
    "duplicates INTEGER, updates INTEGER, trace_ids TEXT, idempotency_keys TEXT)",
)
_TEMPORARY = ("fold_match", "fold_step", "fold_pair", "fold_fact", "fold_record")
_CLEAR = tuple(f"DELETE FROM temp.{name}" for name in _TEMPORARY)

_MATCHES = """
INSERT INTO temp.fold_match (pos, lifecycle_id, key, step, time, stored_id, event_id, detail_type, trace_id,
                             idempotency_key)
SELECT e.rowid * 100000 + m.key, l.id, m.value ->> 1,
       CASE WHEN m.value ->> 2 < json_array_length(l.steps) THEN m.value ->> 2 END, e."time", e.id, e.event_id,
       e.detail_type, e.trace_id, e.idempotency_key
FROM dashboard_event e, json_each(e.lifecycle_matches) m JOIN dashboard_lifecycle l ON l.id = m.value ->> 0
WHERE e.rowid > %s AND e.rowid <= %s
"""

_STEPS = """
INSERT INTO temp.fold_step (lifecycle_id, key, step, name, count, first_pos, time, stored_id, event_id)
SELECT m.lifecycle_id, m.key, m.step, l.steps ->> m.step, count(*),
       (SELECT min(f.pos) FROM temp.fold_match f WHERE f.lifecycle_id = m.lifecycle_id AND f.key = m.key
        AND f.step = m.step),
       m."time", m.stored_id, m.event_id
FROM temp.fold_match m JOIN dashboard_lifecycle l ON l.id = m.lifecycle_id
WHERE m.step IS NOT NULL AND m.step < json_array_length(l.steps)
GROUP BY m.lifecycle_id, m.key, m.step
-- The one min() makes the bare columns those of the earliest occurrence: by time (text in which a
-- shorter prefix is earlier, hence the NUL separator), then producer id, then arrival.
HAVING min(m."time" || char(0) || m.event_id || char(0) || substr('0000000000000000000' || m.pos, -19)) IS NOT NULL
"""

_PAIRS = """
INSERT INTO temp.fold_pair
SELECT m.lifecycle_id, m.key, l.steps, json_array_length(l.steps), l.timeout_seconds, min(m."time"), max(m."time"),
       sum(m.step IS NULL), count(m.step),
       coalesce((SELECT sum(1 << s.step) FROM temp.fold_step s WHERE s.lifecycle_id = m.lifecycle_id
                 AND s.key = m.key), 0),
       max(m.trace_id != ''), max(m.idempotency_key != ''),
       x.id, x.steps_mask, x.first_seen, x.last_seen, x.steps_seen, x.out_of_order, x.out_of_order_events,
       x.duplicates, x.updates, x.trace_ids, x.idempotency_keys, x.overdue_at, x.status, x.deadline, x.missing_count
FROM temp.fold_match m
JOIN dashboard_lifecycle l ON l.id = m.lifecycle_id
LEFT JOIN dashboard_transaction x ON x.lifecycle_id = m.lifecycle_id AND x."key" = m.key
GROUP BY m.lifecycle_id, m.key
"""

# A match is out of order when a step before it (the first step, for an update) had been seen
# neither by the record before this batch nor by an earlier match of the batch.
_FACTS = f"""
INSERT INTO temp.fold_fact (lifecycle_id, key, pos, rank, fact)
SELECT lifecycle_id, key, pos,
       row_number() OVER (PARTITION BY lifecycle_id, key ORDER BY pos), json_object(
           'detail-type', detail_type, 'kind', CASE WHEN step IS NULL THEN 'update' ELSE 'step' END,
           'id', stored_id, 'event_id', event_id, 'time', {_RFC.format('"time"')},
           'arrived_before', steps ->> before)
FROM (
    SELECT m.*, p.steps, (
        SELECT min(r.j) FROM temp.fold_range r
        WHERE r.j < coalesce(m.step, 1) AND (coalesce(p.x_mask, 0) >> r.j) & 1 = 0
          AND NOT EXISTS (SELECT 1 FROM temp.fold_step s WHERE s.lifecycle_id = m.lifecycle_id AND s.key = m.key
                          AND s.step = r.j AND s.first_pos < m.pos)
    ) AS before
    FROM temp.fold_match m JOIN temp.fold_pair p ON p.lifecycle_id = m.lifecycle_id AND p.key = m.key
    WHERE coalesce(m.step, 1) > 0
)
WHERE before IS NOT NULL
"""

# Each seen step keeps its earliest occurrence by (event time, producer id), the first to arrive
# among equals; counts add up. Steps already in the record keep their place, new ones follow in
# the order they arrived.
_STEP_ENTRY = f"json_object('time', {_RFC.format('{0}.time')}, 'id', {{0}}.stored_id, 'event_id', {{0}}.event_id, "
_MERGED_STEPS = f"""
CASE WHEN p.b_step_matches = 0 THEN coalesce(p.x_steps_seen, '{{}}')
WHEN p.x_id IS NULL THEN (
    SELECT json_group_object(s.name, json({_STEP_ENTRY.format("s")}'count', s.count))) FROM temp.fold_step s
    INDEXED BY fold_step_arrival WHERE s.lifecycle_id = p.lifecycle_id AND s.key = p.key
) ELSE (
    SELECT json_group_object(name, json(entry)) FROM (
        SELECT e.key AS name, 0 AS part, e.id AS place, CASE
            WHEN s.step IS NULL THEN e.value
            WHEN (s.time, s.event_id) < ({_RECORD.format("(e.value ->> 'time')")}, e.value ->> 'event_id')
                THEN {_STEP_ENTRY.format("s")}'count', (e.value ->> 'count') + s.count)
            ELSE json_set(e.value, '$.count', (e.value ->> 'count') + s.count)
        END AS entry
        FROM json_each(coalesce(p.x_steps_seen, '{{}}')) e
        LEFT JOIN temp.fold_step s ON s.lifecycle_id = p.lifecycle_id AND s.key = p.key AND s.name = e.key
        UNION ALL
        SELECT s.name, 1, s.first_pos, {_STEP_ENTRY.format("s")}'count', s.count)
        FROM temp.fold_step s
        WHERE s.lifecycle_id = p.lifecycle_id AND s.key = p.key AND (coalesce(p.x_mask, 0) >> s.step) & 1 = 0
        ORDER BY part, place
    )
) END
"""

_MERGED_FACTS = f"""
CASE WHEN NOT EXISTS (SELECT 1 FROM temp.fold_fact f WHERE f.lifecycle_id = p.lifecycle_id AND f.key = p.key)
     THEN coalesce(p.x_facts, '[]') ELSE (
    SELECT json_group_array(json(fact)) FROM (
        SELECT value AS fact, 0 AS part, key AS place FROM json_each(coalesce(p.x_facts, '[]'))
        UNION ALL
        SELECT f.fact, 1, f.pos FROM temp.fold_fact f
        WHERE f.lifecycle_id = p.lifecycle_id AND f.key = p.key
          AND f.rank <= {MAX_FACTS} - json_array_length(coalesce(p.x_facts, '[]'))
        ORDER BY part, place
    )
) END
"""


def _merged_links(column: str, flag: str) -> str:
    """The ``MAX_LINKS`` smallest distinct values of the record's list and of the batch's matches."""
    return f"""
CASE WHEN NOT p.{flag} THEN coalesce(p.x_{column}, '[]')
WHEN p.x_id IS NULL THEN (
    SELECT json_group_array(value) FROM (
        SELECT DISTINCT m.{column.removesuffix("s")} AS value FROM temp.fold_match m INDEXED BY fold_match_{column}
        WHERE m.lifecycle_id = p.lifecycle_id AND m.key = p.key AND m.{column.removesuffix("s")} > ''
        ORDER BY 1 LIMIT {MAX_LINKS}
    )
) ELSE (
    SELECT json_group_array(value) FROM (
        SELECT value FROM json_each(coalesce(p.x_{column}, '[]'))
        UNION
        SELECT m.{column.removesuffix("s")} FROM temp.fold_match m
        WHERE m.lifecycle_id = p.lifecycle_id AND m.key = p.key AND m.{column.removesuffix("s")} != ''
        ORDER BY 1 LIMIT {MAX_LINKS}
    )
) END
"""


_MISSING = "FROM temp.fold_range r WHERE r.j < step_count AND (steps_mask >> r.j) & 1 = 0"

_RECORDS = f"""
INSERT INTO temp.fold_record
SELECT x_id, x_mask, x_duplicates, x_updates, x_status, x_overdue_at, x_deadline, x_missing_count, x_out_of_order,
       lifecycle_id, key,
       CASE WHEN missing_count = 0 THEN 'complete' WHEN deadline < %(now)s THEN 'incomplete' ELSE 'in_progress' END,
       steps_mask, missing_count, first_missing, steps_seen, out_of_order, out_of_order_events, first_seen,
       last_seen, deadline,
       CASE WHEN missing_count > 0 AND deadline < %(now)s THEN deadline ELSE x_overdue_at END,
       duplicates, updates, trace_ids, idempotency_keys
FROM (
    SELECT *, (SELECT count(*) {_MISSING}) AS missing_count, (SELECT min(r.j) {_MISSING}) AS first_missing,
           coalesce(datetime(substr(first_seen, 1, 19), '+' || timeout || ' seconds') || substr(first_seen, 20),
                    '{_LATEST}') AS deadline
    FROM (
        SELECT p.*, coalesce(p.x_mask, 0) | p.b_mask AS steps_mask,
               CASE WHEN p.x_first_seen < p.b_first_seen THEN p.x_first_seen ELSE p.b_first_seen END AS first_seen,
               CASE WHEN p.x_last_seen > p.b_last_seen THEN p.x_last_seen ELSE p.b_last_seen END AS last_seen,
               {_MERGED_STEPS} AS steps_seen,
               coalesce(p.x_out_of_order, 0) OR EXISTS (
                   SELECT 1 FROM temp.fold_fact f WHERE f.lifecycle_id = p.lifecycle_id AND f.key = p.key
               ) AS out_of_order,
               {_MERGED_FACTS} AS out_of_order_events,
               coalesce(p.x_duplicates, 0) + p.b_step_matches - (
                   SELECT count(*) FROM temp.fold_step s WHERE s.lifecycle_id = p.lifecycle_id AND s.key = p.key
                   AND (coalesce(p.x_mask, 0) >> s.step) & 1 = 0
               ) AS duplicates,
               coalesce(p.x_updates, 0) + p.b_updates AS updates,
               {_merged_links("trace_ids", "has_traces")} AS trace_ids,
               {_merged_links("idempotency_keys", "has_keys")} AS idempotency_keys
        FROM temp.fold_pair p
    )
)
"""

_COLUMNS = (
    "status", "steps_mask", "missing_count", "first_missing", "steps_seen", "out_of_order", "out_of_order_events",
    "first_seen", "last_seen", "deadline", "overdue_at", "duplicates", "updates", "trace_ids", "idempotency_keys",
)  # fmt: skip
# A record created meanwhile, or one whose lifecycle was deleted meanwhile, is left out (and the
# merge done again under the lock).
_INSERT = f"""
INSERT INTO dashboard_transaction (lifecycle_id, "key", {", ".join(_COLUMNS)}, updated_at)
SELECT lifecycle_id, key, {", ".join(_COLUMNS)}, %s FROM temp.fold_record
WHERE x_id IS NULL AND lifecycle_id IN (SELECT id FROM dashboard_lifecycle)
ORDER BY lifecycle_id, key
ON CONFLICT DO NOTHING
"""
# By id (the rowid): no second lookup in the (lifecycle, key) index, and lifecycle_id and key stay
# out of the SET list, so their index entries are not rewritten.
# Only where the record is still as the merge read it: every merge changes its mask, duplicates or
# updates; the sweep its status and overdue_at; a lifecycle change its deadline and missing count.
_STILL_AS_READ = """
WHERE t.id = r.x_id AND t.steps_mask = r.x_mask AND t.duplicates = r.x_duplicates AND t.updates = r.x_updates
  AND t.status = r.x_status AND t.overdue_at IS r.x_overdue_at AND t.deadline = r.x_deadline
  AND t.missing_count = r.x_missing_count
"""
# Most merges leave status, deadline and out_of_order as they were: leaving them out of the SET list
# spares rewriting their index entries (at other random places) along with the row.
_INDEXED = ("status", "deadline", "out_of_order")
_UNCHANGED = "r.status = r.x_status AND r.deadline = r.x_deadline AND r.out_of_order = r.x_out_of_order"
_UPDATES = tuple(
    f"UPDATE dashboard_transaction AS t SET {', '.join(f'{name} = r.{name}' for name in columns)}, updated_at = %s "
    f"FROM temp.fold_record r {_STILL_AS_READ} AND {condition}"
    for columns, condition in (
        ([name for name in _COLUMNS if name not in _INDEXED], _UNCHANGED),
        (_COLUMNS, f"NOT ({_UNCHANGED})"),
    )
)


def folds() -> bool:
    """Whether records are folded after ingest (SQLite 3.38 or later: the fold's SQL needs its JSON
    operators) rather than merged in the ingest transaction (PostgreSQL, older SQLite)."""
    return connection.vendor == "sqlite" and sqlite3.sqlite_version_info >= (3, 38)


def fold_pending() -> int:
    """Fold every event stored so far and not folded yet into its records; how many stored events
    (tracked or not) the fold position moved past.

    The merge is computed into temporary tables from a snapshot, outside the write lock, so that
    SQLite computes it beside ingest; only writing the records back takes the lock. If the sweep
    changed or a lifecycle deletion removed a record in between (or the newest events were deleted),
    the write finds out and the chunk is merged again (under the lock if it happens twice); if
    another fold moved the position first, this one stops. Where records are merged at ingest, this
    returns 0 at once.
    """
    if not folds() or not pending():
        return 0
    if connection.in_atomic_block:
        # The caller's transaction holds the write lock already; a fold of another thread may be
        # waiting for it, so do not wait for that fold in turn.
        return _fold_up_to_now()
    # One fold at a time in this process: a reader arriving while the folder thread folds waits for
    # it (and then folds what is left) rather than computing the same merge beside it.
    with _one_at_a_time:
        return _fold_up_to_now()


_one_at_a_time = threading.Lock()


def _fold_up_to_now() -> int:
    folded = 0
    position, top = _positions()  # what is stored now; events stored meanwhile wait for the next fold
    while position < top:
        if not _tracking_defined():
            # Nothing stored can belong to a lifecycle: move past it without reading it.
            folded += run_alone_in_write_transaction(partial(_skip, position, top))
        else:
            folded += _fold_chunk(position, min(top, position + CHUNK))
        position, now = _positions()
        top = min(top, now)  # the newest events may have been deleted meanwhile
    return folded


def _fold_chunk(position: int, upto: int) -> int:
    """Fold ``(position, upto]``, up to the newest event stored there: computed off the lock, written
    under it; computed again if a record or that event changed in between, and the second time that
    happens, computed and written under the lock."""
    try:
        for _ in range(2):
            end = _end(position, upto)
            if end is None:  # every event past the position was deleted meanwhile
                return 0
            _compute(position, end[0])
            try:
                return run_alone_in_write_transaction(partial(_apply, position, *end))
            except _Changed:
                continue
        return run_alone_in_write_transaction(_fold_locked)
    finally:
        _clear()


class _Changed(Exception):
    """A record, the fold position or the last event folded changed between computing a merge and
    writing it."""


# The newest event of ``(position, upto]`` (or, if none is left there, the first one past it): the
# chunk ends at it, and the position moves to it only while it is still stored. Deleting the newest
# events lets SQLite hand their rowids out again (the trigger of dashboard/core/migrations/0005 lowers the position
# with them); while this event stays, every rowid up to it belongs to an event the merge has read.
_END = """
SELECT rowid, id FROM dashboard_event
WHERE rowid <= max(%s, (SELECT min(rowid) FROM dashboard_event WHERE rowid > %s))
ORDER BY rowid DESC LIMIT 1
"""


def _end(position: int, upto: int) -> tuple[int, str] | None:
    with connection.cursor() as cursor:
        cursor.execute(_END, [upto, position])
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), str(row[1]))


def _tracking_defined() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT 1 FROM dashboard_lifecycle)")
        return bool(cursor.fetchone()[0])


_POSITIONS = """
SELECT c.position, c.last_id, (SELECT id FROM dashboard_event WHERE rowid <= c.position ORDER BY rowid DESC LIMIT 1),
       (SELECT coalesce(max(rowid), 0) FROM dashboard_event)
FROM dashboard_trackingcursor c WHERE c.id = 1
"""
_MOVE = """
UPDATE dashboard_trackingcursor
SET position = %s,
    last_id = coalesce((SELECT id FROM dashboard_event WHERE rowid <= %s ORDER BY rowid DESC LIMIT 1), '')
WHERE id = 1 AND position = %s
"""


def _positions() -> tuple[int, int]:
    """The fold position and the newest event's rowid.

    The position is a rowid, and a VACUUM (or a copy of the table) may number the events afresh,
    in the same order: the position then follows its anchor, the stored id of the last event folded.
    """
    with connection.cursor() as cursor:
        cursor.execute(_POSITIONS)
        row = cursor.fetchone()
        if row is None:  # never folded (or the row was removed): from the first event on
            cursor.execute("SELECT coalesce(max(rowid), 0) FROM dashboard_event")
            return 0, int(cursor.fetchone()[0])
        position, anchor, at_position, top = row
        if anchor and at_position != anchor:
            cursor.execute("SELECT rowid FROM dashboard_event WHERE id = %s", [anchor])
            found = cursor.fetchone()
            moved = int(found[0]) if found else min(int(position), int(top))
            run_alone_in_write_transaction(partial(_reanchor, int(position), moved))
            return _positions()
    return int(position), int(top)


def _reanchor(position: int, moved: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_MOVE, [moved, moved, position])


def lag() -> int | None:
    """How many stored events the fold position is behind the newest (rowids; about the number of
    events, tracked or not, not folded yet); None where nothing is folded after ingest."""
    if not folds():
        return None
    position, top = _positions()
    return max(0, top - position)


def pending() -> bool:
    """Whether stored events wait to be folded (a read, unless the position must be re-anchored)."""
    if not folds():
        return False
    position, top = _positions()
    return top > position


def _skip(position: int, top: int) -> int:
    """Move the position past events that no lifecycle can have tracked (none is defined)."""
    if _tracking_defined():  # one was defined meanwhile: fold properly
        return 0
    with connection.cursor() as cursor:
        # Not past the newest event stored now: the rowids of events deleted meanwhile are handed
        # out again.
        cursor.execute("SELECT coalesce(max(rowid), 0) FROM dashboard_event")
        top = min(top, int(cursor.fetchone()[0]))
        if top <= position:
            return 0
        cursor.execute("INSERT OR IGNORE INTO dashboard_trackingcursor (id, position, last_id) VALUES (1, 0, '')")
        cursor.execute(_MOVE, [top, top, position])
        return top - position if cursor.rowcount == 1 else 0


def _compute(position: int, upto: int) -> None:
    """The merged records of the events in ``(position, upto]`` into ``temp.fold_record``."""
    with connection.cursor() as cursor:
        for statement in (*_SETUP, *_CLEAR):
            cursor.execute(statement)
        cursor.execute(_MATCHES, [position, upto])
        if cursor.rowcount:
            for statement in (_STEPS, _PAIRS, _FACTS):
                cursor.execute(statement)
            cursor.execute(_RECORDS, {"now": utc_text(timezone.now())})


def _clear() -> None:
    with connection.cursor() as cursor:
        for statement in _CLEAR:
            cursor.execute(statement)


def _apply(position: int, upto: int, last_id: str) -> int:
    """Write the computed records and move the position to ``upto``, the rowid of the event
    ``last_id``; how many events that folded (0 when another fold moved the position first). Raises
    ``_Changed`` (the transaction then rolls back) when that event is gone or a record is not as the
    merge read it. Precondition: inside the write transaction."""
    now = utc_text(timezone.now())
    with connection.cursor() as cursor:
        cursor.execute("SELECT id FROM dashboard_event WHERE rowid = %s", [upto])
        if cursor.fetchone() != (last_id,):
            raise _Changed
        cursor.execute("INSERT OR IGNORE INTO dashboard_trackingcursor (id, position, last_id) VALUES (1, 0, '')")
        cursor.execute(_MOVE, [upto, upto, position])
        if cursor.rowcount != 1:
            return 0
        cursor.execute("SELECT count(*), count(x_id) FROM temp.fold_record")
        records, existing = cursor.fetchone()
        cursor.execute(_INSERT, [now])
        if cursor.rowcount != records - existing:
            raise _Changed
        updated = 0
        for update in _UPDATES:
            cursor.execute(update, [now])
            updated += cursor.rowcount
        if updated != existing:
            raise _Changed
    return upto - position


def _fold_locked() -> int:
    """Compute and write one chunk inside the write transaction (nothing can change in between)."""
    position, top = _positions()
    if top <= position:
        return 0
    end = _end(position, min(top, position + CHUNK))
    if end is None:
        return 0
    _compute(position, end[0])
    return _apply(position, *end)
