"""A replay started while the task broker (Redis) is down: a JSON 503 with Retry-After and nothing
saved, never a 500 with a replay saved anyway; once the broker is back, the client's retry (with its
Idempotency-Key) starts exactly one replay, and each event reaches the consumer once.

The servers here run on the test database with ``REDIS_URL`` pointing at a port that nothing
listens on, or at a forwarder to the real Redis that the test starts: "the broker comes back"
without restarting the server.
"""

from __future__ import annotations

import os
import select
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

import orjson
import pytest
import requests
from django.db import connection
from django.utils import timezone

from bench.server import serve
from dashboard.replay.engine import run_replay
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay
from tests.support.servers import TASK_QUEUE, server_env
from tests.support.servers import free_port as _free_port
from tests.support.task_worker import scaled_mode_worker, start_worker, stop_worker  # noqa: F401  (a fixture)

# Starts server processes of its own.
pytestmark = pytest.mark.server

REPLAY = {"name": "fix", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z", "consumers": ["c"]}


@contextmanager
def server_with_broker(redis_url: str, queue: str = TASK_QUEUE) -> Iterator[str]:
    """A daphne server on the test database whose task broker (and live layer) is ``redis_url``."""
    env = server_env(REDIS_URL=redis_url, EVENTSCOPE_TASK_QUEUE=queue)
    with serve(env) as url:
        yield url


class Forwarder:
    """A TCP port that, once started, forwards each connection to ``target`` (host, port); after
    ``connections`` connections (when given) it stops listening, as a broker that went away."""

    def __init__(self, target: tuple[str, int], connections: int | None = None) -> None:
        self.target = target
        self.connections = connections
        self.port = _free_port()
        self._listener: socket.socket | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        self._listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def stop(self) -> None:
        self._stop.set()
        if self._listener is not None:
            self._listener.close()

    def _accept(self) -> None:
        assert self._listener is not None
        accepted = 0
        while not self._stop.is_set() and (self.connections is None or accepted < self.connections):
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            accepted += 1
            upstream = socket.create_connection(self.target)
            threading.Thread(target=self._pump, args=(client, upstream), daemon=True).start()
        self._listener.close()

    def _pump(self, a: socket.socket, b: socket.socket) -> None:
        with a, b:
            while not self._stop.is_set():
                ready, _, _ = select.select([a, b], [], [], 0.2)
                for source in ready:
                    data = source.recv(65536)
                    if not data:
                        return
                    (b if source is a else a).sendall(data)


def post_replay(url: str, token: str, key: str | None = None) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    if key is not None:
        headers["Idempotency-Key"] = key
    return requests.post(f"{url}/api/replays", data=orjson.dumps(REPLAY), headers=headers, timeout=30)


def assert_unavailable(response: requests.Response) -> None:
    assert response.status_code == 503, response.text
    assert response.headers["Content-Type"] == "application/json"
    assert int(response.headers["Retry-After"]) > 0
    assert response.json()["error"]["code"] == "unavailable"


def wait_for(predicate: Any, what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what} did not happen"
        time.sleep(0.05)


@pytest.mark.usefixtures("transactional_db")
def test_replays_posted_while_the_broker_is_down_are_503_with_retry_after_and_nothing_is_saved(token):
    consumer = make_consumer("c", "http://127.0.0.1:9/")
    event = archive_event(1)
    finished = make_replay([consumer], name="done", state=Replay.COMPLETED, finished_at=timezone.now())
    dead = Delivery.objects.create(
        replay=finished, event=event, consumer=consumer, seq=0, state=Delivery.DEAD, attempts=5,
        updated_at=timezone.now(),
    )  # fmt: skip
    with server_with_broker(f"redis://127.0.0.1:{_free_port()}/0") as url:
        # A client and its retry, with and without a key.
        for key in (None, None, "k-1", "k-1"):
            assert_unavailable(post_replay(url, token.token, key))
        assert list(Replay.objects.values_list("name", flat=True)) == ["done"]
        # Re-driving a finished replay needs a run too: refused the same way, nothing changed.
        redrive = requests.post(
            f"{url}/api/replays/{finished.pk}/redrive", data=b"{}", timeout=30,
            headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        assert_unavailable(redrive)
        dead.refresh_from_db()
        finished.refresh_from_db()
        assert (dead.state, finished.state) == (Delivery.DEAD, Replay.COMPLETED)
        # A dry run queues nothing: it still answers.
        dry = requests.post(
            f"{url}/api/replays", data=orjson.dumps({**REPLAY, "dry_run": True}), timeout=30,
            headers={"Authorization": f"Bearer {token.token}", "Content-Type": "application/json"},
        )  # fmt: skip
        assert dry.status_code == 200 and dry.json()["matched"] == 1


@pytest.mark.redis
@pytest.mark.usefixtures("transactional_db", "scaled_mode_worker")
def test_once_the_broker_is_back_a_retried_replay_runs_once(token):
    redis_url = os.environ.get("REDIS_URL")
    assert redis_url, "the scaled-mode run sets REDIS_URL"
    real = urlsplit(redis_url)
    events = 20
    for i in range(events):
        archive_event(i)
    forwarder = Forwarder((real.hostname or "127.0.0.1", real.port or 6379))
    with consumer_server() as consumer:
        make_consumer("c", consumer.url)
        with server_with_broker(f"redis://127.0.0.1:{forwarder.port}{real.path}") as url:
            try:
                # Redis is down: the client tries twice, with the key it keeps for this replay.
                for _ in range(2):
                    assert_unavailable(post_replay(url, token.token, "replay-fix-1"))
                assert not Replay.objects.exists()

                forwarder.start()  # Redis is back
                first = post_replay(url, token.token, "replay-fix-1")
                assert first.status_code == 202, first.text
                again = post_replay(url, token.token, "replay-fix-1")
                assert (again.status_code, again.content) == (202, first.content)
                assert again.headers["Idempotent-Replayed"] == "true"

                replay_id = first.json()["id"]
                wait_for(lambda: Replay.objects.get(pk=replay_id).state == Replay.COMPLETED, "the replay")
            finally:
                forwarder.stop()
        received = consumer.event_ids(status=None)
    assert Replay.objects.count() == 1
    assert len(received) == events
    assert [event for event, n in Counter(received).items() if n > 1] == []


@pytest.mark.redis
@pytest.mark.usefixtures("transactional_db")
def test_a_replay_whose_message_is_lost_after_the_check_is_202_and_started_by_the_recovery_task(token, tmp_path):
    # The broker answers the check, then goes away before the message is sent: the replay is
    # committed, so the answer is its 202, and the recovery task (beat) starts it once the broker
    # is back.
    redis_url = os.environ.get("REDIS_URL")
    assert redis_url, "the scaled-mode run sets REDIS_URL"
    real = urlsplit(redis_url)
    queue = f"{TASK_QUEUE}-lost"
    for i in range(5):
        archive_event(i)
    # Two connections: the token revocations subscription (made at the first token lookup) and the
    # check's; the message's own connection then finds the broker gone.
    forwarder = Forwarder((real.hostname or "127.0.0.1", real.port or 6379), connections=2)
    with consumer_server() as consumer:
        make_consumer("c", consumer.url)
        with server_with_broker(f"redis://127.0.0.1:{forwarder.port}{real.path}", queue=queue) as url:
            forwarder.start()
            try:
                answer = post_replay(url, token.token)
            finally:
                forwarder.stop()
        assert answer.status_code == 202, answer.text
        replay_id = answer.json()["id"]
        assert Replay.objects.get(pk=replay_id).state == Replay.PENDING
        log = tmp_path / "worker.log"
        worker = start_worker(log, queue=queue, beat=True, EVENTSCOPE_REPLAY_RECOVER_SECONDS="1")
        try:
            wait_for(lambda: Replay.objects.get(pk=replay_id).state == Replay.COMPLETED, "the recovered replay")
        finally:
            stop_worker(worker)
        received = consumer.event_ids(status=None)
    assert sorted(received) == sorted(set(received)) and len(received) == 5


@pytest.fixture
def broker_down() -> Iterator[None]:
    """This process's task broker set to a port nobody listens on (as ``REDIS_URL`` would)."""
    from config.celery import app

    saved = app.conf.broker_url
    app.conf.broker_url = f"redis://127.0.0.1:{_free_port()}/0"
    try:
        yield
    finally:
        app.conf.broker_url = saved


@pytest.mark.django_db
@pytest.mark.usefixtures("broker_down")
def test_the_admins_redrive_says_the_task_queue_is_down_and_changes_nothing(admin):
    event = archive_event(1)
    consumer = make_consumer("c", "http://127.0.0.1:9/")
    finished = make_replay([consumer], state=Replay.COMPLETED, finished_at=timezone.now())
    dead = Delivery.objects.create(
        replay=finished, event=event, consumer=consumer, seq=0, state=Delivery.DEAD, updated_at=timezone.now()
    )
    response = admin.post(
        "/admin/replay/replay/", {"action": "redrive_dead_letters", "_selected_action": [finished.pk]}, follow=True
    )
    assert response.status_code == 200
    assert "The task queue is unavailable" in response.content.decode()
    dead.refresh_from_db()
    finished.refresh_from_db()
    assert (dead.state, finished.state) == (Delivery.DEAD, Replay.COMPLETED)


@pytest.mark.usefixtures("transactional_db")
def test_a_replay_whose_run_is_started_twice_delivers_each_event_once():
    # The recovery task may send a run for a replay whose first message is also on its way: the
    # lease lets one run through, and a run after the end finds nothing to do.
    for i in range(30):
        archive_event(i)
    with consumer_server(delay=0.005) as consumer:
        replay = make_replay([make_consumer("c", consumer.url)])
        outcomes: list[str] = []

        def run() -> None:
            try:
                outcomes.append(run_replay(replay.pk))
            finally:
                connection.close()

        runs = [threading.Thread(target=run) for _ in range(2)]
        for thread in runs:
            thread.start()
        for thread in runs:
            thread.join()
        assert sorted(outcomes) == ["busy", Replay.COMPLETED]
        assert run_replay(replay.pk) == "busy"
        received = consumer.event_ids(status=None)
    assert sorted(received) == sorted(set(received)) and len(received) == 30
