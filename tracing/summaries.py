"""Keeping trace search's tables (``TraceSummary``, ``TraceTerm``, ``ServiceOperation``) up to date
with the stored spans.

Every figure is added from the spans that are new to the database: a retried export's spans (already
stored, or twice in one batch) change nothing. The summary row is merged in SQL (``ON CONFLICT DO
UPDATE`` with min/max/sum), so two batches of one trace both count; terms are inserted once per trace
(``ON CONFLICT DO NOTHING``).

Where summarising happens depends on the database:

- SQLite (the embedded default, ``deferred()``): every write waits for the one write lock, so ingest
  does not summarise. ``summarise_pending`` adds the spans stored after the summary position
  (``TraceSummaryCursor``) in large chunks, each chunk's summaries and the new position in one short
  write transaction. It is run by the server's summariser thread (``tracing.summariser``), woken
  after each commit that stored spans, and by every reader of the search tables before it reads, so
  a search made after an ingest answered finds its spans. Why the position is the span id: it is
  SQLite's rowid (``AUTOINCREMENT``: never handed out again, not renumbered by a VACUUM), and one
  transaction writes at a time, so ids grow in commit order and every span at or below the position
  is summarised. A new span row is a new span by construction (a retried export's insert inserts
  nothing), so this path looks nothing up.
- PostgreSQL: transactions commit concurrently and sequence ids may commit out of order, so no
  position can be trusted; the spans are summarised in the transaction that inserts them, before
  the insert: ``tracing.store`` claims their dedupe keys (``tracing.keys``) and hands
  ``add_new_spans`` the spans whose key was there already, which it leaves out. The terms of a
  trace whose summary the batch created go in with no conflict to check (by COPY): only this
  transaction can name that new id until it commits. (``summarise``,
  which tells them apart by reading the span table, serves a span table that keeps its unique
  constraint.)
"""

# Every statement here is put together from table and column names; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import random
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

import orjson
from django.db import IntegrityError, connection, transaction
from django.db.models import Exists, OuterRef

from dashboard.core.bulk import insert_rows, run_alone_in_write_transaction
from tracing.models import CHILD_RANK, ServiceOperation, Span, TraceSummary, TraceSummaryCursor, TraceTerm
from tracing.otlp import SpanRecord

# Parameters of one "trace_id IN (…)" lookup: well under SQLite's and PostgreSQL's limits.
_CHUNK = 500

_SUMMARY_CHUNK = 200  # rows a summary statement: 2,000 parameters
_SUMMARY_FIELDS = (
    "trace_id", "start_ns", "end_ns", "root_rank", "root_service", "root_name", "span_count", "error_count",
    "ok_count", "unset_count",
)  # fmt: skip
TERM_FIELDS = ("kind", "key", "value", "trace")
# The resource attribute that names a span's service: its SERVICE term answers a search for it.
SERVICE_ATTRIBUTE = "service.name"


# PostgreSQL: the summaries go as one array a column (``_summary_params``), each of this type.
_SUMMARY_ARRAYS = ("text", "bigint", "bigint", "bigint", "text", "text", "int", "int", "int", "int")


def _upsert_summary_sql(vendor: str, rows: int) -> str:
    """One statement for ``rows`` summaries (of distinct traces) that answers each one's id. On
    PostgreSQL the rows come as arrays, whatever their number: the driver parses and caches a short
    statement once, where a VALUES list of 2,000 placeholders was parsed again on every call."""
    table = TraceSummary._meta.db_table
    least, greatest = ("LEAST", "GREATEST") if vendor == "postgresql" else ("min", "max")
    if vendor == "postgresql":
        source = f"SELECT * FROM unnest({', '.join(f'%s::{kind}[]' for kind in _SUMMARY_ARRAYS)})"
    else:
        source = "VALUES " + ", ".join(["(" + ", ".join(["%s"] * len(_SUMMARY_FIELDS)) + ")"] * rows)

    def root(column: str) -> str:
        earlier = f"excluded.root_rank < {table}.root_rank"
        return f"{column} = CASE WHEN {earlier} THEN excluded.{column} ELSE {table}.{column} END"

    sets = [
        f"start_ns = {least}({table}.start_ns, excluded.start_ns)",
        f"end_ns = {greatest}({table}.end_ns, excluded.end_ns)",
        root("root_service"),
        root("root_name"),
        f"root_rank = {least}({table}.root_rank, excluded.root_rank)",
        *(f"{c} = {table}.{c} + excluded.{c}" for c in ("span_count", "error_count", "ok_count", "unset_count")),
    ]
    return (
        f"INSERT INTO {table} ({', '.join(_SUMMARY_FIELDS)}) {source} "
        f"ON CONFLICT (trace_id) DO UPDATE SET {', '.join(sets)} RETURNING trace_id, id, span_count"
    )


