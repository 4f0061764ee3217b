"""Storing normalised events: one bulk insert per request, deduplicated on ``(source, event_id)``."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import orjson

from dashboard.core import metrics
from dashboard.core.bulk import db_datetime, db_datetimes, db_json, holds_nul, insert_rows, run_in_write_transaction
from dashboard.core.ids import new_ids
from dashboard.events import keys
from dashboard.events.envelope import TOO_DEEP, EntryError, NormalizedEvent
from dashboard.events.models import Event
from dashboard.ingest.observers import (
    EVENTS,
    StoredEvents,
    run_after_commit,
    run_in_transaction,
    wants_commit,
    wants_transaction,
)

# The columns ingest fills itself; observers may add theirs (``EventHooks.column``).
EVENT_FIELDS = (
    "id", "event_id", "source", "detail_type", "time", "account", "region", "resources", "detail", "extra", "raw",
    "received_at", "format", "trace_id", "parent_span_id", "idempotency_key", "replay_name",
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
    acknowledge what it answers. The observers registered for ``EVENTS`` are told (see
    ``dashboard.ingest.observers``); what an in-transaction observer raises is raised here, with
    nothing stored.
    """
    results: list[EntryResult] = []
    fresh: dict[tuple[str, str], int] = {}  # (source, event_id) -> index of the first in this batch
    rows: list[tuple[object, ...]] = []
    written: list[tuple[str, NormalizedEvent]] = []  # (stored id, entry) of each row, in order
    when = db_datetime(received_at)
    to_db = db_datetimes()
    assigned: set[str] = set()
    ids = new_ids(len(entries))
    observers = EVENTS.start()
    # What observers add to each row is decided out here, so the write transaction only stores it.
    preparers = [(hooks.column, hooks.prepare) for hooks in observers if hooks.prepare is not None]
    fields = (*EVENT_FIELDS, *(column for column, _ in preparers))
    if preparers and len(set(fields)) != len(fields):
        raise ValueError(f"two observers of ingest, or ingest and an observer, fill the same column: {fields}")
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
        try:
            row = (
                ids[index], entry.event_id, entry.source, entry.detail_type, to_db(entry.time), entry.account,
                entry.region, "[]" if entry.resources == [] else db_json(entry.resources), db_json(entry.detail),
                "{}" if entry.extra == {} else db_json(entry.extra), entry.raw, when,
                entry.format, entry.trace_id, entry.parent_span_id, entry.idempotency_key, "",
            )  # fmt: skip
        except orjson.JSONEncodeError:  # nested deeper than JSON is written (a detail parsed from text)
            results.append(EntryResult(index, "rejected", error=TOO_DEEP, code="InvalidArgument"))
            continue
        if holds_nul(row):  # an event is stored as sent or not at all: refused, not altered
            results.append(EntryResult(index, "rejected", error=NUL_ERROR, code="InvalidArgument"))
            continue
        if preparers:
            added = tuple([prepare(ids[index], entry) for _, prepare in preparers])
            if holds_nul(added):
                results.append(EntryResult(index, "rejected", error=NUL_ERROR, code="InvalidArgument"))
                continue
            row = (*row, *added)
        fresh[natural] = index
        results.append(EntryResult(index, "accepted", id=ids[index]))
        rows.append(row)
        written.append((ids[index], entry))
    if not rows:
        return _counted(results)
    producer_ids = [event_id for _, event_id in fresh if event_id not in assigned]
    in_transaction = wants_transaction(observers)

    keyed = keys.in_use()

    def write() -> tuple[dict[tuple[str, str], str], StoredEvents | None]:
        if keyed:
            # PostgreSQL: the keys table dedupes (the event table is partitioned by day, see
            # dashboard.events.keys); only the rows whose key is theirs are stored.
            inserted = keys.claim([(stored_id, entry.source, entry.event_id) for stored_id, entry in written])
        else:
            inserted = insert_rows(Event, fields, rows, ignore_conflicts=True)
        found: dict[tuple[str, str], str] = {}
        if inserted == len(written):
            # Every row (or key) went in, so none was stored before: each producer id is this
            # batch's, and the database need not be asked (the common case, a query saved).
            found = {
                (entry.source, entry.event_id): stored_id
                for stored_id, entry in written
                if entry.event_id not in assigned
            }
        elif producer_ids:
            # Which rows are ours? Ask the database, inside the same transaction: a row that was
            # already there (or that a concurrent request committed first) carries another id.
            known = (
                keys.stored_ids(producer_ids)
                if keyed
                else Event.objects.filter(event_id__in=producer_ids).values_list("id", "source", "event_id")
            )
            found = {
                (source, event_id): stored_id for stored_id, source, event_id in known if (source, event_id) in fresh
            }
        if keyed:
            insert_rows(
                Event,
                fields,
                [
                    row
                    for row, (stored_id, entry) in zip(rows, written, strict=True)
                    if entry.event_id in assigned or found[(entry.source, entry.event_id)] == stored_id
                ],
            )
        told = None
        if in_transaction:
            told = StoredEvents(received_at, _stored_now(written, found, assigned))
            run_in_transaction(observers, told)
        return found, told

    stored, told = run_in_write_transaction(write)
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
    if wants_commit(observers):
        # Once per request and after the commit (deferred to the outer commit when an outer
        # transaction holds this one, as store_logs does).
        run_after_commit(observers, told or StoredEvents(received_at, _stored_now(written, stored, assigned)))
    return _counted(results)


def _counted(results: list[EntryResult]) -> list[EntryResult]:
    """``results``, counted into the ingest metrics by outcome (once per request)."""
    accepted = duplicate = 0
    for result in results:
        if result.status == "accepted":
            accepted += 1
        elif result.status == "duplicate":
            duplicate += 1
    metrics.count_items("event", accepted, duplicate, len(results) - accepted - duplicate)
    return results


def _stored_now(
    written: list[tuple[str, NormalizedEvent]], found: dict[tuple[str, str], str], assigned: set[str]
) -> tuple[tuple[str, NormalizedEvent], ...]:
    """The rows of ``written`` that the database holds under their own id (the others duplicate an
    event stored before); ``found`` maps the producer ids' ``(source, event_id)`` to the stored id."""
    return tuple(
        (stored_id, entry)
        for stored_id, entry in written
        if entry.event_id in assigned or found[(entry.source, entry.event_id)] == stored_id
    )
