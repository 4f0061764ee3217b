"""A real Celery worker killed with SIGKILL in the middle of a replay: another worker resumes it,
and no event reaches the consumer twice."""

from __future__ import annotations

import os
import time
from collections import Counter
from pathlib import Path

import pytest

from dashboard.replay.engine import UNKNOWN_OUTCOME
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay
from tests.support.task_worker import start_worker, stop_worker

pytestmark = [pytest.mark.redis, pytest.mark.usefixtures("transactional_db")]

# A short lease and a frequent recovery sweep, so the resumed run starts within a few seconds.
LEASE = {"EVENTSCOPE_REPLAY_LEASE_SECONDS": "2", "EVENTSCOPE_REPLAY_RECOVER_SECONDS": "1"}


def wait_for(predicate, what: str, log: Path, timeout: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} did not happen; worker log:\n{log.read_text()[-3000:]}")
        time.sleep(0.05)


def test_a_replay_resumes_after_its_worker_is_killed_without_delivering_anything_twice(tmp_path):
    assert os.environ.get("REDIS_URL"), "the scaled-mode run sets REDIS_URL"
    from config.celery import app

    queue = f"test-replay-{os.getpid()}"
    log = tmp_path / "worker.log"
    total = 150
    for i in range(total):
        archive_event(i, key=f"k-{i % 7}")
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)], rate_per_second=40)
        first = start_worker(log, queue=queue, beat=True, **LEASE)
        second = None
        try:
            app.send_task("tasks.replay.run_replay", args=[replay.pk], queue=queue)
            wait_for(lambda: server.count() >= 30, "the first deliveries", log)
            stop_worker(first, kill=True)  # SIGKILL to the worker's whole process group
            received_before_restart = server.count()
            assert received_before_restart < total
            assert Replay.objects.get(pk=replay.pk).state == Replay.RUNNING

            second = start_worker(log, queue=queue, beat=True, **LEASE)
            wait_for(lambda: Replay.objects.get(pk=replay.pk).state == Replay.COMPLETED, "the resumed replay", log)
        finally:
            for process in (first, second):
                if process is not None:
                    stop_worker(process)
        received = server.event_ids(status=None)

    # Nothing arrived twice, and the replay went on after the restart.
    assert [event for event, n in Counter(received).items() if n > 1] == []
    assert len(received) > received_before_restart
    deliveries = Delivery.objects.filter(replay=replay)
    delivered = set(deliveries.filter(state=Delivery.DELIVERED).values_list("event_id", flat=True))
    unknown = set(deliveries.filter(state=Delivery.DEAD).values_list("event_id", flat=True))
    # Every event is either delivered or a dead letter of unknown outcome (claimed when the worker died).
    assert len(delivered) + len(unknown) == total == deliveries.count()
    assert delivered <= set(received) <= delivered | unknown
    assert all(d.last_error == UNKNOWN_OUTCOME for d in deliveries.filter(state=Delivery.DEAD))
    replay.refresh_from_db()
    assert (replay.delivered, replay.failed) == (len(delivered), len(unknown))
