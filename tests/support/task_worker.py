"""A real Celery worker process for tests of the scaled mode (``REDIS_URL`` set)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.conf import settings

from tests.support.servers import ROOT, TASK_QUEUE, server_env


def start_worker(log: Path, *, queue: str = TASK_QUEUE, beat: bool = False, **env: str) -> subprocess.Popen[bytes]:
    """A worker (threads pool) on the test database reading ``queue``, in its own process group."""
    environment = server_env(EVENTSCOPE_TASK_QUEUE=queue, **env)
    command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--pool", "threads", "--concurrency", "4",
               "--loglevel", "INFO", "--hostname", f"{queue}-{time.monotonic_ns()}@%h"]  # fmt: skip
    if beat:
        command += ["--beat", "--schedule", str(log.with_suffix(".beat"))]
    with open(log, "ab") as out:
        return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)  # fmt: skip


def wait_until_ready(process: subprocess.Popen[bytes], log: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while " ready." not in log.read_text(errors="replace"):
        if process.poll() is not None or time.monotonic() > deadline:
            raise AssertionError(f"the worker did not start:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def stop_worker(process: subprocess.Popen[bytes], *, kill: bool = False) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGKILL if kill else signal.SIGTERM)
        process.wait(timeout=30)


@pytest.fixture(scope="module")
def scaled_mode_worker(tmp_path_factory: pytest.TempPathFactory, django_db_setup: None) -> Iterator[None]:
    """In the scaled mode, a worker for this run's queue while the module's tests run (the live
    server enqueues there); in the embedded mode nothing (the server runs its tasks itself)."""
    if not settings.REDIS_URL:
        yield
        return
    log = tmp_path_factory.mktemp("worker") / "worker.log"
    process = start_worker(log)
    try:
        wait_until_ready(process, log)
        yield
    finally:
        stop_worker(process)
