"""Database work in bulk: one multi-row INSERT without model instances, write transactions that
share a commit, and lookups of many (column, column) pairs in one query.

The ingest hot path writes hundreds of rows a request. Building a model instance per row and
letting ``bulk_create`` prepare every field costs several times more than the database's own work,
so ingest hands plain tuples (already in their database form) to ``executemany`` instead. The
statement is the same on SQLite and PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import cache
from typing import Any, Generic, TypeVar

import orjson
from django.db import IntegrityError, OperationalError, connection, models, transaction
from django.db.models import Q

from dashboard.core.nul import replace_nul, text_holds_nul

T = TypeVar("T")

# Pairs are looked up with one OR term each, and SQLite's parser caps an expression's depth at 1000:
# a query keeps to this many terms.
MAX_OR_TERMS = 300


@cache
def _insert_sql(model: type[models.Model], fields: tuple[str, ...], ignore_conflicts: bool, vendor: str) -> str:
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)  # type: ignore[union-attr,arg-type]
    placeholders = ", ".join(["%s"] * len(fields))
    suffix = " ON CONFLICT DO NOTHING" if ignore_conflicts else ""
    return f"INSERT INTO {quote(model._meta.db_table)} ({columns}) VALUES ({placeholders}){suffix}"  # noqa: S608


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Iterable[Sequence[Any]], *, ignore_conflicts: bool = False
) -> int:
    """Insert ``rows`` (values in ``fields`` order, already adapted) into ``model``'s table; how
    many were inserted (with ``ignore_conflicts``, those not skipped).

    Precondition: the caller holds a transaction (``transaction.atomic``), so the batch commits
    as one. With ``ignore_conflicts`` a row that violates a unique constraint is skipped.
    """
    batch = list(rows)
    if connection.vendor == "postgresql" and not ignore_conflicts and len(batch) >= _COPY_FROM_ROWS:
        return _copy_rows(model, tuple(fields), batch)
    sql = _insert_sql(model, tuple(fields), ignore_conflicts, connection.vendor)
    with connection.cursor() as cursor:
        cursor.executemany(sql, batch)
        # Both drivers sum an executemany's changes; a row skipped on conflict changed nothing.
        return int(cursor.rowcount)


# PostgreSQL: an insert of this many rows or more, with no conflict to skip, goes by COPY.
_COPY_FROM_ROWS = 8


def _copy_rows(model: type[models.Model], fields: tuple[str, ...], rows: list[Sequence[Any]]) -> int:
    """PostgreSQL: ``rows`` into ``model``'s table by ``COPY … FROM STDIN``; how many.

    ``executemany`` runs the INSERT once a row, each with its executor's start and end in the
    server; COPY writes the rows in bulk (a partitioned table's too). It has no ON CONFLICT, so it
    serves only inserts that skip nothing (ingest's, whose dedupe keys were claimed first). Errors
    are raised as Django's, as an INSERT's would be.
    """
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in fields)  # type: ignore[union-attr,arg-type]
    sql = f"COPY {quote(model._meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, connection.wrap_database_errors, cursor.cursor.copy(sql) as copy:
        for row in rows:
            copy.write_row(row)
    return len(rows)


def any_pair(pairs: Iterable[tuple[Any, Any]], first: str, second: str) -> Q:
    """The filter for rows whose (``first``, ``second``) columns hold one of ``pairs``: one OR term a
    pair, so the caller passes at most ``MAX_OR_TERMS`` of them. With no pairs the Q is empty, which
    matches every row: the caller skips its query then."""
    condition = Q()
    for a, b in pairs:
        condition |= Q(**{first: a, second: b})
    return condition


def utc_text(value: datetime) -> str:
    """An aware ``value`` as naive UTC text, "YYYY-MM-DD HH:MM:SS[.ffffff]": what Django's SQLite
    backend stores for a DateTimeField (and what PostgreSQL, whose sessions are UTC, reads), made
    without that backend's per-call settings and time zone lookups. Its order is time order."""
    if value.tzinfo is not UTC:
        value = value.astimezone(UTC)
    return value.isoformat(" ")[:-6]  # isoformat of a UTC time ends in "+00:00"


def db_datetime(value: datetime) -> Any:
    """``value`` in the form the current database takes for a DateTimeField."""
    if value.tzinfo is UTC and connection.vendor == "sqlite":
        return utc_text(value)
    return connection.ops.adapt_datetimefield_value(value)


def db_datetimes() -> Callable[[datetime], Any]:
    """``db_datetime`` for one batch of rows: the database is looked up once here, not once a row
    (``connection`` is a thread-local proxy, and ingest converts one time per event)."""
    if connection.vendor != "sqlite":
        return connection.ops.adapt_datetimefield_value  # type: ignore[no-any-return]

    def adapt(value: datetime) -> Any:
        return utc_text(value) if value.tzinfo is UTC else db_datetime(value)

    return adapt


def db_json(value: Any) -> str:
    """``value`` as the JSON text a JSONField stores."""
    return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS).decode()


def holds_nul(row: Sequence[Any]) -> bool:
    """Whether a row about to be inserted carries U+0000, in a text value or in JSON text.

    PostgreSQL stores it in neither text nor jsonb (the whole insert fails), so ingest refuses or
    replaces it on every database alike.
    """
    for value in row:  # a plain loop: this runs for every stored event
        if type(value) is str and ("\x00" in value or "\\u0000" in value) and text_holds_nul(value):
            return True
    return False


def without_nul(row: tuple[Any, ...]) -> tuple[Any, ...]:
    """``row`` with each U+0000 replaced by U+FFFD (the replacement character), in text and JSON."""
    return tuple(replace_nul(value) if isinstance(value, str) else value for value in row)


class _Job(Generic[T]):
    __slots__ = ("done", "error", "result", "work")

    def __init__(self, work: Callable[[], T]) -> None:
        self.work = work
        self.done = False
        self.result: T | None = None
        self.error: BaseException | None = None


class _GroupCommit:
    """Concurrent write batches on SQLite share one transaction and one commit.

    SQLite has one writer at a time, and most of a batch's cost is its commit (writing the dirty
    index pages to the WAL), not its inserts. So a thread that gets the write lock takes every batch
    queued so far, runs each in its own savepoint (a failing batch is undone alone), commits once,
    and hands each batch its result. Waiting happens on a lock in this process; SQLite's own busy
    handler (which sleeps in growing steps) only arbitrates between processes.
    """

    def __init__(self) -> None:
        self._writer = threading.Lock()
        self._queue_lock = threading.Lock()
        self._queue: list[_Job[Any]] = []

    def run(self, work: Callable[[], T]) -> T:
        job: _Job[T] = _Job(work)
        with self._queue_lock:
            self._queue.append(job)
        with self._writer:
            if not job.done:
                with self._queue_lock:
                    jobs, self._queue = self._queue, []
                self._commit(jobs)
        if job.error is not None:
            raise job.error
        return job.result  # type: ignore[return-value]

    @contextmanager
    def alone(self) -> Iterator[None]:
        """Hold the write lock of this process for a transaction of the caller's own."""
        with self._writer:
            yield

    @staticmethod
    def _commit(jobs: list[_Job[Any]]) -> None:
        try:
            with transaction.atomic():
                for job in jobs:
                    try:
                        with transaction.atomic():
                            job.result = job.work()
                    except Exception as err:  # this batch only; its savepoint was rolled back
                        job.error = err
        except BaseException as err:  # the commit itself failed: nothing of the group is stored
            for job in jobs:
                if job.error is None:
                    job.error = err
        finally:
            for job in jobs:
                job.done = True


_group_commit = _GroupCommit()


def run_in_write_transaction(work: Callable[[], T]) -> T:
    """Run ``work`` (database writes of the current thread's connection) in a transaction and return
    its result once that transaction has committed; raise what ``work`` raised, with nothing stored.

    On SQLite, ``work`` may run on another request's thread, in one transaction with other batches
    (see ``_GroupCommit``): it must use only ``django.db.connection`` and its own arguments. On
    PostgreSQL, a row refused for its partition's range having changed while the insert waited
    (SQLSTATE 23514) is raised as an ``OperationalError``, as a deadlock (40P01) or a lock timeout
    (55P03) already is: the request is answered 503 with ``Retry-After``, like a busy database.
    """
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        return _group_commit.run(work)
    try:
        with transaction.atomic():
            return work()
    except IntegrityError as err:
        if getattr(err.__cause__, "sqlstate", None) == _CHECK_VIOLATION and "partition constraint" in str(err):
            # PostgreSQL: the row was routed to a partition (the DEFAULT one) whose range changed
            # while the insert waited for its lock (a day attached meanwhile). Nothing was stored, and
            # the same insert sent again is routed afresh: the database was busy, not the batch bad.
            raise OperationalError(f"a partition changed under the insert: {err}") from err
        raise


# SQLSTATE check_violation, which PostgreSQL also reports for a row outside its partition's range.
_CHECK_VIOLATION = "23514"


def run_alone_in_write_transaction(work: Callable[[], T]) -> T:
    """Run ``work`` in a write transaction of the current thread's own connection and return its
    result once committed; raise what ``work`` raised, with nothing stored.

    Unlike ``run_in_write_transaction`` the work never joins other batches, so it may use what only
    this connection holds (temporary tables); on SQLite it still queues with this process's ingest
    batches for the one write lock.
    """
    if connection.vendor == "sqlite" and not connection.in_atomic_block:
        with _group_commit.alone(), transaction.atomic():
            return work()
    with transaction.atomic():
        return work()
