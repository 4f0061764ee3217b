"""What every broker source does for a tap; the factory picks one by the URL's scheme.

A source is used by one thread at a time (the tap's): ``connect`` (which also creates what the tap
reads on the broker: its queue, consumer group or durable consumer; idempotent), then ``fetch`` and
``ack``, and ``close``. ``fetch`` returns a batch and a receipt; ``ack(receipt)`` acknowledges that
batch, and may come after the next ``fetch`` (the tap reads the next batch while the last one is
being stored), but batches are acknowledged in the order they were fetched. A broker that goes away
makes any of them raise; the tap then reconnects with backoff.
"""

from __future__ import annotations

from typing import Any, Protocol

from dashboard.taps.addresses import split
from dashboard.taps.messages import TappedMessage

CONNECT_TIMEOUT = 3.0


class BrokerError(Exception):
    """The broker cannot be reached or refused what the tap asked (the message says which)."""


class Source(Protocol):
    def connect(self) -> None: ...

    def fetch(self, limit: int, wait: float) -> tuple[list[TappedMessage], Any]:
        """Up to ``limit`` messages and the receipt to acknowledge them with: waits up to ``wait``
        seconds for the first, then takes what arrives within a few milliseconds more."""
        ...

    def ack(self, receipt: Any) -> None: ...

    def backlog(self) -> int | None:
        """Messages waiting for the tap, where the broker says so."""
        ...

    def close(self) -> None: ...

    def remove(self) -> None:
        """Delete what ``connect`` created on the broker (the tap is deleted); needs ``connect``."""
        ...


def open_source(name: str, url: str, options: dict[str, str]) -> Source:
    """The source of a tap (not connected yet)."""
    kind = split(url).kind
    if kind == "amqp":
        from dashboard.taps.amqp_source import AmqpSource

        return AmqpSource(name, url, options)
    if kind == "nats":
        from dashboard.taps.nats_source import NatsSource

        return NatsSource(name, url, options)
    from dashboard.taps.redis_source import RedisSource

    return RedisSource(name, url, options)


def describe(err: BaseException) -> str:
    """An error as a line for ``last_error``: its message, or its type when it has none."""
    text = str(err).strip() or type(err).__name__
    return text if isinstance(err, BrokerError) else f"{type(err).__name__}: {text}"
