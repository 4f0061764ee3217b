"""Stored ids: ULIDs (26 characters of Crockford base32), sortable by creation time.

A stored id is generated in the process before the insert, so a batch can be written in one
statement and the answer to the client still carries every id. Ids are monotonic within a process,
so ordering by id is ordering by arrival, and "newest first" paging is stable even for events
received in the same millisecond.
"""

from __future__ import annotations

import base64
import os
import threading
import time
from datetime import UTC, datetime

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
# base64's base32 encoder is C code; translating its alphabet to Crockford's keeps the order of
# values the same as the order of strings.
_TO_CROCKFORD = bytes.maketrans(b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", _ALPHABET.encode())
_lock = threading.Lock()
_last_ms = 0
_last_rand = 0


def _encode(value: int, length: int) -> str:
    """``value`` as ``length`` Crockford base32 characters, most significant first."""
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
        start = _last_rand + 1
        _last_rand += count
        stamp = ms_prefix(_last_ms)
    # The 80-bit random part is exactly 10 bytes, 16 base32 characters with no padding, so the
    # parts of the whole batch are encoded in one call and cut every 16 characters.
    parts = base64.b32encode(b"".join([(start + offset).to_bytes(10, "big") for offset in range(count)]))
    text = parts.translate(_TO_CROCKFORD).decode()
    return [stamp + text[at : at + 16] for at in range(0, 16 * count, 16)]


def ms_prefix(ms: int) -> str:
    """The 10-character time part of an id made at ``ms`` milliseconds since the epoch."""
    return _encode(ms, 10)


def id_floor(moment: datetime) -> str:
    """The smallest id that an event received at ``moment`` or later can have (for id ranges)."""
    return ms_prefix(int(moment.astimezone(UTC).timestamp() * 1000)) + "0" * 16


def ms_of(stored_id: str) -> int:
    """The millisecond timestamp encoded in a stored id."""
    value = 0
    for char in stored_id[:10]:
        value = value * 32 + _ALPHABET.index(char)
    return value
