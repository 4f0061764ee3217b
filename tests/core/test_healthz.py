"""``GET /healthz`` and the login wall."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
import requests

# Starts server processes of its own.
pytestmark = pytest.mark.server


@pytest.mark.django_db
def test_healthz_reports_each_part_without_auth(client, settings):
    from dashboard.core import embedded_worker

    settings.REDIS_URL = ""
    embedded_worker.start()  # `make run` starts it with the server; the test process does not
    try:
        response = client.get("/healthz")
    finally:
        embedded_worker.stop()
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["status"] == "ok"
    assert body["live"]["status"] == "ok"
    assert body["worker"]["status"] == "ok" and body["worker"]["mode"] == "embedded"


@pytest.mark.django_db
def test_healthz_is_503_when_redis_is_unreachable(client, settings):
    settings.REDIS_URL = "redis://127.0.0.1:1/0"
    response = client.get("/healthz")
    assert response.status_code == 503
    assert response.json()["live"]["status"] == "down"


@pytest.mark.django_db
def test_pages_need_a_login(client, django_user_model):
    response = client.get("/")
    assert response.status_code == 302 and response.url.startswith("/login/")
    django_user_model.objects.create_user("ops", password="pw-123456789")
    client.login(username="ops", password="pw-123456789")
    assert client.get("/").status_code == 200


@pytest.mark.redis
@pytest.mark.usefixtures("transactional_db")
def test_in_scaled_mode_healthz_sees_the_redis_layer_and_a_celery_worker(live_server_url):
    redis_url = os.environ.get("REDIS_URL")
    assert redis_url, "the scaled-mode run sets REDIS_URL"
    worker = subprocess.Popen(
        [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "solo", "--loglevel", "WARNING"],
        env=os.environ.copy(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline, body = time.monotonic() + 60, {}
        while time.monotonic() < deadline:
            response = requests.get(f"{live_server_url}/healthz", timeout=5)
            body = response.json()
            if response.status_code == 200:
                break
            time.sleep(0.5)
        assert body["live"] == {"status": "ok", "backend": "RedisChannelLayer"}
        assert body["worker"]["status"] == "ok" and body["worker"]["mode"] == "celery"
        assert body["database"]["engine"] == "postgresql"
    finally:
        worker.terminate()
        worker.wait(timeout=20)
