"""Two processes ingesting events for the same keys at once lose no step (the race is closed in the
database). Runs on SQLite in the embedded run and on PostgreSQL in the scaled run."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter

import pytest
from django.db import connection

from dashboard.lifecycles.fold import fold_pending
from dashboard.lifecycles.models import Lifecycle, Transaction
from tests.support.servers import ROOT, server_env

pytestmark = [pytest.mark.server, pytest.mark.usefixtures("transactional_db")]

STEPS = ("OrderCreated", "OrderPaid", "OrderShipped")
KEYS, ROUNDS = 20, 25

# Each worker process ingests ROUNDS batches; every batch touches every key, so the two processes
# keep meeting on the same records. Which step (or update) an event is depends on the process.
WORKER = """
import sys
import django
django.setup()
from django.utils import timezone
from dashboard.events.envelope import NormalizedEvent
from dashboard.ingest.store import store_events
from dashboard.lifecycles.fold import fold_pending

process, keys, rounds = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
steps = ["OrderCreated", "OrderPaid", "OrderShipped", "OrderUpdated"]
print("ready", flush=True)
assert sys.stdin.readline().strip() == "go"
for round_ in range(rounds):
    now = timezone.now()
    batch = [
        NormalizedEvent(
            event_id=f"p{process}-r{round_}-k{key}", source="shop", detail_type=steps[(round_ + key + process) % 4],
            time=now, detail={"order-id": f"k-{key}"}, format="native", raw="{}",
        )
        for key in range(keys)
    ]
    results = store_events(batch, now)
    assert all(result.status == "accepted" for result in results), results
    if round_ % 3 == process:  # on SQLite both processes fold too, at times at once (on PostgreSQL a no-op)
        fold_pending()
print("done", flush=True)
"""


def expected() -> dict[str, Counter[str]]:
    kinds = [*STEPS, "OrderUpdated"]
    out: dict[str, Counter[str]] = {f"k-{key}": Counter() for key in range(KEYS)}
    for process in (0, 1):
        for round_ in range(ROUNDS):
            for key in range(KEYS):
                out[f"k-{key}"][kinds[(round_ + key + process) % 4]] += 1
    return out


def test_two_processes_ingesting_the_same_keys_lose_no_step() -> None:
    if os.environ.get("DATABASE_URL", "").startswith("postgres"):
        assert connection.vendor == "postgresql"
    Lifecycle.objects.create(name="order", key="detail.order-id", steps=list(STEPS), timeout_seconds=900)
    env = server_env(DJANGO_SETTINGS_MODULE="config.settings")
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, str(process), str(KEYS), str(ROUNDS)],
            cwd=ROOT,
            env=env,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for process in (0, 1)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line.strip() == "ready", (line, worker.stderr.read() if worker.stderr else "")
        for worker in workers:  # both start together
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        for worker in workers:
            out, err = worker.communicate(timeout=120)
            assert worker.returncode == 0, err
            assert out.strip() == "done"
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
    fold_pending()
    records = {tx.key: tx for tx in Transaction.objects.all()}
    assert sorted(records) == sorted(expected())
    for key, counts in expected().items():
        tx = records[key]
        seen_counts = {step: seen["count"] for step, seen in tx.steps_seen.items()}
        assert seen_counts == {step: counts[step] for step in STEPS if counts[step]}
        assert tx.updates == counts["OrderUpdated"]
        assert tx.duplicates == sum(counts[s] for s in STEPS) - sum(1 for s in STEPS if counts[s])
        assert tx.missing_count == 0
