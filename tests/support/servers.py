"""Real servers for the tests: ``manage.py serve`` on the test database, started and waited for.

Every test that needs a server process of its own starts it here, with the environment it needs on
top of the test run's (``server_env``), and its output kept in a log file the test may read.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import requests
from django.conf import settings

ROOT = Path(__file__).resolve().parents[2]
# The Celery queue of this test run's servers and workers (scaled mode): runs sharing Redis stay apart.
TASK_QUEUE = f"test-{os.getpid()}"


def free_port() -> int:
    """A port nobody listens on (as long as nobody takes it)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_database_url() -> str:
    """The ``DATABASE_URL`` of the test run's database, for the processes it starts."""
    db = settings.DATABASES["default"]
    if db["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{db['NAME']}"
    user = db.get("USER") or ""
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    return f"postgres://{user}{password}@{db.get('HOST') or '127.0.0.1'}:{db.get('PORT') or 5432}/{db['NAME']}"


def server_env(*, redis: bool = True, **extra: str) -> dict[str, str]:
    """The environment of a process on the test database: this run's settings, key and task queue,
    tokens checked afresh on every request, then ``extra``. ``redis=False`` leaves this run's
    ``REDIS_URL`` out (the embedded mode), unless ``extra`` gives one."""
    env = {
        **os.environ,
        "DATABASE_URL": test_database_url(),
        "SECRET_KEY": settings.SECRET_KEY,
        "EVENTSCOPE_VAR_DIR": str(settings.VAR_DIR),
        "EVENTSCOPE_TOKEN_CACHE_SECONDS": "0",
        "EVENTSCOPE_TASK_QUEUE": TASK_QUEUE,
        **extra,
    }
    if not redis and "REDIS_URL" not in extra:
        env.pop("REDIS_URL", None)
    return env


def answers(url: str) -> bool:
    """Whether the server at ``url`` takes connections: any answer of ``/healthz`` (a 503 too), or
    one too slow to wait for (it took the connection: it is up, whatever its health)."""
    try:
        requests.get(f"{url}/healthz", timeout=5)
    except requests.ReadTimeout:
        return True
    except requests.ConnectionError:
        return False
    return True


@contextmanager
def serving(log: Path, env: dict[str, str], *, timeout: float = 30) -> Iterator[tuple[subprocess.Popen[bytes], str]]:
    """``manage.py serve`` on a free port with ``env``, its output appended to ``log``; the process and
    its URL once it answers. Stopped (SIGTERM, then SIGKILL after 10 s) at the end if still running."""
    port = free_port()
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while not answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the server did not start:\n{log.read_text(errors='replace')[-4000:]}")
            time.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
