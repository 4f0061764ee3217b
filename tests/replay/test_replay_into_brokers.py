"""Replays into real brokers: RabbitMQ (publisher confirms), NATS JetStream (acks) and Redis Streams
(XADD ids). What arrives is read back with each broker's own client: every event once, in the
events' time order, with the body an HTTP consumer would be POSTed and the §8 headers."""

from __future__ import annotations

import hashlib
import hmac
import os
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
import orjson
import pytest
from django.test import Client, override_settings

from dashboard.events.models import Event
from dashboard.replay.engine import UNKNOWN_OUTCOME, run_replay
from dashboard.replay.models import Delivery, Replay
from tests.support.brokers import (
    AMQP_URL,
    NATS_URL,
    amqp_channel,
    amqp_consumer_queue,
    amqp_drain,
    amqp_exchange,
    eventually,
    nats_stream,
    redis_client,
    redis_url,
    run,
    unique,
)
from tests.support.replay_helpers import archive_event, make_consumer, make_replay
from tests.support.task_worker import start_worker, stop_worker

pytestmark = pytest.mark.usefixtures("transactional_db")

SECRET = "s3cret"
# A short lease and a frequent recovery sweep, so that a resumed run starts within a few seconds.
LEASE = {"EVENTSCOPE_REPLAY_LEASE_SECONDS": "2", "EVENTSCOPE_REPLAY_RECOVER_SECONDS": "1"}


@dataclass
class Received:
    body: bytes
    headers: dict[str, str]


@dataclass
class BrokerCase:
    """A broker target for one test: the consumer's URL and options, and a reader of what arrived."""

    url: str
    target: dict[str, str]
    read: Callable[[], list[Received]]


@contextmanager
def amqp_case() -> Iterator[BrokerCase]:
    with amqp_channel() as channel:
        exchange = amqp_exchange(channel)
        queue = amqp_consumer_queue(channel, exchange, "#")

        taken: list[Received] = []  # a queue gives each message once: what was read before, then the rest

        def read() -> list[Received]:
            taken.extend(
                Received(bytes(m.body), {k: str(v) for k, v in (m.properties.get("application_headers") or {}).items()})
                for m in amqp_drain(channel, queue)
            )
            return list(taken)

        try:
            yield BrokerCase(AMQP_URL, {"exchange": exchange}, read)
        finally:
            channel.queue_delete(queue)


@contextmanager
def nats_case() -> Iterator[BrokerCase]:
    subject = unique("test.replay.")
    stream = run(nats_stream(NATS_URL, [subject]))

    async def messages() -> list[Received]:
        connection = await nats.connect(servers=[NATS_URL])
        try:
            js = connection.jetstream()
            count = (await js.stream_info(stream)).state.messages
            got = []
            for seq in range(1, count + 1):
                message = await js.get_msg(stream, seq)
                got.append(Received(message.data or b"", dict(message.headers or {})))
            return got
        finally:
            await connection.close()

    yield BrokerCase(NATS_URL, {"subject": subject}, lambda: run(messages()))


@contextmanager
def redis_case() -> Iterator[BrokerCase]:
    client, stream = redis_client(), unique("test:replay:")

    def read() -> list[Received]:
        got = []
        for _, fields in client.xrange(stream):
            fields = {k.decode(): v for k, v in fields.items()}
            body = fields.pop("body")
            got.append(Received(body, {k: v.decode() for k, v in fields.items()}))
        return got

    try:
        yield BrokerCase(redis_url(), {"stream": stream}, read)
    finally:
        client.delete(stream)


CASES = {"amqp": amqp_case, "nats": nats_case, "redis": redis_case}


@pytest.fixture(params=list(CASES))
def broker(request: Any) -> Iterator[BrokerCase]:
    with CASES[request.param]() as case:
        yield case


def test_a_replay_arrives_on_the_broker_in_order_once_each_with_the_delivery_headers(broker: BrokerCase) -> None:
    total = 240
    events = [archive_event(i * 0.5, key=f"k-{i % 7}", detail_type=f"Step{i % 3}") for i in range(total)]
    consumer = make_consumer("shop-queue", broker.url, target=broker.target, secret=SECRET)
    replay = make_replay([consumer], name="fix-orders")

    assert run_replay(replay.pk) == Replay.COMPLETED

    received = broker.read()
    # The header carries the stored id; the body the producer's.
    assert [r.headers["X-Eventscope-Event-Id"] for r in received] == [e.id for e in events]
    for message, event in zip(received, events, strict=True):
        body = orjson.loads(message.body)
        assert (body["id"], body["detail-type"], body["detail"]) == (event.event_id, event.detail_type, event.detail)
        assert body["replay-name"] == "fix-orders"
        assert message.headers["Idempotency-Key"] == event.idempotency_key
        assert message.headers["X-Eventscope-Replay"] == "fix-orders"
        assert message.headers["Content-Type"] == "application/json"
        expected = "sha256=" + hmac.new(SECRET.encode(), message.body, hashlib.sha256).hexdigest()
        assert message.headers["X-Eventscope-Signature"] == expected
    replay.refresh_from_db()
    assert (replay.delivered, replay.failed) == (total, 0)
    assert Delivery.objects.filter(replay=replay, state=Delivery.DELIVERED).count() == total