def _upsert_operation_sql(vendor: str) -> str:
    table = ServiceOperation._meta.db_table
    greatest = "GREATEST" if vendor == "postgresql" else "max"
    return (
        f"INSERT INTO {table} (service, name, shard, spans, last_start_ns) VALUES (%s, %s, %s, %s, %s) "
        f"ON CONFLICT (service, name, shard) DO UPDATE SET spans = {table}.spans + excluded.spans, "
        f"last_start_ns = {greatest}({table}.last_start_ns, excluded.last_start_ns)"
    )


def term_value(value: Any) -> str | None:
    """An attribute value as the text a search compares (``true``, ``500``, the string itself), or
    None when the value is not searchable (a double, array, map, null, or too long)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and len(value) <= TraceTerm.MAX_TERM_VALUE:
        return value
    return None


def attribute_terms(trace_id: str, *attribute_maps: dict[str, Any]) -> Iterable[tuple[int, str, str, str]]:
    """The ATTRIBUTE terms of one span's attribute maps (its own, then its resource's), at most
    ``MAX_SPAN_TERMS`` of them; ``service.name`` is left to the span's SERVICE term."""
    left = TraceTerm.MAX_SPAN_TERMS
    for attributes in attribute_maps:
        for key, value in attributes.items():
            if left == 0:
                return
            text = term_value(value)
            if text is None or len(key) > TraceTerm.MAX_TERM_KEY or key == SERVICE_ATTRIBUTE:
                continue
            left -= 1
            yield (TraceTerm.ATTRIBUTE, key, text, trace_id)


