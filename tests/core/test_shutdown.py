"""Stopping the server with SIGTERM: it answers what it took in, stops replays at a delivery boundary,
closes websockets with 1001, and exits 0 within the grace period; a restart resumes the replay.

Each test starts its own server (``manage.py serve``, as ``make run`` does) in the embedded mode on
the test database, so that the replay runs inside the process that gets the signal.
"""

from __future__ import annotations

import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from django.db.models import Count
from django.utils import timezone
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from dashboard.events.models import Event
from dashboard.replay import engine
from dashboard.replay.engine import UNKNOWN_OUTCOME, ReplayRun, run_replay
from dashboard.replay.models import Delivery, Replay
from tests.support.consumer_servers import consumer_server
from tests.support.replay_helpers import archive_event, make_consumer, make_replay
from tests.support.servers import server_env, serving

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]

# The default grace period: the bound a stop must keep at any replay rate.
GRACE = 10


@contextmanager
def server(log: Path) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """A server in the embedded mode (in-process task worker) on the test database."""
    with serving(log, server_env(redis=False)) as running:
        yield running


def answers(url: str) -> bool:
    try:
        requests.get(f"{url}/healthz", timeout=1)
    except requests.ConnectionError:
        return False
    return True


def wait_for(predicate: Callable[[], object], what: str, log: Path | None = None, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(
                f"{what} did not happen" + (f"; server log:\n{log.read_text()[-3000:]}" if log else "")
            )
        time.sleep(0.02)


def terminate(process: subprocess.Popen[bytes], log: Path) -> int:
    """SIGTERM, then the exit status, which must come within the grace period."""
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(timeout=GRACE)
    except subprocess.TimeoutExpired:
        raise AssertionError(
            f"the server was still running {GRACE} s after SIGTERM; its log:\n{log.read_text()[-3000:]}"
        ) from None


def test_sigterm_during_a_slow_replay_exits_at_once_and_a_restart_resumes_it_without_a_duplicate(
    tmp_path: Path, token: Any
) -> None:
    log = tmp_path / "server.log"
    total = 40
    for i in range(total):
        archive_event(i, key=f"k-{i % 3}")
    auth = {"Authorization": f"Bearer {token.token}"}
    with consumer_server() as consumer:
        make_consumer("slow", consumer.url)
        with server(log) as (process, url):
            created = requests.post(f"{url}/api/replays", headers=auth, timeout=10, json={
                "name": "slow", "since": "2026-01-01T00:00:00Z", "until": "2026-01-02T00:00:00Z",
                "consumers": ["slow"], "rate_per_second": 2,
            })  # fmt: skip
            assert created.status_code == 202, created.text
            replay_id = created.json()["id"]
            consumer.wait_for(3)
            # 2 a second: the old server went on delivering the other ~37 events for ~18 s.
            assert terminate(process, log) == 0
        received_before_restart = consumer.count()
        assert received_before_restart < total

        # Stopped at a delivery boundary: nothing left claimed, nothing of unknown outcome, and the
        # replay given up (still running, no lease) for the next start.
        deliveries = Delivery.objects.filter(replay_id=replay_id)
        assert not deliveries.filter(state__in=(Delivery.SENDING, Delivery.DEAD)).exists()
        assert not deliveries.filter(last_error=UNKNOWN_OUTCOME).exists()
        assert deliveries.filter(state=Delivery.DELIVERED).count() == received_before_restart
        replay = Replay.objects.get(pk=replay_id)
        assert (replay.state, replay.lease_owner) == (Replay.RUNNING, "")
        assert replay.lease_expires_at is not None and replay.lease_expires_at <= timezone.now()

        # The rest at full speed, so that the test does not wait for it.
        Replay.objects.filter(pk=replay_id).update(rate_per_second=None)
        with server(log) as (process, url):
            wait_for(lambda: Replay.objects.get(pk=replay_id).state == Replay.COMPLETED, "the resumed replay", log)
            assert terminate(process, log) == 0
        received = consumer.event_ids(status=None)

    assert [event for event, n in Counter(received).items() if n > 1] == []
    assert len(received) == total
    replay = Replay.objects.get(pk=replay_id)
    assert (replay.delivered, replay.failed) == (total, 0)


def test_sigterm_under_ingest_load_answers_every_request_it_committed(tmp_path: Path, token: Any) -> None:
    # Producers without event ids (PutEvents, events without "id") cannot be deduplicated: a batch
    # committed but never acknowledged is stored twice when the producer retries it.
    log = tmp_path / "server.log"
    clients = 6
    acknowledged = Counter[str]()
    lock = threading.Lock()
    with server(log) as (process, url):

        def produce(source: str) -> None:
            batch = [{"source": source, "detail-type": "Probe", "detail": {"n": n}} for n in range(25)]
            session = requests.Session()
            session.headers["Authorization"] = f"Bearer {token.token}"
            while True:
                try:
                    response = session.post(f"{url}/api/events", json=batch, timeout=30)
                except requests.ConnectionError:
                    if process.poll() is not None:
                        return  # the server is gone; whatever was not answered is the producer's to retry
                    continue
                if response.status_code == 200:
                    with lock:
                        acknowledged[source] += response.json()["accepted"]

        threads = [threading.Thread(target=produce, args=(f"probe.{n}",)) for n in range(clients)]
        for thread in threads:
            thread.start()
        try:
            wait_for(lambda: sum(acknowledged.values()) >= 1000, "the first acknowledgements", log)
            assert terminate(process, log) == 0
        finally:
            for thread in threads:
                thread.join(timeout=30)

    rows = Event.objects.filter(source__startswith="probe.").values("source").annotate(n=Count("id"))
    stored = Counter({row["source"]: row["n"] for row in rows})
    assert stored == acknowledged


def test_sigterm_closes_websockets_with_going_away(tmp_path: Path, token: Any) -> None:
    log = tmp_path / "server.log"
    with server(log) as (process, url):
        socket = connect(
            url.replace("http://", "ws://") + "/ws/live/", additional_headers={"Authorization": f"Bearer {token.token}"}
        )
        with socket:
            process.send_signal(signal.SIGTERM)
            with pytest.raises(ConnectionClosed) as closed:
                socket.recv(timeout=GRACE)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
        assert process.wait(timeout=GRACE) == 0


def test_stopping_runs_cuts_a_rate_limit_wait_short_and_gives_the_replay_up() -> None:
    # At 0.1 a second a lane waits 10 s for its next token, holding a claimed delivery.
    for i in range(3):
        archive_event(i)
    with consumer_server() as consumer:
        replay = make_replay([make_consumer("c", consumer.url)], rate_per_second=0.1)
        outcome: list[str] = []
        runner = threading.Thread(target=lambda: outcome.append(run_replay(replay.pk)))
        runner.start()
        try:
            consumer.wait_for(1)
            wait_for(
                lambda: Delivery.objects.filter(replay=replay, state=Delivery.SENDING).exists(),
                "the second delivery to be claimed",
            )
            assert engine.stop_runs() == 1
            runner.join(timeout=GRACE)
            assert not runner.is_alive(), "the run did not stop"
            assert run_replay(replay.pk) == "stopped"  # no new run while the process stops
        finally:
            engine.stop_runs()
            runner.join()
            engine.allow_runs()
        assert outcome == [Replay.RUNNING]
        states = Counter(Delivery.objects.filter(replay=replay).values_list("state", flat=True))
        assert states == {Delivery.DELIVERED: 1, Delivery.PENDING: 2}
        assert not Delivery.objects.filter(replay=replay).exclude(claim="").exists()
        replay.refresh_from_db()
        assert replay.lease_owner == "" and replay.lease_expires_at <= timezone.now()

        # A run started now (the recovery sweep's) takes it at once and sends only the rest.
        Replay.objects.filter(pk=replay.pk).update(rate_per_second=None)
        assert ReplayRun(replay.pk).execute() == Replay.COMPLETED
    assert sorted(Counter(consumer.event_ids()).values()) == [1, 1, 1]
