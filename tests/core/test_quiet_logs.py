"""A server left running logs what happens, not routine: no kombu warning without Redis, and Celery's
line for every task run and beat entry only at DEBUG."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
import requests

from tests.support.logged_server import LoggedServer, logged_server

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]


def _wait_for_tasks(server: LoggedServer, count: int) -> None:
    """Until the embedded worker has run ``count`` tasks (beat sends its entries as it starts)."""
    deadline = time.monotonic() + 30
    while requests.get(f"{server.url}/readyz", timeout=10).json()["worker"].get("tasks_run", 0) < count:
        assert time.monotonic() < deadline, server.log()
        time.sleep(0.1)


def test_routine_task_runs_are_not_logged_at_info(tmp_path: Path) -> None:
    with logged_server(tmp_path / "server.log", EVENTSCOPE_REPLAY_RECOVER_SECONDS="1") as server:
        _wait_for_tasks(server, 4)  # the sweep and a few replay recoveries
        log = server.log()
    assert "celery" not in log, log
    assert "No hostname was supplied" not in log


def test_they_are_at_debug(tmp_path: Path) -> None:
    with logged_server(tmp_path / "server.log", EVENTSCOPE_LOG_LEVEL="DEBUG") as server:
        log = server.wait_for_log(lambda text: "tasks.replay.recover_replays" in text and "succeeded" in text)
    assert "DEBUG celery.app.trace" in log and "INFO celery" not in log
