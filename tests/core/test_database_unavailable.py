"""A database that is busy or unreachable is overload, not a crash: ingest, the API and the pages
answer 503 with Retry-After (OTel exporters and SDKs retry on it), and nothing half-done is stored.

Each test runs its own server on its own data directory, so locking the database or pointing the
server at a dead one disturbs no other test.
"""

from __future__ import annotations

import sqlite3

import orjson
import pytest
import requests

from bench.server import bench_server, serve

# Starts server processes of its own.
pytestmark = pytest.mark.server

EVENT = {"source": "shop", "detail-type": "OrderCreated", "id": "e-1", "detail": {"order-id": "o-1"}}


def _post_event(url: str, token: str, event: dict[str, object]) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    return requests.post(f"{url}/api/events", data=orjson.dumps(event), headers=headers, timeout=30)


def test_ingest_answers_503_while_another_process_holds_the_sqlite_write_lock() -> None:
    with bench_server({"EVENTSCOPE_SQLITE_BUSY_TIMEOUT_MS": "300"}) as server:
        holder = sqlite3.connect(server.var_dir / "eventscope.sqlite3", isolation_level=None, timeout=5)
        holder.execute("BEGIN IMMEDIATE")  # another process writing, for longer than the busy timeout
        try:
            busy = _post_event(server.url, server.token, EVENT)
            assert busy.status_code == 503
            assert busy.headers["Retry-After"] == "1"
            assert busy.json()["error"]["code"] == "unavailable"
            # Readers are not blocked by a writer (WAL): the API still answers, without the event.
            read = requests.get(
                f"{server.url}/api/events", headers={"Authorization": f"Bearer {server.token}"}, timeout=30
            )
            assert read.status_code == 200
            assert read.json()["results"] == []
        finally:
            holder.execute("ROLLBACK")
            holder.close()
        # The lock is gone: the client's retry is stored once.
        retried = _post_event(server.url, server.token, EVENT)
        assert retried.status_code == 200, retried.text
        assert retried.json()["accepted"] == 1
        with sqlite3.connect(server.var_dir / "eventscope.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM dashboard_event").fetchone()[0] == 1


def test_an_unreachable_database_gets_503_not_500() -> None:
    with bench_server() as server:
        # The same project, pointed at a PostgreSQL nobody listens to.
        dead = {
            **server.env,
            "DATABASE_URL": "postgres://eventscope@127.0.0.1:1/eventscope",
            "EVENTSCOPE_DB_POOL_TIMEOUT": "1",
        }
        with serve(dead) as url:
            ingest = _post_event(url, server.token, EVENT)
            assert ingest.status_code == 503, ingest.text
            assert ingest.headers["Retry-After"] == "1"
            # A browser with a session: looking the session up needs the database.
            cookies = {"sessionid": "s" * 32}
            page = requests.get(f"{url}/events/", cookies=cookies, timeout=30, allow_redirects=False)
            assert page.status_code == 503
            assert page.headers["Retry-After"] == "1"
            assert requests.get(f"{url}/readyz", timeout=30).status_code == 503
            assert requests.get(f"{url}/healthz", timeout=30).status_code == 200
