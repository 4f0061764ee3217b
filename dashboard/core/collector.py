"""The server process's garbage collector, set for ingest's allocation pattern.

An ingest request allocates thousands of containers that stay alive while it runs (the decoded JSON
or protobuf items, their rows, their results). With CPython's default thresholds (a young collection
every 700 net container allocations) the collector ran once or twice a request and traced them all,
promoting them to older generations that were then traced again: about 10 µs per ingested event or
span in the server, 2 to 3 µs with the settings here. The server therefore freezes what start-up
allocated (it stays for the process's life; a full collection no longer traces it) and collects the
young generation every ``YOUNG_THRESHOLD`` net allocations instead. Reference cycles are still
collected, a little later: at most 50,000 more containers (some megabytes) wait for it.
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
