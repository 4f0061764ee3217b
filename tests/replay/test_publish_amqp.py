"""RabbitMQ targets against the real broker: what a publisher sends is read back with py-amqp, and
each outcome is what the broker said (confirmed, returned, refused, nothing)."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dashboard.replay.outcome import DELIVERED, PERMANENT, RETRY
from dashboard.replay.publish_amqp import AmqpPublisher, login
from dashboard.replay.publishers import PIPELINE, Message, open_publisher
from tests.support.brokers import (
    AMQP_URL,
    TcpRelay,
    TlsRelay,
    amqp_channel,
    amqp_close_connection_named,
    amqp_consumer_queue,
    amqp_drain,
    amqp_exchange,
    eventually,
    free_port,
    readable,
    tls_files,
    unique,
)

SECRET = "n0t-In-Any-3rror"


def message(n: int, detail_type: str = "OrderCreated") -> Message:
    body = b'{"version":"0","id":"e-%d","source":"shop.orders","detail-type":"%s","detail":{"n":%d}}' % (
        n,
        detail_type.encode(),
        n,
    )
    headers = {
        "Content-Type": "application/json",
        "User-Agent": "Eventscope-Replay/1",
        "X-Eventscope-Replay": "nightly",
        "X-Eventscope-Event-Id": f"e-{n}",
        "Idempotency-Key": f"order-{n}",
        "X-Eventscope-Signature": f"sha256={n:064x}",
    }
    return Message(body=body, headers=headers, detail_type=detail_type, event_id=f"e-{n}")


# The queues a test made, deleted after it (exchanges go by themselves: auto-deleted once unused).
MADE_QUEUES: list[str] = []


def bound_queue(channel: Any, exchange: str, key: str = "#") -> str:
    """A consumer's queue bound to ``exchange``, deleted after the test."""
    name = amqp_consumer_queue(channel, exchange, key)
    MADE_QUEUES.append(name)
    return name


@pytest.fixture
def channel() -> Iterator[Any]:
    with amqp_channel() as opened:
        yield opened
        while MADE_QUEUES:
            opened.queue_delete(MADE_QUEUES.pop())


@pytest.fixture
def publishers() -> Iterator[list[AmqpPublisher]]:
    """Publishers the test made, closed after it."""
    made: list[AmqpPublisher] = []
    yield made
    for publisher in made:
        publisher.close()


def publisher_for(made: list[AmqpPublisher], url: str = AMQP_URL, **options: str) -> AmqpPublisher:
    publisher = AmqpPublisher(url, options, None)
    made.append(publisher)
    return publisher


def kinds(outcomes: list[Any]) -> list[str]:
    return [outcome.kind for outcome in outcomes]


def test_a_list_arrives_in_order_with_its_body_and_every_header(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange, "#")
    publisher = publisher_for(publishers, exchange=exchange)
    sent = [message(n, "OrderCreated" if n % 2 else "OrderPaid") for n in range(PIPELINE)]

    outcomes = publisher.publish(sent)

    assert kinds(outcomes) == [DELIVERED] * PIPELINE
    assert all(outcome.error == "" and outcome.latency_ms > 0 for outcome in outcomes)
    got = amqp_drain(channel, queue)
    assert [received.body for received in got] == [each.body for each in sent]
    for received, each in zip(got, sent, strict=True):
        assert received.properties["application_headers"] == each.headers
        assert received.properties["content_type"] == "application/json"
        assert received.properties["message_id"] == each.event_id
        assert received.properties["delivery_mode"] == 2
        assert received.delivery_info["routing_key"] == each.detail_type  # no routing_key option
        assert received.delivery_info["exchange"] == exchange


