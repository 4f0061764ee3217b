"""``Sender.publish``, the one door every delivery goes through: what it promises whatever the target
does (outcomes, never an exception), and a host that does not resolve at a delivery."""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.replay import delivery
from dashboard.replay.delivery import PERMANENT, RETRY, Message, Sender
from dashboard.replay.outcome import Outcome
from tests.support.brokers import redis_client, redis_url, unique

MESSAGE = Message(b"{}", {"Content-Type": "application/json"}, "OrderPaid", "e-1", "d-1")


def resolves_to_nothing(host: str, port: int) -> list[str]:
    return []


@pytest.mark.parametrize(
    ("url", "options"),
    [("http://hook.internal/orders", {}), ("redis://cache.internal:6379/0", {"stream": "s"}),
     ("amqp://guest:guest@mq.internal:5672/", {"exchange": "shop"}), ("nats://nats.internal:4222", {"subject": "s"})],
    ids=["http", "redis", "amqp", "nats"],
)  # fmt: skip
def test_a_host_that_does_not_resolve_at_a_delivery_is_retried(url: str, options: dict[str, str]) -> None:
    sender = Sender(resolver=resolves_to_nothing)
    try:
        [outcome] = sender.publish(url, options, [MESSAGE])
    finally:
        sender.close()
    assert outcome.kind == RETRY
    assert "does not resolve" in outcome.error


def test_a_refused_address_is_still_refused_for_good() -> None:
    sender = Sender()
    try:
        [outcome] = sender.publish("redis://169.254.169.254:6379/0", {"stream": "s"}, [MESSAGE])
    finally:
        sender.close()
    assert outcome.kind == PERMANENT
    assert outcome.error.startswith("URL refused:")


class Exploding:
    """A publisher that breaks its promise and raises (a client library's surprise)."""

    closed = 0

    def __init__(self, url: str, options: dict[str, str], resolver: Any) -> None:
        pass

    def publish(self, messages: list[Message]) -> list[Outcome]:
        raise RuntimeError("struct.error: argument out of range for guest:hunter2")

    def close(self) -> None:
        Exploding.closed += 1


def test_a_publisher_that_raises_gives_retries_and_is_made_anew(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(delivery, "open_publisher", Exploding)
    sender = Sender()
    url = "amqp://guest:hunter2@127.0.0.1:5672/"
    outcomes = sender.publish(url, {"exchange": "shop"}, [MESSAGE, MESSAGE])
    assert [o.kind for o in outcomes] == [RETRY, RETRY]
    assert "RuntimeError" in outcomes[0].error
    assert "hunter2" not in outcomes[0].error
    assert Exploding.closed == 1  # dropped: the next publish opens a new one
    sender.close()


def test_a_consumer_moved_from_a_broker_to_http_closes_the_broker_connection() -> None:
    sender = Sender()
    stream = unique("test:moved:")
    [first] = sender.publish(redis_url(), {"stream": stream}, [MESSAGE])
    assert first.kind == "delivered"
    assert len(sender._publishers) == 1
    sender.publish("http://127.0.0.1:9/closed", {}, [MESSAGE])
    assert sender._publishers == {}
    sender.close()
    redis_client().delete(stream)
