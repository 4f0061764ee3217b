"""Rate limits: a replay's and a consumer's, measured on the consumer's clock over more than 2 s."""

from __future__ import annotations

import pytest

from dashboard.replay.engine import run_replay
from dashboard.replay.models import Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


def measured_rate(server) -> float:  # type: ignore[no-untyped-def]
    times = [r.at for r in server.received]
    return (len(times) - 1) / (times[-1] - times[0])


def test_a_replays_rate_limit_holds_within_five_percent():
    for i in range(121):
        archive_event(i)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)], rate_per_second=50)
        assert run_replay(replay.pk) == Replay.COMPLETED
    assert len(server.received) == 121
    # 120 intervals at 50/s: 2.4 s of sending.
    assert measured_rate(server) == pytest.approx(50, rel=0.05)


def test_a_consumers_own_rate_limit_holds_and_the_lower_limit_wins():
    for i in range(81):
        archive_event(i)
    with consumer_server() as slow, consumer_server() as fast:
        replay = make_replay(
            [make_consumer("slow", slow.url, rate_per_second=30), make_consumer("fast", fast.url)],
            rate_per_second=200,
        )
        run_replay(replay.pk)
    assert len(slow.received) == len(fast.received) == 81
    assert measured_rate(slow) == pytest.approx(30, rel=0.05)
    # The other consumer is not held to the first one's pace (its own window is too short to time).
    assert measured_rate(fast) > 3 * 30
