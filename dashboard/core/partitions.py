"""Tables partitioned by day of their received time (PostgreSQL only).

The event, span and log tables grow by the day and are purged by the day, so on PostgreSQL each is
``PARTITION BY RANGE (received_at)`` with one partition a UTC day, named ``<table>_pYYYYMMDD``, and a
DEFAULT partition, ``<table>_pdefault``, for rows no day partition takes (a clock far off, or upkeep
that has not run): an insert never fails for want of a partition. Retention then drops whole days
(``detach_partition``, ``drop_detached``) instead of deleting their rows one by one.

This module knows tables and columns only; which tables are partitioned, and what goes with a
dropped day, is said by the apps that own them (``dashboard.retention.partitions``). SQLite keeps
plain tables and every function here is for PostgreSQL connections only.
"""

# Every statement here is put together from table, index and partition names (never from values).
# ruff: noqa: S608

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper

COLUMN = "received_at"  # the partition key of every partitioned table
# Set (to "on", for the transaction) while rows move from the DEFAULT partition into a new day's
# partition: a trigger that acts on deleted rows (dashboard.events.keys) leaves moving rows alone.
MOVING_ROWS = "eventscope.moving_rows"
DEFAULT_SUFFIX = "_pdefault"
_DAY_NAME = re.compile(r"_p(\d{8})$")


@dataclass(frozen=True, slots=True)
class DayPartition:
    """One day's partition: its rows were received in ``[start, end)``."""

    name: str
    day: date

    @property
    def start(self) -> datetime:
        return day_start(self.day)

    @property
    def end(self) -> datetime:
        return day_start(self.day + timedelta(days=1))


def day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


def partition_name(table: str, day: date) -> str:
    return f"{table}_p{day:%Y%m%d}"


def is_partitioned(connection: BaseDatabaseWrapper, table: str) -> bool:
    """Whether ``table`` is a partitioned table (False on SQLite, and before the migration)."""
    if connection.vendor != "postgresql":
        return False
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        row = cursor.fetchone()
    return row is not None and row[0] == "p"


def day_partitions(connection: BaseDatabaseWrapper, table: str) -> list[DayPartition]:
    """The day partitions attached to ``table``, oldest first (the DEFAULT partition is not one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = to_regclass(%s)",
            [table],
        )
        names = [row[0] for row in cursor.fetchall()]
    days = []
    for name in names:
        match = _DAY_NAME.search(name)
        if match is None:
            continue
        day = date(int(match.group(1)[:4]), int(match.group(1)[4:6]), int(match.group(1)[6:]))
        if name == partition_name(table, day):
            days.append(DayPartition(name, day))
    return sorted(days, key=lambda partition: partition.day)


def ensure_default(connection: BaseDatabaseWrapper, table: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE TABLE IF NOT EXISTS "{table}{DEFAULT_SUFFIX}" PARTITION OF "{table}" DEFAULT')


def ensure_days(connection: BaseDatabaseWrapper, table: str, days: list[date]) -> list[str]:
    """Create the partitions of ``days`` that ``table`` lacks; the names created.

    A day's rows that the DEFAULT partition took meanwhile move into the new partition with it (a
    partition cannot be attached while the DEFAULT one holds rows of its range). Precondition: in a
    transaction (``transaction.atomic``), which the move and the attach share."""
    have = {partition.day for partition in day_partitions(connection, table)}
    created = []
    default = f"{table}{DEFAULT_SUFFIX}"
    for day in sorted(set(days) - have):
        name = partition_name(table, day)
        start, end = day_start(day), day_start(day + timedelta(days=1))
        with connection.cursor() as cursor:
            # The DEFAULT partition is locked first, exclusively (the attach takes that lock on it
            # anyway, to check it): no row of this day can enter it between the move and the attach.
            # Readers and writers of the DEFAULT partition wait until the commit, so the lock is
            # not waited for long either (``Busy``; the next upkeep tries again).
            _lock_or_busy(cursor, f'LOCK TABLE "{default}" IN ACCESS EXCLUSIVE MODE', f"{table}: {name} not made")
            cursor.execute(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
            cursor.execute("SELECT set_config(%s, 'on', true)", [MOVING_ROWS])
            cursor.execute(
                f'WITH moved AS (DELETE FROM "{default}" WHERE {COLUMN} >= %s AND {COLUMN} < %s RETURNING *) '
                f'INSERT INTO "{name}" SELECT * FROM moved',
                [start, end],
            )
            cursor.execute("SELECT set_config(%s, '', true)", [MOVING_ROWS])
            # Attaching builds the partition's copies of the table's indexes and primary key.
            cursor.execute(
                f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)', [start, end]
            )
        created.append(name)
    return created


def days_ahead(today: date, ahead: int) -> list[date]:
    """``today`` and the ``ahead`` days after it."""
    return [today + timedelta(days=offset) for offset in range(ahead + 1)]


class Busy(Exception):
    """The table's lock for a detach was not had in time (a long query reads the table)."""


