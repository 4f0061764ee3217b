"""``GET /healthz`` (liveness), ``GET /readyz`` (readiness) and the login wall."""

from __future__ import annotations

import os
import time

import pytest
import requests

from tests.support.task_worker import start_worker, stop_worker, wait_until_ready

# Starts server processes of its own.
pytestmark = pytest.mark.server


def test_healthz_is_200_and_asks_nothing_else(client, settings):
    # No database access is allowed in this test (no django_db mark): a query would fail it.
    settings.REDIS_URL = "redis://127.0.0.1:1/0"  # nobody listens: liveness must not care
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


@pytest.mark.django_db
def test_readyz_reports_each_part_without_auth(client, settings):
    from dashboard.core import embedded_worker

    settings.REDIS_URL = ""
    embedded_worker.start()  # `make run` starts it with the server; the test process does not
    try:
        response = client.get("/readyz")
    finally:
        embedded_worker.stop()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["live"]["status"] == "ok"
    assert body["worker"]["status"] == "ok" and body["worker"]["mode"] == "embedded"
    assert body["worker"]["required"] is True


@pytest.mark.django_db
def test_readyz_is_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/readyz")
    assert response.status_code == 503
    body = response.json()
    assert body["live"]["status"] == "down"
    assert "error" not in body["live"] and "read scope" in body["details"]


@pytest.mark.django_db
def test_readyz_shows_the_errors_to_a_reader(client, settings, make_token):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    reader = make_token("read").token
    body = client.get("/readyz", headers={"Authorization": f"Bearer {reader}"}).json()
    assert body["live"]["error"] and "details" not in body


@pytest.mark.django_db
def test_pages_need_a_login(client, django_user_model):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    django_user_model.objects.create_user("ops", password="pw-123456789")
    client.login(username="ops", password="pw-123456789")
    assert client.get("/").status_code == 200


@pytest.mark.redis
@pytest.mark.usefixtures("transactional_db")
def test_in_scaled_mode_readyz_counts_the_celery_workers_without_waiting_for_them(live_server_url, tmp_path):
    assert os.environ.get("REDIS_URL"), "the scaled-mode run sets REDIS_URL"
    # No worker: the web node still takes traffic, and says none runs.
    response = requests.get(f"{live_server_url}/readyz", timeout=5)
    assert response.status_code == 200, response.text
    assert response.json()["worker"] == {"status": "down", "mode": "celery", "workers": 0, "required": False}
    log = tmp_path / "worker.log"
    worker = start_worker(log)
    try:
        wait_until_ready(worker, log)
        body = requests.get(f"{live_server_url}/readyz", timeout=5).json()
        assert body["live"] == {"status": "ok", "backend": "RedisChannelLayer"}
        assert body["worker"] == {"status": "ok", "mode": "celery", "workers": 1, "required": False}
        assert body["database"]["engine"] == "postgresql"
    finally:
        stop_worker(worker)
    # A worker that stops takes its heartbeat with it, at once.
    assert requests.get(f"{live_server_url}/readyz", timeout=5).json()["worker"]["workers"] == 0


@pytest.mark.redis
@pytest.mark.django_db  # kept by the PostgreSQL run, the one with Redis
def test_a_heartbeat_counts_while_it_beats_and_stops_counting_when_it_stops(settings):
    import redis

    from dashboard.core import worker_heartbeat

    settings.CELERY_TASK_DEFAULT_QUEUE = f"heartbeat-test-{os.getpid()}"
    client = redis.Redis.from_url(settings.REDIS_URL)
    beat = worker_heartbeat.Heartbeat("host:1")
    beat.start()
    try:
        deadline = time.monotonic() + 10
        while worker_heartbeat.live_workers(client) != 1:
            assert time.monotonic() < deadline, "the heartbeat was never written"
            time.sleep(0.05)
        assert 0 < client.ttl(worker_heartbeat.key()) <= worker_heartbeat.STALE_SECONDS
    finally:
        beat.stop()
    assert worker_heartbeat.live_workers(client) == 0
    # One written long ago (by Redis's clock) does not count.
    now = client.time()[0]
    client.zadd(worker_heartbeat.key(), {"host:2": now - worker_heartbeat.STALE_SECONDS - 1})
    assert worker_heartbeat.live_workers(client) == 0
    client.delete(worker_heartbeat.key())
