"""Where a tap's messages go: one batch of messages, one write transaction (the events, the rejected
messages and the tap's counters commit together); the caller acknowledges the batch to the broker
only once this has returned."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.db.models import F
from django.utils import timezone

from dashboard.core import metrics
from dashboard.core.bulk import run_alone_in_write_transaction
from dashboard.events.envelope import EntryError, NormalizedEvent
from dashboard.ingest.store import store_events
from dashboard.taps.messages import TappedMessage, to_event
from dashboard.taps.models import Tap, TapRejection

BODY_KEPT = 4096  # characters of a rejected message's body kept beside the reason


@dataclass(frozen=True, slots=True)
class Outcome:
    received: int
    stored: int
    duplicates: int
    rejected: int


def store_batch(tap: Tap, messages: Sequence[TappedMessage]) -> Outcome:
    """Make events of ``messages`` and store them, with the rejected ones and the counters, in one
    transaction; returns once it has committed (then, and only then, may the broker be told)."""
    now = timezone.now()
    entries: list[NormalizedEvent | EntryError] = []
    for message in messages:
        try:
            entries.append(to_event(tap.name, tap.format, message, now))
        except EntryError as err:
            entries.append(err)

    def write() -> Outcome:
        results = store_events(entries, now)
        refused = [
            TapRejection(
                tap_id=tap.pk,
                received_at=now,
                reason=result.error,
                message_id=_text(messages[result.index].message_id[:256]),
                subject=_text(messages[result.index].subject[:512]),
                headers={_text(k): _text(v) for k, v in messages[result.index].headers.items()},
                body=_text(messages[result.index].body[:BODY_KEPT].decode("utf-8", "replace")),
            )
            for result in results
            if result.status == "rejected"
        ]
        if refused:
            TapRejection.objects.bulk_create(refused)
        stored = sum(1 for result in results if result.status == "accepted")
        outcome = Outcome(len(messages), stored, len(results) - stored - len(refused), len(refused))
        Tap.objects.filter(pk=tap.pk).update(
            received=F("received") + outcome.received,
            stored=F("stored") + outcome.stored,
            duplicates=F("duplicates") + outcome.duplicates,
            rejected=F("rejected") + outcome.rejected,
        )
        return outcome

    outcome = run_alone_in_write_transaction(write)
    # Counted once committed, so that a batch rolled back and read again is not counted twice.
    for name, count in (
        ("stored", outcome.stored),
        ("duplicate", outcome.duplicates),
        ("rejected", outcome.rejected),
    ):
        if count:
            metrics.TAP_MESSAGES.labels(tap.name, name).inc(count)
    return outcome


def _text(value: str) -> str:
    """Text a database stores (PostgreSQL refuses U+0000 in text and JSON)."""
    return value.replace("\x00", "\ufffd")
