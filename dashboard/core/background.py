"""Work that runs beside the server in its process (the embedded mode's task worker, the folder
thread of SQLite): started when the server starts, stopped when it stops, never when a module is
imported.

Each app registers its own in its ``AppConfig.ready()``; the server (``manage.py serve``, see
``dashboard.core.server``) calls :func:`start` once it runs and :func:`stop` on SIGTERM or SIGINT.
Other processes (management commands, Celery workers, the test process, a bare ``daphne``) start
nothing. Services start in the order they registered (the order of ``INSTALLED_APPS``, lowest app
first) and stop in the reverse order, so what stands on another stops before it.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Service:
    name: str
    start: Callable[[], None]
    # Given the seconds left, stops and says whether everything stopped within them.
    stop: Callable[[float], bool]


_services: dict[str, Service] = {}
_lock = threading.Lock()


def _nothing() -> None:
    return None


def register(name: str, *, start: Callable[[], None] = _nothing, stop: Callable[[float], bool]) -> None:
    """Run ``start()`` when the server starts and ``stop(seconds_left)`` when it stops; ``stop``
    returns whether what it stops stopped within the time given. Registering a name again replaces
    the service (``ready()`` may run again in tests)."""
    with _lock:
        _services.pop(name, None)
        _services[name] = Service(name, start, stop)


def services() -> list[Service]:
    """The registered services, in the order they start."""
    with _lock:
        return list(_services.values())


def start() -> None:
    """Start every registered service, in order. A failure propagates: a server whose background
    work did not start must not serve (it would accept replays that nothing runs)."""
    for service in services():
        service.start()


def stop(timeout: float) -> bool:
    """Stop every registered service, in reverse order, all within ``timeout`` seconds; True when
    everything stopped in time. One that fails to stop is logged and the others are still stopped."""
    deadline = time.monotonic() + timeout
    clean = True
    for service in reversed(services()):
        try:
            stopped = service.stop(max(0.0, deadline - time.monotonic()))
        except Exception:
            logger.exception("stopping %s failed", service.name)
            stopped = False
        clean = clean and stopped
    return clean


class CatchUpThread:
    """A thread that catches up on work committed by others: ``work()`` runs after a wake-up
    (a commit that left something pending) once commits have paused for ``quiet_seconds``, but
    ``max_lag_seconds`` after the wake-up at the latest, and every ``poll_seconds`` anyway (for
    what other processes committed). A failure is logged and retried later with backoff; readers
    of what it maintains catch up themselves, so nothing depends on its timing. ``stop`` lets a
    run of ``work`` in progress finish.

    ``enabled()`` decides at start whether this process runs it at all (e.g. SQLite only)."""

    def __init__(
        self,
        name: str,
        work: Callable[[], object],
        enabled: Callable[[], bool],
        *,
        poll_seconds: float = 0.5,
        quiet_seconds: float = 0.5,
        max_lag_seconds: float = 0.5,
    ) -> None:
        self.name = name
        self.work = work
        self.enabled = enabled
        self.poll_seconds = poll_seconds
        self.quiet_seconds = quiet_seconds
        self.max_lag_seconds = max_lag_seconds
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def wake(self) -> None:
        """Something was committed that ``work`` should take up (cheap; from any thread)."""
        self._wakeup.set()

    def start(self) -> None:
        """Start the thread (once per process) where ``enabled()``."""
        if not self.enabled():
            return
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._stop.clear()
                self._thread = threading.Thread(target=self._run, name=self.name, daemon=True)
                self._thread.start()

    def stop(self, timeout: float = 5.0) -> bool:
        """Stop the thread, if it runs, after the run of ``work`` in progress; True when it ended
        within ``timeout`` seconds."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
            self._wakeup.set()
        if thread is None:
            return True
        thread.join(timeout)
        return not thread.is_alive()

    def _run(self) -> None:
        from django.db import connection

        try:
            self._loop()
        finally:
            connection.close()

    def _until_quiet(self) -> None:
        deadline = time.monotonic() + self.max_lag_seconds
        while not self._stop.is_set():
            self._wakeup.clear()
            left = deadline - time.monotonic()
            if left <= 0 or not self._wakeup.wait(min(self.quiet_seconds, left)):
                return

    def _loop(self) -> None:
        from django.db import close_old_connections

        failures = 0
        while not self._stop.is_set():
            if self._wakeup.wait(self.poll_seconds if not failures else min(30, 2**failures)):
                self._until_quiet()
            self._wakeup.clear()
            if self._stop.is_set():
                return
            try:
                self.work()
                failures = 0
            except Exception:  # keep going later, backing off; readers catch up themselves
                failures += 1
                logger.exception("%s: a run failed (attempt %d)", self.name, failures)
                with contextlib.suppress(Exception):
                    close_old_connections()
