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

from django.conf import settings

from dashboard.core.background import CatchUpThread
from dashboard.ingest.observers import BatchHooks
from tracing import summaries
from tracing.store import StoredSpans

# It gives way to ingest: half a second without a commit of spans, five seconds at the most.
_THREAD = CatchUpThread(
    "trace-summariser",
    summaries.summarise_pending,
    enabled=lambda: summaries.deferred() and settings.EVENTSCOPE_FOLDER_THREAD,
    quiet_seconds=0.5,
    max_lag_seconds=5.0,
)
start, stop = _THREAD.start, _THREAD.stop


def wake(_: StoredSpans | None = None) -> None:
    """Tell the summariser thread, if this process runs one, that spans were committed."""
    _THREAD.wake()


_WAKE: BatchHooks[StoredSpans] = BatchHooks(after_commit=wake)


def summary_hooks() -> BatchHooks[StoredSpans] | None:
    """A batch of spans: wake the summariser after its commit where spans are summarised after it."""
    return _WAKE if summaries.deferred() else None
