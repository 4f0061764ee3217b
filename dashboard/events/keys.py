"""The dedupe keys of stored events on PostgreSQL: ``(event_id, source) -> stored id``.

On PostgreSQL the event table is partitioned by day of its received time, and a unique constraint of
a partitioned table must hold the partition key: ``(event_id, source)`` could only be unique within a
day, and an exporter's retry that arrives the next day would be stored twice. So the uniqueness lives
in this small table, not partitioned, whose row ingest writes in the transaction that stores the
event (``claim``); retention deletes a key with its event (``forget_events_of``). The table is the model
``EventKey``'s, made on PostgreSQL only: SQLite keeps the unique constraint on the event table
itself, and this module is not used there.
"""

# Statements are put together from the table's name; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import connection

from dashboard.core.partitions import MOVING_ROWS

TABLE = "dashboard_event_key"

CREATE_SQL = (
    f'CREATE TABLE "{TABLE}" (event_id varchar(256) NOT NULL, source varchar(256) NOT NULL, '
    # event_id first: the duplicate check after an insert looks keys up by event_id alone.
    "stored_id varchar(26) NOT NULL, PRIMARY KEY (event_id, source))"
)

# A key goes with its event however the event is deleted (the batched purge, Django's collector, SQL):
# a trigger on the event table deletes it. Dropping a partition fires no trigger: retention deletes
# the day's keys itself. Moving rows between partitions (dashboard.core.partitions) keeps the keys.
TRIGGER_SQL = [
    f"""CREATE FUNCTION dashboard_event_forget_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('{MOVING_ROWS}', true), '') <> 'on' THEN
        DELETE FROM "{TABLE}" WHERE event_id = OLD.event_id AND source = OLD.source AND stored_id = OLD.id;
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER dashboard_event_forget_key AFTER DELETE ON dashboard_event "
    "FOR EACH ROW EXECUTE FUNCTION dashboard_event_forget_key()",
]
DROP_TRIGGER_SQL = [
    "DROP TRIGGER IF EXISTS dashboard_event_forget_key ON dashboard_event",
    "DROP FUNCTION IF EXISTS dashboard_event_forget_key()",
]

_ROWS_A_STATEMENT = 1000


def in_use() -> bool:
    """Whether events are deduplicated here (PostgreSQL) rather than by the event table (SQLite)."""
    return connection.vendor == "postgresql"


def claim(keys: Sequence[tuple[str, str, str]]) -> int:
    """Insert ``(stored id, source, event_id)`` keys; how many went in. A key already there (stored
    before, or by a concurrent transaction that commits first) keeps its id. Precondition: in the
    write transaction that stores the events; sorted, so concurrent batches take the index's locks in
    one order."""
    rows = sorted({(event_id, source): stored_id for stored_id, source, event_id in reversed(keys)}.items())
    inserted = 0
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_A_STATEMENT):
            chunk = rows[start : start + _ROWS_A_STATEMENT]
            # One array a column: a short statement the driver parses once and caches (a VALUES list
            # of 300 placeholders was parsed again on every call).
            cursor.execute(
                f'INSERT INTO "{TABLE}" (event_id, source, stored_id) '
                "SELECT * FROM unnest(%s::text[], %s::text[], %s::text[]) ON CONFLICT DO NOTHING",
                [
                    [event_id for (event_id, _), _ in chunk],
                    [source for (_, source), _ in chunk],
                    [stored_id for _, stored_id in chunk],
                ],
            )
            inserted += cursor.rowcount
    return inserted


def stored_ids(event_ids: Sequence[str]) -> list[tuple[str, str, str]]:
    """``(stored id, source, event_id)`` of the keys with one of ``event_ids``."""
    out: list[tuple[str, str, str]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(event_ids), _ROWS_A_STATEMENT):
            chunk = event_ids[start : start + _ROWS_A_STATEMENT]
            cursor.execute(
                f'SELECT stored_id, source, event_id FROM "{TABLE}" WHERE event_id = ANY(%s::text[])', [list(chunk)]
            )
            out += cursor.fetchall()
    return out


def forget_events_of(relation: str, condition: str = "TRUE", params: Sequence[Any] = ()) -> int:
    """Delete the keys of the events in ``relation`` (the event table or one of its partitions) that
    match ``condition`` (SQL on ``e``); how many. A key goes only with the event it names."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{TABLE}" k USING "{relation}" e WHERE k.event_id = e.event_id AND k.source = e.source '
            f"AND k.stored_id = e.id AND ({condition})",
            list(params),
        )
        return int(cursor.rowcount)
