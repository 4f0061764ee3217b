"""JSON from producers, read fast and kept exact.

orjson reads an integer beyond 64 bits (say ``123456789012345678901234``) as a float, silently
changing the number that would be stored and replayed. A document that may hold one (a run of 20
or more digits somewhere in it) is read a second time with exact integers, and refused when one is
out of range: a clear error the producer can act on (send such numbers as strings), not a quiet
change. Documents without such a run, nearly all, cost one ``bytes.translate`` and one substring
search more (every digit made ``0``, then a run of twenty zeros looked for: about a tenth of what a
regular expression search costs on a body full of hex ids, which keeps backtracking on digits).
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 20  # twenty digits in a row, once every digit reads 0
_LOWEST, _HIGHEST = -(2**63), 2**64 - 1  # what orjson keeps as an int


class _OutOfRange(Exception):
    def __init__(self, text: str) -> None:
        self.text = text


def _exact(text: str) -> int:
    try:
        value = int(text)
    except ValueError:  # more than 4,300 digits
        raise _OutOfRange(text) from None
    if not _LOWEST <= value <= _HIGHEST:
        raise _OutOfRange(text)
    return value


def loads(data: bytes | str) -> Any:
    """``data`` parsed; orjson.JSONDecodeError for invalid JSON and for integers beyond 64 bits."""
    document = orjson.loads(data)
    raw = data.encode() if isinstance(data, str) else data
    if _LONG_RUN in raw.translate(_DIGITS_AS_ZERO):
        try:
            json.loads(raw, parse_int=_exact)
        except _OutOfRange as err:
            shown = err.text if len(err.text) <= 40 else err.text[:40] + "…"
            message = f"the integer {shown} is beyond 64 bits and cannot be kept exactly; send it as a string"
            raise orjson.JSONDecodeError(message, raw.decode("utf-8", "replace"), 0) from None
        except RecursionError:  # nested past what the exact reader handles: orjson's reading stands
            pass
    return document
