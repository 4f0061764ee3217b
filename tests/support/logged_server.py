"""A real server (daphne) on the test database whose log the test reads, started with extra settings.

Like ``live_server_url`` in conftest.py, but one per use, with the environment the test gives (e.g.
``REDIS_URL`` pointing at a closed port) and its output (the log: stderr and stdout) kept in a file.
Tests that use it need ``transactional_db``, so that the tokens they create are visible to it.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from tests.support.servers import server_env, serving


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


@contextmanager
def logged_server(log_path: Path, **extra_env: str) -> Iterator[LoggedServer]:
    """A server on the test database with ``extra_env`` (the embedded mode unless it names a
    ``REDIS_URL``), its output in ``log_path``."""
    with serving(log_path, server_env(redis=False, **extra_env)) as (_, url):
        yield LoggedServer(url=url, log_path=log_path)
