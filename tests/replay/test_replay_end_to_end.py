"""A replay end to end on a real server: its worker runs it (the in-process one in the embedded mode,
a Celery worker process in the scaled mode), the progress arrives over ``/ws/replays/<id>/``, dead
letters are re-driven through the API."""

from __future__ import annotations

import time
from typing import Any

import orjson
import pytest
import requests
from websockets.sync.client import connect

from tests.support.consumer_servers import consumer_server
from tests.support.task_worker import scaled_mode_worker  # noqa: F401  (a fixture)

pytestmark = pytest.mark.usefixtures("transactional_db", "scaled_mode_worker")


def call(base: str, token: str, method: str, path: str, body: Any = None) -> requests.Response:
    return requests.request(
        method, f"{base}{path}", json=body, headers={"Authorization": f"Bearer {token}"}, timeout=30
    )


def ingest(base: str, token: str, count: int, **extra: Any) -> list[str]:
    events = [
        {"source": "shop.orders", "detail-type": "OrderCreated", "time": f"2026-03-01T00:00:{59 - i:02d}Z",
         "detail": {"n": i}, **extra}
        for i in range(count)
    ]  # fmt: skip
    answer = call(base, token, "POST", "/api/events", events).json()
    return [result["id"] for result in answer["results"]]


DELIVERED_SERIES = 'eventscope_replay_deliveries_total{outcome="delivered"} '


def poll_replay(base: str, token: str, replay_id: int, predicate: Any) -> dict[str, Any]:
    """The replay once ``predicate`` holds for it (polled: the run happens in the server)."""
    deadline = time.monotonic() + 30
    while True:
        replay = call(base, token, "GET", f"/api/replays/{replay_id}").json()
        if predicate(replay):
            return replay
        assert time.monotonic() < deadline, f"the replay never got there: {replay}"
        time.sleep(0.05)


def test_the_worker_is_reported_by_readyz(live_server_url, settings):
    body = requests.get(f"{live_server_url}/readyz", timeout=10).json()
    assert body["worker"]["status"] == "ok"
    assert body["worker"]["mode"] == ("celery" if settings.REDIS_URL else "embedded")


def test_a_replay_runs_in_the_server_and_streams_its_progress(live_server_url, token, settings):
    stored = ingest(live_server_url, token.token, 30)
    with consumer_server() as server:
        assert call(live_server_url, token.token, "POST", "/api/consumers",
                    {"name": "orders-v2", "url": server.url}).status_code == 201  # fmt: skip
        created = call(live_server_url, token.token, "POST", "/api/replays", {
            "name": "embedded", "since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z",
            "consumers": ["orders-v2"], "rate_per_second": 60,
        })  # fmt: skip
        assert created.status_code == 202
        replay_id = created.json()["id"]
        url = live_server_url.replace("http://", "ws://") + f"/ws/replays/{replay_id}/"
        states = []
        with connect(url, additional_headers={"Authorization": f"Bearer {token.token}"}) as socket:
            while True:
                message = orjson.loads(socket.recv(timeout=30))
                assert message["type"] == "progress"
                states.append(message["replay"])
                if message["replay"]["state"] in ("completed", "failed", "cancelled"):
                    break
        final = states[-1]
        assert final["state"] == "completed" and final["delivered"] == 30 and final["matched"] == 30
        assert final["last_replayed_time"] == "2026-03-01T00:00:59Z"
        assert any(s["state"] == "running" and 0 < s["delivered"] < 30 for s in states)
        # Events were ingested newest-first in time; they were replayed oldest first.
        assert server.event_ids() == list(reversed(stored))
    detail = call(live_server_url, token.token, "GET", f"/api/replays/{replay_id}").json()
    assert detail["state"] == "completed" and detail["started_at"] and detail["finished_at"]
    # The runner counted its attempts where /metrics reads them (the server, or a scaled-mode worker's
    # process on another folder: then only the server's own are there).
    if not settings.REDIS_URL:
        scraped = requests.get(f"{live_server_url}/metrics", headers={"Authorization": f"Bearer {token.token}"},
                               timeout=10).text  # fmt: skip
        (line,) = [line for line in scraped.splitlines() if line.startswith(DELIVERED_SERIES)]
        assert float(line.split()[-1]) >= 30  # the server is shared with other tests: at least these


def test_dead_letters_are_visible_and_re_driven_one_or_all(live_server_url, token):
    ingest(live_server_url, token.token, 3)
    accepting = {"now": False}

    def respond(received, count):  # type: ignore[no-untyped-def]
        return (200, {}) if accepting["now"] else (422, {})

    with consumer_server(respond) as server:
        call(live_server_url, token.token, "POST", "/api/consumers", {"name": "picky", "url": server.url})
        replay_id = call(live_server_url, token.token, "POST", "/api/replays", {
            "name": "dead", "since": "2026-03-01T00:00:00Z", "until": "2026-03-02T00:00:00Z", "consumers": ["picky"],
        }).json()["id"]  # fmt: skip

        def wait_until(predicate):  # type: ignore[no-untyped-def]
            return poll_replay(live_server_url, token.token, replay_id, predicate)

        replay = wait_until(lambda r: r["state"] == "completed")
        assert (replay["delivered"], replay["failed"]) == (0, 3)
        dead = call(live_server_url, token.token, "GET", f"/api/replays/{replay_id}/deliveries?state=dead").json()
        assert len(dead["results"]) == 3
        assert all(d["last_status"] == 422 and d["attempt_log"][0]["status"] == 422 for d in dead["results"])

        accepting["now"] = True
        one = dead["results"][0]["id"]
        answer = call(live_server_url, token.token, "POST", f"/api/replays/{replay_id}/redrive", {"ids": [one]})
        assert answer.json()["redriven"] == 1
        replay = wait_until(lambda r: r["state"] == "completed" and r["delivered"] == 1)
        assert replay["failed"] == 2
        answer = call(live_server_url, token.token, "POST", f"/api/replays/{replay_id}/redrive", {})
        assert answer.json()["redriven"] == 2
        replay = wait_until(lambda r: r["state"] == "completed" and r["delivered"] == 3)
        assert replay["failed"] == 0
        assert len(server.event_ids()) == 3 == len(set(server.event_ids()))
