"""Ingest with one web process against two, as ``make serve`` runs them (PostgreSQL and Redis).

``manage.py supervise --web-processes N`` (N web processes on consecutive ports, a Celery worker and
beat) serves a new database on the PostgreSQL server of ``BENCH_PG_URL`` (dropped afterwards) with
Redis at ``BENCH_REDIS_URL`` (a database of its own: it is flushed). The 4 clients of
``bench_ingest`` are spread over the web processes (client ``i`` to process ``i mod N``), and
durable spans/s (OTLP protobuf) and events/s (native JSON), 100 a request, are counted in the
database. ``BENCH_WEB_ROUNDS`` rounds (default 2) alternate one and two processes, each round on
a fresh start of the set, so both see the same machine; the lines give each count's median.

Both URLs are needed; without them the benchmark prints nothing (``make bench`` runs without them).
"""

from __future__ import annotations

import json
import os
import platform
import random
import secrets
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import requests

from bench.bench_ingest import CLIENTS, PER_REQUEST, REQUESTS_PER_CLIENT, drive, event_request, span_request
from bench.bench_ingest_ratio import _pg_connect, _pg_database
from bench.server import KEEP_FOREVER, ROOT, _free_port, manage

PG_URL = os.environ.get("BENCH_PG_URL", "")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "")
ROUNDS = int(os.environ.get("BENCH_WEB_ROUNDS", "2"))
PROCESSES = (1, 2)


@contextmanager
def supervised(env: dict[str, str], processes: int) -> Iterator[list[str]]:
    """``manage.py supervise`` with ``processes`` web processes until the block ends; their URLs."""
    port = _free_port()
    while any(not _port_free(port + n) for n in range(1, processes)):
        port = _free_port()
    supervisor = subprocess.Popen(
        [sys.executable, "manage.py", "supervise", "--host", "127.0.0.1", "--port", str(port),
         "--web-processes", str(processes)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    urls = [f"http://127.0.0.1:{port + n}" for n in range(processes)]
    try:
        for url in urls:
            for _ in range(600):
                try:
                    requests.get(f"{url}/healthz", timeout=10)
                    break
                except requests.ConnectionError:
                    time.sleep(0.1)
        yield urls
    finally:
        supervisor.send_signal(signal.SIGTERM)
        supervisor.wait(timeout=60)


def _port_free(port: int) -> bool:
    import socket

    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _count(database_url: str, table: str) -> int:
    with _pg_connect(database_url) as db:
        return int(db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def ingest(
    urls: list[str], database_url: str, token: str, path: str, content_type: str,
    make_body: Callable[[random.Random], bytes], table: str, seed: int,
) -> float:  # fmt: skip
    """Durable items/s of ``CLIENTS`` clients spread over ``urls``."""
    rng = random.Random(seed)
    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    for url in urls:  # warm-up: each process's connections and caches
        drive(url + path, headers, [[make_body(rng) for _ in range(3)] for _ in range(CLIENTS)])
    bodies = [[make_body(rng) for _ in range(REQUESTS_PER_CLIENT)] for _ in range(CLIENTS)]
    before = _count(database_url, table)
    failures: list[int] = []

    def client(index: int) -> None:
        failures.append(drive(urls[index % len(urls)] + path, headers, [bodies[index]])[2])

    threads = [threading.Thread(target=client, args=(index,)) for index in range(CLIENTS)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    assert not any(failures), f"{sum(failures)} requests failed"
    return (_count(database_url, table) - before) / seconds


def main() -> None:
    if not (PG_URL and REDIS_URL):
        why = "needs BENCH_PG_URL (PostgreSQL) and BENCH_REDIS_URL"
        print(json.dumps({"bench": "web_processes", "measured": False, "why": why}))
        return
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()
    results: dict[int, dict[str, list[float]]] = {n: {"spans": [], "events": []} for n in PROCESSES}
    with _pg_database(PG_URL) as database_url, tempfile.TemporaryDirectory(prefix="eventscope-bench-") as tmp:
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": REDIS_URL, "EVENTSCOPE_VAR_DIR": tmp,
               "SECRET_KEY": secrets.token_urlsafe(50), **KEEP_FOREVER}  # fmt: skip
        manage(env, "migrate", "--no-input", "-v", "0")
        token = json.loads(manage(env, "create_token", "bench", "--scopes", "ingest,read", "--json").splitlines()[-1])
        for round_number in range(ROUNDS):
            for processes in PROCESSES:
                seed = 100 * round_number + processes  # each round its own spans: a span sent again stores nothing
                with supervised(env, processes) as urls:
                    results[processes]["spans"].append(ingest(
                        urls, database_url, token["token"], "/v1/traces", "application/x-protobuf",
                        lambda rng: span_request(rng, time.time_ns()), "tracing_span", seed,
                    ))  # fmt: skip
                    results[processes]["events"].append(ingest(
                        urls, database_url, token["token"], "/api/events", "application/json", event_request,
                        "dashboard_event", seed,
                    ))  # fmt: skip
    conditions: dict[str, Any] = {
        "mode": "scaled (PostgreSQL + Redis), manage.py supervise: web processes, a Celery worker and beat",
        "client": "http.client keep-alive, one connection per client thread, separate process",
        "clients": CLIENTS,
        "items_per_request": PER_REQUEST,
        "requests_per_client": REQUESTS_PER_CLIENT,
        "rounds": ROUNDS,
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }
    for kind in ("spans", "events"):
        one, two = (statistics.median(results[n][kind]) for n in PROCESSES)
        print(json.dumps({
            "bench": f"web_processes_{kind}",
            "one_process_per_second": round(one),
            "two_processes_per_second": round(two),
            "two_over_one": round(two / one, 3),
            "rounds_one": [round(rate) for rate in results[1][kind]],
            "rounds_two": [round(rate) for rate in results[2][kind]],
            **conditions,
        }))  # fmt: skip


if __name__ == "__main__":
    main()
