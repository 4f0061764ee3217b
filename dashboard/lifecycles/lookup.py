"""Transactions seen from elsewhere: the ones an event belongs to, the ones whose events are on a
trace, and the overview's summary."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import orjson
from django.db.models import Count
from django.utils import timezone

from dashboard.core.bulk import MAX_OR_TERMS, any_pair
from dashboard.events.envelope import NormalizedEvent
from dashboard.events.models import Event
from dashboard.lifecycles.definitions import active_lifecycles
from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Transaction
from dashboard.lifecycles.report import status_q, transaction_json, transaction_url

OVERVIEW_ROWS = 10
MAX_TRACE_EVENTS = 10_000  # as many as a trace page assembles


def _as_entry(event: Event) -> NormalizedEvent:
    return NormalizedEvent(
        event_id=event.event_id, source=event.source, detail_type=event.detail_type, time=event.time,
        detail=event.detail, format=event.format, raw="", resources=event.resources, account=event.account,
        region=event.region, extra=event.extra, trace_id=event.trace_id, parent_span_id=event.parent_span_id,
        idempotency_key=event.idempotency_key,
    )  # fmt: skip


def transactions_of_event(event: Event, now: datetime | None = None) -> list[dict[str, Any]]:
    """The transaction records ``event`` belongs to (one per lifecycle whose key it carries and whose
    pattern it matches), in the report's shape; one query, none when no lifecycle applies."""
    entry = _as_entry(event)
    wanted: dict[tuple[int, str], None] = {}
    envelope: dict[str, Any] | None = None
    for lifecycle in active_lifecycles():
        key = lifecycle.key_of(entry)
        if key is None:
            continue
        if lifecycle.pattern is not None:
            envelope = envelope or entry.envelope()
            if not lifecycle.pattern.matches(envelope):
                continue
        wanted[(lifecycle.id, key)] = None
    if not wanted:
        return []
    fold_pending()
    now = now or timezone.now()
    records = (
        Transaction.objects.filter(any_pair(wanted, "lifecycle_id", "key"))
        .select_related("lifecycle")
        .order_by("lifecycle__name")
    )
    return [transaction_json(tx, tx.lifecycle, now) for tx in records]


def transactions_on_traces(trace_ids: Sequence[str], now: datetime | None = None) -> list[dict[str, Any]]:
    """The transaction records that events of ``trace_ids`` belong to, as recorded when each event
    was stored (``Event.lifecycle_matches``), in the report's shape plus ``url`` (the transaction's
    page) and ``on_traces`` (which of ``trace_ids`` carry its events, in their order); by lifecycle
    name, then key. Two queries; one when no event of them belongs to a lifecycle."""
    if not trace_ids:
        return []
    rows = (
        Event.objects.filter(trace_id__in=list(trace_ids), lifecycle_matches__isnull=False)
        .order_by()
        .values_list("trace_id", "lifecycle_matches")[:MAX_TRACE_EVENTS]
    )
    carried: dict[tuple[int, str], set[str]] = {}
    for trace_id, matches in rows:
        for lifecycle_id, key, _step in orjson.loads(matches or "[]"):
            carried.setdefault((lifecycle_id, key), set()).add(trace_id)
    if not carried:
        return []
    fold_pending()  # every event whose ingest has been answered is in the records
    now = now or timezone.now()
    records = (
        Transaction.objects.filter(any_pair(sorted(carried)[:MAX_OR_TERMS], "lifecycle_id", "key"))
        .select_related("lifecycle")
        .order_by("lifecycle__name", "key")
    )
    found = []
    for tx in records:
        item = transaction_json(tx, tx.lifecycle, now)
        on = carried[(tx.lifecycle_id, tx.key)]
        item["url"] = transaction_url(item["lifecycle"], item["key"])
        item["on_traces"] = [trace_id for trace_id in trace_ids if trace_id in on]
        found.append(item)
    return found


def incomplete_summary(now: datetime | None = None) -> dict[str, Any]:
    """For the overview: how many transactions are incomplete right now, per lifecycle, and the
    latest of them (two queries)."""
    fold_pending()
    now = now or timezone.now()
    incomplete = Transaction.objects.filter(status_q(Transaction.INCOMPLETE, now))
    counts = {
        row["lifecycle__name"]: row["n"]
        for row in incomplete.values("lifecycle__name").order_by("lifecycle__name").annotate(n=Count("id"))
    }
    latest = list(incomplete.select_related("lifecycle").order_by("-deadline")[:OVERVIEW_ROWS])
    return {
        "counts": counts,
        "total": sum(counts.values()),
        "latest": [transaction_json(tx, tx.lifecycle, now) for tx in latest],
    }
