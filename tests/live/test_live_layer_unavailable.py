"""A live layer (Redis) that cannot be reached is said to the client, not crashed on: the socket gets
``{"type": "error", "code": "live_unavailable"}`` and a 4503 ("try again later") close, and the
server logs one warning line, not a traceback per socket."""

from __future__ import annotations

import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import requests
from websockets.sync.client import ClientConnection, connect

from tests.support.live_support import project_server, until_closed, ws_url
from tests.support.servers import free_port

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]

PATHS = ["/ws/live/", "/ws/traces/5b8efff798038103d269b633813fc60c/", "/ws/replays/1/"]


def token_socket(url: str, path: str, token: str) -> ClientConnection:
    return connect(ws_url(url, path), additional_headers={"Authorization": f"Bearer {token}"})


def assert_told_unavailable(socket: ClientConnection) -> None:
    code, messages = until_closed(socket)
    assert code == 4503
    assert [(m["type"], m["code"]) for m in messages] == [("error", "live_unavailable")]
    assert messages[0]["message"]


def live_warnings(log: Path) -> list[str]:
    return [line for line in log.read_text().splitlines() if " WARNING dashboard.live" in line]


def test_with_redis_unreachable_each_socket_is_told_and_closed_with_4503(tmp_path: Path, token: Any) -> None:
    log = tmp_path / "server.log"
    closed_port = free_port()  # nothing listens there
    with project_server(log, REDIS_URL=f"redis://127.0.0.1:{closed_port}/0") as url:
        for path in PATHS:
            with token_socket(url, path, token.token) as socket:
                assert_told_unavailable(socket)
        # Authentication still comes first: no credentials, no word about the layer.
        with connect(ws_url(url, "/ws/live/")) as anonymous:
            assert until_closed(anonymous) == (4401, [])
    text = log.read_text()
    assert "Traceback" not in text
    assert "Exception inside application" not in text
    (warning,) = live_warnings(log)
    assert "cannot be reached" in warning


@contextmanager
def redis_server(port: int) -> Iterator[subprocess.Popen[bytes]]:
    """A Redis of this test's own, on ``port``, that the test may stop (never the shared one)."""
    process = subprocess.Popen(
        ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
    )
    try:
        client = redis.Redis(port=port, socket_connect_timeout=1)
        for _ in range(100):
            try:
                client.ping()
                break
            except redis.ConnectionError:
                if process.poll() is not None:
                    raise RuntimeError("redis-server did not start") from None
                time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        process.wait(timeout=10)


@pytest.mark.redis
def test_a_redis_that_goes_away_closes_the_open_sockets_and_a_new_one_works_once_it_is_back(
    tmp_path: Path, token: Any
) -> None:
    log = tmp_path / "server.log"
    port = free_port()
    with redis_server(port) as redis_process, project_server(log, REDIS_URL=f"redis://127.0.0.1:{port}/0") as url:
        tail = token_socket(url, "/ws/live/", token.token)
        replay = token_socket(url, "/ws/replays/1/", token.token)
        with tail, replay:
            tail.send(orjson.dumps({"type": "subscribe", "pattern": None}).decode())
            assert orjson.loads(tail.recv(timeout=10))["type"] == "subscribed"
            redis_process.terminate()
            redis_process.wait(timeout=10)
            assert_told_unavailable(tail)
            assert_told_unavailable(replay)
        with redis_server(port), token_socket(url, "/ws/live/", token.token) as again:
            again.send(orjson.dumps({"type": "subscribe", "pattern": None, "kinds": ["event"]}).decode())
            assert orjson.loads(again.recv(timeout=10))["type"] == "subscribed"
            posted = requests.post(
                f"{url}/api/events",
                json=[{"source": "s", "detail-type": "Back", "detail": {}}],
                headers={"Authorization": f"Bearer {token.token}"},
                timeout=30,
            )
            assert posted.status_code == 200, posted.text
            assert orjson.loads(again.recv(timeout=10))["event"]["detail-type"] == "Back"
    assert "Traceback" not in log.read_text()
