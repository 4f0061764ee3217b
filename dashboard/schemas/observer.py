"""Schema discovery and the pinned-version check as an observer of ingest (``SchemasConfig.ready()``).

For each batch of events, while ``EVENTSCOPE_SCHEMA_DISCOVERY`` is on:

- before the write transaction, on the request's thread, each event's shape is taken and fitted to
  its type's latest version as this process knows it (``cache``); when the type has a pinned
  version, the event is checked against it and the answer stored in its ``schema_error`` column
  (``""`` valid, else the reason; NULL when nothing is pinned). The event is stored either way.
- inside the write transaction, the events really stored are counted in their versions, and those
  that fitted no known version start new ones (``record``): set-based, one statement a batch in
  the common case.
- after the commit, types whose versions changed are dropped from this process's cache, so the next
  batch loads what was committed.
"""

from __future__ import annotations

import time

from django.conf import settings

from dashboard.core.nul import replace_nul
from dashboard.events.envelope import NormalizedEvent
from dashboard.ingest.observers import EventHooks, StoredEvents
from dashboard.schemas import cache
from dashboard.schemas.cache import KnownType, TypeKey
from dashboard.schemas.record import TypeEvents, record_batch
from dashboard.schemas.shapes import fits, shape_of, violations

# The most of a failure's reason kept on an event.
MAX_ERROR = 1000


def schema_error(version: int, problems: list[str]) -> str:
    """The reason kept on an event that does not validate against pinned ``version``."""
    text = f"version {version}: " + "; ".join(problems)
    if len(text) > MAX_ERROR:
        text = text[: MAX_ERROR - 1] + "…"
    return replace_nul(text)  # a key holding U+0000 must not get the event refused


class _Discovery:
    """One batch: what ``prepare`` saw of each event, until it is recorded and the cache refreshed."""

    __slots__ = ("by_type", "changed", "known", "now", "prepared")

    def __init__(self) -> None:
        self.now = time.monotonic()
        self.known: dict[TypeKey, KnownType] = {}
        self.by_type: dict[TypeKey, TypeEvents] = {}
        self.prepared = 0
        self.changed: set[TypeKey] = set()

    def prepare(self, stored_id: str, entry: NormalizedEvent) -> str | None:
        """The event's ``schema_error`` column (NULL when its type has no pinned version)."""
        key = (entry.source, entry.detail_type)
        known = self.known.get(key)
        if known is None:
            known = self.known[key] = cache.known_type(key, self.now)
            self.by_type[key] = TypeEvents(known.schema_id)
        latest = known.latest
        shape = shape_of(entry.detail, latest.types if latest is not None else ())
        found = self.by_type[key]
        found.events.append((stored_id, shape))
        if found.fitted and (latest is None or not fits(latest, shape)):
            found.fitted = False
        self.prepared += 1
        if known.pinned is None or known.pinned_version is None:
            return None
        problems = violations(known.pinned, shape)
        entry.schema_error = schema_error(known.pinned_version, problems) if problems else ""
        return entry.schema_error

    def record(self, stored: StoredEvents) -> None:
        """In the write transaction: count the events this batch really stored."""
        if len(stored.events) != self.prepared:
            # Some duplicated an event stored before (by another request): leave those out.
            ids = {stored_id for stored_id, _ in stored.events}
            for found in self.by_type.values():
                found.events = [event for event in found.events if event[0] in ids]
        self.changed = record_batch(self.by_type, stored.received_at)

    def refresh(self, _: StoredEvents) -> None:
        """After the commit: the next batch of a type that changed loads it again."""
        for key in self.changed:
            cache.forget(key)


def discovery_hooks() -> EventHooks | None:
    """The hooks of one batch of events; None while discovery is off."""
    if not settings.EVENTSCOPE_SCHEMA_DISCOVERY:
        return None
    batch = _Discovery()
    return EventHooks(
        column="schema_error", prepare=batch.prepare, in_transaction=batch.record, after_commit=batch.refresh
    )
