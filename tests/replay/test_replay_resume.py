"""Resuming a replay whose run died (on any database): the walk goes on after its cursor, what was
delivered is not sent again, and what was in flight becomes a dead letter of unknown outcome."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.replay.actions import replays_to_resume
from dashboard.replay.engine import UNKNOWN_OUTCOME, run_replay
from dashboard.replay.models import Delivery, DeliveryAttempt, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_a_replay_left_running_by_a_dead_run_resumes_without_sending_anything_twice():
    events = [archive_event(i) for i in range(6)]
    with consumer_server() as server:
        consumer = make_consumer("c", server.url)
        replay = make_replay([consumer])
        now = timezone.now()
        # What a run that died after planning four events had left: two delivered, one in flight.
        states = [Delivery.DELIVERED, Delivery.DELIVERED, Delivery.SENDING, Delivery.PENDING]
        for seq, (event, state) in enumerate(zip(events, states, strict=False)):
            Delivery.objects.create(replay=replay, event=event, consumer=consumer, seq=seq, state=state,
                                    claim="dead-run" if state == Delivery.SENDING else "", updated_at=now)  # fmt: skip
        Replay.objects.filter(pk=replay.pk).update(
            state=Replay.RUNNING, lease_owner="dead-run", lease_expires_at=now - timedelta(seconds=1),
            matched=4, planned=4, cursor_time=events[3].time, cursor_event=events[3].id, started_at=now,
        )  # fmt: skip
        assert replays_to_resume() == [replay.pk]

        assert run_replay(replay.pk) == Replay.COMPLETED
    # Only the pending one and the two never planned went out, in order.
    assert server.event_ids() == [events[3].id, events[4].id, events[5].id]
    in_flight = Delivery.objects.get(replay=replay, event=events[2])
    assert in_flight.state == Delivery.DEAD and in_flight.last_error == UNKNOWN_OUTCOME
    assert DeliveryAttempt.objects.get(delivery=in_flight).error == UNKNOWN_OUTCOME
    replay.refresh_from_db()
    assert (replay.matched, replay.delivered, replay.failed) == (6, 5, 1)
    assert replays_to_resume() == []


def test_a_run_does_not_start_while_another_holds_the_lease():
    archive_event(1)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        Replay.objects.filter(pk=replay.pk).update(
            state=Replay.RUNNING, lease_owner="alive", lease_expires_at=timezone.now() + timedelta(minutes=1)
        )
        assert run_replay(replay.pk) == "busy"
    assert server.count() == 0
    assert replays_to_resume() == []


def test_an_empty_archive_completes_at_once():
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        assert run_replay(replay.pk) == Replay.COMPLETED
    replay.refresh_from_db()
    assert (replay.matched, replay.delivered, replay.total) == (0, 0, 0) and replay.finished_at
    assert server.count() == 0
