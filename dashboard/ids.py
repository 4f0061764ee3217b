"""Stored ids: ULIDs (26 characters of Crockford base32), sortable by creation time.

A stored id is generated in the process before the insert, so a batch can be written in one
statement and the answer to the client still carries every id. Ids are monotonic within a process,
which keeps "newest first" paging stable even for events received in the same millisecond.
"""

from __future__ import annotations

import os
import threading
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    out = []
    for _ in range(length):
        out.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(out))


def new_ids(count: int) -> list[str]:
    """``count`` fresh ids, strictly increasing, all greater than any id this process made before."""
    global _last_ms, _last_rand
    with _lock:
        now_ms = int(time.time() * 1000)
        if now_ms > _last_ms:
            _last_ms = now_ms
            # Leave room below the 80-bit ceiling so increments within one millisecond never wrap.
            _last_rand = int.from_bytes(os.urandom(10), "big") >> 2
        ids = []
        for _ in range(count):
            _last_rand += 1
            ids.append(_encode(_last_ms, 10) + _encode(_last_rand, 16))
        return ids


def new_id() -> str:
    return new_ids(1)[0]


def ms_of(stored_id: str) -> int:
    """The millisecond timestamp encoded in a stored id."""
    value = 0
    for char in stored_id[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value