def _select_in(sql: str, values: list[str]) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` (ending in "IN") for ``values``, asked in chunks."""
    rows: list[tuple[Any, ...]] = []
    with connection.cursor() as cursor:
        for start in range(0, len(values), _CHUNK):
            chunk = values[start : start + _CHUNK]
            cursor.execute(f"{sql} ({', '.join(['%s'] * len(chunk))})", chunk)
            rows += cursor.fetchall()
    return rows


def _stored(spans: list[SpanRecord]) -> set[tuple[str, str]]:
    sql = f"SELECT trace_id, span_id FROM {Span._meta.db_table} WHERE trace_id IN"
    return set(_select_in(sql, sorted({span.trace_id for span in spans})))


class SpanFields(Protocol):
    """What summarising reads of a span: a decoded ``SpanRecord`` or a stored span's fields."""

    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


def deferred() -> bool:
    """Whether spans are summarised after their commit (SQLite) rather than in the ingest
    transaction (PostgreSQL); see the module's docstring."""
    return connection.vendor == "sqlite"


def summarise(spans: list[SpanRecord]) -> None:
    """Add ``spans`` (about to be inserted, in the caller's write transaction) to the search tables.

    Precondition: runs before the spans' own insert, in the same transaction, so that the spans
    already stored (a retried export) are told apart and left out; only where not ``deferred()``."""
    add_new_spans(spans, _stored(spans))


# Spans summarised a write transaction: a backlog goes in several, so ingest waits briefly for each.
CHUNK = 10_000
_SPAN_COLUMNS = "trace_id, span_id, parent_span_id, name, service, start_ns, end_ns, status_code, attributes, resource"
_one_at_a_time = threading.Lock()


def summarise_pending() -> int:
    """Add every span stored after the summary position to the search tables and move the position
    past it; how many spans that was. Where spans are summarised at ingest, returns 0 at once.

    What a chunk adds is computed from a read, outside the write lock; only writing it takes the
    lock, together with the move of the position, which is made only from where the read started:
    if another process moved it first, this one stops (its chunk is theirs)."""
    if not deferred():
        return 0
    if connection.in_atomic_block:
        # The caller's transaction may hold the write lock already, and a summariser of another
        # thread may be waiting for it: do not wait for that one in turn.
        return _summarise_up_to_now()
    # One at a time in this process: a reader arriving while the summariser thread works waits for
    # it (then adds what is left) rather than adding the same spans beside it.
    with _one_at_a_time:
        return _summarise_up_to_now()


def lag() -> int | None:
    """How many span ids the summary position is behind the newest span; None where spans are
    summarised in their ingest transaction (nothing is ever behind)."""
    if not deferred():
        return None
    position, top = _positions()
    return max(0, top - position)


def pending() -> bool:
    """Whether stored spans wait to be summarised (a read)."""
    if not deferred():
        return False
    position, top = _positions()
    return top > position


def _positions() -> tuple[int, int]:
    """The summary position and the newest span's id."""
    cursor_table, span_table = TraceSummaryCursor._meta.db_table, Span._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT coalesce((SELECT position FROM {cursor_table} WHERE id = 1), 0), "
            f"(SELECT coalesce(max(id), 0) FROM {span_table})"
        )
        position, top = cursor.fetchone()
    return int(position), int(top)


def _summarise_up_to_now() -> int:
    added = 0
    position, top = _positions()  # spans stored meanwhile wait for the next call
    while position < top:
        upto = _chunk_end(position, top)
        spans = _read_spans(position, upto)
        sums = _aggregate(spans, set())
        if not run_alone_in_write_transaction(partial(_move_and_write, position, upto, sums)):
            return added  # another process summarised them first
        added += len(spans)
        position = upto
    return added


def _chunk_end(position: int, top: int) -> int:
    """The id ``CHUNK`` stored spans after ``position`` (or ``top``): ids deleted spans left unused
    do not make chunks smaller."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT max(id) FROM (SELECT id FROM {Span._meta.db_table} WHERE id > %s AND id <= %s "
            "ORDER BY id LIMIT %s)",
            [position, top, CHUNK],
        )
        end = cursor.fetchone()[0]
    return top if end is None else int(end)


def _move_and_write(position: int, upto: int, sums: _Sums | None) -> bool:
    """In the write transaction: move the position from ``position`` to ``upto`` and write what the
    spans in between add; False (nothing written) when the position was not at ``position``."""
    moved = TraceSummaryCursor.objects.filter(id=1, position=position).update(position=upto)
    if not moved:
        if position != 0 or TraceSummaryCursor.objects.filter(id=1).exists():
            return False
        TraceSummaryCursor.objects.create(id=1, position=upto)
    if sums is not None:
        _write(sums)
    return True


def _read_spans(position: int, upto: int) -> list[_Stored]:
    """The spans with ``position < id <= upto`` as summarising reads them (JSON text decoded; a
    resource shared by a request's spans is decoded once)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {_SPAN_COLUMNS} FROM {Span._meta.db_table} WHERE id > %s AND id <= %s", [position, upto]
        )
        rows = cursor.fetchall()
    resources: dict[str, dict[str, Any]] = {}
    spans = []
    for trace_id, span_id, parent, name, service, start_ns, end_ns, status, attributes, resource in rows:
        decoded = resources.get(resource)
        if decoded is None:
            decoded = resources[resource] = orjson.loads(resource)
        spans.append(
            _Stored(
                trace_id, span_id, parent, name, service, start_ns, end_ns, status, orjson.loads(attributes), decoded
            )
        )
    return spans


def backfill(batch: int = 2000) -> None:
    """Add every stored span to the (empty) search tables, ``batch`` spans a statement batch, and put
    the summary position after the last: what the migration that creates them runs, for spans stored
    before search existed."""
    last = 0
    fields = ("id", "trace_id", "span_id", "parent_span_id", "name", "service", "start_ns", "end_ns",
              "status_code", "attributes", "resource")  # fmt: skip
    while True:
        rows = list(Span.objects.filter(id__gt=last).order_by("id").values_list(*fields)[:batch])
        if not rows:
            break
        last = rows[-1][0]
        add_new_spans([_Stored(*row[1:]) for row in rows], set())
    TraceSummaryCursor.objects.update_or_create(id=1, defaults={"position": last})


@dataclass(slots=True)
class _Stored:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    service: str
    start_ns: int
    end_ns: int
    status_code: int
    attributes: dict[str, Any]
    resource: dict[str, Any]


def add_new_spans(spans: Sequence[SpanFields], stored: set[tuple[str, str]]) -> None:
    """Add the spans of ``spans`` not in ``stored`` (``(trace_id, span_id)`` pairs) to the search
    tables; ``stored`` gains them."""
    sums = _aggregate(spans, stored)
    if sums is not None:
        _write(sums)


@dataclass(slots=True)
class _Sums:
    """What a set of new spans adds: summary rows by trace id, (spans, last start) by (service,
    name), and terms ``(kind, key, value, trace_id)``."""

    summaries: dict[str, list[Any]]
    operations: dict[tuple[str, str], list[int]]
    terms: set[tuple[int, str, str, str]]


def _aggregate(spans: Sequence[SpanFields], stored: set[tuple[str, str]]) -> _Sums | None:
    """What the spans of ``spans`` not in ``stored`` add (None: nothing); ``stored`` gains them.
    Reads nothing from the database."""
    summaries: dict[str, list[Any]] = {}
    operations: dict[tuple[str, str], list[int]] = {}
    terms: set[tuple[int, str, str, str]] = set()
    postgres = connection.vendor == "postgresql"
    for span in spans:
        if (span.trace_id, span.span_id) in stored:
            continue
        stored.add((span.trace_id, span.span_id))  # twice in one batch: once
        service, name = span.service[:256], span.name[:512]
        if postgres and ("\x00" in service or "\x00" in name):  # as the span row stores them there
            service, name = service.replace("\x00", "\ufffd"), name.replace("\x00", "\ufffd")
        rank = span.start_ns + (CHILD_RANK if span.parent_span_id else 0)
        status = span.status_code
        row = summaries.get(span.trace_id)
        if row is None:
            summaries[span.trace_id] = [
                span.trace_id, span.start_ns, span.end_ns, rank, service, name, 1, int(status == 2),
                int(status == 1), int(status not in (1, 2)),
            ]  # fmt: skip
        else:
            row[1], row[2] = min(row[1], span.start_ns), max(row[2], span.end_ns)
            if rank < row[3]:
                row[3:6] = [rank, service, name]
            row[6] += 1
            row[7 if status == 2 else 8 if status == 1 else 9] += 1
        operation = operations.get((service, name))
        if operation is None:
            operations[(service, name)] = [1, span.start_ns]
        else:
            operation[0] += 1
            operation[1] = max(operation[1], span.start_ns)
        terms.add((TraceTerm.SERVICE, "", service, span.trace_id))
        terms.add((TraceTerm.SPAN_NAME, service, name, span.trace_id))
        terms.update(attribute_terms(span.trace_id, span.attributes, span.resource))
    if not summaries:
        return None
    if postgres:  # PostgreSQL cannot store U+0000 in text; such a term is not searchable
        terms = {term for term in terms if "\x00" not in term[1] and "\x00" not in term[2]}
    return _Sums(summaries, operations, terms)


def _write(sums: _Sums) -> None:
    """Merge ``sums`` into the search tables. Precondition: inside a write transaction."""
    postgres = connection.vendor == "postgresql"
    ids: dict[str, int] = {}
    created: set[str] = set()  # the traces whose summary this batch inserted
    ordered = sorted(sums.summaries.values())
    shard = random.randrange(ServiceOperation.SHARDS) if postgres else 0  # spreads locks; not a secret
    with connection.cursor() as cursor:
        # Multi-row statements with RETURNING: the ids come with the upsert, in one round trip a chunk.
        for start in range(0, len(ordered), _SUMMARY_CHUNK):
            chunk = ordered[start : start + _SUMMARY_CHUNK]
            params = (
                [list(column) for column in zip(*chunk, strict=True)] if postgres else [v for r in chunk for v in r]
            )
            cursor.execute(_upsert_summary_sql(connection.vendor, len(chunk)), params)
            for trace_id, summary_id, span_count in cursor.fetchall():
                ids[trace_id] = summary_id
                # A count only grows, from at least 1: the batch's own count means the row is new.
                if span_count == sums.summaries[trace_id][6]:
                    created.add(trace_id)
        cursor.executemany(
            _upsert_operation_sql(connection.vendor),
            [(service, name, shard, count, last) for (service, name), (count, last) in sorted(sums.operations.items())],
        )
    fresh: list[tuple[int, str, str, int]] = []
    known: list[tuple[int, str, str, int]] = []
    for kind, key, value, trace_id in sums.terms:
        (fresh if postgres and trace_id in created else known).append((kind, key, value, ids[trace_id]))
    if fresh:
        # PostgreSQL: a new summary's id comes from a sequence, so no term names it yet, and no other
        # transaction can add one before this one commits (its upsert of the trace waits for this
        # row). Its terms have nothing to skip, and go by COPY (insert_rows), several times faster
        # than ON CONFLICT. Should one be there all the same, the savepoint takes them the safe way.
        try:
            with transaction.atomic():
                insert_rows(TraceTerm, TERM_FIELDS, fresh)
        except IntegrityError:
            known += fresh
    if known:
        # Sorted: concurrent PostgreSQL transactions take the unique index's locks in one order.
        insert_rows(TraceTerm, TERM_FIELDS, sorted(known), ignore_conflicts=True)


def forget_traces_without_spans(trace_ids: Sequence[str]) -> None:
    """Delete the search rows (summary and terms) of the traces of ``trace_ids`` that have no span
    left: what retention does after deleting spans. Precondition: in a write transaction."""
    emptied = list(
        TraceSummary.objects.filter(trace_id__in=trace_ids)
        .exclude(Exists(Span.objects.filter(trace_id=OuterRef("trace_id"))))
        .values_list("pk", flat=True)
    )
    if emptied:
        TraceTerm.objects.filter(trace__in=emptied).delete()
        TraceSummary.objects.filter(pk__in=emptied).delete()
