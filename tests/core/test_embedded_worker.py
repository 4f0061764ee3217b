"""The embedded mode's in-process worker: it runs enqueued tasks and beat entries, and /readyz
tells the truth about it."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from django.utils import timezone

from dashboard.core import embedded_worker
from dashboard.replay.models import Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay


@pytest.fixture
def worker(settings) -> Iterator[embedded_worker.EmbeddedWorker]:  # type: ignore[no-untyped-def]
    settings.REDIS_URL = ""
    running = embedded_worker.start()
    try:
        yield running
    finally:
        embedded_worker.stop()


def wait_for_state(replay: Replay, state: str) -> None:
    deadline = time.monotonic() + 20
    while Replay.objects.get(pk=replay.pk).state != state:
        assert time.monotonic() < deadline, f"replay stayed {Replay.objects.get(pk=replay.pk).state}"
        time.sleep(0.02)


@pytest.mark.django_db
def test_readyz_says_the_worker_is_down_when_none_runs_in_this_process(ops, settings):
    settings.REDIS_URL = ""
    embedded_worker.stop()
    response = ops.get("/readyz")  # logged in: the reason is shown to readers only
    assert response.status_code == 503
    worker = response.json()["worker"]
    assert worker["status"] == "down" and worker["mode"] == "embedded" and "no in-process" in worker["error"]
    assert worker["required"] is True


@pytest.mark.usefixtures("transactional_db")
def test_it_runs_a_task_enqueued_after_commit(worker):
    from dashboard.replay.actions import enqueue_run

    archive_event(1)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        enqueue_run(replay.pk)  # outside a transaction: sent at once
        wait_for_state(replay, Replay.COMPLETED)
    assert len(server.received) == 1
    assert worker.status()["tasks_run"] >= 1


@pytest.mark.usefixtures("transactional_db")
def test_beat_entries_run_on_their_schedule(settings):
    # The recovery sweep (a beat entry) finds a replay whose run was lost and runs it.
    settings.REDIS_URL = ""
    settings.CELERY_BEAT_SCHEDULE = {"recover": {"task": "tasks.replay.recover_replays", "schedule": 0.2}}
    archive_event(1)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        Replay.objects.filter(pk=replay.pk).update(created_at=timezone.now() - timedelta(minutes=1))
        embedded_worker.start()
        try:
            wait_for_state(replay, Replay.COMPLETED)
        finally:
            embedded_worker.stop()
    assert len(server.received) == 1