# Detaching a day takes an exclusive lock on the table (making one, on its DEFAULT partition), and
# every insert queues behind a statement that waits for such a lock: one that does not get it this
# soon gives up, and the next purge (or upkeep) tries again.
DETACH_LOCK_TIMEOUT_MS = 5000


def detach_partition(connection: BaseDatabaseWrapper, table: str, partition: DayPartition) -> None:
    """Detach ``partition`` from ``table`` (then drop it, in a transaction of its own, with
    ``drop_detached``); ``Busy`` when the table's lock was not had within
    ``DETACH_LOCK_TIMEOUT_MS`` (the caller's transaction is then to be rolled back). Precondition: in
    a transaction; the exclusive lock on ``table`` is held until it commits, so the caller commits
    right after."""
    with connection.cursor() as cursor:
        detach = f'ALTER TABLE "{table}" DETACH PARTITION "{partition.name}"'
        _lock_or_busy(cursor, detach, f"{table}: {partition.name} not detached")


def drop_detached(connection: BaseDatabaseWrapper, table: str) -> list[str]:
    """Drop the day tables of ``table`` that are detached (by ``detach_partition``; one may be left
    by a process stopped between the detach and the drop); their names. Dropping a large table
    takes a while (its files are removed), and a detached one locks nothing that ingest needs."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND relnamespace = current_schema()::regnamespace AND relname LIKE %s",
            [f"{table}\\_p%"],
        )
        day_table = re.compile(rf"^{re.escape(table)}_p\d{{8}}$")
        names = [name for (name,) in cursor.fetchall() if day_table.match(name)]
        for name in names:
            cursor.execute(f'DROP TABLE "{name}"')
    return names


def _lock_or_busy(cursor: Any, statement: str, what: str) -> None:
    """Run ``statement``, which takes a lock, waiting at most ``DETACH_LOCK_TIMEOUT_MS`` for it;
    ``Busy`` (saying ``what``) when it had to wait longer. Precondition: in a transaction, which is
    to be rolled back after ``Busy``."""
    cursor.execute(f"SET LOCAL lock_timeout = {int(DETACH_LOCK_TIMEOUT_MS)}")
    try:
        cursor.execute(statement)
    except OperationalError as err:
        if getattr(err.__cause__, "sqlstate", None) == "55P03":  # lock_not_available
            raise Busy(f"{what}: the table is busy") from err
        raise
    cursor.execute("SET LOCAL lock_timeout = 0")


def count_rows(connection: BaseDatabaseWrapper, partition: DayPartition) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{partition.name}"')
        return int(cursor.fetchone()[0])


# --- converting a plain table (the migrations) -------------------------------------------------------


def partition_table(connection: BaseDatabaseWrapper, table: str, *, today: date, ahead: int) -> None:
    """Turn the plain table ``table`` into one partitioned by day of ``received_at``, keeping every
    row, its id and the id sequence's position.

    A day partition is made for each day that holds rows and for ``today`` and ``ahead`` days after
    it, and a DEFAULT partition. The primary key becomes ``(id, received_at)`` (a partitioned table's
    unique keys must hold its partition key); a unique constraint other than the primary key becomes
    a plain index on the same columns, named without its ``_unique`` suffix (the dedupe it gave moves
    to a key table of the owning app); foreign keys from other tables to this one are dropped (they
    would have to reference the whole primary key). Other indexes are made again as they were.
    Precondition: in a transaction; the table is locked against writes until it commits."""
    with connection.cursor() as cursor:
        cursor.execute(f'LOCK TABLE "{table}" IN SHARE MODE')
        indexes = _index_definitions(cursor, table)
        cursor.execute(
            "SELECT conrelid::regclass::text, conname FROM pg_constraint "
            "WHERE contype = 'f' AND confrelid = %s::regclass",
            [table],
        )
        for referrer, constraint in cursor.fetchall():
            cursor.execute(f'ALTER TABLE {referrer} DROP CONSTRAINT "{constraint}"')
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [table])
        sequence = cursor.fetchone()[0]
        position = None
        if sequence:
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            position = cursor.fetchone()
        cursor.execute(f"SELECT DISTINCT ({COLUMN} AT TIME ZONE 'UTC')::date FROM \"{table}\"")
        days = {row[0] for row in cursor.fetchall()} | set(days_ahead(today, ahead))

        new = f"{table}__partitioned"
        cursor.execute(
            f'CREATE TABLE "{new}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS) '
            f"PARTITION BY RANGE ({COLUMN})"
        )
        for day in sorted(days):
            cursor.execute(
                f'CREATE TABLE "{partition_name(table, day)}" PARTITION OF "{new}" FOR VALUES FROM (%s) TO (%s)',
                [day_start(day), day_start(day + timedelta(days=1))],
            )
        cursor.execute(f'CREATE TABLE "{table}{DEFAULT_SUFFIX}" PARTITION OF "{new}" DEFAULT')
        cursor.execute(f'INSERT INTO "{new}" SELECT * FROM "{table}"')
        cursor.execute(f'DROP TABLE "{table}"')  # its identity sequence goes with it
        cursor.execute(f'ALTER TABLE "{new}" RENAME TO "{table}"')
        cursor.execute(f'ALTER TABLE "{table}" ADD CONSTRAINT "{table}_pkey" PRIMARY KEY (id, {COLUMN})')
        for definition in indexes:  # built after the copy: one sort an index, not a row at a time
            cursor.execute(definition)
        if position is not None:
            seq = f"{table}_id_seq"
            cursor.execute(f'CREATE SEQUENCE "{seq}" AS bigint OWNED BY "{table}".id')
            cursor.execute("SELECT setval(%s, %s, %s)", [seq, position[0], position[1]])
            cursor.execute(f'ALTER TABLE "{table}" ALTER COLUMN id SET DEFAULT nextval(\'"{seq}"\')')


def _index_definitions(cursor: Any, table: str) -> list[str]:
    """``CREATE INDEX`` statements for the indexes of ``table`` other than its primary key; those of
    unique constraints become plain indexes (see ``partition_table``)."""
    cursor.execute(
        "SELECT i.relname, pg_get_indexdef(x.indexrelid), x.indisunique FROM pg_index x "
        "JOIN pg_class i ON i.oid = x.indexrelid WHERE x.indrelid = %s::regclass AND NOT x.indisprimary "
        "ORDER BY i.relname",
        [table],
    )
    out = []
    for name, definition, unique in cursor.fetchall():
        if unique:
            plain = name.removesuffix("_unique")
            definition = definition.replace("CREATE UNIQUE INDEX", "CREATE INDEX", 1).replace(
                f"INDEX {name} ON", f"INDEX {plain} ON", 1
            )
        out.append(definition)
    return out


def unpartition_table(connection: BaseDatabaseWrapper, schema_editor: Any, model: Any) -> None:
    """Undo ``partition_table`` for ``model``'s table: make it again as Django makes it (from the
    model's state), with every row and the id sequence's position. Foreign keys that pointed at it
    come back with the migrations that state them."""
    table = model._meta.db_table
    old = f"{table}__partitioned"
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{table}" RENAME TO "{old}"')
        cursor.execute(
            "SELECT i.relname FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid "
            "WHERE x.indrelid = %s::regclass AND NOT x.indisprimary",
            [old],
        )
        for (name,) in cursor.fetchall():
            cursor.execute(f'DROP INDEX "{name}"')
        cursor.execute(f'ALTER TABLE "{old}" DROP CONSTRAINT "{table}_pkey"')
        cursor.execute("SELECT pg_get_serial_sequence(%s, 'id')", [old])
        sequence = cursor.fetchone()[0]
        position = None
        if sequence:
            cursor.execute(f"SELECT last_value, is_called FROM {sequence}")
            position = cursor.fetchone()
    pending = len(schema_editor.deferred_sql)
    schema_editor.create_model(model)
    # Its indexes now, not at the end of the migration: the names are free, and the rows come next.
    for statement in schema_editor.deferred_sql[pending:]:
        schema_editor.execute(statement)
    del schema_editor.deferred_sql[pending:]
    columns = ", ".join(f'"{field.column}"' for field in model._meta.local_concrete_fields)
    with connection.cursor() as cursor:
        override = " OVERRIDING SYSTEM VALUE" if position is not None else ""
        cursor.execute(f'INSERT INTO "{table}" ({columns}){override} SELECT {columns} FROM "{old}"')
        cursor.execute(f'DROP TABLE "{old}" CASCADE')
        if position is not None:
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, %s)", [table, position[0], position[1]])


# --- what the converting migrations run --------------------------------------------------------------

# Day partitions kept ready after today: upkeep runs hourly, so a few days cover a worker that was down.
DAYS_AHEAD = 3


def restore_foreign_keys(schema_editor: Any, apps: Any, model: Any) -> None:
    """Make again the database foreign keys that point at ``model`` (as the models state them), after
    ``unpartition_table``."""
    for candidate in apps.get_models():
        for field in candidate._meta.local_fields:
            if getattr(field, "remote_field", None) and field.remote_field.model is model and field.db_constraint:
                schema_editor.execute(schema_editor._create_fk_sql(candidate, field, "_fk_%(to_table)s_%(to_column)s"))
