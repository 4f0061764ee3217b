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

from django.conf import settings

from dashboard.core.background import CatchUpThread
from dashboard.lifecycles import fold

# Half a second after a wake-up: one fold takes the events of many requests.
_THREAD = CatchUpThread(
    "transaction-folder",
    fold.fold_pending,
    enabled=lambda: fold.folds() and settings.EVENTSCOPE_FOLDER_THREAD,
    quiet_seconds=0.5,
    max_lag_seconds=0.5,
)
start, stop = _THREAD.start, _THREAD.stop


def wake() -> None:
    """Tell the folder thread, if this process runs one, that tracked events were committed."""
    _THREAD.wake()
