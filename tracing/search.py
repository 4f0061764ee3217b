"""Trace search (``GET /api/traces``) and the services it offers (``GET /api/services``), read from
the tables ``tracing.summaries`` keeps: one ``TraceSummary`` row a trace and ``TraceTerm`` rows for
what a trace holds (services, span names, attributes).

How a search runs, so that it stays fast however many traces are stored: summary filters (time,
status, duration) are columns of the summary; every other filter is a term. When the rarest term
matches at most ``DRIVE_LIMIT`` traces, those traces are fetched by id and sorted; otherwise the
summaries are read newest first (a failing-traces search reads a partial index of failing traces
only) and each is checked for the terms until the page is full.
"""

# Every statement here is put together from table and column names; values go as parameters.
# ruff: noqa: S608

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import connection
from django.db.models import Count

from dashboard.core.errors import Problem
from dashboard.core.spans import format_ns
from dashboard.events.models import Event
from dashboard.events.queries import limit_param, time_param
from tracing.models import ServiceOperation, TraceSummary, TraceTerm
from tracing.summaries import SERVICE_ATTRIBUTE, summarise_pending

DEFAULT_LIMIT, MAX_LIMIT = 20, 100
MAX_ATTRIBUTES = 10
# A term matching at most this many traces is where a search starts (see the module's docstring).
DRIVE_LIMIT = 5000
STATUSES = {"error": "error_count", "ok": "ok_count", "unset": "unset_count"}
CURSOR = re.compile(r"^(?P<start>[0-9]{1,19})\.(?P<trace>[0-9a-f]{32})$")
INT64 = 2**63 - 1
MAX_SPAN_NAMES = 500  # a service's span names in /api/services, most recently seen first


def _refused(message: str, where: str) -> Problem:
    return Problem(message, code="invalid_parameter", where=where)


