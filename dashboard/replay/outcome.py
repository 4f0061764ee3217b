"""What one delivery attempt came to, whatever carried it (HTTP or a broker)."""

from __future__ import annotations

from dataclasses import dataclass

DELIVERED, RETRY, PERMANENT = "delivered", "retry", "permanent"


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one attempt came to. ``kind``: ``delivered`` (2xx), ``retry`` (5xx, 408, 429, no
    response) or ``permanent`` (any other status, a redirect, a refused URL). ``retry_after`` is
    the consumer's ``Retry-After`` in seconds, when it sent one."""

    kind: str
    status: int | None
    latency_ms: float
    error: str = ""
    retry_after: float | None = None
    # The start of the consumer's answer (its body, as text), kept with the attempt.
    response: str = ""
