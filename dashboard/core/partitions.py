"""Tables partitioned by day of their received time (PostgreSQL only).

The event, span and log tables grow by the day and are purged by the day, so on PostgreSQL each is
``PARTITION BY RANGE (received_at)`` with one partition a UTC day, named ``<table>_pYYYYMMDD``, and a
DEFAULT partition, ``<table>_pdefault``, for rows no day partition takes (upkeep that has not run
for days): no insert is refused for want of a partition. Rows that land there stay there (upkeep
makes only days to come, ``ensure_days``) until the batched purge takes them. Retention then drops whole days
(``detach_partition``, ``drop_detached``) instead of deleting their rows one by one.

This module knows tables and columns only; which tables are partitioned, and what goes with a
dropped day, is said by the apps that own them (``dashboard.retention.partitions``). SQLite keeps
plain tables and every function here is for PostgreSQL connections only.
"""

# Every statement here is put together from table, index and partition names (never from values).
# ruff: noqa: S608

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db import OperationalError
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Exists, OuterRef

logger = logging.getLogger(__name__)

COLUMN = "received_at"  # the partition key of every partitioned table
# Set (to "on", for the transaction) while rows move between partitions: a trigger that acts on
# deleted rows (dashboard.events.keys) leaves moving rows alone. Upkeep no longer moves rows (see
# ``ensure_days``); the triggers the migrations made still read it.
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
    """Create and attach the partitions of ``days`` that ``table`` lacks; the names created.

    Only days the DEFAULT partition holds no row of are made (PostgreSQL refuses to attach a range
    whose rows it holds); a day skipped for that keeps its rows in the DEFAULT partition, where the
    batched purge takes them in time. The caller asks only for days after today: ``received_at`` is
    this server's clock, so no insert under way can fall in such a day, and none waiting for the
    DEFAULT partition's lock is refused after the attach for a row that now belongs elsewhere
    (SQLSTATE 23514). ``Busy`` when a lock was not had within ``DETACH_LOCK_TIMEOUT_MS``, or the
    database broke a deadlock with this transaction (it is then to be rolled back). Precondition: in
    a transaction (``transaction.atomic``)."""
    have = {partition.day for partition in day_partitions(connection, table)}
    created = []
    default = f"{table}{DEFAULT_SUFFIX}"
    with connection.cursor() as cursor, _busy_on_lock_trouble(cursor, f"{table}: partitions not made"):
        # The table first, then its DEFAULT partition (which the attach locks exclusively, to check
        # it): the order a detach takes them in, so the two never wait for each other in a cycle.
        # SHARE UPDATE EXCLUSIVE is what the attach takes on the table: reads and inserts go on.
        cursor.execute(f'LOCK TABLE "{table}" IN SHARE UPDATE EXCLUSIVE MODE')
        for day in sorted(set(days) - have):
            name = partition_name(table, day)
            start, end = day_start(day), day_start(day + timedelta(days=1))
            cursor.execute(
                f'SELECT EXISTS (SELECT FROM "{default}" WHERE {COLUMN} >= %s AND {COLUMN} < %s)', [start, end]
            )
            if cursor.fetchone()[0]:
                logger.warning("partitions: %s not made: the DEFAULT partition holds rows of that day", name)
                continue
            cursor.execute(f'CREATE TABLE "{name}" (LIKE "{table}" INCLUDING DEFAULTS INCLUDING CONSTRAINTS)')
            # Attaching builds the partition's copies of the table's indexes and primary key.
            cursor.execute(
                f'ALTER TABLE "{table}" ATTACH PARTITION "{name}" FOR VALUES FROM (%s) TO (%s)', [start, end]
            )
            created.append(name)
    return created


def days_ahead(today: date, ahead: int) -> list[date]:
    """``today`` and the ``ahead`` days after it."""
    return [today + timedelta(days=offset) for offset in range(ahead + 1)]


def days_after(today: date, ahead: int) -> list[date]:
    """The ``ahead`` days after ``today`` (not ``today``: see ``ensure_days``)."""
    return [today + timedelta(days=offset) for offset in range(1, ahead + 1)]


class Busy(Exception):
    """The table's lock for a detach was not had in time (a long query reads the table)."""


# Detaching a day takes an exclusive lock on the table (making one, on its DEFAULT partition), and
# every insert queues behind a statement that waits for such a lock: one that does not get it this
# soon gives up, and the next purge (or upkeep) tries again.
DETACH_LOCK_TIMEOUT_MS = 5000