def _duration_ns(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        value = Decimal("NaN")
    if not value.is_finite() or value < 0 or value > 10**12:
        raise _refused(f"'{name}' must be a number of milliseconds from 0 to 10^12.", name)
    return int(value * 1_000_000)


@dataclass
class TraceQuery:
    """A validated search: summary conditions (SQL on ``s``) and term groups (each a kind, the keys
    any of which may hold the value, and the value)."""

    where: list[str] = field(default_factory=list)
    params: list[Any] = field(default_factory=list)
    terms: list[tuple[int, list[str], str]] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT
    error_only: bool = False
    empty: bool = False  # a filter no trace can match (a span name no service has)


def parse_query(params: Mapping[str, str], attrs: Sequence[str]) -> TraceQuery:
    """Validate the search's parameters (see docs/api.md); a Problem naming the parameter when one
    is malformed."""
    query = TraceQuery(limit=limit_param(params, DEFAULT_LIMIT, MAX_LIMIT))
    service, name = params.get("service"), params.get("name")
    if service:
        query.terms.append((TraceTerm.SERVICE, [""], service))
    if name:
        keys = (
            [service]
            if service
            else sorted(set(ServiceOperation.objects.filter(name=name).values_list("service", flat=True)))
        )
        query.empty = not keys
        query.terms.append((TraceTerm.SPAN_NAME, keys, name))
    if len(attrs) > MAX_ATTRIBUTES:
        raise _refused(f"At most {MAX_ATTRIBUTES} 'attr' filters.", "attr")
    for attr in attrs:
        key, equals, value = attr.partition("=")
        if not equals or not key:
            raise _refused(f"'attr' must be key=value with a non-empty key: {attr[:100]!r}.", "attr")
        if key == SERVICE_ATTRIBUTE:  # indexed as the span's service
            query.terms.append((TraceTerm.SERVICE, [""], value))
        else:
            query.terms.append((TraceTerm.ATTRIBUTE, [key], value))
    status = params.get("status")
    if status:
        if status not in STATUSES:
            raise _refused("'status' must be error, ok or unset.", "status")
        query.where.append(f"s.{STATUSES[status]} > 0")
        query.error_only = status == "error"
    low, high = _duration_ns(params, "min_duration_ms"), _duration_ns(params, "max_duration_ms")
    if low is not None:
        query.where.append("s.end_ns - s.start_ns >= %s")
        query.params.append(low)
    if high is not None:
        query.where.append("s.end_ns - s.start_ns <= %s")
        query.params.append(high)
    for name_, op in (("since", ">="), ("until", "<")):
        when = time_param(params, name_)
        if when is not None:
            query.where.append(f"s.start_ns {op} %s")
            # Clamped to a 64-bit column's range: a time past 2262 is later than any span can start.
            ns = int(when.timestamp()) * 1_000_000_000 + when.microsecond * 1000
            query.params.append(max(-INT64, min(INT64, ns)))
    cursor = params.get("cursor")
    if cursor:
        match = CURSOR.fullmatch(cursor)
        if match is None or int(match["start"]) > INT64:
            raise _refused("'cursor' is not a next_cursor this API gave.", "cursor")
        query.where.append("(s.start_ns < %s OR (s.start_ns = %s AND s.trace_id < %s))")
        start = int(match["start"])
        query.params += [start, start, match["trace"]]
    return query


def _term_sql(alias: str, keys: list[str]) -> str:
    return f"{alias}.kind = %s AND {alias}.key IN ({', '.join(['%s'] * len(keys))}) AND {alias}.value = %s"


_SUMMARY_COLUMNS = "s.trace_id, s.start_ns, s.end_ns, s.root_service, s.root_name, s.span_count, s.error_count, s.id"


def _find(query: TraceQuery) -> list[tuple[Any, ...]]:
    summary, term = TraceSummary._meta.db_table, TraceTerm._meta.db_table
    where, params = list(query.where), list(query.params)
    groups = list(query.terms)
    driving: list[str] | None = None
    if groups:
        counts = []
        with connection.cursor() as cursor:
            for kind, keys, value in groups:
                cursor.execute(
                    f"SELECT COUNT(*) FROM (SELECT 1 FROM {term} t WHERE {_term_sql('t', keys)} LIMIT %s) x",
                    [kind, *keys, value, DRIVE_LIMIT + 1],
                )
                counts.append(cursor.fetchone()[0])
        rarest = min(range(len(groups)), key=counts.__getitem__)
        if counts[rarest] == 0:
            return []
        if counts[rarest] <= DRIVE_LIMIT:
            kind, keys, value = groups.pop(rarest)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT t.trace FROM {term} t WHERE {_term_sql('t', keys)}", [kind, *keys, value])
                driving = [row[0] for row in cursor.fetchall()]
    for kind, keys, value in groups:
        where.append(f"EXISTS (SELECT 1 FROM {term} t WHERE {_term_sql('t', keys)} AND t.trace = s.id)")
        params += [kind, *keys, value]
    if driving is not None:
        where.append(f"s.id IN ({', '.join(['%s'] * len(driving))})")
        params += driving
    sql = f"SELECT {_SUMMARY_COLUMNS} FROM {summary} s"
    if where:
        sql += " WHERE " + " AND ".join(where)
    sql += " ORDER BY s.start_ns DESC, s.trace_id DESC LIMIT %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*params, query.limit + 1])
        return list(cursor.fetchall())


def _services_of(summary_ids: list[int]) -> dict[int, list[str]]:
    """Per summary id, its services (sorted)."""
    services = sorted(set(ServiceOperation.objects.values_list("service", flat=True)))
    found: dict[int, list[str]] = defaultdict(list)
    if not summary_ids or not services:
        return found
    # The unique (kind, key, value, trace) index answers this without an index by trace: one probe
    # per (service, trace). Written as a join with the services as rows, because given two IN lists
    # SQLite probes by the services only and reads every trace of each.
    values = ", ".join(["(%s)"] * len(services))
    join = "CROSS JOIN" if connection.vendor == "sqlite" else "JOIN"  # SQLite: keep this join order
    sql = (
        f"SELECT t.trace, t.value FROM (SELECT column1 AS service FROM (VALUES {values}) AS listed) v "
        f"{join} {TraceTerm._meta.db_table} t ON t.kind = %s AND t.key = '' AND t.value = v.service "
        f"AND t.trace IN ({', '.join(['%s'] * len(summary_ids))}) ORDER BY t.value"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [*services, TraceTerm.SERVICE, *summary_ids])
        rows = cursor.fetchall()
    for summary_id, service in rows:
        found[summary_id].append(service)
    return found


def search_traces(params: Mapping[str, str], attrs: Sequence[str]) -> dict[str, Any]:
    """``{"results": [...], "next_cursor"}``: the traces matching every filter, newest first (by
    their first span's start, then trace id); ``attrs`` are the ``attr`` parameters."""
    summarise_pending()  # every span whose ingest has been answered is searchable
    query = parse_query(params, attrs)
    rows = [] if query.empty else _find(query)
    page, more = rows[: query.limit], len(rows) > query.limit
    ids = [row[0] for row in page]
    services = _services_of([row[7] for row in page])
    events = dict(
        Event.objects.filter(trace_id__in=ids).order_by().values_list("trace_id").annotate(n=Count("id")) if ids else []
    )
    results = [
        {
            "trace_id": trace_id,
            "root_service": root_service,
            "root_name": root_name,
            "start": format_ns(start),
            "duration_ms": round((end - start) / 1_000_000, 3),
            "span_count": span_count,
            "error_count": error_count,
            "services": services.get(summary_id, []),
            "event_count": events.get(trace_id, 0),
        }
        for trace_id, start, end, root_service, root_name, span_count, error_count, summary_id in page
    ]
    next_cursor = f"{page[-1][1]}.{page[-1][0]}" if more else None
    return {"results": results, "next_cursor": next_cursor}


def services() -> dict[str, Any]:
    """``{"results": [{"name", "span_names", "spans", "last_seen"}]}`` by service name; span names
    sorted, at most ``MAX_SPAN_NAMES`` (the most recently seen) a service."""
    summarise_pending()  # every span whose ingest has been answered is counted
    by_operation: dict[tuple[str, str], list[int]] = {}
    for service, name, spans, last in ServiceOperation.objects.values_list("service", "name", "spans", "last_start_ns"):
        figures = by_operation.setdefault((service, name), [0, last])  # one row a shard: added up
        figures[0] += spans
        figures[1] = max(figures[1], last)
    by_service: dict[str, list[tuple[str, int, int]]] = defaultdict(list)
    for (service, name), (spans, last) in by_operation.items():
        by_service[service].append((name, spans, last))
    results = []
    for service in sorted(by_service):
        operations = by_service[service]
        recent = sorted(operations, key=lambda op: -op[2])[:MAX_SPAN_NAMES]
        results.append({
            "name": service,
            "span_names": sorted(op[0] for op in recent),
            "spans": sum(op[1] for op in operations),
            "last_seen": format_ns(max(op[2] for op in operations)),
        })  # fmt: skip
    return {"results": results}
