"""Storing normalised events: one bulk insert per request, deduplicated on ``(source, event_id)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from dashboard.envelope import EntryError, NormalizedEvent
from dashboard.ids import new_ids
from dashboard.models import Event


@dataclass(slots=True)
class EntryResult:
    index: int
    status: str  # accepted | duplicate | rejected
    id: str = ""
    error: str = ""
    code: str = ""  # a format-specific error code (PutEvents' ErrorCode)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {"index": self.index, "status": self.status}
        if self.id:
            out["id"] = self.id
        if self.error:
            out["error"] = self.error
        return out


def store_events(entries: list[NormalizedEvent | EntryError], received_at: datetime) -> list[EntryResult]:
    """Store the valid entries in one transaction and answer one result per entry, in order.

    The same ``(source, event_id)`` already stored, or earlier in this batch, is a ``duplicate`` that
    carries the stored id of the first. The function returns only after the commit, so a caller may
    acknowledge what it answers.
    """
    results: list[EntryResult] = []
    fresh: dict[tuple[str, str], int] = {}  # (source, event_id) -> index of the first in this batch
    rows: list[Event] = []
    ids = new_ids(len(entries))
    for index, entry in enumerate(entries):
        if isinstance(entry, EntryError):
            results.append(EntryResult(index, "rejected", error=str(entry), code=getattr(entry, "code", "")))
            continue
        if not entry.event_id:
            # No producer id (PutEvents, or a native event without one): the stored id is the id.
            entry.event_id = ids[index]
        natural = (entry.source, entry.event_id)
        if natural in fresh:
            results.append(EntryResult(index, "duplicate"))
            continue
        fresh[natural] = index
        results.append(EntryResult(index, "accepted", id=ids[index]))
        rows.append(
            Event(
                id=ids[index],
                event_id=entry.event_id,
                source=entry.source,
                detail_type=entry.detail_type,
                time=entry.time,
                account=entry.account,
                region=entry.region,
                resources=entry.resources,
                detail=entry.detail,
                extra=entry.extra,
                raw=entry.raw,
                received_at=received_at,
                format=entry.format,
                trace_id=entry.trace_id,
                parent_span_id=entry.parent_span_id,
                idempotency_key=entry.idempotency_key,
            )
        )
    stored: dict[tuple[str, str], str] = {}
    if rows:
        with transaction.atomic():
            Event.objects.bulk_create(rows, ignore_conflicts=True)
            # Which rows are ours? Ask the database, inside the same transaction: a row that was
            # already there (or that a concurrent request committed first) carries another id.
            stored = dict(
                ((source, event_id), stored_id)
                for stored_id, source, event_id in Event.objects.filter(
                    event_id__in=[event_id for _, event_id in fresh]
                ).values_list("id", "source", "event_id")
                if (source, event_id) in fresh
            )
    for result in results:
        if result.status == "rejected":
            continue
        entry = entries[result.index]
        assert isinstance(entry, NormalizedEvent)
        stored_id = stored[(entry.source, entry.event_id)]
        if stored_id != result.id or fresh[(entry.source, entry.event_id)] != result.index:
            result.status, result.id = "duplicate", stored_id
    return results