def test_it_keeps_its_connection_between_lists(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    publisher = publisher_for(publishers, exchange=exchange)

    assert kinds(publisher.publish([message(1)])) == [DELIVERED]
    first = publisher._connection
    assert kinds(publisher.publish([message(2), message(3)])) == [DELIVERED, DELIVERED]

    assert publisher._connection is first
    assert [received.body for received in amqp_drain(channel, queue)] == [message(n).body for n in (1, 2, 3)]


def test_the_routing_key_option_and_the_default_exchange(channel: Any, publishers: list[AmqpPublisher]) -> None:
    queue = unique("test.replay.")
    channel.queue_declare(queue, durable=False, auto_delete=False)
    MADE_QUEUES.append(queue)
    # The default exchange routes by queue name: the routing key names the queue.
    publisher = publisher_for(publishers, exchange="", routing_key=queue)

    assert kinds(publisher.publish([message(1), message(2, "OrderPaid")])) == [DELIVERED, DELIVERED]

    got = amqp_drain(channel, queue)
    assert [received.delivery_info["routing_key"] for received in got] == [queue, queue]


def test_a_message_no_queue_takes_is_a_retry_until_one_is_bound(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    keep_alive = bound_queue(channel, exchange, "stock.#")  # the exchange stays; routes nothing here
    publisher = publisher_for(publishers, exchange=exchange)

    outcomes = publisher.publish([message(1), message(2)])

    assert kinds(outcomes) == [RETRY, RETRY]
    assert outcomes[0].error == f"unroutable: exchange {exchange!r} routed it to no queue (routing key 'OrderCreated')"
    queue = bound_queue(channel, exchange, "OrderCreated")
    assert kinds(publisher.publish([message(3)])) == [DELIVERED]
    assert [received.body for received in amqp_drain(channel, queue)] == [message(3).body]
    assert amqp_drain(channel, keep_alive) == []


def test_only_the_messages_no_queue_takes_come_back(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange, "OrderPaid")
    publisher = publisher_for(publishers, exchange=exchange)

    outcomes = publisher.publish([message(1, "OrderPaid"), message(2, "OrderLost"), message(3, "OrderPaid")])

    assert kinds(outcomes) == [DELIVERED, RETRY, DELIVERED]
    assert "routed it to no queue (routing key 'OrderLost')" in outcomes[1].error
    assert [received.body for received in amqp_drain(channel, queue)] == [message(1, "OrderPaid").body,
                                                                         message(3, "OrderPaid").body]  # fmt: skip


def test_a_message_the_broker_refuses_to_store_is_a_retry(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    full = unique("test.full.")
    # A queue that holds one message and refuses (nacks) the rest.
    channel.queue_declare(full, durable=False, auto_delete=False,
                          arguments={"x-max-length": 1, "x-overflow": "reject-publish"})  # fmt: skip
    channel.queue_bind(full, exchange, "#")
    MADE_QUEUES.append(full)
    publisher = publisher_for(publishers, exchange=exchange)

    outcomes = publisher.publish([message(1), message(2), message(3)])

    assert kinds(outcomes) == [DELIVERED, RETRY, RETRY]
    assert "basic.nack" in outcomes[1].error
    assert [received.body for received in amqp_drain(channel, full)] == [message(1).body]
    assert kinds(publisher.publish([message(2)])) == [DELIVERED]  # room again: the same channel goes on


def test_a_missing_exchange_is_a_retry_and_a_new_channel_is_opened_next_time(
    channel: Any, publishers: list[AmqpPublisher]
) -> None:
    name = unique("test.later.")
    publisher = publisher_for(publishers, exchange=name)

    outcomes = publisher.publish([message(1), message(2)])

    assert kinds(outcomes) == [RETRY, RETRY]
    assert outcomes[0].error == f"exchange {name!r} does not exist in vhost '/'"
    assert kinds(publisher.publish([message(3)])) == [RETRY]  # still missing: the same answer
    channel.exchange_declare(name, "topic", durable=False, auto_delete=True)
    queue = bound_queue(channel, name)
    assert kinds(publisher.publish([message(4), message(5)])) == [DELIVERED, DELIVERED]
    assert [received.body for received in amqp_drain(channel, queue)] == [message(4).body, message(5).body]


def test_no_confirmation_means_no_delivery(channel: Any, publishers: list[AmqpPublisher], settings: Any) -> None:
    settings.EVENTSCOPE_REPLAY_READ_TIMEOUT = 1
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    relay = TcpRelay().start()
    try:
        publisher = publisher_for(publishers, f"amqp://guest:guest@127.0.0.1:{relay.port}/", exchange=exchange)
        assert kinds(publisher.publish([message(1)])) == [DELIVERED]
        relay.hold_replies()  # the broker gets the messages; its confirms never come back

        outcomes = publisher.publish([message(2), message(3)])

        assert kinds(outcomes) == [RETRY, RETRY]
        assert outcomes[0].error == "no confirmation from the broker within 1 s"
        # Stored by the broker all the same: a retry may deliver it twice (Idempotency-Key tells).
        assert len(amqp_drain(channel, queue)) == 3
        relay.holding.clear()
        assert kinds(publisher.publish([message(4)])) == [DELIVERED]  # on a new connection
    finally:
        relay.stop()


def test_no_broker_is_a_retry_that_says_so_and_a_refused_login_too(
    channel: Any, publishers: list[AmqpPublisher]
) -> None:
    exchange = amqp_exchange(channel)
    port = free_port()
    publisher = publisher_for(publishers, f"amqp://guest:{SECRET}@127.0.0.1:{port}/", exchange=exchange)

    outcomes = publisher.publish([message(1), message(2)])

    assert kinds(outcomes) == [RETRY, RETRY]
    assert outcomes[0].error == f"cannot connect to the AMQP broker at 127.0.0.1:{port}: [Errno 111] Connection refused"
    relay = TcpRelay(port=port).start()
    try:
        # Now a broker answers, and refuses the URL's password (guest's is "guest").
        refused = publisher.publish([message(1)])
    finally:
        relay.stop()
    assert kinds(refused) == [RETRY]
    assert refused[0].error.startswith(f"cannot connect to the AMQP broker at 127.0.0.1:{port}: ")
    assert "ACCESS_REFUSED" in refused[0].error
    assert SECRET not in refused[0].error


def test_a_broker_that_comes_back_gets_the_next_list(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    port = free_port()
    publisher = publisher_for(publishers, f"amqp://guest:guest@127.0.0.1:{port}/", exchange=exchange)
    assert kinds(publisher.publish([message(1)])) == [RETRY]

    relay = TcpRelay(port=port).start()
    try:
        assert kinds(publisher.publish([message(2)])) == [DELIVERED]
    finally:
        relay.stop()
    assert [received.body for received in amqp_drain(channel, queue)] == [message(2).body]


def test_a_connection_cut_under_it_is_made_again_by_the_next_list(
    channel: Any, publishers: list[AmqpPublisher]
) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    relay = TcpRelay().start()
    try:
        publisher = publisher_for(publishers, f"amqp://guest:guest@127.0.0.1:{relay.port}/", exchange=exchange)
        assert kinds(publisher.publish([message(1)])) == [DELIVERED]
        relay.cut()  # the network drops the connection while the publisher is idle

        assert kinds(publisher.publish([message(2), message(3)])) == [DELIVERED, DELIVERED]
    finally:
        relay.stop()
    assert [received.body for received in amqp_drain(channel, queue)] == [message(n).body for n in (1, 2, 3)]


def test_a_connection_the_broker_closed_is_made_again_by_the_next_list(
    channel: Any, publishers: list[AmqpPublisher]
) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    publisher = publisher_for(publishers, exchange=exchange)
    assert kinds(publisher.publish([message(1)])) == [DELIVERED]

    amqp_close_connection_named(publisher.connection_name)  # an operator, or a broker restart
    assert publisher._connection is not None
    eventually(lambda: readable(publisher._connection.transport.sock), what="the broker's close reaches it")

    assert kinds(publisher.publish([message(2)])) == [DELIVERED]
    assert [received.body for received in amqp_drain(channel, queue)] == [message(1).body, message(2).body]


def test_a_connection_lost_while_publishing_is_a_retry_and_made_again_next_time(
    channel: Any, publishers: list[AmqpPublisher], settings: Any
) -> None:
    settings.EVENTSCOPE_REPLAY_READ_TIMEOUT = 5
    exchange = amqp_exchange(channel)
    bound_queue(channel, exchange)
    relay = TcpRelay().start()
    try:
        publisher = publisher_for(publishers, f"amqp://guest:guest@127.0.0.1:{relay.port}/", exchange=exchange)
        assert kinds(publisher.publish([message(1)])) == [DELIVERED]
        relay.hold_replies()
        # The list goes out; the connection breaks before any confirm comes back.
        cutter = _cut_when_written(relay, publisher)
        outcomes = publisher.publish([message(2)])
        cutter.join(10)

        assert kinds(outcomes) == [RETRY]
        assert outcomes[0].error.startswith(f"the AMQP connection to 127.0.0.1:{relay.port} was lost: ")
        relay.holding.clear()
        assert kinds(publisher.publish([message(3)])) == [DELIVERED]
    finally:
        relay.stop()


def _cut_when_written(relay: TcpRelay, publisher: AmqpPublisher) -> threading.Thread:
    """A thread that cuts the relay's connections once ``publisher`` waits for its confirms."""

    def cut() -> None:
        deadline = time.monotonic() + 5
        while publisher._batch is None or not publisher._batch.unsettled:
            if time.monotonic() > deadline:
                return
            time.sleep(0.005)
        relay.cut()

    thread = threading.Thread(target=cut, daemon=True)
    thread.start()
    return thread


@pytest.mark.parametrize(
    "url",
    [
        "amqp://guest:guest@169.254.169.254/",
        "amqp://guest:guest@[fe80::1]:5672/",
        "amqps://guest:guest@metadata.google.internal/",
        "amqp://guest:guest@0xa9fea9fe/",
        "amqp://guest:guest@rebound.example/",  # a name that resolves to the metadata address
    ],
)
def test_a_metadata_or_link_local_broker_is_permanent_without_connecting(url: str) -> None:
    looked_up: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        looked_up.append(host)
        return ["169.254.169.254"]

    publisher = AmqpPublisher(url, {"exchange": "x"}, resolver)

    outcomes = publisher.publish([message(1), message(2)])

    assert kinds(outcomes) == [PERMANENT, PERMANENT]
    assert outcomes[0].error.startswith("URL refused: ")
    assert publisher._connection is None
    publisher.close()


def test_a_denied_broker_is_refused_and_its_connection_closed(
    channel: Any, publishers: list[AmqpPublisher], settings: Any
) -> None:
    exchange = amqp_exchange(channel)
    bound_queue(channel, exchange)
    publisher = publisher_for(publishers, exchange=exchange)
    assert kinds(publisher.publish([message(1)])) == [DELIVERED]

    settings.EVENTSCOPE_CONSUMER_DENY = ["127.0.0.0/8"]

    outcomes = publisher.publish([message(2)])
    assert kinds(outcomes) == [PERMANENT]
    assert outcomes[0].error == "URL refused: 127.0.0.1 is denied by EVENTSCOPE_CONSUMER_DENY"
    assert publisher._connection is None


def test_it_connects_to_the_address_the_name_was_checked_as(channel: Any, publishers: list[AmqpPublisher]) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    answers = iter([["127.0.0.1"], ["169.254.169.254"]])
    looked_up: list[str] = []

    def resolver(host: str, port: int) -> list[str]:
        looked_up.append(f"{host}:{port}")
        return next(answers)

    # The name exists only in this resolver: the connection can only have gone to the checked address.
    publisher = AmqpPublisher("amqp://guest:guest@broker.invalid/", {"exchange": exchange}, resolver)
    publishers.append(publisher)

    assert kinds(publisher.publish([message(1)])) == [DELIVERED]
    assert looked_up == ["broker.invalid:5672"]
    assert [received.body for received in amqp_drain(channel, queue)] == [message(1).body]
    # Connecting again checks again: the name now answers the metadata address.
    publisher.close()
    assert kinds(publisher.publish([message(2)])) == [PERMANENT]
    assert looked_up == ["broker.invalid:5672", "broker.invalid:5672"]


def test_no_error_or_log_line_carries_the_password(
    channel: Any, publishers: list[AmqpPublisher], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    errors = []
    for url in (
        f"amqp://guest:{SECRET}@127.0.0.1:5672/",  # the broker refuses the login
        f"amqp://guest:{SECRET}@127.0.0.1:{free_port()}/",  # nothing listens
        f"amqp://{SECRET}:{SECRET}@127.0.0.1:5672/nowhere",
    ):
        publisher = publisher_for(publishers, url, exchange="")
        outcomes = publisher.publish([message(1)])
        assert kinds(outcomes) == [RETRY]
        errors.append(outcomes[0].error)
    assert "ACCESS_REFUSED" in errors[0]
    assert "Connection refused" in errors[1]
    assert all(SECRET not in error for error in errors), errors
    assert SECRET not in caplog.text


def test_a_vhost_that_does_not_exist_is_a_retry_that_says_so(publishers: list[AmqpPublisher]) -> None:
    publisher = publisher_for(publishers, "amqp://guest:guest@127.0.0.1:5672/no-such-vhost", exchange="")

    outcomes = publisher.publish([message(1)])

    assert kinds(outcomes) == [RETRY]
    assert "no-such-vhost" in outcomes[0].error


def test_the_vhost_of_the_url(channel: Any, publishers: list[AmqpPublisher]) -> None:
    assert login("amqp://u:p%40ss@h") == ("u", "p@ss", "/")
    assert login("amqp://h/") == ("", "", "/")
    assert login("amqp://h/%2F") == ("", "", "/")
    assert login("amqp://h/shop%2Fprod") == ("", "", "shop/prod")
    # "/%2F" is the default vhost "/": the broker takes the messages there.
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    publisher = publisher_for(publishers, "amqp://guest:guest@127.0.0.1:5672/%2F", exchange=exchange)
    assert kinds(publisher.publish([message(1)])) == [DELIVERED]
    assert len(amqp_drain(channel, queue)) == 1


def test_it_is_made_without_connecting_and_closes_twice(publishers: list[AmqpPublisher]) -> None:
    publisher = open_publisher(f"amqp://guest:guest@127.0.0.1:{free_port()}/", {"exchange": "x"})
    assert isinstance(publisher, AmqpPublisher)
    assert publisher._connection is None
    assert publisher.publish([]) == []
    publisher.close()
    publisher.close()
    used = publisher_for(publishers, exchange="")
    used.publish([message(1)])
    used.close()
    used.close()
    assert used._connection is None


def test_a_message_amqp_cannot_carry_is_permanent_and_the_others_go(
    channel: Any, publishers: list[AmqpPublisher]
) -> None:
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)
    publisher = publisher_for(publishers, exchange=exchange)
    long_type = message(2, "Ö" * 128)  # 256 bytes in UTF-8: routing keys stop at 255
    long_id = Message(body=b"{}", headers={}, detail_type="OrderCreated", event_id="e" * 256)

    outcomes = publisher.publish([message(1), long_type, long_id, message(4)])

    assert kinds(outcomes) == [DELIVERED, PERMANENT, PERMANENT, DELIVERED]
    assert outcomes[1].error == "the routing key is longer than AMQP's 255 bytes"
    assert outcomes[2].error == "the event id is longer than AMQP's 255 bytes"
    # The connection goes on: the broker's confirms still match the messages.
    assert kinds(publisher.publish([message(5), message(6)])) == [DELIVERED, DELIVERED]
    assert [received.body for received in amqp_drain(channel, queue)] == [message(n).body for n in (1, 4, 5, 6)]


def test_amqps_checks_the_certificate_against_the_host_of_the_url(
    channel: Any, publishers: list[AmqpPublisher], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ca, cert, key = tls_files(tmp_path, "broker.test")
    monkeypatch.setenv("SSL_CERT_FILE", str(ca))  # the client trusts the test CA, and only it
    exchange = amqp_exchange(channel)
    queue = bound_queue(channel, exchange)

    def resolver(host: str, port: int) -> list[str]:
        return ["127.0.0.1"]

    relay = TlsRelay(cert, key).start()
    try:
        publisher = AmqpPublisher(f"amqps://guest:guest@broker.test:{relay.port}/", {"exchange": exchange}, resolver)
        publishers.append(publisher)
        assert kinds(publisher.publish([message(1)])) == [DELIVERED]
        assert relay.server_names == ["broker.test"]  # connected to 127.0.0.1, asked for the URL's host
        # The same address under a name the certificate does not carry: refused by the check.
        other = AmqpPublisher(f"amqps://guest:guest@other.test:{relay.port}/", {"exchange": exchange}, resolver)
        publishers.append(other)
        outcomes = other.publish([message(2)])
        publisher.close()
    finally:
        relay.stop()
    assert kinds(outcomes) == [RETRY]
    assert outcomes[0].error.startswith(f"cannot connect to the AMQP broker at other.test:{relay.port} (127.0.0.1): ")
    assert "certificate verify failed" in outcomes[0].error
    assert [received.body for received in amqp_drain(channel, queue)] == [message(1).body]
