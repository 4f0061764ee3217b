"""PostgreSQL: the time retention takes to drop a day of events whole, against deleting the same
rows in batches (docs/retention.md).

A scratch database (``<BENCH_PG_URL's database>_bench_partitions``, made afresh and dropped after)
is migrated, then given ``BENCH_PARTITION_DROP_ROWS`` events received 40 days ago, with their dedupe
keys, written directly in one statement:

- drop: the rows are in that day's partition; ``dashboard.retention.partitions.drop_day`` detaches
  the partition, deletes their keys and deliveries and drops it, as the purge does (the time the
  table is locked, from the detach's lock to its commit, is measured too);
- batched: the same rows again, this time in the DEFAULT partition (the day has no partition any
  more), deleted by the purge's batched path with no pause between batches (the delete's own work).

Needs ``BENCH_PG_URL`` (PostgreSQL); without it the benchmark says so and measures nothing.
"""

from __future__ import annotations

import json
import os
import platform
import secrets
import subprocess
import sys
import time
from urllib.parse import urlsplit, urlunsplit

from bench.server import ROOT, manage

ROWS = int(os.environ.get("BENCH_PARTITION_DROP_ROWS", "200000"))


def _scratch_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_bench_partitions"
    return urlunsplit(parts._replace(path=f"/{name}")), name


def _admin(url: str, statement: str) -> None:
    import psycopg

    parts = urlsplit(url)
    with psycopg.connect(urlunsplit(parts._replace(path="/postgres")), autocommit=True) as admin:
        admin.execute(statement)


def _fill(rows: int, days_ago: int) -> None:
    """``rows`` events received ``days_ago`` days ago (ids carrying that time), and their keys."""
    from datetime import timedelta

    from django.db import connection, transaction
    from django.utils import timezone

    from dashboard.core.ids import ms_prefix

    moment = timezone.now() - timedelta(days=days_ago)
    stamp = ms_prefix(int(moment.timestamp() * 1000))
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO dashboard_event (id, event_id, source, detail_type, time, account, region, resources, "
            "detail, extra, raw, received_at, format, trace_id, parent_span_id, idempotency_key, replay_name) "
            "SELECT %s || lpad(g::text, 16, '0'), 'bench-' || g, 'shop.orders', 'OrderCreated', %s, '', '', "
            "'[]', jsonb_build_object('order', g, 'note', repeat('x', 200)), '{}', repeat('y', 300), %s, "
            "'native', md5(g::text), '', md5('k' || g::text), '' FROM generate_series(1, %s) g",
            [stamp, moment, moment, rows],
        )
        cursor.execute(
            "INSERT INTO dashboard_event_key (event_id, source, stored_id) "
            "SELECT event_id, source, id FROM dashboard_event WHERE received_at = %s",
            [moment],
        )
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE dashboard_event")
        cursor.execute("VACUUM ANALYZE dashboard_event_key")


def measure() -> dict[str, object]:
    """In a process set up on the scratch database: both ways, timed."""
    import django

    django.setup()
    from datetime import timedelta

    from django.conf import settings
    from django.db import connection
    from django.utils import timezone

    from dashboard.core import partitions as core
    from dashboard.events.models import Event
    from dashboard.retention import partitions
    from dashboard.retention.purge import purge

    days_ago = 40
    target = (timezone.now() - timedelta(days=days_ago)).date()
    partitions.keep_ahead(today=target - timedelta(days=1), ahead=1)  # upkeep the day before
    [day] = [p for p in core.day_partitions(connection, Event._meta.db_table) if p.day == target]
    _fill(ROWS, days_ago)
    # How long the table is locked: from the lock the detach's transaction takes to its commit, after
    # which the detached table's rows are counted (and what goes with them deleted, and it dropped).
    lock, count = core.lock_for_detach, core.count_rows
    marks: dict[str, float] = {}

    def timed_lock(*args: object) -> None:
        marks["lock"] = time.perf_counter()
        lock(*args)  # type: ignore[arg-type]

    def timed_count(*args: object) -> int:
        marks.setdefault("committed", time.perf_counter())
        return count(*args)  # type: ignore[arg-type]

    core.lock_for_detach, core.count_rows = timed_lock, timed_count  # type: ignore[assignment]
    started = time.perf_counter()
    dropped = partitions.drop_day("events", day)
    drop_seconds = time.perf_counter() - started
    locked_seconds = marks["committed"] - marks["lock"]
    core.lock_for_detach, core.count_rows = lock, count  # type: ignore[assignment]

    _fill(ROWS, days_ago)  # the same day, now in the DEFAULT partition
    settings.EVENTSCOPE_RETENTION_PAUSE_FACTOR = 0
    started = time.perf_counter()
    [outcome] = purge(kinds=("events",), pause_ms=0)
    batched_seconds = time.perf_counter() - started
    if dropped != ROWS or outcome.deleted != ROWS or outcome.dropped:
        raise RuntimeError(f"the two ways did not delete the same rows: {dropped}, {outcome}")
    return {
        "bench": "partition_drop",
        "rows": ROWS,
        "drop_seconds": round(drop_seconds, 3),
        "table_locked_seconds": round(locked_seconds, 4),
        "batched_delete_seconds": round(batched_seconds, 1),
        "batched_rows_per_second": round(ROWS / batched_seconds),
        "speedup": round(batched_seconds / max(drop_seconds, 1e-6)),
        "batch_size": settings.EVENTSCOPE_RETENTION_BATCH_SIZE,
        "note": "drop: the table locked and the partition detached in one transaction (table_locked_seconds: "
        "from the lock to its commit), then keys and deliveries of the day deleted from the detached table, which "
        "is dropped in a third; batched: the purge's "
        "walk with no pause (its work only), keys deleted with the rows",
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
    }


def main() -> None:
    url = os.environ.get("BENCH_PG_URL", "")
    if not url.startswith("postgres"):
        print(json.dumps({"bench": "partition_drop", "measured": False, "why": "needs BENCH_PG_URL (PostgreSQL)"}))
        return
    scratch, name = _scratch_url(url)
    _admin(url, f'DROP DATABASE IF EXISTS "{name}"')
    _admin(url, f'CREATE DATABASE "{name}"')
    try:
        env = {**os.environ, "DATABASE_URL": scratch, "SECRET_KEY": secrets.token_urlsafe(50)}
        env.pop("REDIS_URL", None)
        manage(env, "migrate", "--no-input", "-v", "0")
        env["DJANGO_SETTINGS_MODULE"] = "config.settings"
        out = subprocess.run(
            [sys.executable, "-m", "bench.bench_partition_drop", "--measure"],
            cwd=ROOT, env=env, check=True, capture_output=True, text=True,
        ).stdout  # fmt: skip
        print(out.strip().splitlines()[-1], flush=True)
    finally:
        _admin(url, f'DROP DATABASE IF EXISTS "{name}"')


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(measure()), flush=True)
    else:
        main()
