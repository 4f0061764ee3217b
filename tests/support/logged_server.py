"""A real server (daphne) on the test database whose log the test reads, started with extra settings.

Like ``live_server_url`` in conftest.py, but one per use, with the environment the test gives (e.g.
``REDIS_URL`` pointing at a closed port) and its output (the log: stderr and stdout) kept in a file.
Tests that use it need ``transactional_db``, so that the tokens they create are visible to it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from django.conf import settings

from tests.conftest import ROOT, TASK_QUEUE, _database_url_of_test_db, _free_port


@dataclass
class LoggedServer:
    url: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, predicate: Callable[[str], bool], timeout: float = 20) -> str:
        """The log once ``predicate`` holds for it; fails after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            text = self.log()
            if predicate(text):
                return text
            assert time.monotonic() < deadline, f"the log never got there:\n{text[-4000:]}"
            time.sleep(0.05)


def free_port() -> int:
    """A port nobody listens on (as long as nobody takes it)."""
    return _free_port()


@contextmanager
def logged_server(log_path: Path, **extra_env: str) -> Iterator[LoggedServer]:
    env = {
        **os.environ,
        "DATABASE_URL": _database_url_of_test_db(),
        "SECRET_KEY": settings.SECRET_KEY,
        "EVENTSCOPE_VAR_DIR": str(settings.VAR_DIR),
        "EVENTSCOPE_TOKEN_CACHE_SECONDS": "0",
        "EVENTSCOPE_TASK_QUEUE": TASK_QUEUE,
        **extra_env,
    }
    if not extra_env.get("REDIS_URL"):
        env.pop("REDIS_URL", None)
    port = _free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            requests.get(f"{url}/healthz", timeout=5)  # any answer, 503 included
            break
        except requests.ReadTimeout:  # it took the connection: it is up, whatever its health
            break
        except requests.ConnectionError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"the server did not start:\n{log_path.read_text()[-4000:]}")
        time.sleep(0.1)
    try:
        yield LoggedServer(url=url, log_path=log_path)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
