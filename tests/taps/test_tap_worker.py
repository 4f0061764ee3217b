"""The scaled mode: Celery workers run the taps, one owner per tap at a time. A worker killed with
SIGKILL leaves its lease to expire, and another worker takes the tap over with nothing lost."""

from __future__ import annotations

import os
from pathlib import Path

import orjson
import pytest
from django.conf import settings

from dashboard.events.models import Event
from dashboard.taps.actions import check_tap, do_create_tap
from tests.support.brokers import eventually, redis_client, tap_row, unique
from tests.support.task_worker import start_worker, stop_worker, wait_until_ready

pytestmark = [pytest.mark.redis, pytest.mark.server]


def test_a_worker_runs_the_tap_and_another_takes_it_over_when_it_dies(transactional_db: None, tmp_path: Path) -> None:
    assert settings.REDIS_URL, "the scaled mode needs REDIS_URL"
    client, stream, name = redis_client(), unique("test:worker:"), unique("w")
    do_create_tap(check_tap({"name": name, "url": settings.REDIS_URL, "stream": stream}))
    env = {"EVENTSCOPE_TAP_LEASE_SECONDS": "3"}
    first = start_worker(tmp_path / "first.log", **env)
    second = None
    try:
        wait_until_ready(first, tmp_path / "first.log")
        eventually(lambda: f":{first.pid}:" in tap_row(name).owner, what="the first worker runs it")
        for n in range(100):
            client.xadd(stream, {"body": orjson.dumps({"n": n})})
        eventually(lambda: tap_row(name).stored == 100, what="stored by the first worker")
        stop_worker(first, kill=True)
        for n in range(100, 200):
            client.xadd(stream, {"body": orjson.dumps({"n": n})})
        second = start_worker(tmp_path / "second.log", **env)
        wait_until_ready(second, tmp_path / "second.log")
        eventually(lambda: f":{second.pid}:" in tap_row(name).owner, what="the second took it over")
        eventually(lambda: tap_row(name).stored == 200, what="the rest stored by the second worker")
        numbers = sorted(d["n"] for d in Event.objects.filter(source=f"tap:{name}").values_list("detail", flat=True))
        assert numbers == list(range(200))
        assert os.getpid() != second.pid
    finally:
        stop_worker(first, kill=True)
        if second is not None:
            stop_worker(second)
        client.delete(stream)
