"""Which process runs which tap: one owner per tap at a time, through a lease on the tap's row.

Each process that runs taps (the server in the embedded mode, the Celery worker with ``REDIS_URL``)
has one supervisor thread. Every second it renews the leases it holds, claims enabled taps whose
lease is free or expired (a conditional UPDATE: only one process wins a tap), starts a thread for
each tap it holds and stops the threads of taps it no longer holds (stopped, deleted, or taken over
after its lease ran out). A process that dies leaves its leases to expire
(``EVENTSCOPE_TAP_LEASE_SECONDS``); one that stops releases them at once.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from datetime import timedelta

from django.conf import settings
from django.db import close_old_connections, connection
from django.db.models import Q
from django.utils import timezone

from dashboard.taps.models import Tap
from dashboard.taps.runner import TapThread

logger = logging.getLogger(__name__)

POLL_SECONDS = 1.0


class Supervisor:
    def __init__(self) -> None:
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.taps: dict[int, TapThread] = {}
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def start(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name="tap supervisor", daemon=True)
            self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop every tap this process runs (each after its batch in hand) and release their leases."""
        deadline = time.monotonic() + timeout
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
        if thread is not None:
            thread.join(max(0.0, deadline - time.monotonic()))
        for tap in self.taps.values():
            tap.stop()
        stopped = all(tap.join(max(0.0, deadline - time.monotonic())) for tap in self.taps.values())
        self.taps.clear()
        try:
            Tap.objects.filter(owner=self.owner).update(owner="", lease_until=None)
        except Exception:  # the leases expire by themselves
            logger.warning("taps: could not release the leases", exc_info=True)
        finally:
            connection.close()
        return stopped

    def _run(self) -> None:
        try:
            while not self._stop.is_set():
                try:
                    self.tick()
                except Exception:  # the database is away: try again at the next tick
                    logger.warning("taps: the supervisor's look at the taps failed", exc_info=True)
                    close_old_connections()
                self._stop.wait(POLL_SECONDS)
        finally:
            connection.close()

    def tick(self) -> None:
        """Renew, claim, start and stop (see the module docstring)."""
        now = timezone.now()
        lease = timedelta(seconds=settings.EVENTSCOPE_TAP_LEASE_SECONDS)
        # Renewed once a third of the lease has passed: one write every few seconds, not every tick.
        Tap.objects.filter(owner=self.owner, enabled=True, lease_until__lt=now + lease * 2 / 3).update(
            lease_until=now + lease
        )
        free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
        for pk in Tap.objects.filter(free, enabled=True).exclude(owner=self.owner).values_list("pk", flat=True):
            if Tap.objects.filter(free, pk=pk, enabled=True).update(owner=self.owner, lease_until=now + lease):
                logger.info("taps: this process now runs tap %s", pk)
        mine = {tap.pk: tap for tap in Tap.objects.filter(owner=self.owner, enabled=True, lease_until__gte=now)}
        for pk in list(self.taps):
            running = self.taps[pk]
            if pk not in mine or _settings(mine[pk]) != _settings(running.tap):  # gone, or changed: restart
                running.stop()
                del self.taps[pk]
        for pk, tap in mine.items():
            if pk not in self.taps or not self.taps[pk].alive():
                self.taps[pk] = TapThread(tap, self.owner)
                self.taps[pk].start()


def _settings(tap: Tap) -> tuple[str, str, dict[str, str]]:
    """What a running tap reads with: a change of any of it restarts the tap's thread."""
    return tap.url, tap.format, tap.options


_supervisor = Supervisor()


def start() -> None:
    """Run taps in this process (the Celery worker's start, or the server's in the embedded mode)."""
    _supervisor.start()


def start_in_server() -> None:
    """The server runs taps in the embedded mode, unless ``EVENTSCOPE_EMBEDDED_TAPS`` is off; with
    ``REDIS_URL`` the workers do."""
    if not settings.REDIS_URL and settings.EVENTSCOPE_EMBEDDED_TAPS:
        start()


def stop(timeout: float = 5.0) -> bool:
    return _supervisor.stop(timeout)
