"""The server's folder thread: folds tracked events into transaction records a moment after ingest
commits them (SQLite only; see ``dashboard.lifecycles.fold``).

Ingest wakes it after each commit that stored tracked events; it waits half a second more, so that
one fold takes the events of many requests (writing a record once for all of them, and its pages
once), then folds. It
also looks every half second for events another process stored, so the report reflects an event
within a second (docs/transactions.md) even when nobody reads it. Readers fold what is pending themselves.

The server starts it and stops it (registered in ``LifecyclesConfig.ready``): :func:`stop` lets a
fold in progress finish (its transaction commits or rolls back whole); what is left pending is
folded by the next reader or the next start.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from django.conf import settings
from django.db import close_old_connections, connection

from dashboard.lifecycles import fold

logger = logging.getLogger(__name__)

_POLL_SECONDS = 0.5
_GATHER_SECONDS = 0.5
_wakeup = threading.Event()
_stop = threading.Event()
_started = threading.Lock()
_thread: threading.Thread | None = None


def wake() -> None:
    """Tell the folder thread, if this process runs one, that tracked events were committed."""
    _wakeup.set()


def start() -> None:
    """Start the folder thread (once per process) when the database folds."""
    global _thread
    if not fold.folds() or not settings.EVENTSCOPE_FOLDER_THREAD:
        return
    with _started:
        if _thread is None or not _thread.is_alive():
            _stop.clear()
            _thread = threading.Thread(target=_run, name="transaction-folder", daemon=True)
            _thread.start()


def stop(timeout: float = 5.0) -> bool:
    """Stop the folder thread, if it runs, after the fold in progress; True when it ended within
    ``timeout`` seconds."""
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
        _fold_until_stopped()
    finally:
        connection.close()


def _fold_until_stopped() -> None:
    failures = 0
    while not _stop.is_set():
        if _wakeup.wait(_POLL_SECONDS if not failures else min(30, 2**failures)):
            _stop.wait(_GATHER_SECONDS)
        _wakeup.clear()
        if _stop.is_set():
            return
        try:
            fold.fold_pending()
            failures = 0
        except Exception:  # keep folding later, backing off; readers fold what is pending themselves
            failures += 1
            logger.exception("transaction folder: a fold failed (attempt %d)", failures)
            with contextlib.suppress(Exception):
                close_old_connections()
