"""The server process's garbage collector, set for ingest's allocation pattern.

An ingest request allocates thousands of short-lived containers (the decoded JSON or protobuf
items, their rows, their results). With CPython's default thresholds (a young collection every 700
net container allocations) that is a collection every few items, and the older generations, which
hold everything the server imported (Django, daphne, Twisted, Celery), are swept every few requests:
measured at about 20% of the server's CPU per ingested event. The server therefore freezes what
start-up allocated (it stays for the process's life; a full collection no longer scans it) and
collects the young generation every ``YOUNG_THRESHOLD`` net allocations instead. Reference cycles
are still collected, a little later; memory held by them meanwhile is a few megabytes at most.
"""

from __future__ import annotations

import gc

YOUNG_THRESHOLD = 50_000
# Collections of the next generation: every 20 of the one below (CPython's default is 10 for both).
OLDER_THRESHOLD = 20


def tune_for_serving() -> None:
    """Freeze the objects allocated so far and raise the collection thresholds (see the module
    docstring). Call once, in the server process, after its imports and before serving."""
    gc.collect()  # what start-up left as garbage is freed now, not frozen
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, OLDER_THRESHOLD, OLDER_THRESHOLD)
