"""What a consumer receives: the envelope with the replay's name, the headers, the signature, and the
events' original time order."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from dashboard.replay.engine import run_replay
from dashboard.replay.models import Delivery, DeliveryAttempt, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_it_posts_the_canonical_envelope_with_the_replay_name_and_headers():
    event = archive_event(5, key="order-1", **{"order-id": "o-1"})
    with consumer_server() as server:
        consumer = make_consumer("billing", server.url)
        replay = make_replay([consumer], name="fix-billing")
        assert run_replay(replay.pk) == Replay.COMPLETED
    [got] = server.received
    assert got.path == "/hook"
    assert got.body == {
        "version": "0",
        "id": event.event_id,
        "source": "shop.orders",
        "detail-type": "OrderCreated",
        "time": "2026-01-01T00:00:05Z",
        "account": "000000000000",
        "region": "local",
        "resources": [],
        "detail": {"n": 5, "order-id": "o-1"},
        "replay-name": "fix-billing",
    }
    assert got.headers["Content-Type"] == "application/json"
    assert got.headers["Idempotency-Key"] == "order-1"
    assert got.headers["X-Eventscope-Replay"] == "fix-billing"
    assert got.headers["X-Eventscope-Event-Id"] == event.id
    assert "X-Eventscope-Signature" not in got.headers


def test_an_event_without_a_key_is_sent_without_an_idempotency_key_header():
    archive_event(1)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    assert "Idempotency-Key" not in server.received[0].headers


def test_a_consumer_with_a_secret_gets_an_hmac_sha256_signature_of_the_body():
    archive_event(1)
    with consumer_server() as server:
        replay = make_replay([make_consumer("signed", server.url, secret="s3cret")])
        run_replay(replay.pk)
    got = server.received[0]
    expected = hmac.new(b"s3cret", got.raw, hashlib.sha256).hexdigest()
    assert got.headers["X-Eventscope-Signature"] == f"sha256={expected}"


def test_first_attempts_go_out_in_the_events_original_time_order():
    # Stored (arrival) order differs from event time order on purpose.
    times = [30, 10, 20, 10, 50, 0, 40]
    events = [archive_event(t) for t in times]
    expected = [e.id for e in sorted(events, key=lambda e: (e.time, e.id))]
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    assert server.event_ids() == expected


def test_it_walks_a_large_archive_in_pages_in_time_order_to_several_consumers():
    events = [archive_event((i * 7919) % 1300) for i in range(1300)]
    expected = [e.id for e in sorted(events, key=lambda e: (e.time, e.id))]
    with consumer_server() as one, consumer_server() as two:
        replay = make_replay([make_consumer("one", one.url), make_consumer("two", two.url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert one.event_ids() == expected
    assert two.event_ids() == expected
    replay.refresh_from_db()
    assert (replay.matched, replay.delivered, replay.failed, replay.total) == (1300, 2600, 0, 2600)
    assert replay.last_replayed_time == max(e.time for e in events)
    assert replay.started_at is not None and replay.finished_at is not None


def test_patterns_of_the_replay_and_of_each_consumer_narrow_what_is_sent():
    archive_event(1, detail_type="OrderCreated")
    archive_event(2, detail_type="OrderPaid")
    archive_event(3, detail_type="OrderCreated", source="shop.other")
    with consumer_server() as all_types, consumer_server() as paid_only:
        replay = make_replay(
            [
                make_consumer("all", all_types.url),
                make_consumer("paid", paid_only.url, pattern={"detail-type": ["OrderPaid"]}),
            ],
            pattern={"source": ["shop.orders"]},
        )
        run_replay(replay.pk)
    assert [r.body["detail-type"] for r in all_types.received] == ["OrderCreated", "OrderPaid"]
    assert [r.body["detail-type"] for r in paid_only.received] == ["OrderPaid"]
    replay.refresh_from_db()
    assert (replay.matched, replay.delivered, replay.skipped) == (2, 3, 1)


def test_every_attempt_is_recorded_with_status_and_latency():
    archive_event(1)
    with consumer_server(delay=0.05) as server:
        replay = make_replay([make_consumer("slow", server.url)])
        run_replay(replay.pk)
    delivery = Delivery.objects.get(replay=replay)
    assert delivery.state == Delivery.DELIVERED and delivery.attempts == 1
    [attempt] = DeliveryAttempt.objects.filter(delivery=delivery)
    assert attempt.status == 200 and attempt.outcome == "delivered" and attempt.latency_ms >= 50


def test_keep_alive_reuses_one_connection_for_many_deliveries():
    for i in range(20):
        archive_event(i)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        run_replay(replay.pk)
    assert len(server.received) == 20
    assert {r.connection for r in server.received} == {1}


def test_a_consumer_that_closes_each_connection_still_gets_everything_once():
    for i in range(10):
        archive_event(i)
    with consumer_server(close_after_each=True) as server:
        replay = make_replay([make_consumer("c", server.url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert len(server.event_ids()) == 10 == len(set(server.event_ids()))