def detach_partition(connection: BaseDatabaseWrapper, table: str, partition: DayPartition) -> None:
    """Detach ``partition`` from ``table`` (then drop it, in a transaction of its own, with
    ``drop_detached``). Precondition: in a transaction that holds ``lock_for_detach``; the caller
    commits right after."""
    with connection.cursor() as cursor, _busy_on_lock_trouble(cursor, f"{table}: {partition.name} not detached"):
        cursor.execute(f'ALTER TABLE "{table}" DETACH PARTITION "{partition.name}"')


def lock_for_detach(connection: BaseDatabaseWrapper, table: str) -> None:
    """Lock ``table`` as a detach does (exclusively: nothing reads or writes it until the commit),
    before anything the detach decides on is read, so nothing that reads the table can change that
    in between. ``Busy`` when the lock was not had within ``DETACH_LOCK_TIMEOUT_MS`` (or the
    database broke a deadlock with this transaction): the transaction is then to be rolled back.
    The lock timeout stays set for the rest of the transaction. Precondition: in a transaction."""
    with connection.cursor() as cursor, _busy_on_lock_trouble(cursor, f"{table}: not detached"):
        cursor.execute(f'LOCK TABLE "{table}" IN ACCESS EXCLUSIVE MODE')


def detached_days(connection: BaseDatabaseWrapper, table: str) -> list[str]:
    """The day tables of ``table`` that are detached (by ``detach_partition``, and not dropped yet:
    one may be left by a process stopped between the detach and the drop), oldest first."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND NOT relispartition "
            "AND relnamespace = current_schema()::regnamespace AND relname LIKE %s",
            [f"{table}\\_p%"],
        )
        day_table = re.compile(rf"^{re.escape(table)}_p\d{{8}}$")
        return sorted(name for (name,) in cursor.fetchall() if day_table.match(name))


def drop_detached(connection: BaseDatabaseWrapper, name: str) -> None:
    """Drop the detached day table ``name`` (see ``detached_days``). Dropping a large table takes a
    while (its files are removed), and a detached one locks nothing that ingest needs."""
    with connection.cursor() as cursor:
        cursor.execute(f'DROP TABLE IF EXISTS "{name}"')


# What a statement that waits for a lock may fail with: the lock timeout ran out (lock_not_available),
# or the database chose this transaction to break a deadlock (deadlock_detected).
_LOCK_TROUBLE = {"55P03", "40P01"}


@contextmanager
def _busy_on_lock_trouble(cursor: Any, what: str) -> Iterator[None]:
    """Within the block, a statement waits at most ``DETACH_LOCK_TIMEOUT_MS`` for a lock (for the rest
    of the transaction: ``SET LOCAL``); one that waited longer, or was chosen to break a deadlock,
    raises ``Busy`` (saying ``what``). Precondition: in a transaction, which is to be rolled back
    after ``Busy``."""
    cursor.execute(f"SET LOCAL lock_timeout = {int(DETACH_LOCK_TIMEOUT_MS)}")
    try:
        yield
    except OperationalError as err:
        if getattr(err.__cause__, "sqlstate", None) in _LOCK_TROUBLE:
            raise Busy(f"{what}: the table is busy") from err
        raise


def count_rows(connection: BaseDatabaseWrapper, name: str) -> int:
    """The rows of the table (a day partition, attached or detached) ``name``."""
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT count(*) FROM "{name}"')
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
    ``unpartition_table``. Rows that point at a row no longer there (retention deleted it while no
    key held them: a replay delivery planned just before its event went) cannot have the key back:
    they are deleted first, with what their own relations cascade to, and a line says how many."""
    for candidate in apps.get_models():
        for field in candidate._meta.local_fields:
            if getattr(field, "remote_field", None) and field.remote_field.model is model and field.db_constraint:
                orphans = candidate._base_manager.filter(**{f"{field.attname}__isnull": False}).exclude(
                    Exists(model._base_manager.filter(pk=OuterRef(field.attname)))
                )
                deleted, _ = orphans.delete()
                if deleted:
                    # The deletes' deferred checks run now: a table with checks pending cannot be altered.
                    schema_editor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                    schema_editor.execute("SET CONSTRAINTS ALL DEFERRED")
                    logger.warning(
                        "%s: %d rows pointing at a %s that is gone deleted (with what cascades from them)",
                        candidate._meta.label, deleted, model._meta.label,
                    )  # fmt: skip
                schema_editor.execute(schema_editor._create_fk_sql(candidate, field, "_fk_%(to_table)s_%(to_column)s"))
