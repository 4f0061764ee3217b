"""A delivery whose event retention deleted after it was planned (deliveries have no database foreign
key to events) becomes a dead letter saying so, and the replay finishes instead of waiting for it."""

from __future__ import annotations

import pytest
from django.utils import timezone

from dashboard.events.models import Event
from dashboard.replay.engine import EVENT_GONE, run_replay
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

# On SQLite the delivery keeps its database foreign key: an event cannot go from under it there.
pytestmark = [pytest.mark.postgres, pytest.mark.usefixtures("transactional_db")]


def test_deliveries_whose_event_is_gone_become_dead_letters_and_the_replay_completes() -> None:
    events = [archive_event(i) for i in range(3)]
    with consumer_server() as server:
        consumer = make_consumer("c", server.url)
        replay = make_replay([consumer])
        now = timezone.now()
        for seq, event in enumerate(events):
            state = Delivery.RETRY if seq == 2 else Delivery.PENDING
            Delivery.objects.create(replay=replay, event=event, consumer=consumer, seq=seq, state=state, updated_at=now)
        Replay.objects.filter(pk=replay.pk).update(
            state=Replay.RUNNING, walk_done=True, matched=3, planned=3, total=3, started_at=now,
            cursor_time=events[2].time, cursor_event=events[2].id,
        )  # fmt: skip
        # Retention takes two of the events after they were planned, as a day dropped whole does.
        Event.objects.filter(pk__in=[events[0].pk, events[2].pk])._raw_delete(Event.objects.db)

        assert run_replay(replay.pk) == Replay.COMPLETED
    assert server.event_ids() == [events[1].id]
    gone = Delivery.objects.filter(replay=replay, event_id__in=[events[0].pk, events[2].pk])
    assert [(d.state, d.last_error) for d in gone] == [(Delivery.DEAD, EVENT_GONE)] * 2
    replay.refresh_from_db()
    assert (replay.delivered, replay.failed) == (1, 2)
