"""The dedupe keys of stored spans on PostgreSQL: one row per ``(trace_id, span_id)``.

On PostgreSQL the span table is partitioned by day of its received time, where ``(trace_id,
span_id)`` could only be unique within a day: an exporter's retry arriving the next day would be
stored twice (and counted twice by trace search). The uniqueness lives in this small table, not
partitioned, written in the transaction that stores the spans (``claim`` answers which spans are
new); retention deletes a span's key with it. SQLite keeps the unique constraint on the span table.
"""

# Statements are put together from the table's name; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django.db import connection

from dashboard.core.partitions import MOVING_ROWS

TABLE = "tracing_span_key"

CREATE_SQL = (
    f'CREATE TABLE "{TABLE}" (trace_id varchar(32) NOT NULL, span_id varchar(16) NOT NULL, '
    "PRIMARY KEY (trace_id, span_id))"
)

# A key goes with its span however the span is deleted; see dashboard.events.keys.
TRIGGER_SQL = [
    f"""CREATE FUNCTION tracing_span_forget_key() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF coalesce(current_setting('{MOVING_ROWS}', true), '') <> 'on' THEN
        DELETE FROM "{TABLE}" WHERE trace_id = OLD.trace_id AND span_id = OLD.span_id;
    END IF;
    RETURN NULL;
END $$""",
    "CREATE TRIGGER tracing_span_forget_key AFTER DELETE ON tracing_span "
    "FOR EACH ROW EXECUTE FUNCTION tracing_span_forget_key()",
]
DROP_TRIGGER_SQL = [
    "DROP TRIGGER IF EXISTS tracing_span_forget_key ON tracing_span",
    "DROP FUNCTION IF EXISTS tracing_span_forget_key()",
]

_ROWS_A_STATEMENT = 1000


def in_use() -> bool:
    """Whether spans are deduplicated here (PostgreSQL) rather than by the span table (SQLite)."""
    return connection.vendor == "postgresql"


def claim(pairs: Iterable[tuple[str, str]]) -> set[tuple[str, str]]:
    """Insert the ``(trace_id, span_id)`` keys; the ones that were not there (the new spans). A key
    a concurrent transaction inserts first is theirs once it commits. Precondition: in the write
    transaction that stores the spans; sorted, so concurrent batches lock the index in one order."""
    rows = sorted(set(pairs))
    new: set[tuple[str, str]] = set()
    with connection.cursor() as cursor:
        for start in range(0, len(rows), _ROWS_A_STATEMENT):
            chunk = rows[start : start + _ROWS_A_STATEMENT]
            # One array a column: a short statement with two parameters, which the driver parses once
            # and caches (a VALUES list of 200 placeholders was parsed again on every call).
            cursor.execute(
                f'INSERT INTO "{TABLE}" (trace_id, span_id) SELECT * FROM unnest(%s::text[], %s::text[]) '
                "ON CONFLICT DO NOTHING RETURNING trace_id, span_id",
                [[trace_id for trace_id, _ in chunk], [span_id for _, span_id in chunk]],
            )
            new.update(cursor.fetchall())
    return new


def forget_spans_of(relation: str, condition: str = "TRUE", params: Sequence[Any] = ()) -> int:
    """Delete the keys of the spans in ``relation`` (the span table or one of its partitions) that
    match ``condition`` (SQL on ``s``); how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            f'DELETE FROM "{TABLE}" k USING "{relation}" s WHERE k.trace_id = s.trace_id AND k.span_id = s.span_id '
            f"AND ({condition})",
            list(params),
        )
        return int(cursor.rowcount)
