"""The server's service-map folder thread: folds what ingest noted (``Pending``) a moment after the
commit (``dashboard.servicemap.fold``), on SQLite and PostgreSQL alike.

Ingest wakes it after each commit; like the trace summariser it gives way to ingest: it folds once
no batch was committed for half a second, and at most five seconds after the first wake-up, so that
one fold takes the batches of many requests and a burst of ingest is not slowed by folding it (in
one process, folding and ingest share the interpreter, and on SQLite the write lock). It also looks
every half second for batches another process stored (on PostgreSQL the folds of all processes take
turns). Readers of the map fold what is pending themselves, so what they answer never depends on
this thread's timing.
"""

from __future__ import annotations

from django.conf import settings

from dashboard.core.background import CatchUpThread
from dashboard.servicemap import fold

_THREAD = CatchUpThread(
    "service-map-folder",
    fold.fold_pending,
    enabled=lambda: bool(settings.EVENTSCOPE_FOLDER_THREAD and settings.EVENTSCOPE_SERVICE_MAP),
    quiet_seconds=0.5,
    max_lag_seconds=5.0,
)
start, stop = _THREAD.start, _THREAD.stop


def wake() -> None:
    """Tell the folder thread, if this process runs one, that a noted batch was committed."""
    _THREAD.wake()
