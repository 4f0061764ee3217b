"""Who hears of a stored batch: the observers of the ingest pipeline.

Ingest stores what one request brings as one batch per kind (events here; spans and log records in
``tracing.store``) and knows none of the apps that care about it by name. An app that wants to see
what was stored registers a *starter* for a kind in its ``AppConfig.ready()``::

    EVENTS.register(tracking_hooks)

For each batch, before its write transaction, ingest calls every starter once. A starter answers
``None`` to sit the batch out (cheaply: it runs on every request), or the hooks it wants run for
this batch (``BatchHooks``, for events ``EventHooks``); hooks of one batch may share state, e.g. a
per-batch object whose bound methods they are. The hooks run in this order, each observer's in
registration order:

1. ``prepare`` (events only), before the write transaction, on the request's thread, once per
   event about to be written (not for one refused, nor for a duplicate within the request): its
   answer is stored in the event's ``column`` (which the observer declares), in the same row.
2. ``in_transaction``, inside the write transaction, after the batch's rows are inserted, with the
   batch as stored (for events: those this batch stored just now, duplicates of earlier ones left
   out). It holds the write lock (on SQLite every other writer waits), so it must be quick and
   set-based; it must use only ``django.db.connection`` and its argument, because on SQLite it may
   run on another request's thread, in a transaction shared with other batches (see
   ``dashboard.core.bulk.run_in_write_transaction``); and it must not publish or enqueue anything,
   since the transaction may still roll back. What it raises rolls the batch back, with nothing
   stored, and reaches the ingest view: a ``django.db.OperationalError`` (a deadlock, a lock
   timeout, a database gone) is answered 503 with ``Retry-After`` like any database trouble;
   anything else is a bug, answered 500 and logged.
3. ``after_commit``, once the batch has committed (``transaction.on_commit``; at the outer commit
   when the batch was stored inside a caller's transaction, as OTLP logs store their events): once
   per request, never per event, and never for a batch that rolled back. This is the place for
   publishing and for waking workers. What it raises is logged and ignored: the request answers as
   committed.

A batch that writes no row (every entry refused) runs no hook. With no observer registered, a batch
costs one empty loop; with observers that sit it out, one call per starter.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from django.db import transaction

from dashboard.events.envelope import NormalizedEvent

B = TypeVar("B")  # what a kind hands its observers: the batch as stored
H = TypeVar("H", bound="BatchHooks[Any]")


@dataclass(frozen=True, slots=True)
class BatchHooks(Generic[B]):
    """What one observer does with one batch; a hook left ``None`` is not run."""

    in_transaction: Callable[[B], None] | None = None
    after_commit: Callable[[B], None] | None = None


@dataclass(frozen=True, slots=True)
class StoredEvents:
    """The events one request stored just now, in request order: neither those refused nor
    duplicates (of an event stored before, or earlier in the same request)."""

    received_at: datetime
    events: tuple[tuple[str, NormalizedEvent], ...]  # (stored id, the event as normalised); read-only


@dataclass(frozen=True, slots=True)
class EventHooks(BatchHooks[StoredEvents]):
    """An observer's hooks for one batch of events; ``prepare`` fills ``column`` of each row.

    ``prepare(stored_id, entry)`` answers the value to store in ``column`` (an ``Event`` field
    name), already in its database form (text for JSON), or ``None`` for NULL. A value holding
    U+0000 has its event refused, as any event holding it is.
    """

    column: str = ""
    prepare: Callable[[str, NormalizedEvent], Any] | None = None

    def __post_init__(self) -> None:
        if (self.prepare is None) != (not self.column):
            raise ValueError("an observer's prepare hook and the column it fills go together")


class BatchKind(Generic[H]):
    """One kind of stored batch and the starters registered for it.

    Register at start-up (``AppConfig.ready()``); ingest reads the list on every request without a
    lock, so registering while the server ingests is not supported (tests use :meth:`observing`).
    """

    def __init__(self, name: str) -> None:
        self.name = name
        self._starters: tuple[Callable[[], H | None], ...] = ()
        self._lock = threading.Lock()

    def register(self, starter: Callable[[], H | None]) -> None:
        """Call ``starter`` for every batch of this kind (see the module's docstring). Registering
        the same starter again does nothing (``ready()`` may run more than once)."""
        with self._lock:
            if starter not in self._starters:
                self._starters = (*self._starters, starter)

    def unregister(self, starter: Callable[[], H | None]) -> None:
        with self._lock:
            self._starters = tuple(other for other in self._starters if other != starter)

    @contextmanager
    def observing(self, starter: Callable[[], H | None]) -> Iterator[None]:
        """``starter`` registered for the block only (for tests)."""
        self.register(starter)
        try:
            yield
        finally:
            self.unregister(starter)

    def start(self) -> list[H]:
        """The hooks of the observers that take part in a batch about to be written. Call once per
        batch, on the request's thread, before its write transaction."""
        return [hooks for starter in self._starters if (hooks := starter()) is not None]

    def __repr__(self) -> str:
        return f"<BatchKind {self.name}: {len(self._starters)} observers>"


EVENTS: BatchKind[EventHooks] = BatchKind("events")


def run_in_transaction(hooks: Sequence[BatchHooks[B]], batch: B) -> None:
    """Run the ``in_transaction`` hooks of ``hooks`` with ``batch``. Precondition: inside the
    batch's write transaction, after its rows are written."""
    for hook in hooks:
        if hook.in_transaction is not None:
            hook.in_transaction(batch)


def wants_transaction(hooks: Sequence[BatchHooks[Any]]) -> bool:
    return any(hook.in_transaction is not None for hook in hooks)


def wants_commit(hooks: Sequence[BatchHooks[Any]]) -> bool:
    return any(hook.after_commit is not None for hook in hooks)


def run_after_commit(hooks: Sequence[BatchHooks[B]], batch: B) -> None:
    """Run the ``after_commit`` hooks of ``hooks`` with ``batch`` once the current transaction
    commits (at once when there is none); each on its own, so that one failing (logged) does not
    keep the others from running. Call after the batch's write transaction returned."""
    for hook in hooks:
        if hook.after_commit is not None:
            # A closure, not functools.partial: Django logs a failing callback by its __qualname__.
            transaction.on_commit(_bind(hook.after_commit, batch), robust=True)


def _bind(hook: Callable[[B], None], batch: B) -> Callable[[], None]:
    def after_commit() -> None:
        hook(batch)

    after_commit.__qualname__ = getattr(hook, "__qualname__", after_commit.__qualname__)
    return after_commit
