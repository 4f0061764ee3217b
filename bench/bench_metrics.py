"""What the metrics cost ingest: the time one ingest request spends in them (the request timed
into the histogram, its items counted by outcome), in one process and in multiprocess mode (values
in memory-mapped files, as ``make serve`` runs), and the time to answer a scrape there.

Run with ``python -m bench.bench_metrics``; prints one JSON object per line. The goal: at most 20 µs
a request, against the milliseconds of an ingest request.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from types import SimpleNamespace
from typing import Any

REQUESTS = 50_000
SCRAPES = 20
GOAL_US = 20.0


def _measure() -> dict[str, Any]:
    """In this process (its PROMETHEUS_MULTIPROC_DIR decides the mode)."""
    from dashboard.core import metrics

    def view(request: Any) -> str:
        metrics.count_items("event", 480, 15, 5)  # what a 500-event request counts, once
        return "answer"

    measured = metrics.measure_ingest("events", view)  # type: ignore[arg-type]
    request = SimpleNamespace(method="POST")
    for _ in range(1000):  # warm: label children made, files mapped
        measured(request)
    started = time.perf_counter()
    for _ in range(REQUESTS):
        measured(request)
    per_request = (time.perf_counter() - started) / REQUESTS
    started = time.perf_counter()
    for _ in range(REQUESTS):
        view(request)
    bare = (time.perf_counter() - started) / REQUESTS
    started = time.perf_counter()
    for _ in range(SCRAPES):
        size = len(metrics.exposition())
    scrape = (time.perf_counter() - started) / SCRAPES
    return {"per_request_us": round(per_request * 1e6, 2), "counting_only_us": round(bare * 1e6, 2),
            "scrape_ms": round(scrape * 1000, 2), "scrape_bytes": size}  # fmt: skip


def main() -> None:
    for mode in ("single", "multiprocess"):
        with tempfile.TemporaryDirectory() as folder:
            env = {**os.environ, "DJANGO_SETTINGS_MODULE": "config.settings"}
            env.pop("PROMETHEUS_MULTIPROC_DIR", None)
            if mode == "multiprocess":
                env["PROMETHEUS_MULTIPROC_DIR"] = folder
            done = subprocess.run([sys.executable, "-m", "bench.bench_metrics", "--measure"], env=env,
                                  capture_output=True, text=True, check=True)  # fmt: skip
        result = json.loads(done.stdout.strip().splitlines()[-1])
        print(json.dumps({
            "bench": "metrics_cost", "mode": mode, **result, "requests": REQUESTS, "goal_us": GOAL_US,
            "ok": result["per_request_us"] <= GOAL_US, "python": platform.python_version(),
        }))  # fmt: skip


if __name__ == "__main__":
    if sys.argv[1:] == ["--measure"]:
        print(json.dumps(_measure()))
    else:
        main()
