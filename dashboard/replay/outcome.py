"""What one delivery attempt came to, whatever carried it (HTTP or a broker)."""

from __future__ import annotations

from dataclasses import dataclass

from dashboard.replay.targets import TargetRefused, TargetUnresolved

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


def refused(err: TargetRefused, latency_ms: float = 0.0) -> Outcome:
    """The outcome of an attempt whose URL the target check refused: for good, except a host that
    does not resolve now, which is retried."""
    if isinstance(err, TargetUnresolved):
        return Outcome(RETRY, None, latency_ms, str(err))
    return Outcome(PERMANENT, None, latency_ms, f"URL refused: {err}")
