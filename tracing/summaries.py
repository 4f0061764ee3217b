"""Keeping trace search's tables (``TraceSummary``, ``TraceTerm``, ``ServiceOperation``) up to date
as spans are stored: ``summarise`` runs in the transaction that inserts the spans, before them.

Every figure is added from the spans that are new to the database: a retried export's spans (already
stored, or twice in one batch) change nothing. The summary row is merged in SQL (``ON CONFLICT DO
UPDATE`` with min/max/sum), so two batches of one trace that commit concurrently on PostgreSQL both
count; terms are inserted once per trace (``ON CONFLICT DO NOTHING``).
"""

# Every statement here is put together from table and column names; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from django.db import connection

from dashboard.core.bulk import insert_rows
from tracing.models import CHILD_RANK, ServiceOperation, Span, TraceSummary, TraceTerm
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


def _upsert_summary_sql(vendor: str, rows: int) -> str:
    """One statement for ``rows`` summaries (of distinct traces) that answers each one's id."""
    table = TraceSummary._meta.db_table
    least, greatest = ("LEAST", "GREATEST") if vendor == "postgresql" else ("min", "max")
    placeholders = ", ".join(["(" + ", ".join(["%s"] * len(_SUMMARY_FIELDS)) + ")"] * rows)

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
        f"INSERT INTO {table} ({', '.join(_SUMMARY_FIELDS)}) VALUES {placeholders} "
        f"ON CONFLICT (trace_id) DO UPDATE SET {', '.join(sets)} RETURNING trace_id, id"
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


def summarise(spans: list[SpanRecord]) -> None:
    """Add ``spans`` (about to be inserted, in the caller's write transaction) to the search tables.

    Precondition: runs before the spans' own insert, in the same transaction, so that the spans
    already stored (a retried export) are told apart and left out."""
    add_new_spans(spans, _stored(spans))


def backfill(batch: int = 2000) -> None:
    """Add every stored span to the (empty) search tables, ``batch`` spans a statement batch: what
    the migration that creates them runs, for spans stored before search existed."""
    last = 0
    fields = ("id", "trace_id", "span_id", "parent_span_id", "name", "service", "start_ns", "end_ns",
              "status_code", "attributes", "resource")  # fmt: skip
    while True:
        rows = list(Span.objects.filter(id__gt=last).order_by("id").values_list(*fields)[:batch])
        if not rows:
            return
        last = rows[-1][0]
        add_new_spans([_Stored(*row[1:]) for row in rows], set())


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
        return
    if postgres:  # PostgreSQL cannot store U+0000 in text; such a term is not searchable
        terms = {term for term in terms if "\x00" not in term[1] and "\x00" not in term[2]}
    ids: dict[str, int] = {}
    ordered = sorted(summaries.values())
    shard = random.randrange(ServiceOperation.SHARDS) if postgres else 0  # spreads locks; not a secret
    with connection.cursor() as cursor:
        # Multi-row statements with RETURNING: the ids come with the upsert, in one round trip a chunk.
        for start in range(0, len(ordered), _SUMMARY_CHUNK):
            chunk = ordered[start : start + _SUMMARY_CHUNK]
            cursor.execute(_upsert_summary_sql(connection.vendor, len(chunk)), [v for row in chunk for v in row])
            ids.update(cursor.fetchall())
        cursor.executemany(
            _upsert_operation_sql(connection.vendor),
            [(service, name, shard, count, last) for (service, name), (count, last) in sorted(operations.items())],
        )
    rows = sorted((kind, key, value, ids[trace_id]) for kind, key, value, trace_id in terms)
    # Sorted: concurrent PostgreSQL transactions take the unique index's locks in one order.
    insert_rows(TraceTerm, TERM_FIELDS, rows, ignore_conflicts=True)
