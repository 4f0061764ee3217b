"""Retries, backoff, Retry-After, per-key order under retries, and dead letters."""

from __future__ import annotations

import time

import pytest

from dashboard.replay.engine import run_replay
from dashboard.replay.models import Delivery, DeliveryAttempt, Replay
from tests.support.consumer_servers import DROP, consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


@pytest.fixture(autouse=True)
def _fast_backoff(settings):
    settings.EVENTSCOPE_REPLAY_BACKOFF_MS = 10
    settings.EVENTSCOPE_REPLAY_MAX_BACKOFF_MS = 50
    settings.EVENTSCOPE_REPLAY_MAX_ATTEMPTS = 4


def test_a_5xx_is_retried_until_it_is_delivered_and_each_attempt_is_recorded():
    archive_event(1)

    def flaky(received, count):
        return (503, {}) if count < 3 else (200, {})

    with consumer_server(flaky) as server:
        replay = make_replay([make_consumer("c", server.url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert [r.status for r in server.received] == [503, 503, 200]
    delivery = Delivery.objects.get(replay=replay)
    assert delivery.state == Delivery.DELIVERED and delivery.attempts == 3
    attempts = list(DeliveryAttempt.objects.filter(delivery=delivery).order_by("number"))
    assert [(a.number, a.status, a.outcome) for a in attempts] == [
        (1, 503, "retry"),
        (2, 503, "retry"),
        (3, 200, "delivered"),
    ]
    assert attempts[0].error.startswith("HTTP 503")
    assert all(a.latency_ms > 0 for a in attempts)


def test_a_429_is_retried_no_sooner_than_its_retry_after():
    archive_event(1)

    def throttled(received, count):
        return (429, {"Retry-After": "1"}) if count == 1 else (200, {})

    with consumer_server(throttled) as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    first, second = server.received
    assert (first.status, second.status) == (429, 200)
    # Backoff alone would come back within 50 ms; the consumer asked for a second.
    assert second.at - first.at >= 0.95


def test_a_dropped_connection_is_retried():
    archive_event(1)

    def drops_first(received, count):
        return DROP if count == 1 else (200, {})

    with consumer_server(drops_first) as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    assert [r.status for r in server.received] == [None, 200]
    first = DeliveryAttempt.objects.get(delivery__replay=replay, number=1)
    assert first.status is None and first.outcome == "retry" and first.error


def test_a_read_timeout_is_retried(settings):
    settings.EVENTSCOPE_REPLAY_READ_TIMEOUT = 1
    archive_event(1)

    def slow_first(received, count):
        if count == 1:
            time.sleep(1.5)  # the consumer hangs past the read timeout, once
        return 200, {}

    with consumer_server(slow_first) as server:
        replay = make_replay([make_consumer("c", server.url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    attempts = list(DeliveryAttempt.objects.filter(delivery__replay=replay).order_by("number"))
    assert [(a.status, a.outcome) for a in attempts] == [(None, "retry"), (200, "delivered")]
    assert "timed out" in attempts[0].error.lower()
    assert len(server.received) == 2


def test_a_retried_event_holds_back_later_events_with_its_key_but_not_the_others():
    a1 = archive_event(1, key="order-a")
    b1 = archive_event(2, key="order-b")
    a2 = archive_event(3, key="order-a")
    c = archive_event(4)

    def fails_a1_twice(received, count):
        if received.headers["X-Eventscope-Event-Id"] == a1.id and count <= 2:
            return 500, {}
        return 200, {}

    with consumer_server(fails_a1_twice) as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    arrivals = server.event_ids(status=None)
    delivered = server.event_ids()
    # a1 failed first; b1 and c (other keys / no key) went on without waiting for it ...
    assert arrivals[0] == a1.id
    assert delivered.index(b1.id) < delivered.index(a1.id)
    assert delivered.index(c.id) < delivered.index(a1.id)
    # ... while a2, same key as a1, was not sent at all before a1 got through.
    assert arrivals.index(a2.id) > arrivals.index(a1.id, 2)
    assert delivered == [b1.id, c.id, a1.id, a2.id]


def test_after_the_last_attempt_a_delivery_is_dead_lettered_and_later_keys_move_on():
    doomed = archive_event(1, key="k")
    after = archive_event(2, key="k")

    def always_fails_doomed(received, count):
        return (500, {}) if received.headers["X-Eventscope-Event-Id"] == doomed.id else (200, {})

    with consumer_server(always_fails_doomed) as server:
        replay = make_replay([make_consumer("c", server.url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids(status=500) == [doomed.id] * 4
    assert server.event_ids() == [after.id]
    dead = Delivery.objects.get(replay=replay, event_id=doomed.id)
    assert dead.state == Delivery.DEAD and dead.attempts == 4 and dead.last_status == 500
    replay.refresh_from_db()
    assert (replay.delivered, replay.failed, replay.state) == (1, 1, Replay.COMPLETED)


def test_a_4xx_is_not_retried():
    archive_event(1)
    with consumer_server(lambda received, count: (400, {})) as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    assert len(server.received) == 1
    assert Delivery.objects.get(replay=replay).state == Delivery.DEAD


def test_a_redirect_is_not_followed():
    archive_event(1)

    def redirect(received, count):
        return 302, {"Location": "http://169.254.169.254/latest/meta-data/"}

    with consumer_server(redirect) as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    assert len(server.received) == 1
    dead = Delivery.objects.get(replay=replay)
    assert dead.state == Delivery.DEAD and dead.last_status == 302
    assert "not followed" in dead.last_error
