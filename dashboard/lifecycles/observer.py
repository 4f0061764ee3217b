"""Lifecycle tracking as an observer of ingest (registered by ``LifecyclesConfig.ready()``).

For each batch of events while lifecycles are defined:

- before the write transaction, each event's matches are decided (``tracking.entry_matches``) and
  stored in its own row (``Event.lifecycle_matches``), so they commit with it;
- where records are folded after the commit (SQLite, see ``fold``), the folder thread is woken once
  the batch has committed;
- elsewhere (PostgreSQL) the matches of the events really stored are merged into their records
  inside the write transaction, under row locks (``tracking.record_matches``).
"""

from __future__ import annotations

from dashboard.events.envelope import NormalizedEvent
from dashboard.ingest.observers import EventHooks, StoredEvents
from dashboard.lifecycles import fold, folder
from dashboard.lifecycles.definitions import LifecycleDef, active_lifecycles
from dashboard.lifecycles.tracking import Match, encode_matches, entry_matches, record_matches


class _TrackedBatch:
    """One batch's matches, from ``prepare`` (per event) to the merge or the folder's wake-up."""

    __slots__ = ("lifecycles", "matches")

    def __init__(self, lifecycles: tuple[LifecycleDef, ...]) -> None:
        self.lifecycles = lifecycles
        self.matches: list[Match] = []

    def prepare(self, stored_id: str, entry: NormalizedEvent) -> str | None:
        """The event's ``lifecycle_matches`` column: its matches, or NULL when it has none."""
        matches = entry_matches(self.lifecycles, stored_id, entry)
        if not matches:
            return None
        self.matches.extend(matches)
        return encode_matches(matches)

    def merge(self, stored: StoredEvents) -> None:
        """In the write transaction: advance the records of the events this batch really stored."""
        if self.matches:
            ids = {stored_id for stored_id, _ in stored.events}
            record_matches([match for match in self.matches if match.stored_id in ids])

    def wake_folder(self, _: StoredEvents) -> None:
        """After the commit: the folder thread folds the stored matches a moment later."""
        if self.matches:
            folder.wake()


def tracking_hooks() -> EventHooks | None:
    """The hooks of one batch of events; None while no lifecycle is defined."""
    lifecycles = active_lifecycles()
    if not lifecycles:
        return None
    batch = _TrackedBatch(lifecycles)
    if fold.folds():
        return EventHooks(column="lifecycle_matches", prepare=batch.prepare, after_commit=batch.wake_folder)
    return EventHooks(column="lifecycle_matches", prepare=batch.prepare, in_transaction=batch.merge)
