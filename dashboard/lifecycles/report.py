"""The transactions report: filters, status at query time, one record as JSON/CSV, the funnel.

A record's status is computed against its deadline when it is read, so the report is right to the
second without waiting for the sweep: ``complete`` when no step is missing, else ``incomplete``
once ``deadline`` has passed, else ``in_progress``.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

from django.db.models import Case, Count, F, Q, QuerySet, Value, When
from django.db.models.lookups import Exact
from django.utils import timezone

from dashboard.core.errors import Problem
from dashboard.core.numbers import whole_number
from dashboard.events.envelope import format_time
from dashboard.events.queries import limit_param, time_param
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction

STATUSES = (Transaction.IN_PROGRESS, Transaction.COMPLETE, Transaction.INCOMPLETE)
DEFAULT_LIMIT, MAX_LIMIT = 50, 500

CSV_COLUMNS = (
    "id", "lifecycle", "key", "status", "out_of_order", "steps_seen", "missing_steps", "first_seen", "last_seen",
    "deadline", "overdue_at", "duplicates", "updates", "out_of_order_events", "trace_ids", "idempotency_keys",
    "events_url",
)  # fmt: skip


def _refused(message: str, where: str) -> Problem:
    """A report parameter that cannot be used: the message says why, ``where`` names it."""
    return Problem(message, code="invalid_parameter", where=where)


def status_q(status: str, now: datetime) -> Q:
    """The filter for transactions whose status is ``status`` at ``now``."""
    if status == Transaction.COMPLETE:
        return Q(missing_count=0)
    if status == Transaction.INCOMPLETE:
        return Q(missing_count__gt=0, deadline__lt=now)
    return Q(missing_count__gt=0, deadline__gte=now)


def status_at(tx: Transaction, now: datetime) -> str:
    if tx.missing_count == 0:
        return Transaction.COMPLETE
    return Transaction.INCOMPLETE if tx.deadline < now else Transaction.IN_PROGRESS


@dataclass
class Report:
    """A parsed report request: the filtered query (not yet paged) and what it was built from."""

    query: QuerySet[Transaction]
    lifecycles: dict[int, Lifecycle]
    now: datetime
    limit: int
    cursor: int | None
    params: dict[str, str]


def build_report(params: Mapping[str, str], now: datetime | None = None) -> Report:
    """Validate the report's filters (``lifecycle``, ``status``, ``out_of_order``, ``missing_step``,
    ``since``/``until`` on ``first_seen``, ``limit``, ``cursor``) and build its query, newest first.
    A filter that cannot be used raises a Problem (400, ``invalid_parameter``) naming it."""
    fold_pending()  # every event whose ingest has been answered is in the records read below
    now = now or timezone.now()
    lifecycles = {lifecycle.pk: lifecycle for lifecycle in Lifecycle.objects.all()}
    query = Transaction.objects.all()
    used: dict[str, str] = {}
    name = params.get("lifecycle")
    chosen = list(lifecycles.values())
    if name:
        chosen = [lifecycle for lifecycle in chosen if lifecycle.name == name]
        if not chosen:
            raise _refused(f"No lifecycle named {name!r}.", where="lifecycle")
        query = query.filter(lifecycle_id=chosen[0].pk)
        used["lifecycle"] = name
    status = params.get("status")
    if status:
        if status not in STATUSES:
            raise _refused(f"'status' must be one of {', '.join(STATUSES)}.", where="status")
        query = query.filter(status_q(status, now))
        used["status"] = status
    out_of_order = params.get("out_of_order")
    if out_of_order:
        if out_of_order not in ("true", "false"):
            raise _refused("'out_of_order' must be true or false.", where="out_of_order")
        query = query.filter(out_of_order=out_of_order == "true")
        used["out_of_order"] = out_of_order
    step = params.get("missing_step")
    if step:
        having = Q()
        for lifecycle in chosen:
            if step in lifecycle.steps:
                bit = 1 << lifecycle.steps.index(step)
                having |= Q(Exact(F("steps_mask").bitand(bit), 0), lifecycle_id=lifecycle.pk)
        if not having:
            raise _refused(
                f"No lifecycle{' ' + repr(name) if name else ''} has a step named {step!r}.", where="missing_step"
            )
        query = query.filter(having)
        used["missing_step"] = step
    for bound, lookup in (("since", "first_seen__gte"), ("until", "first_seen__lt")):
        value = time_param(params, bound)
        if value is not None:
            query = query.filter(**{lookup: value})
            used[bound] = params[bound]
    limit = limit_param(params, DEFAULT_LIMIT, MAX_LIMIT)
    cursor = whole_number(params.get("cursor"))
    if params.get("cursor") and cursor is None:
        raise _refused("'cursor' is not a cursor this API gave out.", where="cursor")
    return Report(query, lifecycles, now, limit, cursor, used)


def first_page(report: Report) -> tuple[list[Transaction], str | None]:
    """One page, newest record first, and the cursor of the next page (None on the last)."""
    query = report.query
    if report.cursor is not None:
        query = query.filter(id__lt=report.cursor)
    rows = list(query.order_by("-id")[: report.limit + 1])
    return rows[: report.limit], (str(rows[report.limit - 1].pk) if len(rows) > report.limit else None)


def transaction_url(lifecycle: str, key: str) -> str:
    """The page of one transaction, the one place its address is built. Names and keys are any
    text: every reserved character is percent-encoded (a "/" too, which the page's route resolves
    as the API does)."""
    return f"/transactions/{quote(lifecycle, safe='')}/{quote(key, safe='')}/"


def links_of(tx: Transaction) -> dict[str, Any]:
    """Where to look next: the step events, a search for the key, its traces and key ledgers."""
    return {
        "events": "/events/?" + urlencode({"q": tx.key}),
        "api_events": "/api/events?" + urlencode({"q": tx.key}),
        "step_events": {step: f"/events/{seen['id']}/" for step, seen in tx.steps_seen.items()},
        "traces": [f"/traces/{trace_id}/" for trace_id in tx.trace_ids],
        "keys": [f"/keys/{quote(key, safe='')}/" for key in tx.idempotency_keys],
    }


def transaction_json(tx: Transaction, lifecycle: Lifecycle, now: datetime) -> dict[str, Any]:
    steps = lifecycle.steps
    return {
        "id": tx.pk,
        "lifecycle": lifecycle.name,
        "key": tx.key,
        "status": status_at(tx, now),
        "out_of_order": tx.out_of_order,
        "out_of_order_events": tx.out_of_order_events,
        "steps_seen": [{"step": step, **tx.steps_seen[step]} for step in steps if step in tx.steps_seen],
        "missing_steps": [step for step in steps if step not in tx.steps_seen],
        "first_seen": format_time(tx.first_seen),
        "last_seen": format_time(tx.last_seen),
        "deadline": format_time(tx.deadline),
        "overdue_at": format_time(tx.overdue_at) if tx.overdue_at else None,
        "duplicates": tx.duplicates,
        "updates": tx.updates,
        "trace_ids": tx.trace_ids,
        "idempotency_keys": tx.idempotency_keys,
        "links": links_of(tx),
    }


def csv_rows(report: Report) -> Iterator[list[str]]:
    """The header and every matching record (not paged), streamed from the database in chunks."""
    yield list(CSV_COLUMNS)
    for tx in report.query.order_by("-id").iterator(chunk_size=2000):
        item = transaction_json(tx, report.lifecycles[tx.lifecycle_id], report.now)
        yield [_cell(text) for text in (
            str(item["id"]), item["lifecycle"], item["key"], item["status"], str(item["out_of_order"]).lower(),
            " ".join(f"{seen['step']}@{seen['time']}#{seen['id']}x{seen['count']}" for seen in item["steps_seen"]),
            " ".join(item["missing_steps"]), item["first_seen"], item["last_seen"], item["deadline"],
            item["overdue_at"] or "", str(item["duplicates"]), str(item["updates"]),
            " ".join(f"{fact['detail-type']}<{fact['arrived_before']}" for fact in item["out_of_order_events"]),
            " ".join(item["trace_ids"]), " ".join(item["idempotency_keys"]), item["links"]["events"],
        )]  # fmt: skip


# A spreadsheet opening the export runs a cell that starts like a formula; keys, steps and
# idempotency keys are producers' text. Such a cell gets a leading apostrophe (shown as text).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(text: str) -> str:
    return "'" + text if text.startswith(_FORMULA_START) else text


def funnel(report: Report) -> list[dict[str, Any]]:
    """Per lifecycle (with the report's filters): how many records in each status, how many out of
    order, and per step how many reached it and how many are stuck there (it is their first
    missing step) — where do transactions get stuck?

    One grouped query: records are counted per (lifecycle, steps seen, out of order, overdue), a
    few groups per lifecycle, and the figures are added up from those groups.
    """
    overdue = Case(When(status_q(Transaction.INCOMPLETE, report.now), then=Value(1)), default=Value(0))
    groups = (
        report.query.order_by()
        .annotate(overdue=overdue)
        .values_list("lifecycle_id", "steps_mask", "out_of_order", "overdue")
        .annotate(n=Count("id"))
    )
    figures: dict[int, dict[str, Any]] = {
        pk: {
            "lifecycle": lifecycle.name,
            "total": 0,
            "complete": 0,
            "incomplete": 0,
            "in_progress": 0,
            "out_of_order": 0,
            "steps": [{"step": step, "reached": 0, "stuck": 0} for step in lifecycle.steps],
        }
        for pk, lifecycle in report.lifecycles.items()
    }
    for lifecycle_id, mask, out_of_order, is_overdue, count in groups:
        item = figures.get(lifecycle_id)
        if item is None:
            continue
        steps = item["steps"]
        missing = [index for index in range(len(steps)) if not mask & (1 << index)]
        item["total"] += count
        item["out_of_order"] += count if out_of_order else 0
        item["complete" if not missing else "incomplete" if is_overdue else "in_progress"] += count
        for index, step in enumerate(steps):
            if mask & (1 << index):
                step["reached"] += count
        if missing:
            steps[missing[0]]["stuck"] += count
    return sorted(figures.values(), key=lambda item: item["lifecycle"])
