"""``make serve`` (``manage.py supervise``) on PostgreSQL and Redis: two web processes, a worker and
beat. A live subscriber on one web process sees what is ingested through the other; a replay is
delivered once with two workers running; ``/metrics`` on either adds up every process; SIGTERM stops
them all."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families
from websockets.sync.client import connect

from tests.support.consumer_servers import consumer_server
from tests.support.servers import ROOT, answers, free_port, server_env
from tests.support.task_worker import start_worker, stop_worker, wait_until_ready

pytestmark = [pytest.mark.server, pytest.mark.redis, pytest.mark.usefixtures("transactional_db")]

SOURCE = "serve.test"


def _two_free_ports() -> int:
    """A port whose next one is free too."""
    for _ in range(50):
        port = free_port()
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
            return port
    raise AssertionError("no two consecutive free ports")


def _wait(predicate: Any, what: str, log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, f"{what}:\n{log.read_text(errors='replace')[-4000:]}"
        time.sleep(0.1)


def _ready(url: str) -> bool:
    try:
        return requests.get(f"{url}/readyz", timeout=5).json()["worker"]["workers"] >= 1
    except requests.RequestException:
        return False


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], list[str], dict[str, str], Path]]:
    assert os.environ.get("REDIS_URL") and os.environ.get("DATABASE_URL", "").startswith("postgres"), (
        "the scaled-mode run sets DATABASE_URL (PostgreSQL) and REDIS_URL"
    )
    port = _two_free_ports()
    env = server_env(EVENTSCOPE_VAR_DIR=str(tmp_path / "var"), EVENTSCOPE_METRICS_PUBLIC="1")
    log = tmp_path / "serve.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "supervise", "--port", str(port), "--web-processes", "2"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    urls = [f"http://127.0.0.1:{port}", f"http://127.0.0.1:{port + 1}"]
    try:
        _wait(lambda: all(answers(url) for url in urls) and _ready(urls[0]), "the processes did not start", log)
        yield process, urls, env, log
    finally:
        if process.poll() is None:  # the test failed half way: its children stop with it
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _call(url: str, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(method, f"{url}{path}", json=body, headers={"Authorization": f"Bearer {token}"},
                            timeout=30)  # fmt: skip


def _metric(url: str, name: str, **labels: str) -> float:
    for family in text_string_to_metric_families(requests.get(f"{url}/metrics", timeout=10).text):
        for sample in family.samples:
            if sample.name == name and sample.labels == labels:
                return float(sample.value)
    return 0.0


def test_two_web_processes_a_worker_and_beat_work_as_one_and_stop_together(served, make_token, tmp_path):
    process, (first, second), env, log = served
    token = make_token().token
    # A subscriber on the first process sees an event ingested through the second (Redis layer).
    socket_url = first.replace("http://", "ws://") + "/ws/live/"
    with connect(socket_url, additional_headers={"Authorization": f"Bearer {token}"}) as live:
        live.send(orjson.dumps({"type": "subscribe", "pattern": {"source": [SOURCE]}, "kinds": ["event"]}).decode())
        assert orjson.loads(live.recv(timeout=10))["type"] == "subscribed"
        event = {"source": SOURCE, "detail-type": "Ping", "id": "across", "detail": {}}
        assert _call(second, token, "POST", "/api/events", event).json()["accepted"] == 1
        seen = orjson.loads(live.recv(timeout=10))
        assert seen["type"] == "event" and seen["event"]["detail-type"] == "Ping"

    # A replay runs once however many workers there are: a second worker joins the first.
    extra_log = tmp_path / "worker-2.log"
    extra = start_worker(extra_log, EVENTSCOPE_VAR_DIR=env["EVENTSCOPE_VAR_DIR"],
                         PROMETHEUS_MULTIPROC_DIR=str(Path(env["EVENTSCOPE_VAR_DIR"]) / "metrics"))  # fmt: skip
    try:
        wait_until_ready(extra, extra_log)
        events = [{"source": SOURCE, "detail-type": "Order", "time": f"2031-05-01T00:00:{n:02d}Z", "detail": {"n": n}}
                  for n in range(12)]  # fmt: skip
        assert _call(second, token, "POST", "/api/events", events).json()["accepted"] == 12
        with consumer_server() as consumer:
            assert (
                _call(first, token, "POST", "/api/consumers", {"name": "once", "url": consumer.url}).status_code == 201
            )
            replay = _call(second, token, "POST", "/api/replays", {
                "name": "once", "since": "2031-05-01T00:00:00Z", "until": "2031-05-02T00:00:00Z", "consumers": ["once"],
            }).json()  # fmt: skip

            def finished() -> bool:
                return _call(first, token, "GET", f"/api/replays/{replay['id']}").json()["state"] == "completed"

            _wait(finished, "the replay did not complete", log)
            delivered = consumer.event_ids()
        assert len(delivered) == 12 and len(set(delivered)) == 12, delivered
    finally:
        stop_worker(extra)

    # Either web process answers the totals of all of them: the ingest of the second, the worker's deliveries.
    for url in (first, second):
        assert _metric(url, "eventscope_ingest_items_total", endpoint="events", kind="event", outcome="accepted") == 13
        assert _metric(url, "eventscope_replay_deliveries_total", outcome="delivered") == 12

    # SIGTERM stops every process, gracefully.
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=60) == 0, log.read_text()
    assert not answers(first) and not answers(second)
    assert "serve      | stopped\n" in log.read_text()
