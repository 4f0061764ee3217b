"""Cancelling a running replay: it stops, what was delivered stays delivered, nothing more is sent."""

from __future__ import annotations

import threading

import orjson
import pytest
from django.db import connection

from dashboard.replay.engine import run_replay
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay

pytestmark = pytest.mark.usefixtures("transactional_db")


def test_cancel_stops_a_running_replay(client, auth):
    for i in range(200):
        archive_event(i)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)], rate_per_second=40)
        outcome: list[str] = []

        def run() -> None:
            try:
                outcome.append(run_replay(replay.pk))
            finally:
                connection.close()  # this thread's own connection

        runner = threading.Thread(target=run)
        runner.start()
        server.wait_for(10)
        response = client.post(f"/api/replays/{replay.pk}/cancel", data=b"{}", content_type="application/json",
                               headers=auth)  # fmt: skip
        assert response.status_code == 200 and response.json()["state"] == "cancelled"
        runner.join(timeout=30)
        assert not runner.is_alive()
        sent_when_stopped = server.count()
    assert outcome == ["cancelled"]
    assert 10 <= sent_when_stopped < 200
    delivered = Delivery.objects.filter(replay=replay, state=Delivery.DELIVERED).count()
    assert delivered == sent_when_stopped == len(set(server.event_ids()))
    assert not Delivery.objects.filter(replay=replay, state=Delivery.SENDING).exists()
    replay.refresh_from_db()
    assert replay.state == Replay.CANCELLED and replay.delivered == delivered and replay.finished_at
    assert orjson.loads(client.get(f"/api/replays/{replay.pk}", headers=auth).content)["state"] == "cancelled"
