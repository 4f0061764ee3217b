"""The server's summariser thread: adds stored spans to trace search's tables a moment after ingest
commits them (SQLite only; see ``tracing.summaries``).

Ingest wakes it after each commit that stored spans (``summary_hooks``, an observer of
``tracing.store.SPANS`` registered in ``TracingConfig.ready``); it waits half a second more, so that
one pass takes the spans of many requests (each trace's summary written once for all of them), then
summarises. It also looks every half second for spans another process stored. Readers of the search
tables summarise what is pending themselves, so nothing depends on this thread's timing.

The server starts and stops it (``dashboard.core.background``): :func:`stop` lets a chunk in
progress finish (its transaction commits or rolls back whole); what is left pending is summarised by
the next reader or the next start.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from dashboard.ingest.observers import BatchHooks
from tracing import summaries
from tracing.store import StoredSpans

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.5
_GATHER_SECONDS = 0.5
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


def _summarise_until_stopped() -> None:
    failures = 0
    while not _stop.is_set():
        if _wakeup.wait(_POLL_SECONDS if not failures else min(30, 2**failures)):
            _stop.wait(_GATHER_SECONDS)
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
