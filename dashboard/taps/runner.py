"""One tap at work: a thread that reads its broker, stores each batch, then acknowledges it.

At-least-once into the store: a batch is acknowledged to the broker only after its transaction has
committed (``sink.store_batch``); what a crash leaves unacknowledged is delivered again by the
broker and stored as a duplicate of itself (same producer id), not a second event.

When the broker goes away (or refuses what the tap needs), the tap says ``failing`` with the error,
waits (``EVENTSCOPE_TAP_BACKOFF_MS``, doubling up to 30 s, with jitter) and connects again, for as
long as it runs. A database error is handled the same way: nothing was acknowledged, so the broker
delivers the batch again.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection
from django.utils import timezone

from dashboard.taps.models import Tap
from dashboard.taps.sink import store_batch
from dashboard.taps.source import BrokerError, Source, describe, open_source

logger = logging.getLogger(__name__)

FIRST_WAIT = 1.0  # seconds a fetch waits for a first message (also how quickly a stop is seen)
STORING_WAIT = 0.1  # the same while a batch is being stored, whose ack should not wait long
BACKLOG_EVERY = 2.0  # seconds between two looks at the broker's backlog
MAX_BACKOFF = 30.0
_UNSET = object()


def _close_connection() -> None:
    connection.close()  # this thread's: ``connection`` is a per-thread proxy


class TapThread:
    """Reads one tap until :meth:`stop`. ``owner`` is the lease it runs under: the state it writes
    is written only while the row still names this owner."""

    def __init__(self, tap: Tap, owner: str) -> None:
        self.tap = tap
        self.owner = owner
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"tap {tap.name}", daemon=True)
        # Stores one batch while the tap's thread reads the next.
        self._writer = ThreadPoolExecutor(1, thread_name_prefix=f"tap {tap.name} writer")

    @property
    def name(self) -> str:
        return self.tap.name

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        """Ask the thread to stop (after the batch in hand is stored and acknowledged)."""
        self._stop.set()

    def join(self, timeout: float) -> bool:
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def alive(self) -> bool:
        return self._thread.is_alive()

    def _run(self) -> None:
        try:
            self._loop()
        except Exception:  # never silently: the supervisor starts the tap again
            logger.exception("tap %s: stopped by an unexpected error", self.name)
        finally:
            connection.close()
            self._writer.submit(_close_connection).result()  # the writer thread's own
            self._writer.shutdown()

    def _loop(self) -> None:
        failures = 0
        while not self._stop.is_set():
            source: Source | None = None
            try:
                if failures and not self._still_mine():
                    return  # stopped or deleted meanwhile: do not create its queue again
                source = open_source(self.tap.name, self.tap.url, self.tap.options)
                source.connect()
                self._report(state=Tap.RUNNING)
                if failures:
                    logger.info("tap %s: connected again", self.name)
                failures = 0
                self._read(source)
            except Exception as err:
                failures += 1
                reason = describe(err)
                if not isinstance(err, BrokerError):
                    logger.exception("tap %s: %s", self.name, reason)
                else:
                    logger.warning("tap %s: %s (attempt %d)", self.name, reason, failures)
                close_old_connections()
                self._report(state=Tap.FAILING, error=reason)
                wait = min(MAX_BACKOFF, settings.EVENTSCOPE_TAP_BACKOFF_MS / 1000 * 2 ** (failures - 1))
                self._stop.wait(wait * random.uniform(0.8, 1.2))
            finally:
                if source is not None:
                    source.close()

    def _still_mine(self) -> bool:
        return Tap.objects.filter(pk=self.tap.pk, owner=self.owner, enabled=True).exists()

    def _read(self, source: Source) -> None:
        """Fetch, store, acknowledge, with the next batch read while the last one is stored (on the
        writer thread): the broker's client and the database then work at the same time. A batch is
        acknowledged only once its transaction has committed, and batches in the order fetched."""
        batch = settings.EVENTSCOPE_TAP_BATCH
        next_backlog = 0.0
        storing: tuple[Future[object], Any] | None = None
        try:
            while not self._stop.is_set():
                messages, receipt = source.fetch(batch, STORING_WAIT if storing else FIRST_WAIT)
                if storing is not None:
                    stored, stored_receipt = storing
                    storing = None
                    stored.result()  # what the store raised: nothing acknowledged, the broker sends it again
                    source.ack(stored_receipt)
                if messages:
                    storing = (self._writer.submit(store_batch, self.tap, messages), receipt)
                else:
                    source.ack(receipt)  # nothing to store (an emptied stream entry): acknowledged as read
                if time.monotonic() >= next_backlog:
                    next_backlog = time.monotonic() + BACKLOG_EVERY
                    self._report(backlog=source.backlog())
            if storing is not None:  # stopping: the batch in hand is stored and acknowledged first
                storing[0].result()
                source.ack(storing[1])
        finally:
            if storing is not None:
                wait_for([storing[0]])  # never two batches of one tap stored at once

    def _report(self, *, state: str | None = None, error: str | None = None, backlog: object = _UNSET) -> None:
        """Write what the tap sees on its row, while this process holds the tap and it is enabled."""
        changes: dict[str, object] = {}
        if state is not None:
            changes["state"] = state
        if error is not None:
            changes["last_error"], changes["last_error_at"] = error[:2000], timezone.now()
        if backlog is not _UNSET:
            changes["backlog"] = backlog
        try:
            Tap.objects.filter(pk=self.tap.pk, owner=self.owner, enabled=True).update(**changes)
        except Exception:  # the database is away too: the next report tells
            logger.warning("tap %s: could not record its state", self.name, exc_info=True)
            close_old_connections()
