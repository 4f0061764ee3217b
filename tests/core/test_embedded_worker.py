"""The embedded mode's in-process worker: it runs enqueued tasks and beat entries on a pool of the
size set, every task it could lose at a restart is found again from the database, and /readyz
tells the truth about it. (A restart of a real server with queued work: test_embedded_restart.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from datetime import timedelta

import pytest
from celery import current_app, shared_task
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


@pytest.mark.usefixtures("transactional_db")
def test_a_replay_saved_before_the_worker_started_runs_at_once_without_the_grace(settings):
    # Saved just now, as by a server killed right after it answered: its message died with that
    # process, so the sweep that runs as the worker starts takes it, though it is not 5 s old.
    settings.REDIS_URL = ""
    settings.CELERY_BEAT_SCHEDULE = {"recover": {"task": "tasks.replay.recover_replays", "schedule": 3600}}
    archive_event(1)
    with consumer_server() as server:
        replay = make_replay([make_consumer("c", server.url)])
        embedded_worker.start()
        try:
            wait_for_state(replay, Replay.COMPLETED)
        finally:
            embedded_worker.stop()
    assert len(server.received) == 1


# A task of the tests only (not ``tasks.*``): it notes how many run at once and waits to be let go.
_held = threading.Condition()
_hold = {"running": 0, "most": 0, "done": 0, "open": False}


@shared_task(name="tests.core.hold", ignore_result=True)
def hold() -> None:
    with _held:
        _hold["running"] += 1
        _hold["most"] = max(_hold["most"], _hold["running"])
        _held.notify_all()
        _held.wait_for(lambda: _hold["open"], timeout=30)
        _hold["running"] -= 1
        _hold["done"] += 1
        _held.notify_all()


def test_the_pool_runs_as_many_tasks_at_once_as_its_setting_says(settings):
    settings.REDIS_URL = ""
    settings.CELERY_BEAT_SCHEDULE = {}
    settings.EVENTSCOPE_EMBEDDED_WORKER_THREADS = 2
    _hold.update(running=0, most=0, done=0, open=False)
    running = embedded_worker.start()
    try:
        assert running.status()["threads"] == 2
        for _ in range(5):
            current_app.send_task("tests.core.hold")
        with _held:
            assert _held.wait_for(lambda: _hold["running"] == 2, timeout=20), _hold
            # Time for a third to start, were the pool larger than its setting.
            _held.wait(0.5)
            assert _hold["running"] == 2
            _hold["open"] = True
            _held.notify_all()
            assert _held.wait_for(lambda: _hold["done"] == 5, timeout=20), _hold
        assert _hold["most"] == 2
        assert running.status()["tasks_run"] == 5
    finally:
        with _held:
            _hold["open"] = True
            _held.notify_all()
        embedded_worker.stop()


def test_every_project_task_is_derived_from_the_database_again_after_a_restart():
    # The in-memory queue is lost with the process: each task must be a beat entry (which runs as
    # the worker starts) or name the entry that finds its work again.
    assert embedded_worker.underived_tasks() == []

    @current_app.task(name="tasks.example.undeclared")
    def undeclared() -> None:
        return None

    @current_app.task(name="tasks.example.declared", recovered_by="recover-replays")
    def declared() -> None:
        return None

    try:
        assert embedded_worker.underived_tasks() == ["tasks.example.undeclared"]
    finally:
        current_app.tasks.pop("tasks.example.undeclared", None)
        current_app.tasks.pop("tasks.example.declared", None)


def test_a_stop_drops_what_is_queued_and_says_how_much(settings, caplog):
    # Dropped, not lost: each is a task whose work the next start derives from the database.
    settings.REDIS_URL = ""
    settings.CELERY_BEAT_SCHEDULE = {}
    settings.EVENTSCOPE_EMBEDDED_WORKER_THREADS = 1
    _hold.update(running=0, most=0, done=0, open=False)
    worker = embedded_worker.start()
    try:
        for _ in range(3):
            current_app.send_task("tests.core.hold")
        current_app.send_task("tests.core.hold", countdown=60)
        with _held:
            assert _held.wait_for(lambda: _hold["running"] == 1, timeout=20), _hold
        # The worker's consumer has taken every message off the transport: two wait in its pool
        # behind the one running, one on its timer (on a busy machine the consumer may lag).
        deadline = time.monotonic() + 20
        while (len(worker._running), len(worker._timers)) != (3, 1):
            assert time.monotonic() < deadline, (len(worker._running), len(worker._timers))
            time.sleep(0.01)
        log = logging.getLogger("dashboard.core.embedded_worker")  # the project's loggers do not propagate
        log.addHandler(caplog.handler)
        try:
            assert embedded_worker.stop(timeout=0.2) is False  # the one running is still held
        finally:
            log.removeHandler(caplog.handler)
        assert "3 queued task(s) not run" in caplog.text
    finally:
        with _held:
            _hold["open"] = True
            _held.notify_all()
            assert _held.wait_for(lambda: _hold["running"] == 0, timeout=20)
        embedded_worker.stop()
    assert _hold["done"] == 1