@override_settings(EVENTSCOPE_REPLAY_MAX_ATTEMPTS=2, EVENTSCOPE_REPLAY_BACKOFF_MS=10)
def test_what_the_broker_does_not_take_is_retried_then_dead_lettered_with_the_reason() -> None:
    # A subject no JetStream stream holds: nothing stores it, so nothing may count as delivered.
    for i in range(3):
        archive_event(i, key=f"k-{i}")
    consumer = make_consumer("nowhere", NATS_URL, target={"subject": unique("test.unstored.")})
    replay = make_replay([consumer])

    assert run_replay(replay.pk) == Replay.COMPLETED

    replay.refresh_from_db()
    assert (replay.delivered, replay.failed) == (0, 3)
    dead = list(Delivery.objects.filter(replay=replay))
    assert {d.state for d in dead} == {Delivery.DEAD}
    assert all(d.attempts == 2 for d in dead)
    assert all("stream" in d.last_error for d in dead), [d.last_error for d in dead]


@pytest.mark.redis
def test_a_replay_killed_mid_way_resumes_without_publishing_a_confirmed_message_again(
    broker: BrokerCase, tmp_path: Path
) -> None:
    """A real Celery worker killed with SIGKILL mid-replay; another resumes it. A message the broker
    confirmed is never published again; one in flight at the kill is a dead letter "outcome unknown"
    (it may or may not be on the broker), never a second copy."""
    assert os.environ.get("REDIS_URL"), "the scaled-mode run sets REDIS_URL"
    from config.celery import app

    queue = f"test-replay-broker-{os.getpid()}"
    log = tmp_path / "worker.log"
    total = 150
    for i in range(total):
        archive_event(i, key=f"k-{i % 7}")
    replay = make_replay([make_consumer("q", broker.url, target=broker.target)], rate_per_second=40)
    first = start_worker(log, queue=queue, beat=True, **LEASE)
    second = None
    try:
        app.send_task("tasks.replay.run_replay", args=[replay.pk], queue=queue)
        eventually(lambda: len(broker.read()) >= 30, timeout=60, what="the first deliveries")
        stop_worker(first, kill=True)  # SIGKILL to the worker's whole process group
        on_broker_at_kill = len(broker.read())
        assert on_broker_at_kill < total
        assert Replay.objects.get(pk=replay.pk).state == Replay.RUNNING

        second = start_worker(log, queue=queue, beat=True, **LEASE)
        eventually(lambda: Replay.objects.get(pk=replay.pk).state == Replay.COMPLETED, timeout=90,
                   what=f"the resumed replay; worker log:\n{log.read_text()[-3000:]}")  # fmt: skip
    finally:
        for process in (first, second):
            if process is not None:
                stop_worker(process)
    received = [r.headers["X-Eventscope-Event-Id"] for r in broker.read()]

    assert [event for event, n in Counter(received).items() if n > 1] == []
    assert len(received) > on_broker_at_kill
    deliveries = Delivery.objects.filter(replay=replay)
    delivered = set(deliveries.filter(state=Delivery.DELIVERED).values_list("event_id", flat=True))
    unknown = set(deliveries.filter(state=Delivery.DEAD).values_list("event_id", flat=True))
    assert len(delivered) + len(unknown) == total == deliveries.count()
    assert delivered <= set(received) <= delivered | unknown
    assert all(d.last_error == UNKNOWN_OUTCOME for d in deliveries.filter(state=Delivery.DEAD))
    # In order: what arrived follows the events' time order (archive_event's n is its second).
    order = {event.id: event.detail["n"] for event in Event.objects.all()}
    assert [order[e] for e in received] == sorted(order[e] for e in received)


def test_send_test_event_to_a_broker_consumer_says_delivered_once_the_broker_confirmed(
    broker: BrokerCase, client: Client, auth: dict[str, str]
) -> None:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    make_consumer("queue", broker.url, target=broker.target, paused=True)

    body = client.post("/api/consumers/queue/test").json()

    assert (body["delivered"], body["status"], body["error"], body["outcome"]) == (True, None, None, "test")
    [message] = broker.read()
    assert orjson.loads(message.body)["source"] == "eventscope.test"
    assert message.headers["X-Eventscope-Replay"] == "eventscope-test"


def test_send_test_event_to_a_broker_that_stores_nothing_says_not_delivered_and_why(
    client: Client, auth: dict[str, str]
) -> None:
    client.defaults.update({"HTTP_AUTHORIZATION": auth["Authorization"]})
    make_consumer("nowhere", NATS_URL, target={"subject": unique("test.unstored.")})

    body = client.post("/api/consumers/nowhere/test").json()

    assert body["delivered"] is False
    assert "stream" in body["error"]
