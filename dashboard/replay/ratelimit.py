"""A token bucket that paces sends evenly: ``rate`` per second, on a fixed schedule.

The n-th send is due at ``start + n / rate``: each due time follows from the previous one, not from
when the previous send happened, so the rate never drifts. The bucket starts empty (no burst at the
start) and holds at most ``CATCH_UP`` seconds' worth of tokens: a sender that stalled briefly (a
slow response, a busy machine) may catch up that much, so the long-run rate stays exact, but one
that falls further behind does not earn a burst to make up for it.
"""

from __future__ import annotations

import threading
import time

CATCH_UP = 0.25


class TokenBucket:
    def __init__(self, rate: float | None) -> None:
        self.rate = rate if rate and rate > 0 else None
        self._next: float | None = None
        self._lock = threading.Lock()

    @property
    def interval(self) -> float:
        return 1.0 / self.rate if self.rate else 0.0

    def reserve(self) -> float:
        """Take the next token; how many seconds from now it is due (0 when it is due already)."""
        if self.rate is None:
            return 0.0
        with self._lock:
            now = time.monotonic()
            due = now if self._next is None else max(self._next, now - CATCH_UP)
            self._next = due + 1.0 / self.rate
        return max(0.0, due - now)

    def acquire(self, stop: threading.Event) -> bool:
        """Wait for a token; False when ``stop`` was set while waiting (the token is then lost)."""
        delay = self.reserve()
        if delay <= 0:
            return not stop.is_set()
        return not stop.wait(delay)
