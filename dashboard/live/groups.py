"""Channel-layer group names, each built by one function.

Group names must be at most 99 characters of ``[A-Za-z0-9._-]``: a key that does not fit as it is
is replaced by a hash of itself, so any key makes a valid, stable name.
"""

from __future__ import annotations

import hashlib
import re

_SAFE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def _key(key: str) -> str:
    if _SAFE.match(key):
        return key
    return "h" + hashlib.sha256(key.encode()).hexdigest()[:40]


def firehose_group() -> str:
    """Every committed item, once per ingest request. One member per server process (its hub),
    not one per websocket: each process filters for its own connections."""
    return "live.firehose"


def replay_group(replay_id: int | str) -> str:
    """Progress of one replay, for ``/ws/replays/<id>/`` connections."""
    return f"replay.{_key(str(replay_id))}"
