"""A real server for benchmarks: a fresh embedded-mode data directory, migrated, served by daphne."""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from dashboard.retention.policy import DAYS_SETTINGS

ROOT = Path(__file__).resolve().parent.parent


# The benchmarks store rows with fixed received times, most of them long past: the server's purge
# (docs/retention.md) would delete them under the measurement.
KEEP_FOREVER = dict.fromkeys(DAYS_SETTINGS.values(), "0")


@dataclass
class BenchServer:
    url: str
    token: str
    var_dir: Path
    env: dict[str, str]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def manage(env: dict[str, str], *args: str) -> str:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, check=True, capture_output=True, text=True
    ).stdout


# The process behind each URL ``serve`` answers, for benchmarks that read the server's CPU time.
SERVER_PIDS: dict[str, int] = {}


def cpu_seconds(url: str) -> float:
    """User + system CPU time so far of the server process behind ``url`` (Linux ``/proc``)."""
    fields = Path(f"/proc/{SERVER_PIDS[url]}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@contextmanager
def serve(env: dict[str, str]) -> Iterator[str]:
    """daphne serving the project with ``env`` (a migrated data directory), until the block ends; its URL."""
    port = _free_port()
    process = subprocess.Popen(
        [sys.executable, "manage.py", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    SERVER_PIDS[url] = process.pid
    try:
        for _ in range(300):
            try:
                requests.get(f"{url}/healthz", timeout=10)  # any answer, 503 included
                break
            except requests.ConnectionError:
                time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=20)


@contextmanager
def bench_server(extra_env: dict[str, str] | None = None) -> Iterator[BenchServer]:
    """A daphne server on a new SQLite database (or ``DATABASE_URL`` when given in ``extra_env``)."""
    with tempfile.TemporaryDirectory(prefix="eventscope-bench-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update(
            {"EVENTSCOPE_VAR_DIR": tmp, "SECRET_KEY": secrets.token_urlsafe(50), **KEEP_FOREVER, **(extra_env or {})}
        )
        manage(env, "migrate", "--no-input", "-v", "0")
        token = json.loads(manage(env, "create_token", "bench", "--scopes", "ingest,read", "--json").splitlines()[-1])
        with serve(env) as url:
            yield BenchServer(url=url, token=token["token"], var_dir=Path(tmp), env=env)
