"""Ingest while the retention purge deletes many old events, against ingest without a purge.

One embedded-mode database (SQLite WAL) holds ``BENCH_RETENTION_OLD_EVENTS`` events received 60 days
ago (written directly, as ingest would have stored them). Then, on that same database:

- without: a server whose event retention is 0 (kept forever: its purge finds nothing to do), native
  events ingested for ``BENCH_RETENTION_SECONDS``, before the purge and again after it (the mean of
  the two is the rate without);
- during: a server with the default retention (30 days); its embedded worker starts the purge as it
  starts, and events are ingested the same way until the purge has deleted every old event.

The rate is durable events/s (counted in the database); the goal (CONTRACT §14, docs/retention.md)
is a rate during the purge at least 80% of the rate without.
"""

from __future__ import annotations

import http.client
import json
import os
import platform
import random
import secrets
import sqlite3
import tempfile
import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bench.bench_ingest import CLIENTS, EVENT_COLUMNS, PER_REQUEST, _event_rows, event_request
from bench.server import manage, serve
from dashboard.core.ids import ms_prefix

OLD_EVENTS = int(os.environ.get("BENCH_RETENTION_OLD_EVENTS", "300000"))
SECONDS = float(os.environ.get("BENCH_RETENTION_SECONDS", "20"))


def env_of(name: str, default: int) -> int:
    return int(os.environ.get(f"EVENTSCOPE_RETENTION_{name}", default))


def _store_old_events(database: Path, count: int) -> str:
    """``count`` events received 60 days ago; returns the smallest id a new event can have."""
    moment = datetime.now(UTC) - timedelta(days=60)
    stamp, received = ms_prefix(int(moment.timestamp() * 1000)), moment.strftime("%Y-%m-%d %H:%M:%S")
    db = sqlite3.connect(database, isolation_level=None)
    insert = f"INSERT INTO dashboard_event ({', '.join(EVENT_COLUMNS)}) VALUES ({', '.join('?' * len(EVENT_COLUMNS))})"
    chunk = 50_000
    for offset in range(0, count, chunk):
        rows = []
        for serial, row in enumerate(_event_rows(min(chunk, count - offset)), start=offset):
            stored_id = f"{stamp}{serial:016d}"
            rows.append((stored_id, stored_id, *row[2:11], received, *row[12:]))
        db.execute("BEGIN")
        db.executemany(insert, rows)
        db.execute("COMMIT")
    db.close()
    return ms_prefix(int(time.time() * 1000) - 1000)


def _count(database: Path, where: str, args: tuple[object, ...]) -> int:
    with sqlite3.connect(database) as db:
        return int(db.execute(f"SELECT COUNT(*) FROM dashboard_event WHERE {where}", args).fetchone()[0])


def _ingest_until(url: str, token: str, stop: threading.Event) -> tuple[int, int]:
    """Clients posting native events until ``stop`` is set; (requests, failed requests)."""
    rng = random.Random(7)
    bodies = [event_request(rng) for _ in range(64)]
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    parts = urlsplit(url)
    sent, failed = [0], [0]
    lock = threading.Lock()

    def client(offset: int) -> None:
        connection = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, timeout=60)
        n = offset
        while not stop.is_set():
            connection.request("POST", "/api/events", body=bodies[n % len(bodies)], headers=headers)
            response = connection.getresponse()
            response.read()
            n += 1
            with lock:
                sent[0] += 1
                failed[0] += response.status != 200
        connection.close()

    threads = [threading.Thread(target=client, args=(i * 16,)) for i in range(CLIENTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sent[0], failed[0]


def _phase(
    env: dict[str, str], database: Path, token: str, new_from: str, until_purged: str | None
) -> dict[str, float]:
    """Ingest against a server started with ``env``: for SECONDS, or (``until_purged``: the old
    events' id bound) until no old event is left."""
    with serve(env) as url:
        stop = threading.Event()
        before = _count(database, "id >= ?", (new_from,))
        started = time.perf_counter()
        result: dict[str, tuple[int, int]] = {}
        driver = threading.Thread(target=lambda: result.setdefault("r", _ingest_until(url, token, stop)))
        driver.start()
        if until_purged is None:
            time.sleep(SECONDS)
        else:
            while _count(database, "id < ?", (until_purged,)) > 0:
                time.sleep(1)
        stop.set()
        driver.join()
        seconds = time.perf_counter() - started
        stored = _count(database, "id >= ?", (new_from,)) - before
    requests_sent, failed = result["r"]
    return {"events_per_second": round(stored / seconds), "seconds": round(seconds, 1), "requests": requests_sent,
            "failed_requests": failed}  # fmt: skip


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="eventscope-bench-retention-") as tmp:
        env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
        env.update({"EVENTSCOPE_VAR_DIR": tmp, "SECRET_KEY": secrets.token_urlsafe(50)})
        manage(env, "migrate", "--no-input", "-v", "0")
        token = json.loads(manage(env, "create_token", "bench", "--scopes", "ingest,read", "--json").splitlines()[-1])
        database = Path(tmp) / "eventscope.sqlite3"
        started = time.perf_counter()
        new_from = _store_old_events(database, OLD_EVENTS)
        setup_seconds = time.perf_counter() - started
        old_bound = new_from
        keep = {**env, "EVENTSCOPE_RETENTION_DAYS_EVENTS": "0"}
        before = _phase(keep, database, token["token"], new_from, None)
        during = _phase(env, database, token["token"], new_from, old_bound)
        # Measured again after the purge: the machine is shared, and its load drifts over minutes.
        after = _phase(keep, database, token["token"], new_from, None)
    without = round((before["events_per_second"] + after["events_per_second"]) / 2)
    ratio = during["events_per_second"] / max(1, without)
    print(
        json.dumps(
            {
                "bench": "ingest_during_purge",
                "ratio_during_to_without": round(ratio, 3),
                "goal_ratio": 0.8,
                "without_purge_events_per_second": without,
                "without_purge_before": before,
                "without_purge_after": after,
                "during_purge": during,
                "old_events_purged": OLD_EVENTS,
                "purge_events_per_second": round(OLD_EVENTS / during["seconds"]),
                "old_events_setup_seconds": round(setup_seconds, 1),
                "mode": "embedded (SQLite WAL, synchronous=NORMAL); purge in the server's embedded worker",
                "purge": f"batch {env_of('BATCH_SIZE', 1000)} rows, pause max({env_of('PAUSE_MS', 50)} ms, "
                f"{env_of('PAUSE_FACTOR', 4)} x batch time)",
                "ingest": f"native events, {PER_REQUEST} a request, {CLIENTS} keep-alive clients, same process as"
                " the database counts",
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            }
        ),
        flush=True,
    )
