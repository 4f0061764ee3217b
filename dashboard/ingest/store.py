"""Storing normalised events: one bulk insert per request, deduplicated on ``(source, event_id)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from dashboard.core.bulk import db_datetime, db_json, holds_nul, insert_rows, run_in_write_transaction
from dashboard.core.ids import new_ids
from dashboard.events.envelope import TOO_DEEP, EntryError, NormalizedEvent
from dashboard.events.models import Event
from dashboard.lifecycles import fold, folder
from dashboard.lifecycles.definitions import active_lifecycles
from dashboard.lifecycles.tracking import Match, encode_matches, entry_matches, record_matches
from dashboard.live.items import accepted_wire_events
from dashboard.live.publish import publish_on_commit

EVENT_FIELDS = (
    "id", "event_id", "source", "detail_type", "time", "account", "region", "resources", "detail", "extra", "raw",
    "received_at", "format", "trace_id", "parent_span_id", "idempotency_key", "replay_name", "lifecycle_matches",
)  # fmt: skip


NUL_ERROR = "The event contains the character U+0000 (NUL), which cannot be stored."


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
    rows: list[tuple[object, ...]] = []
    when = db_datetime(received_at)
    assigned: set[str] = set()
    ids = new_ids(len(entries))
    # Which lifecycles each event belongs to is decided out here, so the write transaction only
    # stores (and, on PostgreSQL, merges) it (CONTRACT §7).
    lifecycles = active_lifecycles()
    lifecycle_matches: list[Match] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, EntryError):
            results.append(EntryResult(index, "rejected", error=str(entry), code=getattr(entry, "code", "")))
            continue
        if not entry.event_id:
            # No producer id (PutEvents, or a native event without one): the stored id is the id,
            # which is new by construction and needs no duplicate check.
            entry.event_id = ids[index]
            assigned.add(ids[index])
        natural = (entry.source, entry.event_id)
        if natural in fresh:
            results.append(EntryResult(index, "duplicate"))
            continue
        matches = entry_matches(lifecycles, ids[index], entry) if lifecycles else []
        try:
            row = (
                ids[index], entry.event_id, entry.source, entry.detail_type, db_datetime(entry.time), entry.account,
                entry.region, db_json(entry.resources), db_json(entry.detail), db_json(entry.extra), entry.raw, when,
                entry.format, entry.trace_id, entry.parent_span_id, entry.idempotency_key, "",
                encode_matches(matches) if matches else None,
            )  # fmt: skip
        except orjson.JSONEncodeError:  # nested deeper than JSON is written (a detail parsed from text)
            results.append(EntryResult(index, "rejected", error=TOO_DEEP, code="InvalidArgument"))
            continue
        if holds_nul(row):  # an event is stored as sent or not at all: refused, not altered
            results.append(EntryResult(index, "rejected", error=NUL_ERROR, code="InvalidArgument"))
            continue
        fresh[natural] = index
        results.append(EntryResult(index, "accepted", id=ids[index]))
        rows.append(row)
        lifecycle_matches.extend(matches)
    stored: dict[tuple[str, str], str] = {}
    producer_ids = [event_id for _, event_id in fresh if event_id not in assigned]
    # SQLite folds the stored matches into records after the commit (``transactions.fold``);
    # PostgreSQL merges them here, in the transaction, under row locks.
    folded_later = fold.folds()
    merge_now = bool(lifecycle_matches) and not folded_later

    def write() -> dict[tuple[str, str], str]:
        insert_rows(Event, EVENT_FIELDS, rows, ignore_conflicts=True)
        found: dict[tuple[str, str], str] = {}
        if producer_ids:
            # Which rows are ours? Ask the database, inside the same transaction: a row that was
            # already there (or that a concurrent request committed first) carries another id.
            found = {
                (source, event_id): stored_id
                for stored_id, source, event_id in Event.objects.filter(event_id__in=producer_ids).values_list(
                    "id", "source", "event_id"
                )
                if (source, event_id) in fresh
            }
        if merge_now:
            record_matches(lifecycle_matches, found)
        return found

    if rows:
        stored = run_in_write_transaction(write)
        if lifecycle_matches and folded_later:
            folder.wake()
    for result in results:
        if result.status == "rejected":
            continue
        entry = entries[result.index]
        assert isinstance(entry, NormalizedEvent)
        if entry.event_id in assigned:
            continue
        stored_id = stored[(entry.source, entry.event_id)]
        if stored_id != result.id or fresh[(entry.source, entry.event_id)] != result.index:
            result.status, result.id = "duplicate", stored_id
    if rows:
        # The live tail, once per request and after the commit (deferred to the outer commit when
        # an outer transaction holds this one, as store_logs does).
        publish_on_commit(lambda: (accepted_wire_events(entries, results, received_at), []))
    return results
