"""The server's summariser thread: adds stored spans to trace search's tables after ingest commits
them (SQLite only; see ``tracing.summaries``).

Ingest wakes it after each commit that stored spans (``summary_hooks``, an observer of
``tracing.store.SPANS`` registered in ``TracingConfig.ready``). It gives way to ingest: it waits
until no spans have been committed for half a second, or at most ``_MAX_LAG_SECONDS`` after the
first ones it was woken for, then summarises everything pending in one pass (each trace's summary
written once for all of the requests, in large chunks). On SQLite the summariser and ingest share
the one write lock and, in one process, the interpreter: summarising while a burst of spans arrives
would slow the burst by as much as summarising at ingest did. It also looks every half second for
spans another process stored. Readers of the search tables summarise what is pending themselves,
so what a search answers never depends on this thread's timing.

The server starts and stops it (``dashboard.core.background``): :func:`stop` lets a chunk in
progress finish (its transaction commits or rolls back whole); what is left pending is summarised by
the next reader or the next start.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time

from django.conf import settings
from django.db import close_old_connections, connection

from dashboard.ingest.observers import BatchHooks
from tracing import summaries
from tracing.store import StoredSpans

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.5
_QUIET_SECONDS = 0.5  # without a commit of spans for this long, ingest is taken to be idle
_MAX_LAG_SECONDS = 5.0  # under steady ingest, summarise at least this often
_wakeup = threading.Event()
_stop = threading.Event()
_started = threading.Lock()
_thread: threading.Thread | None = None


def wake(_: StoredSpans | None = None) -> None:
    """Tell the summariser thread, if this process runs one, that spans were committed."""
    _wakeup.set()


_WAKE: BatchHooks[StoredSpans] = BatchHooks(after_commit=wake)


def summary_hooks() -> BatchHooks[StoredSpans] | None:
    """A batch of spans: wake the summariser after its commit where spans are summarised after it."""
    return _WAKE if summaries.deferred() else None


def start() -> None:
    """Start the summariser thread (once per process) where spans are summarised after ingest."""
    global _thread
    if not summaries.deferred() or not settings.EVENTSCOPE_FOLDER_THREAD:
        return
    with _started:
        if _thread is None or not _thread.is_alive():
            _stop.clear()
            _thread = threading.Thread(target=_run, name="trace-summariser", daemon=True)
            _thread.start()


def stop(timeout: float = 5.0) -> bool:
    """Stop the summariser thread, if it runs, after the chunk in progress; True when it ended
    within ``timeout`` seconds."""
    global _thread
    with _started:
        thread, _thread = _thread, None
        _stop.set()
        _wakeup.set()
    if thread is None:
        return True
    thread.join(timeout)
    return not thread.is_alive()


def _run() -> None:
    try:
        _summarise_until_stopped()
    finally:
        connection.close()


def _until_quiet() -> None:
    """Wait until no spans were committed for ``_QUIET_SECONDS``, ``_MAX_LAG_SECONDS`` at most."""
    deadline = time.monotonic() + _MAX_LAG_SECONDS
    while not _stop.is_set():
        _wakeup.clear()
        left = deadline - time.monotonic()
        if left <= 0 or not _wakeup.wait(min(_QUIET_SECONDS, left)):
            return


def _summarise_until_stopped() -> None:
    failures = 0
    while not _stop.is_set():
        if _wakeup.wait(_POLL_SECONDS if not failures else min(30, 2**failures)):
            _until_quiet()
        _wakeup.clear()
        if _stop.is_set():
            return
        try:
            summaries.summarise_pending()
            failures = 0
        except Exception:  # keep going later, backing off; readers summarise what is pending themselves
            failures += 1
            logger.exception("trace summariser: summarising failed (attempt %d)", failures)
            with contextlib.suppress(Exception):
                close_old_connections()
