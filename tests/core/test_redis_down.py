"""Redis down (``REDIS_URL`` at a port nobody listens on): ingest goes on, quietly; /readyz answers.

The live layer (channels-redis) and the task broker are unreachable. What ingest commits is still
acknowledged and stored; the live tail misses it, and the log says so once (a WARNING, then a
reminder at most once a minute, an INFO when publishing works again), not a traceback per request.
``/readyz`` answers 503 at once (not after the broker's connection retries), and only a caller with
the ``read`` scope sees why; ``/healthz`` (liveness) stays 200.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests

from dashboard.events.models import Event
from dashboard.live.publish import REMINDER_SECONDS, _FailureLog
from tests.support.logged_server import LoggedServer, logged_server
from tests.support.servers import free_port

# Starts server processes of its own.
pytestmark = pytest.mark.server

PUBLISH_LOGGER = "dashboard.live.publish"


def _post_event(server: LoggedServer, token: str, n: int) -> None:
    event = {"source": "shop", "detail-type": "OrderCreated", "id": f"e-{n}", "detail": {"n": n}}
    response = requests.post(
        f"{server.url}/api/events", json=event, headers={"Authorization": f"Bearer {token}"}, timeout=10
    )
    assert response.status_code == 200, response.text
    assert response.json()["accepted"] == 1


def _lines(log: str, level: str, logger: str | None = None) -> list[str]:
    return [line for line in log.splitlines() if f" {level} {logger or ''}" in line]


@pytest.fixture
def redis_down(tmp_path: Path) -> Iterator[LoggedServer]:
    with logged_server(tmp_path / "server.log", REDIS_URL=f"redis://127.0.0.1:{free_port()}/0") as server:
        yield server


@pytest.mark.usefixtures("transactional_db")
def test_ingest_is_acknowledged_and_stored_with_one_warning_and_no_traceback(redis_down, make_token):
    token = make_token("ingest").token
    for n in range(20):
        _post_event(redis_down, token, n)
    assert Event.objects.count() == 20
    log = redis_down.wait_for_log(lambda text: bool(_lines(text, "WARNING", PUBLISH_LOGGER)))
    assert "Traceback" not in log
    assert len(_lines(log, "WARNING")) == 1, log
    assert not _lines(log, "ERROR"), log
    (warning,) = _lines(log, "WARNING", PUBLISH_LOGGER)
    assert "ingest goes on" in warning and "ConnectionError" in warning


@pytest.mark.usefixtures("transactional_db")
def test_readyz_answers_503_at_once_and_tells_only_a_reader_why(redis_down, make_token):
    # The client's timeout is the bound: a Celery ping would retry its broker for 6 s.
    anonymous = requests.get(f"{redis_down.url}/readyz", timeout=3)
    assert anonymous.status_code == 503
    body = anonymous.json()
    assert body["status"] == "unavailable"
    assert body["live"] == {"status": "down", "backend": "RedisChannelLayer"}
    assert body["worker"] == {"status": "down", "mode": "celery", "workers": 0, "required": False}
    assert body["database"]["status"] == "ok"
    assert "refused" not in anonymous.text.lower()
    assert "read scope" in body["details"]
    assert requests.get(f"{redis_down.url}/healthz", timeout=3).json() == {"status": "ok"}
    reader = make_token("read").token
    detailed = requests.get(f"{redis_down.url}/readyz", headers={"Authorization": f"Bearer {reader}"}, timeout=3)
    assert detailed.status_code == 503
    assert "refused" in detailed.json()["live"]["error"].lower()
    assert "broker" in detailed.json()["worker"]["error"]
    log = redis_down.log()
    assert "Traceback" not in log and not _lines(log, "ERROR"), log


class RedisComingBack:
    """A port that refuses connections until ``open()``, then forwards them to the real Redis: Redis
    coming back at the address the server was given."""

    def __init__(self, port: int, target: tuple[str, int]) -> None:
        self.port, self.target = port, target
        self.listener: socket.socket | None = None

    def open(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:  # closed
                return
            upstream = socket.create_connection(self.target)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            source.close()
            sink.close()

    def __enter__(self) -> RedisComingBack:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        if self.listener is not None:
            self.listener.close()


@pytest.mark.redis
@pytest.mark.usefixtures("transactional_db")
def test_the_log_says_when_publishing_works_again(tmp_path, make_token):
    redis_url = urlsplit(os.environ["REDIS_URL"])
    port = free_port()
    credentials = redis_url.netloc.rpartition("@")[0]
    proxied = redis_url._replace(netloc=f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}")
    token = make_token("ingest").token
    with (
        RedisComingBack(port, (redis_url.hostname or "127.0.0.1", redis_url.port or 6379)) as redis,
        logged_server(tmp_path / "server.log", REDIS_URL=proxied.geturl()) as server,
    ):
        _post_event(server, token, 1)
        server.wait_for_log(lambda text: bool(_lines(text, "WARNING", PUBLISH_LOGGER)))
        redis.open()
        _post_event(server, token, 2)
        log = server.wait_for_log(lambda text: bool(_lines(text, "INFO", PUBLISH_LOGGER)))
    (recovered,) = _lines(log, "INFO", PUBLISH_LOGGER)
    assert "publishing works again, after 1 failed publishes" in recovered
    assert "Traceback" not in log


def test_a_lasting_failure_is_reminded_of_at_most_once_a_minute_with_a_count(caplog):
    now = [1000.0]
    failures = _FailureLog(clock=lambda: now[0])
    error: Any = ConnectionRefusedError(111, "Connection refused")
    with caplog.at_level(logging.INFO, logger=PUBLISH_LOGGER):
        for _ in range(100):  # a busy 50 seconds
            failures.failure("publishing to the live layer", error)
            now[0] += 0.5
        assert [r.levelname for r in caplog.records] == ["WARNING"]
        assert caplog.records[0].exc_info is None  # a connection error needs no traceback
        now[0] += REMINDER_SECONDS - 50
        failures.failure("publishing to the live layer", error)
        assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING"]
        assert "100 publishes failed in the last 60 s" in caplog.records[1].getMessage()
        failures.success()
        failures.success()
    assert [r.levelname for r in caplog.records] == ["WARNING", "WARNING", "INFO"]
    assert "after 101 failed publishes" in caplog.records[2].getMessage()


def test_an_unexpected_publishing_error_keeps_its_traceback_once(caplog):
    failures = _FailureLog()
    with caplog.at_level(logging.INFO, logger=PUBLISH_LOGGER):
        for _ in range(3):
            failures.failure("publishing to the live layer", TypeError("can not serialize 'set' object"))
    assert len(caplog.records) == 1
    assert caplog.records[0].exc_info is not None
