"""Broker targets: consumers whose URL names a broker (``amqp://``, ``nats://``, ``redis://``) instead
of an HTTP endpoint. A delivery to them publishes the body the HTTP consumer would be POSTed, with the
same headers (docs/replay.md) as the message's headers or properties, and counts only once the broker
confirmed it: RabbitMQ's publisher confirm, a JetStream ack, the id XADD answers.

A :class:`Publisher` belongs to one thread (a lane of one replay, or one "send test event") and keeps
its connection between calls; it reconnects by itself on the call after one failed. It publishes a
list of messages in one go (pipelined: all written, then all confirmations awaited), which is what
makes thousands of confirmed deliveries a second possible; the engine never puts two messages with
the same idempotency key in one list, so order per key survives a message the broker refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from dashboard.replay.outcome import Outcome
from dashboard.replay.targets import Resolver

#: The most messages the engine hands a publisher at once.
PIPELINE = 100

# scheme -> broker kind
SCHEMES = {"amqp": "amqp", "amqps": "amqp", "nats": "nats", "tls": "nats", "redis": "redis", "rediss": "redis"}


@dataclass(frozen=True, slots=True)
class Message:
    """One delivery as a broker message. ``headers`` are the HTTP delivery's headers (Content-Type,
    Idempotency-Key, X-Eventscope-Replay, X-Eventscope-Event-Id, X-Eventscope-Signature);
    ``detail_type`` is the event's, the default AMQP routing key. ``delivery_id`` names this delivery
    (one event to one consumer in one replay) and nothing else: the same for each of its attempts, so
    a broker that de-duplicates by message id (JetStream's ``Nats-Msg-Id``) drops a second copy of it
    and only of it."""

    body: bytes
    headers: dict[str, str]
    detail_type: str
    event_id: str = ""
    delivery_id: str = ""


class Publisher(Protocol):
    def publish(self, messages: list[Message]) -> list[Outcome]:
        """Publish ``messages`` in order; one :class:`Outcome` per message, in the same order. Never
        raises for anything the network or the broker did: ``delivered`` once the broker confirmed
        the message, ``retry`` for what may work later (no connection, a timeout, a nack, nothing
        routed or stored yet), ``permanent`` for what never will (a URL the target policy refuses)."""
        ...

    def close(self) -> None: ...


#: Opens a publisher: ``(url, options, resolver)``; ``options`` are the consumer's target options
#: (``exchange``/``routing_key``, ``subject`` or ``stream``).
Opener = Callable[[str, dict[str, str], Resolver | None], Publisher]


def broker_kind(url: str) -> str | None:
    """``amqp``, ``nats`` or ``redis`` for a broker URL; None for anything else (HTTP)."""
    scheme, sep, _ = url.partition("://")
    return SCHEMES.get(scheme.lower()) if sep else None


def open_publisher(url: str, options: dict[str, str], resolver: Resolver | None = None) -> Publisher:
    """A publisher for the broker ``url`` names (its kind must be known: :func:`broker_kind`)."""
    kind = broker_kind(url)
    if kind == "amqp":
        from dashboard.replay.publish_amqp import AmqpPublisher

        return AmqpPublisher(url, options, resolver)
    if kind == "nats":
        from dashboard.replay.publish_nats import NatsPublisher

        return NatsPublisher(url, options, resolver)
    if kind == "redis":
        from dashboard.replay.publish_redis import RedisPublisher

        return RedisPublisher(url, options, resolver)
    raise ValueError(f"not a broker URL: {url[:40]!r}")
